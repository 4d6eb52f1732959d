//! `loadtest validate`: load and check a scenario, print its warnings and schedule; start nothing.

use std::path::PathBuf;

use crate::error::EXIT_OK;
use crate::scenario::{self, Override};
use crate::schedule;

/// Options of `loadtest validate`.
#[derive(Debug, Clone, clap::Args)]
pub struct ValidateArgs {
    /// The scenario file (TOML); a bare name not in the working directory is looked up in scenarios/.
    #[arg(long, short = 's', value_name = "FILE")]
    pub scenario: PathBuf,
    /// Override a scenario key, e.g. `--set load.participants_per_conference=5` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<Override>,
}

/// `loadtest validate`: print the schedule, start nothing.
pub fn exec(args: ValidateArgs) -> anyhow::Result<i32> {
    let loaded = scenario::load(&args.scenario, &args.sets)?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let s = &loaded.scenario;
    print!("{}", schedule::describe(s, &schedule::of(s)));
    Ok(EXIT_OK)
}
