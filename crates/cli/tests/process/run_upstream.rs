//! `synaptic run` sends `<call>` through the gateway's upstream stack: the real binary, a
//! backend on 127.0.0.1 that answers, and one that sends its head and stalls in the body (the
//! deadline covers the body too).

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;
use synaptic_tests::origin::{MockOrigin, MockResponse};

fn call_sequence(dir: &std::path::Path, url: &str) -> (String, String) {
    let seq = dir.join("caller.xml");
    std::fs::write(
        &seq,
        format!(
            r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="caller"><call blocking="true"><endpoint><http method="get" uri-template="{url}"/></endpoint></call><respond/></sequence>"#
        ),
    )
    .expect("write");
    let req = dir.join("req.http");
    std::fs::write(&req, "GET /x HTTP/1.1\nAccept: */*\n\n").expect("write");
    (seq.display().to_string(), req.display().to_string())
}

fn run(seq: &str, req: &str) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_synaptic"))
        .args(["run", seq, "--request", req, "--timeout-ms", "700"])
        .output()
        .expect("synaptic run");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_calls_through_the_upstream_stack_under_one_deadline() {
    let dir = tempfile::tempdir().expect("tmp");
    let origin =
        MockOrigin::start(|_| MockResponse::json(200, &serde_json::json!({"menu": ["pizza"]})))
            .await;
    let (seq, req) = call_sequence(dir.path(), &format!("{}/menu", origin.url()));
    let (ok, out, err) = tokio::task::block_in_place(|| run(&seq, &req));
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("pizza"),
        "the backend's body is the message:\n{out}"
    );
    assert_eq!(
        origin.requests()[0].header("host"),
        Some(&*origin.addr().to_string())
    );

    // a backend that stalls in the body: the call fails after the deadline, not never
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"partial\"",
                );
                std::thread::sleep(Duration::from_secs(30));
            });
        }
    });
    let (seq, req) = call_sequence(dir.path(), &format!("http://{addr}/slow"));
    let t0 = tokio::time::Instant::now();
    let (_, out, err) = tokio::task::block_in_place(|| run(&seq, &req));
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(!out.contains("partial"), "{out}{err}");
}
