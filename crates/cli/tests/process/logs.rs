//! `[log]` in a real `synaptic serve` process: JSON lines on stderr, access lines appended to
//! a file, levels per target.

use std::process::Command;
use synaptic_tests::process::{http_get_status, wait_until, Supervised};

#[test]
fn json_log_and_access_log_file() {
    let dir = tempfile::Builder::new()
        .prefix("synaptic-logs-")
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
    let seq_dir = dir.path().join("sequences");
    std::fs::create_dir_all(&seq_dir).unwrap();
    std::fs::write(
        seq_dir.join("hello.xml"),
        r#"<sequence name="hello" xmlns="http://ws.apache.org/ns/synapse">
  <payloadFactory media-type="json"><format>{"hello":"world"}</format></payloadFactory>
  <respond/>
</sequence>"#,
    )
    .unwrap();
    let mut last = String::new();
    for _ in 0..3 {
        let port = synaptic_tests::free_port();
        let config = format!(
            r#"[server]
listen = "127.0.0.1:{port}"
watch = false
shutdown_grace = 1

[[api]]
name = "hello"
context = "/hello"
in_sequence = "hello"

[log]
format = "json"
access_log = "logs/access.log"
targets = {{ "synaptic::reload" = "off" }}
"#
        );
        let config_path = dir.path().join("synaptic.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_synaptic"));
        cmd.arg("serve")
            .arg("--config")
            .arg(&config_path)
            .current_dir(dir.path())
            .env_remove("SYNAPTIC_LOG");
        let log = dir.path().join("stderr.log");
        let mut proc = match Supervised::spawn("logs", &log, &cmd) {
            Ok(p) => p,
            Err(e) => {
                last = e;
                continue;
            }
        };
        if !wait_until(&mut proc, 600, || {
            http_get_status(port, "/health") == Some(200)
        }) {
            last = proc.log_tail(4000);
            proc.kill();
            continue;
        }
        assert_eq!(http_get_status(port, "/hello/x?secret=1"), Some(200));
        let access = dir.path().join("logs/access.log");
        let mut lines = Vec::new();
        for _ in 0..100 {
            lines = std::fs::read_to_string(&access)
                .unwrap_or_default()
                .lines()
                .map(String::from)
                .collect();
            if lines.iter().any(|l| l.contains("/hello/x")) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        proc.stop();
        let line = lines
            .iter()
            .find(|l| l.contains("/hello/x"))
            .unwrap_or_else(|| panic!("no access line in {}: {lines:?}", access.display()));
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("access line is not JSON ({e}): {line}"));
        assert_eq!(v["target"], "synaptic::access");
        assert_eq!(v["fields"]["status"], 200);
        assert_eq!(v["fields"]["api"], "hello");
        // query values are never logged
        assert!(!line.contains("secret=1"), "{line}");
        // every other line on stderr is JSON too, and none is an access line
        let stderr = std::fs::read_to_string(&log).unwrap_or_default();
        let mut general = 0;
        for l in stderr.lines().filter(|l| l.starts_with('{')) {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {l}"));
            assert_ne!(v["target"], "synaptic::access", "{l}");
            assert_ne!(v["target"], "synaptic::reload", "target turned off: {l}");
            assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
            general += 1;
        }
        assert!(general > 0, "no JSON log line on stderr:\n{stderr}");
        return;
    }
    panic!("synaptic serve did not start: {last}");
}
