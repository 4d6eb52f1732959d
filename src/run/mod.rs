//! `loadtest run`: orchestrate participants across conferences and write the results directory.

pub mod progress;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, InfraError, UsageError};
use crate::media::{self, AudioSource, VideoSource};
use crate::metrics;
use crate::participant::targets::Target;
use crate::participant::{self, Board, Sessions, Shared};
use crate::results::{self, Fidelity, ResultsDir, RunInfo};
use crate::scenario::{self, Override, Scenario};
use crate::schedule::{self, ParticipantPlan};
use crate::webdriver::{Endpoint, grid};
use progress::Tally;

/// Options of `loadtest run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The scenario file (TOML).
    #[arg(long, short = 's', value_name = "FILE")]
    pub scenario: PathBuf,
    /// Override a scenario key, e.g. `--set load.participants=5` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<Override>,
    /// Results directory (default: `results/<UTC time>-<scenario name>`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the expanded plan and start nothing.
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

/// The most sessions open at once under this plan.
pub fn peak_sessions(plans: &[ParticipantPlan]) -> usize {
    let mut edges: Vec<(Duration, i32)> = plans
        .iter()
        .flat_map(|p| [(p.join_offset, 1), (p.leave_offset, -1)])
        .collect();
    // At equal times count joins first: sessions close only after the hang-up barrier.
    edges.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let (mut cur, mut peak) = (0i32, 0i32);
    for (_, d) in edges {
        cur += d;
        peak = peak.max(cur);
    }
    peak as usize
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
    let s = scenario::load(&args.scenario, &sets)?;
    let plans = schedule::expand(&s.load);
    for w in warnings(&s) {
        eprintln!("warning: {w}");
    }
    if args.dry_run {
        print!("{}", schedule::describe(&s, &plans));
        return Ok(EXIT_OK);
    }
    let out = args.out.clone().unwrap_or_else(|| default_out(&s));
    let summary = run(s, plans, &args.scenario, &out).await?;
    eprintln!(
        "{}: {} of {} participants ok, {} failed -> {}",
        summary.info.outcome,
        summary.info.ok,
        summary.info.planned,
        summary.info.failed,
        summary.dir.display()
    );
    println!("{}", summary.dir.display());
    if args.no_report {
        return Ok(summary.exit_code);
    }
    // The report's verdict (thresholds, baseline-free) decides a completed run's exit code; an
    // interrupted or broken run keeps its own. A report failure never loses the results.
    let report_args = crate::report::ReportArgs {
        run_dir: summary.dir.clone(),
        baseline: None,
        tolerance: 0.10,
        template: None,
    };
    match crate::report::report(&report_args) {
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

/// Scenario warnings that do not stop a run.
pub fn warnings(s: &Scenario) -> Vec<String> {
    match s.target.kind {
        scenario::TargetKind::Jitsi => participant::targets::jitsi::warnings(&s.target.jitsi),
        scenario::TargetKind::Janus => Vec::new(),
    }
}

/// Run a validated scenario into `out`.
pub async fn run(
    s: Scenario,
    plans: Vec<ParticipantPlan>,
    file: &Path,
    out: &Path,
) -> anyhow::Result<RunSummary> {
    let base = file.parent().unwrap_or(Path::new("."));
    let video = VideoSource::parse(&s.media.video, base).map_err(UsageError)?;
    let audio = AudioSource::parse(&s.media.audio, base).map_err(UsageError)?;
    let prepared =
        media::prepare(&video, &audio, &media::cache_dir()).context("preparing fake media")?;

    let dir = ResultsDir::create(out).map_err(|e| UsageError(format!("--out: {e}")))?;
    dir.write_atomic("scenario.toml", s.to_toml().as_bytes())?;
    let mut info = RunInfo {
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
        fidelity: Fidelity {
            page: Target::page_name(&s),
            video: video.describe(),
            audio: audio.describe(),
            receive_audio: s.media.receive_audio,
        },
        started_at: results::now(),
        ended_at: None,
        outcome: "running".into(),
        exit_reason: String::new(),
        planned: plans.len(),
        ok: 0,
        failed: 0,
        valid: true,
        invalid_reasons: Vec::new(),
        metric_gaps: Vec::new(),
    };
    dir.write_run(&info)?;

    // Infrastructure: the browsers' endpoint, then the target.
    let infra = async {
        let endpoint = Endpoint::start(&s.webdriver, peak_sessions(&plans)).await?;
        let target = match Target::prepare(&s).await {
            Ok(t) => t,
            Err(e) => {
                endpoint.stop().await;
                return Err(e);
            }
        };
        Ok::<_, InfraError>((endpoint, target))
    };
    let (recorder, writer) = dir.spawn_writer()?;
    let (endpoint, target) = match infra.await {
        Ok(v) => v,
        Err(e) => {
            recorder.event("run", "error", e.to_string()).await;
            drop(recorder);
            writer.await??;
            info.outcome = "error".into();
            info.exit_reason = e.to_string();
            info.ended_at = Some(results::now());
            dir.write_run(&info)?;
            return Err(e.into());
        }
    };
    info.webdriver = endpoint.describe();
    dir.write_run(&info)?;

    let cancel = CancellationToken::new();
    let start = Instant::now();
    let tally = Arc::new(Tally::new(plans.len()));
    let webdriver_url = endpoint.url().clone();
    let sessions = Sessions::default();
    let shared = Arc::new(Shared {
        webdriver_url: webdriver_url.clone(),
        local: endpoint.is_local(),
        webdriver: s.webdriver.clone(),
        media: prepared.on_node(if endpoint.is_local() {
            None
        } else {
            s.webdriver.media_dir.as_deref()
        }),
        target,
        timeouts: s.timeouts.clone(),
        stats_interval: s.stats.interval.get(),
        receive_audio: s.media.receive_audio,
        recorder: recorder.clone(),
        tally: tally.clone(),
        cancel: cancel.clone(),
        sessions: sessions.clone(),
        board: Board::default(),
        in_room: watch::Sender::new(0),
        artifacts: dir.artifacts(),
        start,
        grid: endpoint.grid(),
        connector: participant::connector(),
        bridges: metrics::bridges(&s),
    });

    recorder
        .event(
            "run",
            "started",
            format!(
                "{} participants in {} conferences",
                plans.len(),
                s.load.conferences
            ),
        )
        .await;
    let length = schedule::run_length(&plans);
    let progress_stop = CancellationToken::new();
    let progress = tokio::spawn(progress::show(
        tally.clone(),
        plans.len(),
        length,
        start,
        progress_stop.clone(),
    ));
    let sources = metrics::sources(&s);
    let metrics_interval = metrics::interval(&s);
    let metrics_stop = CancellationToken::new();
    let started_utc = chrono::Utc::now();
    let collector = tokio::spawn(metrics::collect(
        sources.clone(),
        metrics_interval,
        s.metrics.timeout.get(),
        recorder.clone(),
        tally.clone(),
        metrics_stop.clone(),
    ));
    let signals = tokio::spawn(watch_signals(
        cancel.clone(),
        sessions.clone(),
        webdriver_url.clone(),
    ));

    let mut tasks = JoinSet::new();
    for plan in plans {
        recorder
            .event(
                &plan.id,
                "scheduled",
                format!(
                    "{} in {} at +{} ms",
                    plan.role,
                    plan.room,
                    plan.join_offset.as_millis()
                ),
            )
            .await;
        tasks.spawn(participant::run(plan, shared.clone()));
    }

    // Wait for everyone; once interrupted, give the hang-up a bounded time.
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
                Some(Err(e)) => recorder.event("run", "task_failed", e.to_string()).await,
                None => break,
            },
            _ = cancel.cancelled(), if deadline.is_none() => {
                recorder.event("run", "interrupted", "hanging everyone up").await;
                deadline = Some(tokio::time::Instant::now() + s.timeouts.hangup.get() + Duration::from_secs(15));
            }
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            tasks.abort_all();
            recorder
                .event(
                    "run",
                    "teardown_timeout",
                    "aborted participants still hanging up",
                )
                .await;
            while tasks.join_next().await.is_some() {}
            break;
        }
    }
    signals.abort();

    // Last resort: nothing may stay open on the grid.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    for (pid, sid) in sessions.open() {
        let ok = grid::delete_session(&http, &webdriver_url, &sid).await;
        recorder
            .event(&pid, "force_closed", format!("session={sid} deleted={ok}"))
            .await;
    }
    progress_stop.cancel();
    let _ = progress.await;
    // One more server sample after everyone left (rooms back to zero), then the range backfill.
    tokio::time::sleep(metrics_interval.min(Duration::from_secs(2))).await;
    metrics_stop.cancel();
    info.metric_gaps = collector.await.unwrap_or_default();
    if !cancel.is_cancelled()
        && let Some(gap) = metrics::backfill(
            &sources,
            started_utc,
            chrono::Utc::now(),
            metrics_interval,
            &recorder,
        )
        .await
    {
        info.metric_gaps.push(gap);
    }

    let interrupted = cancel.is_cancelled();
    let ok = rows.iter().filter(|r| r.outcome == "ok").count();
    info.ok = ok;
    info.failed = info.planned - ok;
    info.ended_at = Some(results::now());
    let (outcome, reason, code) = if interrupted {
        (
            "interrupted",
            "SIGINT/SIGTERM: participants hung up, partial results kept".to_string(),
            EXIT_INTERRUPTED,
        )
    } else if info.failed > 0 {
        (
            "failed",
            format!("{} of {} participants failed", info.failed, info.planned),
            EXIT_FAILED,
        )
    } else {
        (
            "passed",
            "every participant joined, media flowed, and all hung up".to_string(),
            EXIT_OK,
        )
    };
    info.outcome = outcome.into();
    info.exit_reason = reason.clone();
    recorder
        .event("run", "ended", format!("{outcome}: {reason}"))
        .await;

    drop(shared);
    drop(recorder);
    writer.await??;
    endpoint.stop().await;
    // The saturation guard reads what was recorded.
    let evidence = metrics::guard::collect(dir.path());
    info.invalid_reasons = metrics::guard::judge(&s.guard, &evidence, video.fps());
    info.valid = info.invalid_reasons.is_empty();
    if !info.valid {
        eprintln!(
            "run INVALID: the load generators were the bottleneck: {}",
            info.invalid_reasons.join("; ")
        );
    }
    dir.write_run(&info)?;
    Ok(RunSummary {
        dir: dir.path().to_path_buf(),
        info,
        exit_code: code,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Dur, Load};

    #[test]
    fn peak_counts_overlap() {
        let mk = |delay: u64, dur: u64| Load {
            conferences: 2,
            participants: 3,
            senders: None,
            audio_senders: None,
            duration: Dur::from_secs(dur),
            join_delay: Some(Dur::from_secs(delay)),
            ramp: None,
            room_prefix: "r".into(),
        };
        assert_eq!(peak_sessions(&schedule::expand(&mk(1, 60))), 6);
        assert_eq!(peak_sessions(&schedule::expand(&mk(10, 5))), 2);
    }
}
