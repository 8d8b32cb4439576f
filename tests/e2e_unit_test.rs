//! `synaptic test`: WSO2 unit-test suites run from the command line against the artifacts of
//! a project, with their mock services on 127.0.0.1. The example project's suites pass; a
//! fixture project in the Micro Integrator 4.x layout holds a deliberately failing case, which
//! makes the command exit 1 and shows in the JUnit report.

use std::path::Path;

use synaptic_tests::{run_cli as cli, workspace_root as root};

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn the_example_projects_suites_pass_with_the_backend_mocked() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("report.xml");
    let (code, out, err) = cli(&[
        "test",
        &p(&root().join("examples/mi-project")),
        "--junit",
        &p(&junit),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    // one line per case, the API suite and the sequence suite
    for case in ["GetOrderFromTheBackend", "CreateOrder", "AcceptsTheItem"] {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with("ok") && l.contains(case)),
            "{case} did not pass:\n{out}"
        );
    }
    assert!(out.contains("(api OrderAPI)"), "{out}");
    assert!(out.contains("(sequence CreateOrderSeq)"), "{out}");
    assert!(
        out.contains("test result: ok. 3 passed; 0 failed; 0 errors; 2 suites"),
        "{out}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuites name=\"synaptic test\" tests=\"3\" failures=\"0\" errors=\"0\""),
        "{xml}"
    );
    assert!(
        xml.contains("<testcase name=\"GetOrderFromTheBackend\""),
        "{xml}"
    );
}

#[test]
fn a_failing_case_exits_1_and_is_a_junit_failure() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let project = root().join("tests/data/unit-test/mi4-project");
    let (code, out, err) = cli(&["test", &p(&project), "--junit", &p(&junit)]);
    assert_eq!(code, 1, "{out}\n{err}");
    // the MI 4.x layout: suites in src/test/wso2mi, mock services in src/test/resources
    assert!(
        out.contains("GreetingAPITest.xml (api GreetingAPI)"),
        "{out}"
    );
    assert!(out.contains("UpperTest.xml (sequence Upper)"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("ok") && l.contains("GreetsAda")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("ok") && l.contains("Shouts")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("FAIL") && l.contains("DeliberatelyWrongTitle")),
        "{out}"
    );
    // what was expected and what came, with the assertion's message
    assert!(
        out.contains("assertEquals $body: this case fails on purpose"),
        "{out}"
    );
    assert!(out.contains("<title>Queen</title>"), "{out}");
    assert!(out.contains("<title>Countess</title>"), "{out}");
    // the status assertion of the same case held: only one failure is reported for it
    assert!(!out.contains("the status holds"), "{out}");
    assert!(
        out.contains("test result: FAILED. 2 passed; 1 failed; 0 errors; 2 suites"),
        "{out}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("tests=\"3\" failures=\"1\" errors=\"0\""),
        "{xml}"
    );
    assert!(
        xml.contains(
            "<failure message=\"assertEquals $body: this case fails on purpose\" type=\"assertion\">"
        ),
        "{xml}"
    );
    // the report is well-formed XML
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"));
    assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
    assert_eq!(xml.matches("</testsuite>").count(), 2, "{xml}");
}

#[test]
fn a_suite_file_runs_alone_and_mistakes_in_suites_are_positioned_errors() {
    let project = root().join("tests/data/unit-test/mi4-project");
    let (code, out, _) = cli(&["test", &p(&project.join("src/test/wso2mi/UpperTest.xml"))]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 passed"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let tests = dir.path().join("src/test/wso2mi");
    std::fs::create_dir_all(&tests).unwrap();
    std::fs::write(
        tests.join("Broken.xml"),
        "<unit-test>\n  <artifacts>\n    <test-artifact><artifact>src/main/wso2mi/artifacts/apis/Nope.xml</artifact></test-artifact>\n  </artifacts>\n  <test-cases><test-case name=\"x\"><assertions><assertEquals><actual>$bdy</actual><expected>1</expected></assertEquals></assertions></test-case></test-cases>\n</unit-test>\n",
    )
    .unwrap();
    let (code, out, _) = cli(&["test", &p(dir.path())]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Broken.xml:3:"), "{out}");
    assert!(out.contains("error[E0131]"), "{out}");
    assert!(out.contains("error[E0130]"), "{out}");
    assert!(out.contains("`$bdy` is not an assertion target"), "{out}");
    assert!(out.contains("0 passed; 0 failed; 1 error"), "{out}");
    // lint reports the same mistakes
    let (code, out, _) = cli(&["lint", &p(&tests)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error[E0131]") && out.contains("error[E0130]"),
        "{out}"
    );

    // nothing to run
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = cli(&["test", &p(empty.path())]);
    assert_eq!(code, 2);
    assert!(err.contains("no unit-test suites"), "{err}");
}
