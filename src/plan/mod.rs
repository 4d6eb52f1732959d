//! `loadtest plan`: JVBs, shards and load generators from measured runs and observations.

use clap::Args;

/// Options of `loadtest plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {}

/// Entry point of `loadtest plan`.
pub fn exec(_args: PlanArgs) -> anyhow::Result<i32> {
    anyhow::bail!("plan is not implemented yet")
}
