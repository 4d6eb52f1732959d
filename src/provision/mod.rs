//! `loadtest provision`, `destroy` and `grid status`: a load-generator fleet as a Selenium Grid.

use clap::Args;

/// Options of `loadtest provision`.
#[derive(Debug, Args)]
pub struct ProvisionArgs {}

/// Options of `loadtest destroy`.
#[derive(Debug, Args)]
pub struct DestroyArgs {}

/// Options of `loadtest grid`.
#[derive(Debug, Args)]
pub struct GridArgs {}

/// Entry point of `loadtest provision`.
pub async fn exec_provision(_args: ProvisionArgs) -> anyhow::Result<i32> {
    anyhow::bail!("provision is not implemented yet")
}

/// Entry point of `loadtest destroy`.
pub async fn exec_destroy(_args: DestroyArgs) -> anyhow::Result<i32> {
    anyhow::bail!("destroy is not implemented yet")
}

/// Entry point of `loadtest grid`.
pub async fn exec_grid(_args: GridArgs) -> anyhow::Result<i32> {
    anyhow::bail!("grid status is not implemented yet")
}
