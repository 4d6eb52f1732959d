//! The command line: one subcommand per module, each owning its options.

use clap::{Parser, Subcommand};

use crate::run::RunArgs;
use crate::sandbox::SandboxArgs;
use crate::scenario::ValidateArgs;

/// How many people your self-hosted video-conferencing deployment holds.
#[derive(Debug, Parser)]
#[command(name = "loadtest", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario: browser participants across conferences, results into a directory.
    Run(RunArgs),
    /// Check a scenario and print the expanded plan; starts nothing.
    Validate(ValidateArgs),
    /// Start the local demo target (Janus on loopback) until Ctrl-C.
    Sandbox(SandboxArgs),
}

/// Run a parsed command line; returns the process exit code.
pub async fn exec(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run(a) => crate::run::exec(a).await,
        Command::Validate(a) => crate::scenario::exec_validate(a),
        Command::Sandbox(a) => crate::sandbox::exec(a).await,
    }
}
