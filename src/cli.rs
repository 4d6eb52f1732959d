//! The command line: one subcommand per module, each owning its options.

use clap::{Parser, Subcommand};

use crate::deploy::DeployArgs;
use crate::limit::LimitArgs;
use crate::plan::PlanArgs;
use crate::provision::network_node::NetworkNodeArgs;
use crate::provision::{DestroyArgs, GridArgs, ProvisionArgs};
use crate::report::ReportArgs;
use crate::run::RunArgs;
use crate::run::validate::ValidateArgs;
use crate::sandbox::SandboxArgs;

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
    /// Grow the load in steps until a step fails its thresholds: where the deployment breaks, and why.
    Limit(LimitArgs),
    /// Check a scenario and print the schedule; starts nothing.
    Validate(ValidateArgs),
    /// Write summary.json, report.md and charts/*.png into a results directory.
    Report(ReportArgs),
    /// JVBs, shards and load generators for a load shape, from measured runs.
    Plan(PlanArgs),
    /// Create load-generator servers (Terraform) and bootstrap them into a Selenium Grid (SSH).
    Provision(Box<ProvisionArgs>),
    /// Tear down what `provision` created; safe to repeat.
    Destroy(DestroyArgs),
    /// Inspect the Selenium Grid: nodes, slots, sessions, queue.
    Grid(GridArgs),
    /// A Grid node whose browsers sit behind an emulated network (a cohort's `loadtest:network`).
    NetworkNode(NetworkNodeArgs),
    /// Scaffold shards and scale bridges in the vendored Kubernetes manifests (`deploy/`).
    Deploy(DeployArgs),
    /// Start the local demo target (Janus on loopback) until Ctrl-C.
    Sandbox(SandboxArgs),
}

/// The exit code an error maps to: bad input 2, unreachable infrastructure 3, anything else 1.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    use crate::error::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INFRA, InfraError, UsageError};
    if err
        .downcast_ref::<crate::scenario::ScenarioError>()
        .is_some()
        || err.downcast_ref::<UsageError>().is_some()
    {
        EXIT_BAD_INPUT
    } else if err.downcast_ref::<InfraError>().is_some() {
        EXIT_INFRA
    } else {
        EXIT_FAILED
    }
}

/// Run a parsed command line; returns the process exit code.
pub async fn exec(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run(a) => crate::run::exec(a).await,
        Command::Limit(a) => crate::limit::exec(a).await,
        Command::Validate(a) => crate::run::validate::exec(a).await,
        Command::Report(a) => crate::report::exec(a),
        Command::Plan(a) => crate::plan::exec(a),
        Command::Provision(a) => crate::provision::exec_provision(*a).await,
        Command::Destroy(a) => crate::provision::exec_destroy(a).await,
        Command::Grid(a) => crate::provision::exec_grid(a).await,
        Command::NetworkNode(a) => crate::provision::network_node::exec(a).await,
        Command::Deploy(a) => crate::deploy::exec(a),
        Command::Sandbox(a) => crate::sandbox::exec(a).await,
    }
}
