//! `loadtest plan`: JVBs, shards and load generators from measured runs and observations.
//!
//! [`observations`] reads observation CSVs, [`runs`] turns results directories into observations,
//! [`model`] fits the per-bridge cost model, [`sizing`] turns it into bridges, shards, load servers and
//! deploy values, [`output`] writes `plan.md`, `plan.json` and the charts. `docs/plan.md` explains the
//! model, its units and every constant.

pub mod model;
pub mod observations;
pub mod output;
pub mod runs;
pub mod sizing;

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::error::UsageError;
use crate::scenario::density::{Fidelity, Mode, ModeArgs};
use observations::Observation;
use sizing::{CostModel, Request};

/// What `loadtest plan` prints on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `plan.md`.
    Md,
    /// `plan.json`.
    Json,
}

/// Options of `loadtest plan`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Results directories of runs to learn from (same as --run).
    #[arg(value_name = "RUN_DIR")]
    pub run_dirs: Vec<PathBuf>,
    /// A results directory to learn from (repeatable).
    #[arg(long = "run", value_name = "DIR")]
    pub run: Vec<PathBuf>,
    /// An observations CSV in the format of data/seed-loadtest-observations.csv (repeatable). Replaces
    /// the shipped observations, which are used when none is given.
    #[arg(long, value_name = "FILE")]
    pub observations: Vec<PathBuf>,
    /// A run on one load server whose generator CPU gives the cost per participant of its media preset
    /// at its fidelity (run.json); a run of another mode than the one planned for is left out
    /// (repeatable).
    #[arg(long, value_name = "DIR")]
    pub calibrate: Vec<PathBuf>,
    /// A scenario whose audio, receive fidelity and packing the load servers are sized for.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// The density mode to size load servers for (overrides the scenario's).
    #[command(flatten)]
    pub mode: ModeArgs,
    /// Participants at the peak, all conferences together.
    #[arg(long, required_unless_present = "participants")]
    pub participants_total: Option<u32>,
    /// Participants in each conference.
    #[arg(long, required_unless_present = "conference_size")]
    pub participants_per_conference: Option<u32>,
    /// Participants per conference sending video [default: every participant].
    #[arg(long)]
    pub video_senders: Option<u32>,
    /// Participants per conference sending audio [default: every participant].
    #[arg(long)]
    pub audio_senders: Option<u32>,
    /// Old name of --participants-total.
    #[arg(long, hide = true, conflicts_with = "participants_total")]
    pub participants: Option<u32>,
    /// Old name of --participants-per-conference.
    #[arg(long, hide = true, conflicts_with = "participants_per_conference")]
    pub conference_size: Option<u32>,
    /// Old flag: participants per conference sending both audio and video.
    #[arg(long, hide = true, conflicts_with_all = ["video_senders", "audio_senders"])]
    pub senders: Option<u32>,
    /// Video streams a participant receives at most (channelLastN) [default: every sender].
    #[arg(long)]
    pub last_n: Option<u32>,
    /// CPU limit of one bridge, cores.
    #[arg(long, default_value_t = 4.0, value_name = "CORES")]
    pub jvb_cpu_limit: f64,
    /// Share of a bridge's CPU limit kept free (0..0.95).
    #[arg(long, default_value_t = 0.2, value_name = "SHARE")]
    pub headroom: f64,
    /// Jicofo's max-bridge-participants: participants one bridge takes at most.
    #[arg(long, default_value_t = 80)]
    pub max_bridge_participants: u32,
    /// Cores of one load server, to count the load servers a test of this size needs.
    #[arg(long, default_value_t = sizing::LOAD_SERVER_CORES, value_name = "CORES")]
    pub load_server_cores: f64,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
    /// Where plan.md, plan.json and charts/*.png go.
    #[arg(long, default_value = "plan", value_name = "DIR")]
    pub out: PathBuf,
}

impl PlanArgs {
    /// The sizing request, and a warning per old flag name used.
    pub fn request(&self) -> (Request, Vec<String>) {
        let mut warnings = Vec::new();
        let mut renamed = |old: Option<u32>, now: Option<u32>, what: &str| {
            if old.is_some() {
                warnings.push(format!("{what}; please rename it"));
            }
            now.or(old).unwrap_or_default()
        };
        let total = renamed(
            self.participants,
            self.participants_total,
            "--participants is now --participants-total",
        );
        let per = renamed(
            self.conference_size,
            self.participants_per_conference,
            "--conference-size is now --participants-per-conference",
        );
        if self.senders.is_some() {
            warnings.push(
                "--senders (audio and video) is now --video-senders and --audio-senders; please rename it"
                    .into(),
            );
        }
        let senders = |n: Option<u32>| n.or(self.senders).unwrap_or(per);
        let request = Request {
            participants_total: total,
            participants_per_conference: per,
            video_senders: senders(self.video_senders),
            audio_senders: senders(self.audio_senders),
            last_n: self.last_n,
            jvb_cpu_limit: self.jvb_cpu_limit,
            headroom: self.headroom,
            max_bridge_participants: self.max_bridge_participants,
            load_server_cores: self.load_server_cores,
        };
        (request, warnings)
    }

    /// The fidelity the load servers are sized for: `--scenario`'s (else audio from
    /// `--audio-senders`, audio received, decoding, one browser per participant), with the mode
    /// flags applied. Its video is the scenario's preset (every preset gets a row anyway).
    pub fn generator_mode(&self, request: &Request) -> Result<Fidelity, UsageError> {
        let base = match &self.scenario {
            Some(p) => {
                let loaded =
                    crate::scenario::load(p, &[]).map_err(|e| UsageError(format!("{e:#}")))?;
                Fidelity::of(&loaded.scenario)
            }
            None => Fidelity {
                video: "small".into(),
                audio: request.audio_senders > 0,
                receive_audio: true,
                mode: Mode::BASE,
            },
        };
        Ok(self.mode.apply(base))
    }
}

/// Everything the plan is made from, read and checked.
struct Inputs {
    observations: Vec<Observation>,
    calibrations: Vec<(observations::GeneratorSample, String)>,
    notes: Vec<String>,
}

fn inputs(args: &PlanArgs) -> Result<Inputs, UsageError> {
    let usage = |e: &dyn std::fmt::Display| UsageError(e.to_string());
    let mut obs = Vec::new();
    if args.observations.is_empty() {
        obs.extend(observations::seed());
    }
    for f in &args.observations {
        obs.extend(observations::read(f).map_err(|e| usage(&e))?);
    }
    let mut notes = Vec::new();
    for dir in args.run_dirs.iter().chain(&args.run) {
        let (o, note) = runs::observations(dir).map_err(|e| usage(&e))?;
        obs.extend(o);
        notes.extend(note);
    }
    let mut calibrations = Vec::new();
    for dir in &args.calibrate {
        let (g, note) = runs::calibration(dir).map_err(|e| usage(&e))?;
        calibrations.push((g, dir.display().to_string()));
        notes.extend(note);
    }
    Ok(Inputs {
        observations: obs,
        calibrations,
        notes,
    })
}

/// Entry point of `loadtest plan`: exit code 0, or an error (bad input maps to exit code 2). Nothing
/// is written unless every input was read and the model fitted.
pub fn exec(args: PlanArgs) -> anyhow::Result<i32> {
    let (request, warnings) = args.request();
    for w in warnings {
        eprintln!("warning: {w}");
    }
    request.validate().map_err(|e| UsageError(e.to_string()))?;
    let mode = args.generator_mode(&request)?;
    let input = inputs(&args)?;
    let model = CostModel::fit(&input.observations).map_err(|e| UsageError(e.to_string()))?;
    let plan = output::Plan::new(
        request,
        &model,
        &input.observations,
        &input.calibrations,
        &mode,
        input.notes,
    );
    let written = output::write(&plan, &model, &args.out)?;
    match args.format {
        Format::Md => print!("{}", written.markdown),
        Format::Json => println!("{}", written.json),
    }
    Ok(crate::error::EXIT_OK)
}
