//! The `synaptic` command line. The only crate that knows terminals, exit codes and `anyhow`.
//!
//! Each subcommand lives in its own module with a `run(args, out, err) -> anyhow::Result<ExitCode>`
//! so tests can drive it in-process.

mod access_log;
mod admin;
mod lint;
mod logging;
mod run;
mod serve;
mod unit_test;

use clap::{Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "synaptic",
    version,
    about = "A Synapse-compatible mediation engine and API gateway"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate sequence files like a compiler (`file:line:col` diagnostics).
    Lint(lint::LintArgs),
    /// Run one sequence once against a raw HTTP request and print the result as JSON.
    Run(run::RunArgs),
    /// Serve the APIs of synaptic.toml.
    Serve(serve::ServeArgs),
    /// Run a project's unit-test suites (`<unit-test>` files) without a server.
    Test(unit_test::TestArgs),
    /// Manage OAuth2 clients of the gateway's authorization server.
    Clients(admin::ClientsArgs),
    /// List, revoke and purge tokens of the gateway's authorization server.
    Tokens(admin::TokensArgs),
    /// Resource owners (users) of the gateway's authorization server.
    Users(admin::UsersArgs),
}

/// Parse `args` (including the program name) and run, writing to `out` and `err`.
pub fn run(args: Vec<String>, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = if e.use_stderr() {
                write!(err, "{}", e.render())
            } else {
                write!(out, "{}", e.render())
            };
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Lint(a) => lint::run(a, out, err),
        Command::Run(a) => run::run(a, out, err),
        Command::Serve(a) => serve::run(a, out, err),
        Command::Test(a) => unit_test::run(a, out, err),
        Command::Clients(a) => admin::clients(a, out, err),
        Command::Tokens(a) => admin::tokens(a, out, err),
        Command::Users(a) => admin::users(a, out, err),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "synaptic: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let args = std::env::args().collect();
    // Unlocked handles: each write takes the lock briefly, so tracing (which writes to stderr
    // too) can never deadlock against the command's own output.
    let code = run(args, &mut std::io::stdout(), &mut std::io::stderr());
    access_log::flush_all();
    code
}
