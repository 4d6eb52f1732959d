//! The machinery of a running test, shared by `run` (a fixed schedule) and `limit` (a load that grows
//! in steps): the results directory and its writer, the browsers' endpoint and the target, the
//! participants' shared state, the progress line, the metrics collector and the signal watch.
//!
//! [`Harness::start`] prepares everything, [`Harness::spawn`] starts participants at any time,
//! [`Harness::wait`] waits for them (bounded once interrupted), [`Harness::finish`] tears down, judges
//! the generators and writes the final `run.json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::RunSummary;
use super::cohorts::Cohorts;
use super::disrupt::{Roster, Timeline};
use super::progress;
use crate::analysis::attribution::Bridges;
use crate::analysis::{guard, window};
use crate::error::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, InfraError, UsageError};
use crate::export;
use crate::live::Tally;
use crate::media::{self, AudioSource, VideoSource};
use crate::metrics;
use crate::participant::targets::Target;
use crate::participant::targets::jwt::Tokens;
use crate::participant::{self, Board, Browsers, InRoom, Sessions, Shared};
use crate::quality;
use crate::results::names::RUN;
use crate::results::{
    self, Event, Fidelity, Outcome, ParticipantRow, Recorder, ResultsDir, RunInfo, RunOutcome,
};
use crate::scenario::Scenario;
use crate::schedule::ScheduledParticipant;
use crate::schedule::talk::TalkPlan;
use crate::webdriver::{Endpoint, grid};

/// A running test.
pub struct Harness {
    /// The results directory being written.
    pub dir: ResultsDir,
    /// `run.json` as it will be written.
    pub info: RunInfo,
    /// What every participant shares (the live tally, the recorder, cancellation).
    pub shared: Arc<Shared>,
    writer: JoinHandle<std::io::Result<()>>,
    endpoint: Endpoint,
    side: SideTasks,
    tasks: JoinSet<ParticipantRow>,
    rows: Vec<ParticipantRow>,
    camera_fps: Option<f64>,
    guard: crate::scenario::Guard,
    hangup: Duration,
    cohorts: Cohorts,
    timeline: Timeline,
    roster: Roster,
    export: Option<export::Endpoint>,
}

/// What a test starts with, besides its scenario.
pub struct Start<'a> {
    /// The scenario file (relative media paths resolve against its directory).
    pub file: &'a Path,
    /// The results directory to create.
    pub out: &'a Path,
    /// Browser sessions the endpoint must hold at once (a grid's free slots are checked).
    pub peak: usize,
    /// The planned run length, when known (a growing load has none).
    pub length: Option<Duration>,
    /// The JWTs participants carry (Jitsi).
    pub tokens: Tokens,
    /// Who talks when (`[load] speakers = "p59"`).
    pub talk: TalkPlan,
}

impl Harness {
    /// Prepare the results directory, start the browsers' endpoint, check the target and start the
    /// side tasks.
    pub async fn start(s: &Scenario, start: Start<'_>) -> anyhow::Result<Harness> {
        let Start {
            file,
            out,
            peak,
            length,
            tokens,
            talk,
        } = start;
        let base = file.parent().unwrap_or(Path::new("."));
        let video = VideoSource::parse(&s.media.video, base).map_err(UsageError)?;
        let audio = AudioSource::parse(&s.media.audio, base).map_err(UsageError)?;
        let prepared =
            media::prepare(&video, &audio, &media::cache_dir()).context("preparing fake media")?;
        let fidelity = Fidelity {
            page: Target::page_name(s),
            video: video.describe(),
            audio: audio.describe(),
            receive_audio: s.media.receive_audio,
            receive_video: s.media.receive_video.as_str().into(),
            participants_per_browser: s.load.participants_per_browser,
            participants_per_page: s.load.participants_per_page,
        };
        if let (_, Some(w)) = crate::util::limits::raise_open_files(peak) {
            eprintln!("warning: {w}");
        }
        let (dir, mut info) = prepare(s, out, fidelity)?;
        let (recorder, writer) = dir.spawn_writer()?;
        let tally = Arc::new(Tally::default());
        let started = async {
            let export = start_export(s, &dir, &tally).await?;
            let (endpoint, target, cohorts) = start_infra(s, peak, tokens).await?;
            Ok::<_, InfraError>((endpoint, target, cohorts, export))
        };
        let (endpoint, target, cohorts, export) = match started.await {
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
        tracing::info!(webdriver = %info.webdriver, "run starting");
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
            receive_video: s.media.receive_video,
            recorder,
            tally,
            export: export.as_ref().map(|e| e.exporter.clone()),
            cancel: CancellationToken::new(),
            sessions: Sessions::default(),
            board: Board::default(),
            browsers: Browsers::new(
                crate::scenario::Packing::of(s),
                crate::scenario::packing::seated(s),
            ),
            in_room: InRoom::default(),
            artifacts: dir.artifacts(),
            start: Instant::now(),
            grid: endpoint.grid(),
            connector: participant::connector(),
            bridges: Bridges::of(s),
            placements: cohorts.placements.clone(),
            talk: Arc::new(talk),
            quality: s
                .media
                .measures_quality()
                .then(|| Arc::new(std::sync::Mutex::new(quality::Ledger::new()))),
        });
        let side = SideTasks::start(s, &shared, endpoint.is_local(), length).await;
        let roster = Roster::default();
        let (links, results) = (cohorts.links.clone(), dir.path().to_path_buf());
        let timeline = Timeline::start(s, shared.clone(), links, roster.clone(), results);
        Ok(Harness {
            dir,
            info,
            shared,
            writer,
            endpoint,
            side,
            tasks: JoinSet::new(),
            rows: Vec::new(),
            camera_fps: video.fps(),
            guard: s.guard.clone(),
            hangup: s.timeouts.hangup.get(),
            cohorts,
            timeline,
            roster,
            export,
        })
    }

    /// The browsers' grid, when they run on one.
    pub fn grid(&self) -> Option<grid::Grid> {
        self.endpoint.grid()
    }

    /// Start participants: each joins at its `join_offset` from the run's start and leaves at its
    /// `leave_offset` or when `leave` is cancelled.
    pub async fn spawn(&mut self, plans: Vec<ScheduledParticipant>, leave: &CancellationToken) {
        let sh = &self.shared;
        sh.tally.schedule(plans.iter().map(|p| (p.id, p.role)));
        sh.browsers.seat(&plans);
        if let Ok(mut r) = self.roster.lock() {
            r.extend(plans.iter().map(|p| (p.id, p.cohort.clone())));
        }
        self.info.scheduled += plans.len();
        for plan in plans {
            let detail = format!(
                "{} in {} at +{} ms",
                plan.role,
                plan.room,
                plan.join_offset.as_millis()
            );
            sh.recorder.event(plan.id, Event::Scheduled, detail).await;
            self.tasks
                .spawn(participant::run(plan, sh.clone(), leave.clone()));
        }
    }

    /// Wait until every participant has ended; once interrupted, the hang-up has a bounded time.
    pub async fn wait(&mut self) {
        let rec = self.shared.recorder.clone();
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, self.tasks.join_next())
                        .await
                        .unwrap_or(None),
                    None => self.tasks.join_next().await,
                }
            };
            tokio::select! {
                r = next => match r {
                    Some(Ok(row)) => self.rows.push(row),
                    Some(Err(e)) => rec.event(RUN, Event::TaskFailed, e.to_string()).await,
                    None => break,
                },
                _ = self.shared.cancel.cancelled(), if deadline.is_none() => {
                    rec.event(RUN, Event::Interrupted, "hanging everyone up").await;
                    deadline = Some(tokio::time::Instant::now() + self.hangup + Duration::from_secs(15));
                }
            }
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                self.tasks.abort_all();
                let detail = "aborted participants still hanging up";
                rec.event(RUN, Event::TeardownTimeout, detail).await;
                while self.tasks.join_next().await.is_some() {}
                break;
            }
        }
    }

    /// Wait for everyone, tear down, judge the generators and write the final `run.json`.
    pub async fn finish(mut self) -> anyhow::Result<RunSummary> {
        self.wait().await;
        self.timeline.stop().await;
        let metric_gaps = self.side.stop(&self.shared).await;
        let interrupted = self.shared.cancel.is_cancelled();
        let rec = self.shared.recorder.clone();
        conclude(&mut self.info, &self.rows, interrupted, metric_gaps, &rec).await;
        if let Some(x) = &self.shared.export {
            x.ended();
        }
        drop(rec);
        drop(self.shared);
        self.writer.await??;
        self.endpoint.stop().await;
        self.cohorts.stop().await;
        judge_generators(&self.guard, &self.dir, &mut self.info, self.camera_fps);
        self.dir.write_run(&self.info)?;
        if let Some(e) = self.export.take() {
            e.close().await;
        }
        let exit_code = match self.info.outcome {
            RunOutcome::Interrupted => EXIT_INTERRUPTED,
            RunOutcome::Completed => EXIT_OK,
            _ => EXIT_FAILED,
        };
        Ok(RunSummary {
            dir: self.dir.path().to_path_buf(),
            info: self.info,
            exit_code,
        })
    }

    /// The results directory's path.
    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// The camera's frame rate (for the guard).
    pub fn camera_fps(&self) -> Option<f64> {
        self.camera_fps
    }
}

/// The results directory with its `run.json` and `scenario.toml`, before anything starts.
fn prepare(s: &Scenario, out: &Path, fidelity: Fidelity) -> anyhow::Result<(ResultsDir, RunInfo)> {
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
        scheduled: 0,
        completed: 0,
        failed: 0,
        valid: true,
        invalid_reasons: Vec::new(),
        metric_gaps: Vec::new(),
    };
    dir.write_run(&info)?;
    Ok((dir, info))
}

/// The metrics endpoint (`[export]`), bound before any browser starts: a taken port stops the run.
async fn start_export(
    s: &Scenario,
    dir: &ResultsDir,
    tally: &Arc<Tally>,
) -> Result<Option<export::Endpoint>, InfraError> {
    let Some(cfg) = &s.export else {
        return Ok(None);
    };
    let run = dir
        .path()
        .file_name()
        .map_or_else(|| s.name.clone(), |n| n.to_string_lossy().into_owned());
    let x = Arc::new(export::Exporter::new(
        cfg,
        &run,
        most_conferences(s),
        tally.clone(),
    ));
    let e = export::Endpoint::start(cfg, x).await.map_err(|e| {
        InfraError::new(
            "the metrics endpoint",
            format!("{e} (choose another export.listen / --metrics-listen port)"),
        )
    })?;
    if let Some(url) = e.url() {
        eprintln!("live metrics for Prometheus: {url}");
    }
    Ok(Some(e))
}

/// The most conferences the run may hold: `[load]`'s, or the limit search's maximum when it grows
/// conferences.
fn most_conferences(s: &Scenario) -> u32 {
    match &s.limit {
        Some(l) if l.grow == crate::scenario::Grow::Conferences => l.max.max(s.load.conferences),
        _ => s.load.conferences,
    }
}

/// The browsers' endpoint, the target, then the cohorts' network; an endpoint already started is
/// stopped on failure.
async fn start_infra(
    s: &Scenario,
    peak: usize,
    tokens: Tokens,
) -> Result<(Endpoint, Target, Cohorts), InfraError> {
    let endpoint = Endpoint::start(&s.webdriver, peak).await?;
    let ready = match Target::prepare(s, tokens).await {
        Ok(t) => Cohorts::start(s, &t, endpoint.grid().as_ref())
            .await
            .map(|c| (t, c)),
        Err(e) => Err(e),
    };
    match ready {
        Ok((t, c)) => Ok((endpoint, t, c)),
        Err(e) => {
            endpoint.stop().await;
            Err(e)
        }
    }
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
        sh: &Arc<Shared>,
        browsers_here: bool,
        length: Option<Duration>,
    ) -> SideTasks {
        let rec = &sh.recorder;
        let what = format!("{} conferences", s.load.conferences);
        rec.event(RUN, Event::Started, what).await;
        let progress_stop = CancellationToken::new();
        let progress = tokio::spawn(progress::show(
            sh.tally.clone(),
            length,
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
            (sh.tally.clone(), sh.export.clone()),
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

/// Last resort: nothing may stay open on the grid.
async fn force_close(sh: &Shared) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    // A shared browser is one session for several participants: deleted once, noted for each.
    let mut deleted: std::collections::HashMap<String, bool> = Default::default();
    for (pid, sid) in sh.sessions.open() {
        let ok = match deleted.get(&sid) {
            Some(ok) => *ok,
            None => {
                let ok = grid::delete_session(&http, &sh.webdriver_url, &sid).await;
                deleted.insert(sid.clone(), ok);
                ok
            }
        };
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
fn judge_generators(
    g: &crate::scenario::Guard,
    dir: &ResultsDir,
    info: &mut RunInfo,
    camera_fps: Option<f64>,
) {
    let evidence = window::steady(dir.path()).and_then(|w| {
        let w = w.map(|w| w.after(guard::WARM_UP));
        guard::collect(dir.path(), w.as_ref())
    });
    info.invalid_reasons = match evidence {
        Ok(e) => guard::judge(g, &e, camera_fps),
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
    eprintln!("stopping at once: deleting open sessions, removing the cohorts' network");
    let _ = tokio::task::spawn_blocking(crate::network::lab::teardown_all).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    let open: std::collections::BTreeSet<String> =
        sessions.open().into_iter().map(|(_, sid)| sid).collect();
    for sid in open {
        grid::delete_session(&http, &webdriver, &sid).await;
    }
    std::process::exit(EXIT_INTERRUPTED);
}
