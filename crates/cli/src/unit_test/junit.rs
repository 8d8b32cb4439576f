//! The JUnit XML report (`--junit FILE`): one `<testsuite>` per suite file, one `<testcase>`
//! per test case, `<failure>` for assertions that did not hold, `<error>` for cases (or
//! suites) that could not run.

use super::{Outcome, SuiteResult};
use std::fmt::Write as _;
use std::time::Duration;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' | '\t' | '\r' => out.push(c),
            // not allowed in XML 1.0
            c if (c as u32) < 0x20 => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The report as XML text.
pub fn report(results: &[SuiteResult], total: Duration) -> String {
    let (mut tests, mut failures, mut errors) = (0, 0, 0);
    let mut body = String::new();
    for r in results {
        let mut t = r.cases.len();
        let mut f = 0;
        let mut e = 0;
        for c in &r.cases {
            match c.outcome {
                Outcome::Failed(_) => f += 1,
                Outcome::Error(_) => e += 1,
                Outcome::Passed => {}
            }
        }
        if r.error.is_some() {
            t += 1;
            e += 1;
        }
        tests += t;
        failures += f;
        errors += e;
        let _ = writeln!(
            body,
            "  <testsuite name=\"{}\" tests=\"{t}\" failures=\"{f}\" errors=\"{e}\" skipped=\"0\" time=\"{:.3}\">",
            esc(&r.path),
            r.time.as_secs_f64()
        );
        let class = esc(&r.path);
        if let Some(err) = &r.error {
            let first = err.lines().next().unwrap_or("");
            let _ = writeln!(
                body,
                "    <testcase name=\"(suite)\" classname=\"{class}\" time=\"0\">\n      <error message=\"{}\" type=\"suite\">{}</error>\n    </testcase>",
                esc(first),
                esc(err)
            );
        }
        for c in &r.cases {
            let _ = write!(
                body,
                "    <testcase name=\"{}\" classname=\"{class}\" time=\"{:.3}\"",
                esc(&c.name),
                c.time.as_secs_f64()
            );
            match &c.outcome {
                Outcome::Passed => body.push_str("/>\n"),
                Outcome::Failed(why) => {
                    let first = why.first().and_then(|w| w.lines().next()).unwrap_or("");
                    let _ = writeln!(
                        body,
                        ">\n      <failure message=\"{}\" type=\"assertion\">{}</failure>\n    </testcase>",
                        esc(first),
                        esc(&why.join("\n"))
                    );
                }
                Outcome::Error(why) => {
                    let first = why.lines().next().unwrap_or("");
                    let _ = writeln!(
                        body,
                        ">\n      <error message=\"{}\" type=\"error\">{}</error>\n    </testcase>",
                        esc(first),
                        esc(why)
                    );
                }
            }
        }
        body.push_str("  </testsuite>\n");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"synaptic test\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{:.3}\">\n{body}</testsuites>\n",
        total.as_secs_f64()
    )
}
