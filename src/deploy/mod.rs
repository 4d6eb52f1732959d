//! `loadtest deploy`: scaffold shards and scale bridges in the vendored kustomize tree (`deploy/`).

use clap::Args;

/// Options of `loadtest deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {}

/// Entry point of `loadtest deploy`.
pub fn exec(_args: DeployArgs) -> anyhow::Result<i32> {
    anyhow::bail!("deploy is not implemented yet")
}
