//! `loadtest report`: the results report (summary.json, report.md, charts/*.png) from a results directory.

use std::path::PathBuf;

use clap::Args;

/// Options of `loadtest report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The results directory of a run.
    pub run_dir: PathBuf,
}

/// Entry point of `loadtest report`.
pub fn exec(args: ReportArgs) -> anyhow::Result<i32> {
    anyhow::bail!(
        "report for {} is not implemented yet",
        args.run_dir.display()
    )
}
