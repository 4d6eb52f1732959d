//! `loadtest run`: orchestrate participants across conferences and write the results directory.
//!
//! [`run`] hands a fixed schedule to the [`Harness`] (results directory, browsers, target, metrics,
//! signals: the machinery a growing load test shares) and waits for it. `validate` ([`validate`]) is a
//! run that starts nothing.

pub mod cohorts;
pub mod disrupt;
pub mod harness;
pub mod progress;
pub mod validate;

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::error::{EXIT_FAILED, EXIT_OK, UsageError};
use crate::participant::targets::jwt::Tokens;
use crate::participant::targets::preflight;
use crate::results::RunInfo;
use crate::scenario::{self, Override, Scenario};
use crate::schedule::{self, ScheduledParticipant};
pub use harness::Harness;

/// The scenario options `run`, `limit` and `validate` share.
#[derive(Debug, Clone, clap::Args)]
pub struct ScenarioArgs {
    /// The scenario file (TOML); a bare name not in the working directory is looked up in scenarios/.
    #[arg(long, short = 's', value_name = "FILE")]
    pub scenario: PathBuf,
    /// Override a scenario key, e.g. `--set load.participants_per_conference=5` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<Override>,
    /// Use the fleet `loadtest provision` set up: its hub as `webdriver.url` and its media
    /// directory as `webdriver.media_dir` (a `--set` of either wins).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Serve the run's live state for Prometheus at `http://ADDR/metrics` (`export.listen`; loopback
    /// unless `export.allow_remote = true`), e.g. `127.0.0.1:9464`.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
}

impl ScenarioArgs {
    /// Load the scenario (the inventory's overrides first, then `--set`) and print its warnings.
    pub fn load(&self) -> anyhow::Result<scenario::Loaded> {
        let mut sets = self.sets.clone();
        if let Some(inv) = &self.inventory {
            sets.splice(0..0, crate::provision::run_overrides(inv)?);
        }
        if let Some(addr) = &self.metrics_listen {
            sets.push(Override::from_flag(
                "--metrics-listen",
                "export.listen",
                addr,
            ));
        }
        let loaded = scenario::load(&self.scenario, &sets)?;
        for w in &loaded.warnings {
            eprintln!("warning: {w}");
        }
        Ok(loaded)
    }
}

/// Options of `loadtest run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The scenario.
    #[command(flatten)]
    pub input: ScenarioArgs,
    /// Results directory (default: `results/<UTC time>-<scenario name>`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the schedule and start nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not write the report at the end (`loadtest report DIR` writes it later).
    #[arg(long)]
    pub no_report: bool,
}

/// What a finished run says.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The results directory.
    pub dir: PathBuf,
    /// `run.json` as written at the end.
    pub info: RunInfo,
    /// Exit code.
    pub exit_code: i32,
}

fn default_out(s: &Scenario) -> PathBuf {
    let t = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    PathBuf::from("results").join(format!("{t}-{}", s.name))
}

/// `loadtest run`: returns the exit code.
pub async fn exec(args: RunArgs) -> anyhow::Result<i32> {
    let loaded = args.input.load()?;
    let s = loaded.scenario;
    let plans = schedule::of(&s);
    if args.dry_run {
        print!("{}", schedule::describe(&s, &plans));
        return Ok(EXIT_OK);
    }
    let out = args.out.clone().unwrap_or_else(|| default_out(&s));
    let summary = run(s, plans, &loaded.path, &out).await?;
    eprintln!(
        "{}: {} of {} participants completed, {} failed -> {}",
        summary.info.outcome,
        summary.info.completed,
        summary.info.scheduled,
        summary.info.failed,
        summary.dir.display()
    );
    println!("{}", summary.dir.display());
    if args.no_report {
        return Ok(summary.exit_code);
    }
    // The report's verdict (thresholds, baseline-free) decides a completed run's exit code; an
    // interrupted or broken run keeps its own. A report failure never loses the results.
    match crate::report::write(&summary.dir, &crate::report::Options::default()) {
        Ok(r) => {
            crate::report::print_verdict(&r, &summary.dir, &mut std::io::stderr());
            Ok(match (summary.exit_code, r.verdict) {
                (EXIT_OK, crate::report::Verdict::Pass) => EXIT_OK,
                (EXIT_OK, _) => EXIT_FAILED,
                (code, _) => code,
            })
        }
        Err(e) => {
            eprintln!("warning: the report could not be written ({e}); the results are complete");
            Ok(summary.exit_code)
        }
    }
}

/// Run a validated scenario into `out`; `file` is the scenario file (relative media paths resolve
/// against its directory).
pub async fn run(
    s: Scenario,
    plans: Vec<ScheduledParticipant>,
    file: &Path,
    out: &Path,
) -> anyhow::Result<RunSummary> {
    // A token or key that cannot be read, or one the room would refuse, is bad input: nothing starts.
    let tokens = Tokens::load(&s.target.jitsi).map_err(UsageError)?;
    let refused = preflight::token_problems(&tokens, &plans, chrono::Utc::now().timestamp());
    if !refused.is_empty() {
        return Err(UsageError(refused.join("; ")).into());
    }
    let start = harness::Start {
        file,
        out,
        peak: match scenario::packing::seated(&s) {
            true => schedule::seat::peak_browsers(&plans, scenario::Packing::of(&s)),
            false => schedule::peak_browsers(&plans, scenario::Packing::of(&s).per_slot()),
        },
        length: Some(schedule::run_length(&plans)),
        tokens,
        talk: schedule::talk::plan(&s.load, &plans),
    };
    let mut h = Harness::start(&s, start).await?;
    // Nobody leaves early in a fixed schedule: this token is never cancelled.
    h.spawn(plans, &CancellationToken::new()).await;
    h.finish().await
}
