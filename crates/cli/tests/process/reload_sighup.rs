//! `SIGHUP` reloads `synaptic.toml`: the real binary (`synaptic serve --no-watch`, so no file
//! watcher plays a part) under the support library's supervisor, a changed configuration and
//! `kill -HUP` by pid; then a broken configuration that is rejected while the previous plan
//! keeps serving.

use std::process::Command;
use synaptic_tests::origin::{MockOrigin, MockResponse};
use synaptic_tests::process::{http_get_status, signal, wait_until, Supervised};

fn api(name: &str, context: &str, endpoint: &str) -> String {
    format!("\n[[api]]\nname = \"{name}\"\ncontext = \"{context}\"\nendpoint = \"{endpoint}\"\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_configuration_and_rejects_a_broken_one() {
    let origin = MockOrigin::start(|_| MockResponse::text("ok")).await;
    let dir = tempfile::Builder::new()
        .prefix("synaptic-sighup-")
        .tempdir()
        .expect("temp dir");
    let port = synaptic_tests::free_port();
    let head = format!("[server]\nlisten = \"127.0.0.1:{port}\"\nshutdown_grace = 1\n");
    let config = dir.path().join("synaptic.toml");
    std::fs::write(&config, format!("{head}{}", api("A", "/a", &origin.url()))).expect("write");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_synaptic"));
    cmd.arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--no-watch")
        .current_dir(dir.path());
    let log = dir.path().join("synaptic.log");
    let mut proc = Supervised::spawn("sighup-gateway", &log, &cmd).expect("spawn");
    let up = tokio::task::block_in_place(|| {
        wait_until(&mut proc, 600, || {
            http_get_status(port, "/health") == Some(200)
        })
    });
    assert!(up, "the gateway did not start:\n{}", proc.log_tail(4000));
    let get = |path: &'static str| tokio::task::block_in_place(move || http_get_status(port, path));
    assert_eq!(get("/a/x"), Some(200));
    assert_eq!(get("/b/x"), Some(404));

    // a good change, applied on SIGHUP (no watcher runs)
    let good = format!(
        "{head}{}{}",
        api("A", "/a", &origin.url()),
        api("B", "/b", &origin.url())
    );
    std::fs::write(&config, &good).expect("write");
    signal(proc.pid(), "HUP");
    let reloaded = tokio::task::block_in_place(|| {
        wait_until(&mut proc, 100, || {
            http_get_status(port, "/b/x") == Some(200)
        })
    });
    assert!(reloaded, "SIGHUP did not reload:\n{}", proc.log_tail(4000));
    assert!(proc.log_tail(16_000).contains("reloaded: generation 2"));

    // a broken change: rejected, the previous plan keeps serving
    std::fs::write(&config, format!("{good}\n[[api]]\nname = ")).expect("write");
    signal(proc.pid(), "HUP");
    let rejected = tokio::task::block_in_place(|| {
        wait_until(&mut proc, 100, || {
            proc_log(&log).contains("rejected: 1 error(s), still serving generation 2")
        })
    });
    assert!(rejected, "no rejection logged:\n{}", proc.log_tail(4000));
    assert_eq!(get("/b/x"), Some(200));
    assert_eq!(get("/a/x"), Some(200));
    proc.stop();
}

fn proc_log(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
