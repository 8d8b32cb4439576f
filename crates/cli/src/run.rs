//! `synaptic run`

use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct RunArgs {}

pub fn run(args: RunArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let _ = (args, out, err);
    anyhow::bail!("not implemented yet")
}
