//! `synaptic clients|tokens|users`: administration of the gateway's authorization server.

use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ClientsArgs {}
#[derive(Debug, clap::Args)]
pub struct TokensArgs {}
#[derive(Debug, clap::Args)]
pub struct UsersArgs {}

pub fn clients(
    args: ClientsArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let _ = (args, out, err);
    anyhow::bail!("not implemented yet")
}
pub fn tokens(
    args: TokensArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let _ = (args, out, err);
    anyhow::bail!("not implemented yet")
}
pub fn users(
    args: UsersArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let _ = (args, out, err);
    anyhow::bail!("not implemented yet")
}
