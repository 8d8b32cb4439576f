//! A real MariaDB server (Debian's `mariadb-server`) per test: a data folder made by
//! `mariadb-install-db` in a temporary folder, `mariadbd` on a free loopback port (127.0.0.1
//! only, no binary log), killed by pid when the handle is dropped (or when the test process
//! dies). A database and a user with a password are created for the test; `sql` runs
//! statements as root through the server's socket with the `mariadb` client.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{ready_or_stopped, Supervised};

/// The database and the user a test connects with.
pub const DATABASE: &str = "shop";
pub const USER: &str = "synapse";
pub const PASSWORD: &str = "s3cret-pw";

/// A running `mariadbd`.
#[derive(Debug)]
pub struct MariaDb {
    port: u16,
    dir: tempfile::TempDir,
    proc: Option<Supervised>,
}

fn binary(names: &[&str]) -> PathBuf {
    for n in names {
        for d in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
            let p = Path::new(d).join(n);
            if p.is_file() {
                return p;
            }
        }
    }
    crate::missing_prerequisite(&format!(
        "{} (Debian package `mariadb-server`) is not installed",
        names[0]
    ))
}

impl MariaDb {
    /// Install a data folder and start a server on a free port, with [`DATABASE`] and
    /// [`USER`] / [`PASSWORD`]. Panics with a clear message (naming the setup command when
    /// MariaDB is missing) if it cannot start.
    pub fn start() -> MariaDb {
        let dir = tempfile::Builder::new()
            .prefix("synaptic-mariadb-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir for MariaDB: {e}"));
        let data = dir.path().join("data");
        // temporary tables in the server's own folder: servers of tests running at the same
        // time never share one
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap_or_else(|e| panic!("cannot create {tmp:?}: {e}"));
        crate::output_ok(
            Command::new(binary(&["mariadb-install-db", "mysql_install_db"]))
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--tmpdir={}", tmp.display()))
                .arg("--user=root")
                .arg("--auth-root-authentication-method=normal")
                .arg("--skip-test-db"),
            "mariadb-install-db",
        );
        let mut server = MariaDb {
            port: 0,
            dir,
            proc: None,
        };
        let mut last_err = String::new();
        // a free port can be taken between finding and binding it: retry with a new one
        for _ in 0..5 {
            server.port = crate::free_port();
            match server.spawn() {
                Ok(()) => {
                    server.sql(&format!(
                        "CREATE DATABASE {DATABASE};
                         CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';
                         GRANT ALL ON {DATABASE}.* TO '{USER}'@'127.0.0.1';"
                    ));
                    return server;
                }
                Err(e) => last_err = e,
            }
        }
        panic!("mariadbd did not start after 5 attempts: {last_err}")
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("mariadb.sock")
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = self.dir.path().join("mariadb.log");
        let mut cmd = Command::new(binary(&["mariadbd", "mysqld"]));
        cmd.arg("--no-defaults")
            .arg(format!(
                "--datadir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!(
                "--tmpdir={}",
                self.dir.path().join("tmp").display()
            ))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", self.socket().display()))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("mariadb.pid").display()
            ))
            .arg("--user=root")
            .arg("--skip-log-bin")
            .arg("--skip-name-resolve")
            .arg("--innodb-buffer-pool-size=16M");
        let proc = Supervised::spawn("mariadb", &log, &cmd)?;
        let socket = self.socket();
        // installing and starting InnoDB takes a few seconds on a loaded machine
        let failure = format!("mariadbd on port {} did not answer", self.port);
        self.proc = Some(ready_or_stopped(
            proc,
            1200,
            || ping(&socket),
            4000,
            &failure,
        )?);
        Ok(())
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `jdbc:mysql://127.0.0.1:PORT/shop`.
    pub fn jdbc_url(&self) -> String {
        format!("jdbc:mysql://127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// Run SQL as root in [`DATABASE`] (or with no database before it exists); panics with the
    /// client's message if it fails. Returns what the client prints (tab-separated, no
    /// column names).
    pub fn sql(&self, statements: &str) -> String {
        let out = Command::new(binary(&["mariadb", "mysql"]))
            .arg("--no-defaults")
            .arg("--user=root")
            .arg(format!("--socket={}", self.socket().display()))
            .arg("--batch")
            .arg("--skip-column-names")
            .arg("--execute")
            .arg(statements)
            .args(
                self.has_database()
                    .then_some(DATABASE)
                    .into_iter()
                    .collect::<Vec<_>>(),
            )
            .output()
            .unwrap_or_else(|e| panic!("cannot run the mariadb client: {e}"));
        assert!(
            out.status.success(),
            "mariadb client failed on `{statements}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn has_database(&self) -> bool {
        self.dir.path().join("data").join(DATABASE).is_dir()
    }

    /// The server log so far (for failure messages).
    pub fn log(&self) -> String {
        crate::process::log_tail(&self.dir.path().join("mariadb.log"), 64 * 1024)
    }
}

/// Whether the server answers on its socket (the client's `SELECT 1`).
fn ping(socket: &Path) -> bool {
    if !socket.exists() {
        return false;
    }
    Command::new(binary(&["mariadb", "mysql"]))
        .arg("--no-defaults")
        .arg("--user=root")
        .arg(format!("--socket={}", socket.display()))
        .arg("--connect-timeout=1")
        .arg("--execute=SELECT 1")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.stop();
        }
        // the supervisor stops it with SIGTERM; give InnoDB a moment before the folder goes
        std::thread::sleep(Duration::from_millis(50));
    }
}
