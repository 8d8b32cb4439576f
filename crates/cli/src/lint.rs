//! `synaptic lint`

use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct LintArgs {}

pub fn run(args: LintArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let _ = (args, out, err);
    anyhow::bail!("not implemented yet")
}
