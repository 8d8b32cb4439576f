//! Test support library for synaptic (`synaptic-tests`): everything a test needs to run against
//! real things on 127.0.0.1.
//!
//! * [`free_port`] — an ephemeral loopback port.
//! * [`redis::RedisServer`] — a real `redis-server` per test, stop/restart on the same port.
//! * [`mariadb::MariaDb`] — a real MariaDB server per test (`mariadb-install-db` into a
//!   temporary folder, `mariadbd` on a free loopback port), with a database and a user.
//! * [`peers`] — the real OAuth2 servers of `tests/peers/real-peers.sh` (Authlib,
//!   django-oauth-toolkit, panva/oidc-provider, oauth2-mock-server), started lazily on free
//!   ports and killed when the test process ends, however it ends.
//! * [`origin::MockOrigin`] — an in-process HTTP backend that records requests and answers
//!   from a closure; [`origin::RecordingProxy`] — a recording pass-through in front of a real
//!   server (count token requests to a real peer, see their exact bytes).
//! * [`gateway`] — the synaptic gateway in-process from a config text and files; [`run_cli`] —
//!   the `synaptic` command in-process.
//! * [`http`] — a client, a running gateway's URLs, an answer's body as JSON, polling.
//! * [`authserver`] — the gateway's own authorization server, its clients and the API it
//!   secures, as `synaptic.toml` text.
//! * [`grpc`] — a real gRPC service (tonic's server) and tonic's client for it.
//! * [`mediate`] — the engine in-process: scripted backend, in-memory registry, fixed clock.
//! * [`logs::CapturedLogs`] — the log lines a test writes, in memory.
//! * [`otlp::OtlpReceiver`] — a real OTLP trace receiver (gRPC and HTTP/protobuf) that decodes
//!   what the gateway exports.
//!
//! Nothing is ever skipped: when a prerequisite is missing, the helper panics with a message
//! naming the setup command, [`SETUP_COMMAND`].

pub mod authserver;
pub mod gateway;
pub mod grpc;
pub mod http;
pub mod logs;
pub mod mariadb;
pub mod mediate;
pub mod origin;
pub mod otlp;
pub mod peers;
pub mod postgres;
pub mod process;
pub mod redis;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;

/// The command that installs every test prerequisite (README "Quick start").
pub const SETUP_COMMAND: &str = "bash .ci/setup.sh";

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// `synaptic ARGS…` run in this process through `synaptic_cli::run`: the exit code (0, 1 or 2;
/// 255 for any other), standard output and standard error. It starts a runtime of its own:
/// from async code, call it on a blocking thread.
pub fn run_cli(args: &[&str]) -> (u8, String, String) {
    let mut argv = vec!["synaptic".to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = synaptic_cli::run(argv, &mut out, &mut err);
    // ExitCode has no accessor: compare against the known values
    let n = [0u8, 1, 2]
        .into_iter()
        .find(|n| std::process::ExitCode::from(*n) == code)
        .unwrap_or(255);
    (
        n,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// Material some tests read that is not redistributed with synaptic: a corpus of third-party
/// Synapse files and WSO2's documented reference sequences. `SYNAPTIC_CORPUS_DIR` and
/// `SYNAPTIC_REFERENCE_DOCS_DIR` name their folders; unset, they are found where the CI machines
/// keep them, beside the checkout. Panics with the variable's name when the folder is missing:
/// the tests that read it cannot run without it (README, "Tests").
fn external_dir(var: &str, default: &[&str]) -> PathBuf {
    let dir = match std::env::var_os(var) {
        Some(v) => PathBuf::from(v),
        None => default
            .iter()
            .fold(workspace_root().join(".."), |d, part| d.join(part)),
    };
    assert!(
        dir.is_dir(),
        "this test reads material not shipped with synaptic; set {var} to its folder \
         ({} does not exist)",
        dir.display()
    );
    dir
}

/// The Synapse corpus: 268 Synapse configuration files from real projects (README, "Tests").
pub fn corpus_dir() -> PathBuf {
    external_dir("SYNAPTIC_CORPUS_DIR", &["shared", "corpus", "synapse"])
}

/// WSO2's documentation pages that print the reference `simple-token-gen` sequences.
pub fn reference_docs_dir() -> PathBuf {
    external_dir("SYNAPTIC_REFERENCE_DOCS_DIR", &["shared", "seeds"])
}

/// A port on 127.0.0.1 that was free a moment ago. Another process may take it before it is
/// used; launchers that hand it to a child process retry with a new one on a bind failure.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0 to find a free port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr of an ephemeral listener: {e}"))
        .port()
}

/// Panic with a message that names the setup command. For prerequisites that are missing.
#[track_caller]
pub fn missing_prerequisite(what: &str) -> ! {
    panic!(
        "{what}\n\nThe test prerequisites are installed by `{SETUP_COMMAND}` (run it as root from \
         the repository root, see docs/TESTING.md). Tests never skip."
    )
}

/// `/usr/bin/chromium` (Debian's `chromium`), or a panic naming the setup command.
pub fn chromium() -> PathBuf {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        let p = PathBuf::from(candidate);
        if p.is_file() {
            return p;
        }
    }
    missing_prerequisite("headless Chromium (Debian package `chromium`) is not installed")
}

/// Flags for headless Chromium on this kind of machine (root, closed network): no sandbox,
/// no background networking. Add `--user-data-dir=<a fresh temp dir>` and the page URL.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// Run `cmd` to completion; panic naming `what` with its output when it cannot run or fails.
pub fn output_ok(cmd: &mut std::process::Command, what: &str) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
