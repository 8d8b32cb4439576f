//! A real PostgreSQL server (Debian's `postgresql`) per test: a data folder made by `initdb` in
//! a temporary folder, `postgres` on a free loopback port (127.0.0.1 only, its socket in that
//! folder, no fsync), stopped when the handle is dropped (or killed when the test process
//! dies). PostgreSQL refuses to run as root, so when the tests run as root (as CI does) the
//! folder is handed to the `postgres` system user the package creates and the server runs as
//! that user (`setpriv`, which execs it: the supervised pid is the server's). A database and a
//! user with a password (scram-sha-256 over TCP) are created for the test; `sql` runs
//! statements as the superuser through the server's socket with `psql`.
//! [`Postgres::start_with`] starts one with TLS (`ssl=on` with the test's certificate and key,
//! optionally a CA for client certificates) and the `pg_hba.conf` lines the test gives (to
//! accept TCP clients over TLS only, say).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{ready_or_stopped, Supervised};

/// The database and the user a test connects with.
pub const DATABASE: &str = "shop";
pub const USER: &str = "synapse";
pub const PASSWORD: &str = "s3cret-pw";

/// The superuser `initdb` makes (reached through the socket only).
const SUPERUSER: &str = "postgres";

/// How [`Postgres::start_with`] sets the server up.
#[derive(Debug, Default)]
pub struct PgOptions {
    /// `ssl=on` with these files.
    pub tls: Option<PgServerTls>,
    /// The `pg_hba.conf` lines for TCP clients, in place of initdb's (`host all all
    /// 127.0.0.1/32 scram-sha-256`, …); the socket stays `trust` for `sql`.
    pub hba: Option<Vec<String>>,
}

/// The server's certificate chain and key (PEM files; copied into the server's folder with the
/// permissions PostgreSQL demands) and the CA client certificates are verified with.
#[derive(Debug)]
pub struct PgServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// A running `postgres`.
#[derive(Debug)]
pub struct Postgres {
    port: u16,
    dir: tempfile::TempDir,
    /// `setpriv` arguments that run a command as the server's user (empty: as this process).
    run_as: Vec<String>,
    /// `-c` settings of TLS (`ssl=on`, its files).
    tls: Vec<String>,
    proc: Option<Supervised>,
}

/// The folder of the newest installed server's programs (`/usr/lib/postgresql/N/bin`).
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => crate::missing_prerequisite(
            "PostgreSQL's server programs (/usr/lib/postgresql/N/bin/postgres, Debian package \
             `postgresql`) are not installed",
        ),
    }
}

fn id(flag: &str, user: &str) -> u32 {
    let out = Command::new("id")
        .arg(flag)
        .arg(user)
        .output()
        .unwrap_or_else(|e| panic!("cannot run id: {e}"));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| {
            crate::missing_prerequisite(&format!(
                "the `{user}` system user (made by the Debian package `postgresql`) does not exist"
            ))
        })
}

/// Hand `path` and everything under it to `uid:gid`.
fn chown_all(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("cannot chown {path:?}: {e}"));
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap_or_else(|e| panic!("cannot list {path:?}: {e}")) {
            chown_all(&e.unwrap().path(), uid, gid);
        }
    }
}

impl Postgres {
    /// Make a data folder and start a server on a free port, with [`DATABASE`] owned by
    /// [`USER`] / [`PASSWORD`]. Panics with a clear message (naming the setup command when
    /// PostgreSQL is missing) if it cannot start.
    pub fn start() -> Postgres {
        Postgres::start_with(&PgOptions::default())
    }

    /// [`Postgres::start`], set up as `opts` says.
    pub fn start_with(opts: &PgOptions) -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("synaptic-postgres-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir for PostgreSQL: {e}"));
        let root = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let run_as = if root {
            chown_all(dir.path(), id("-u", "postgres"), id("-g", "postgres"));
            [
                "setpriv",
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ]
            .map(String::from)
            .to_vec()
        } else {
            Vec::new()
        };
        let mut server = Postgres {
            port: 0,
            dir,
            run_as,
            tls: Vec::new(),
            proc: None,
        };
        let pwfile = server.dir.path().join("pw");
        std::fs::write(&pwfile, "superuser-pw\n").unwrap();
        if root {
            chown_all(&pwfile, id("-u", "postgres"), id("-g", "postgres"));
        }
        crate::output_ok(
            server
                .command(&bin.join("initdb"))
                .arg("--pgdata")
                .arg(server.data())
                .arg(format!("--username={SUPERUSER}"))
                .arg(format!("--pwfile={}", pwfile.display()))
                .arg("--auth-local=trust")
                .arg("--auth-host=scram-sha-256")
                .arg("--encoding=UTF8")
                .arg("--no-locale")
                .arg("--no-sync"),
            "initdb",
        );
        server.set_up(opts, root);
        let mut last_err = String::new();
        // a free port can be taken between finding and binding it: retry with a new one
        for _ in 0..5 {
            server.port = crate::free_port();
            match server.spawn(&bin) {
                Ok(()) => {
                    server.sql_in(
                        "postgres",
                        &format!(
                            "CREATE USER {USER} PASSWORD '{PASSWORD}';
                             CREATE DATABASE {DATABASE} OWNER {USER};"
                        ),
                    );
                    return server;
                }
                Err(e) => last_err = e,
            }
        }
        panic!("postgres did not start after 5 attempts: {last_err}")
    }

    /// The TLS files and `pg_hba.conf` of `opts`, owned by the server's user.
    fn set_up(&mut self, opts: &PgOptions, root: bool) {
        use std::os::unix::fs::PermissionsExt;
        let owned = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("cannot chmod {path:?}: {e}"));
            if root {
                chown_all(path, id("-u", "postgres"), id("-g", "postgres"));
            }
        };
        if let Some(tls) = &opts.tls {
            let mut files = vec![("ssl_cert_file", &tls.cert, "server.crt")];
            files.push(("ssl_key_file", &tls.key, "server.key"));
            if let Some(ca) = &tls.client_ca {
                files.push(("ssl_ca_file", ca, "client-ca.crt"));
            }
            self.tls.push("ssl=on".into());
            for (setting, from, name) in files {
                let to = self.dir.path().join(name);
                std::fs::copy(from, &to)
                    .unwrap_or_else(|e| panic!("cannot copy {from:?} for PostgreSQL: {e}"));
                // the key must be readable by the server's user only
                owned(&to, 0o600);
                self.tls.push(format!("{setting}={}", to.display()));
            }
        }
        if let Some(lines) = &opts.hba {
            let hba = self.data().join("pg_hba.conf");
            let mut text = String::from("local all all trust\n");
            for l in lines {
                text.push_str(l);
                text.push('\n');
            }
            std::fs::write(&hba, text).unwrap_or_else(|e| panic!("cannot write {hba:?}: {e}"));
            owned(&hba, 0o600);
        }
    }

    /// A command that runs `program` as the server's user.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = match self.run_as.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.current_dir(self.dir.path()).env("LC_ALL", "C");
        cmd
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn spawn(&mut self, bin: &Path) -> Result<(), String> {
        let log = self.dir.path().join("postgres.log");
        let mut cmd = self.command(&bin.join("postgres"));
        cmd.arg("-D")
            .arg(self.data())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-h", "127.0.0.1"])
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "fsync=off"])
            .args(["-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"])
            .args(["-c", "shared_buffers=16MB"])
            .args(["-c", "max_connections=30"])
            .args(["-c", "TimeZone=UTC"]);
        for setting in &self.tls {
            cmd.arg("-c").arg(setting);
        }
        let proc = Supervised::spawn("postgres", &log, &cmd)?;
        let failure = format!("postgres on port {} did not answer", self.port);
        self.proc = Some(ready_or_stopped(
            proc,
            1200,
            || self.ping(),
            4000,
            &failure,
        )?);
        Ok(())
    }

    fn psql(&self, database: &str) -> Command {
        let mut cmd = Command::new(bin_dir().join("psql"));
        cmd.arg("--no-psqlrc")
            .arg("--host")
            .arg(self.dir.path())
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--username")
            .arg(SUPERUSER)
            .arg("--dbname")
            .arg(database)
            .args(["--no-align", "--tuples-only", "--quiet"])
            .args(["--set", "ON_ERROR_STOP=1"])
            .env("LC_ALL", "C");
        cmd
    }

    fn ping(&self) -> bool {
        self.dir
            .path()
            .join(format!(".s.PGSQL.{}", self.port))
            .exists()
            && self
                .psql("postgres")
                .arg("--command=SELECT 1")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `jdbc:postgresql://127.0.0.1:PORT/shop`.
    pub fn jdbc_url(&self) -> String {
        format!("jdbc:postgresql://127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// Run SQL as the superuser in [`DATABASE`] with [`USER`]'s role (so the tables it makes
    /// are the test user's); panics with psql's message if it fails. Returns what psql prints
    /// (`|`-separated, no column names).
    pub fn sql(&self, statements: &str) -> String {
        self.sql_in(DATABASE, &format!("SET ROLE {USER};\n{statements}"))
    }

    fn sql_in(&self, database: &str, statements: &str) -> String {
        use std::io::Write;
        // statements on standard input run one after the other, each in its own transaction
        let mut child = self
            .psql(database)
            .arg("--file=-")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run psql: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(statements.as_bytes())
                .unwrap_or_else(|e| panic!("cannot write to psql: {e}"));
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("psql failed: {e}"));
        assert!(
            out.status.success(),
            "psql failed on `{statements}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The server log so far (for failure messages).
    pub fn log(&self) -> String {
        crate::process::log_tail(&self.dir.path().join("postgres.log"), 64 * 1024)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            // a fast shutdown (SIGINT) does not wait for clients still connected
            crate::process::signal(p.pid(), "INT");
            p.stop();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
