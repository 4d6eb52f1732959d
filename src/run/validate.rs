//! `loadtest validate`: load and check a scenario, print its warnings and schedule; start nothing.

use super::ScenarioArgs;
use crate::error::EXIT_OK;
use crate::schedule;

/// Options of `loadtest validate`.
#[derive(Debug, Clone, clap::Args)]
pub struct ValidateArgs {
    /// The scenario.
    #[command(flatten)]
    pub input: ScenarioArgs,
}

/// `loadtest validate`: print the schedule, start nothing.
pub fn exec(args: ValidateArgs) -> anyhow::Result<i32> {
    let loaded = args.input.load()?;
    let s = &loaded.scenario;
    print!("{}", schedule::describe(s, &schedule::expand(&s.load)));
    Ok(EXIT_OK)
}
