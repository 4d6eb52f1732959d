//! `loadtest run`: orchestrate participants across conferences and write the results directory.
//!
//! [`run`] goes through its phases in order — prepare the results directory, start the browsers'
//! endpoint and the target, start the participants and the metrics collector, wait (bounded once
//! interrupted), tear down, judge the generators — and each phase is its own function. `validate`
//! ([`validate`]) is a run that starts nothing.

pub mod progress;
pub mod validate;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::analysis::attribution::Bridges;
use crate::analysis::{guard, window};
use crate::error::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, InfraError, UsageError};
use crate::live::Tally;
use crate::media::{self, AudioSource, VideoSource};
use crate::metrics;
use crate::participant::targets::Target;
use crate::participant::targets::jwt::Tokens;
use crate::participant::targets::preflight;
use crate::participant::{self, Board, Sessions, Shared};
use crate::results::names::RUN;
use crate::results::{
    self, Event, Fidelity, Outcome, ParticipantRow, Recorder, ResultsDir, RunInfo, RunOutcome,
};
use crate::scenario::{self, Override, Scenario};
use crate::schedule::{self, ScheduledParticipant};
use crate::webdriver::{Endpoint, grid};

/// Options of `loadtest run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The scenario file (TOML); a bare name not in the working directory is looked up in scenarios/.
    #[arg(long, short = 's', value_name = "FILE")]
    pub scenario: PathBuf,
    /// Override a scenario key, e.g. `--set load.participants_per_conference=5` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<Override>,
    /// Results directory (default: `results/<UTC time>-<scenario name>`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the schedule and start nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not write the report at the end (`loadtest report DIR` writes it later).
    #[arg(long)]
    pub no_report: bool,
    /// Use the fleet `loadtest provision` set up: its hub as `webdriver.url` and its media
    /// directory as `webdriver.media_dir` (a `--set` of either wins).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
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
    let mut sets = args.sets.clone();
    if let Some(inv) = &args.inventory {
        sets.splice(0..0, crate::provision::run_overrides(inv)?);
    }
    let loaded = scenario::load(&args.scenario, &sets)?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let s = loaded.scenario;
    let plans = schedule::expand(&s.load);
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

/// The results directory with its `run.json` and `scenario.toml`, before anything starts.
fn prepare(
    s: &Scenario,
    plans: &[ScheduledParticipant],
    out: &Path,
    fidelity: Fidelity,
) -> anyhow::Result<(ResultsDir, RunInfo)> {
    let dir = ResultsDir::create(out).map_err(|e| UsageError(format!("--out: {e}")))?;
    dir.write_atomic("scenario.toml", s.to_toml().as_bytes())?;
    let info = RunInfo {
        format_version: results::FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: s.name.clone(),
        target_kind: s.target.kind.as_str().to_string(),
        target: crate::redact::url(&s.target.url),
        webdriver: s
            .webdriver
            .url
            .as_deref()
            .map_or("local chromedriver".into(), crate::redact::url),
        fidelity,
        started_at: results::now(),
        ended_at: None,
        outcome: RunOutcome::Running,
        exit_reason: String::new(),
        scheduled: plans.len(),
        completed: 0,
        failed: 0,
        valid: true,
        invalid_reasons: Vec::new(),
        metric_gaps: Vec::new(),
    };
    dir.write_run(&info)?;
    Ok((dir, info))
}

/// The browsers' endpoint, then the target; an endpoint already started is stopped on failure.
async fn start_infra(
    s: &Scenario,
    plans: &[ScheduledParticipant],
    tokens: Tokens,
) -> Result<(Endpoint, Target), InfraError> {
    let endpoint = Endpoint::start(&s.webdriver, schedule::peak_sessions(plans)).await?;
    match Target::prepare(s, tokens).await {
        Ok(t) => Ok((endpoint, t)),
        Err(e) => {
            endpoint.stop().await;
            Err(e)
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
    let base = file.parent().unwrap_or(Path::new("."));
    let video = VideoSource::parse(&s.media.video, base).map_err(UsageError)?;
    let audio = AudioSource::parse(&s.media.audio, base).map_err(UsageError)?;
    let prepared =
        media::prepare(&video, &audio, &media::cache_dir()).context("preparing fake media")?;
    let fidelity = Fidelity {
        page: Target::page_name(&s),
        video: video.describe(),
        audio: audio.describe(),
        receive_audio: s.media.receive_audio,
    };
    // A token or key that cannot be read is bad input: nothing starts (exit 2).
    let tokens = Tokens::load(&s.target.jitsi).map_err(UsageError)?;
    let refused = preflight::token_problems(&tokens, &plans, chrono::Utc::now().timestamp());
    if !refused.is_empty() {
        return Err(UsageError(refused.join("; ")).into());
    }
    let (dir, mut info) = prepare(&s, &plans, out, fidelity)?;
    let (recorder, writer) = dir.spawn_writer()?;
    let (endpoint, target) = match start_infra(&s, &plans, tokens).await {
        Ok(v) => v,
        Err(e) => {
            recorder.event(RUN, Event::Error, e.to_string()).await;
            drop(recorder);
            writer.await??;
            info.outcome = RunOutcome::Error;
            info.exit_reason = e.to_string();
            info.ended_at = Some(results::now());
            dir.write_run(&info)?;
            return Err(e.into());
        }
    };
    info.webdriver = endpoint.describe();
    dir.write_run(&info)?;
    tracing::info!(participants = plans.len(), webdriver = %info.webdriver, "run starting");

    let media = prepared.on_node(if endpoint.is_local() {
        None
    } else {
        s.webdriver.media_dir.as_deref()
    });
    let shared = Arc::new(Shared {
        webdriver_url: endpoint.url().clone(),
        local: endpoint.is_local(),
        webdriver: s.webdriver.clone(),
        media,
        target,
        timeouts: s.timeouts.clone(),
        stats_interval: s.stats.interval.get(),
        receive_audio: s.media.receive_audio,
        recorder: recorder.clone(),
        tally: Arc::new(Tally::new(plans.len())),
        cancel: CancellationToken::new(),
        sessions: Sessions::default(),
        board: Board::default(),
        in_room: watch::Sender::new(0),
        artifacts: dir.artifacts(),
        start: Instant::now(),
        grid: endpoint.grid(),
        connector: participant::connector(),
        bridges: Bridges::of(&s),
        talk: Arc::new(schedule::talk::plan(&s.load, &plans)),
    });
    let side = SideTasks::start(&s, &plans, &shared, endpoint.is_local()).await;
    let rows = participants(&s, plans, &shared).await;
    let metric_gaps = side.stop(&shared).await;
    let interrupted = shared.cancel.is_cancelled();
    conclude(&mut info, &rows, interrupted, metric_gaps, &recorder).await;
    drop(shared);
    drop(recorder);
    writer.await??;
    endpoint.stop().await;
    judge_generators(&s, &dir, &mut info, video.fps());
    dir.write_run(&info)?;
    let exit_code = match info.outcome {
        RunOutcome::Interrupted => EXIT_INTERRUPTED,
        RunOutcome::Completed => EXIT_OK,
        _ => EXIT_FAILED,
    };
    Ok(RunSummary {
        dir: dir.path().to_path_buf(),
        info,
        exit_code,
    })
}

/// What runs beside the participants: the progress line, the metrics collector, the signal watch.
struct SideTasks {
    progress: JoinHandle<()>,
    progress_stop: CancellationToken,
    collector: JoinHandle<Vec<String>>,
    metrics_stop: CancellationToken,
    signals: JoinHandle<()>,
    sources: Vec<Arc<metrics::Source>>,
    interval: Duration,
    started_utc: chrono::DateTime<chrono::Utc>,
}

impl SideTasks {
    async fn start(
        s: &Scenario,
        plans: &[ScheduledParticipant],
        sh: &Arc<Shared>,
        browsers_here: bool,
    ) -> SideTasks {
        let rec = &sh.recorder;
        let what = format!(
            "{} participants in {} conferences",
            plans.len(),
            s.load.conferences
        );
        rec.event(RUN, Event::Started, what).await;
        let progress_stop = CancellationToken::new();
        let progress = tokio::spawn(progress::show(
            sh.tally.clone(),
            plans.len(),
            schedule::run_length(plans),
            sh.start,
            progress_stop.clone(),
        ));
        let sources = metrics::sources(s, browsers_here);
        let interval = metrics::interval(s);
        let metrics_stop = CancellationToken::new();
        let collector = tokio::spawn(metrics::collect(
            sources.clone(),
            interval,
            s.metrics.timeout.get(),
            rec.clone(),
            sh.tally.clone(),
            metrics_stop.clone(),
        ));
        let signals = tokio::spawn(watch_signals(
            sh.cancel.clone(),
            sh.sessions.clone(),
            sh.webdriver_url.clone(),
        ));
        SideTasks {
            progress,
            progress_stop,
            collector,
            metrics_stop,
            signals,
            sources,
            interval,
            started_utc: chrono::Utc::now(),
        }
    }

    /// Close what is left on the grid, stop the progress line, take one more server sample after
    /// everyone left (rooms back to zero), then the range backfill. Returns the metric gaps.
    async fn stop(self, sh: &Shared) -> Vec<String> {
        self.signals.abort();
        force_close(sh).await;
        self.progress_stop.cancel();
        let _ = self.progress.await;
        tokio::time::sleep(self.interval.min(Duration::from_secs(2))).await;
        self.metrics_stop.cancel();
        let mut gaps = self.collector.await.unwrap_or_default();
        if !sh.cancel.is_cancelled()
            && let Some(gap) = metrics::backfill(
                &self.sources,
                self.started_utc,
                chrono::Utc::now(),
                self.interval,
                &sh.recorder,
            )
            .await
        {
            gaps.push(gap);
        }
        gaps
    }
}

/// Start every participant and wait for them all; once interrupted, the hang-up has a bounded time.
async fn participants(
    s: &Scenario,
    plans: Vec<ScheduledParticipant>,
    sh: &Arc<Shared>,
) -> Vec<ParticipantRow> {
    let rec = &sh.recorder;
    let mut tasks = JoinSet::new();
    for plan in plans {
        let detail = format!(
            "{} in {} at +{} ms",
            plan.role,
            plan.room,
            plan.join_offset.as_millis()
        );
        rec.event(plan.id, Event::Scheduled, detail).await;
        tasks.spawn(participant::run(plan, sh.clone()));
    }
    let mut rows = Vec::new();
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let next = async {
            match deadline {
                Some(d) => tokio::time::timeout_at(d, tasks.join_next())
                    .await
                    .unwrap_or(None),
                None => tasks.join_next().await,
            }
        };
        tokio::select! {
            r = next => match r {
                Some(Ok(row)) => rows.push(row),
                Some(Err(e)) => rec.event(RUN, Event::TaskFailed, e.to_string()).await,
                None => break,
            },
            _ = sh.cancel.cancelled(), if deadline.is_none() => {
                rec.event(RUN, Event::Interrupted, "hanging everyone up").await;
                deadline = Some(tokio::time::Instant::now() + s.timeouts.hangup.get() + Duration::from_secs(15));
            }
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            tasks.abort_all();
            let detail = "aborted participants still hanging up";
            rec.event(RUN, Event::TeardownTimeout, detail).await;
            while tasks.join_next().await.is_some() {}
            break;
        }
    }
    rows
}

/// Last resort: nothing may stay open on the grid.
async fn force_close(sh: &Shared) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    for (pid, sid) in sh.sessions.open() {
        let ok = grid::delete_session(&http, &sh.webdriver_url, &sid).await;
        sh.recorder
            .event(
                pid,
                Event::ForceClosed,
                format!("session={sid} deleted={ok}"),
            )
            .await;
    }
}

/// The run's outcome in `run.json` and on the timeline.
async fn conclude(
    info: &mut RunInfo,
    rows: &[ParticipantRow],
    interrupted: bool,
    metric_gaps: Vec<String>,
    rec: &Recorder,
) {
    info.metric_gaps = metric_gaps;
    info.completed = rows
        .iter()
        .filter(|r| r.outcome == Outcome::Completed)
        .count();
    info.failed = info.scheduled - info.completed;
    info.ended_at = Some(results::now());
    let (outcome, reason) = if interrupted {
        (
            RunOutcome::Interrupted,
            "SIGINT/SIGTERM: participants hung up, partial results kept".to_string(),
        )
    } else if info.failed > 0 {
        (
            RunOutcome::Failed,
            format!("{} of {} participants failed", info.failed, info.scheduled),
        )
    } else {
        (
            RunOutcome::Completed,
            "every participant joined, media flowed, and all hung up".to_string(),
        )
    };
    tracing::info!(%outcome, %reason, completed = info.completed, failed = info.failed, "run ended");
    info.outcome = outcome;
    info.exit_reason = reason.clone();
    rec.event(RUN, Event::Ended, format!("{outcome}: {reason}"))
        .await;
}

/// The saturation guard over what was recorded, in the steady window.
fn judge_generators(s: &Scenario, dir: &ResultsDir, info: &mut RunInfo, camera_fps: Option<f64>) {
    let evidence = window::steady(dir.path()).and_then(|w| guard::collect(dir.path(), w.as_ref()));
    info.invalid_reasons = match evidence {
        Ok(e) => guard::judge(&s.guard, &e, camera_fps),
        Err(e) => vec![format!(
            "the saturation guard could not read the results: {e}"
        )],
    };
    info.valid = info.invalid_reasons.is_empty();
    if !info.valid {
        eprintln!(
            "run INVALID: the load generators were the bottleneck: {}",
            info.invalid_reasons.join("; ")
        );
    }
}

async fn watch_signals(cancel: CancellationToken, sessions: Sessions, webdriver: url::Url) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            cancel.cancel();
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("\ninterrupted: hanging everyone up (press Ctrl-C again to stop at once)");
    cancel.cancel();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("stopping at once: deleting open sessions");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    for (_, sid) in sessions.open() {
        grid::delete_session(&http, &webdriver, &sid).await;
    }
    std::process::exit(EXIT_INTERRUPTED);
}
