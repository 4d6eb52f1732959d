//! `loadtest limit`: grow the load in steps on one running test until a step fails its service levels,
//! the load generators saturate, the grid runs out of slots or the maximum holds — and say which, in
//! one line.
//!
//! Each step adds participants ([`crate::schedule::grow`]) to the running test
//! ([`crate::run::Harness`]), waits until each of them has media (or failed), then holds for
//! `[limit] hold` and judges that window ([`crate::analysis::step`]) against `[thresholds]` and the
//! saturation guard. A failing window is confirmed over a second one. [`search`] decides the next
//! load. Everything lands in one results directory: the usual files, plus `steps.csv`,
//! `step_bridges.csv` and `limit.json`; the report then opens with a "Limit" section.

pub mod search;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::analysis::Window;
use crate::analysis::step::{self, Judgement};
use crate::error::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError};
use crate::live::Phase;
use crate::participant::targets::jwt::Tokens;
use crate::results::steps::LIMIT_JSON;
use crate::results::{
    self, Event, LimitInfo, StepBridgeRow, StepRow, StepVerdict, Stop, names::RUN,
};
use crate::run::{Harness, ScenarioArgs, harness};
use crate::scenario::{Grow, Limit, Scenario};
use crate::schedule::talk::TalkPlan;
use crate::schedule::{self, ParticipantId};
use search::{Next, Outcome, Search};

/// Options of `loadtest limit`.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// The scenario, with a `[limit]` section and `[thresholds]`.
    #[command(flatten)]
    pub input: ScenarioArgs,
    /// Results directory (default: `results/<UTC time>-<scenario name>-limit`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Do not write the report at the end.
    #[arg(long)]
    pub no_report: bool,
}

/// `loadtest limit`: returns the exit code (0 with a server-side answer, 1 without one).
pub async fn exec(args: LimitArgs) -> anyhow::Result<i32> {
    let loaded = args.input.load()?;
    let s = loaded.scenario;
    let cfg = checked(&s, &loaded.path)?;
    let out = args.out.clone().unwrap_or_else(|| {
        let t = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        PathBuf::from("results").join(format!("{t}-{}-limit", s.name))
    });
    let info = search(&s, cfg, &loaded.path, &out).await?;
    eprintln!("limit: {}", info.verdict);
    println!("{}", out.display());
    if !args.no_report {
        match crate::report::write(&out, &crate::report::Options::default()) {
            Ok(r) => crate::report::print_verdict(&r, &out, &mut std::io::stderr()),
            Err(e) => eprintln!(
                "warning: the report could not be written ({e}); the results are complete"
            ),
        }
    }
    Ok(match info.stopped {
        Stop::Interrupted => EXIT_INTERRUPTED,
        s if s.answered() => EXIT_OK,
        _ => EXIT_FAILED,
    })
}

/// The `[limit]` section, and a search that can be judged: at least one threshold.
fn checked(s: &Scenario, file: &Path) -> Result<Limit, UsageError> {
    let cfg = s.limit.clone().ok_or_else(|| {
        UsageError(format!(
            "{}: no [limit] section (expected grow, max and optionally start, step, hold, confirm, resolution; see docs/limit.md)",
            file.display()
        ))
    })?;
    if s.load.speakers != crate::scenario::Speakers::All {
        return Err(UsageError(format!(
            "{}: load.speakers works on a fixed schedule (loadtest run); a growing run keeps every audio sender's microphone open (expected speakers = \"all\")",
            file.display()
        )));
    }
    if s.thresholds == Default::default() && cfg.min_recv_bitrate_ratio.is_none() {
        return Err(UsageError(format!(
            "{}: [thresholds] is empty, so no step could fail (expected e.g. min_join_ratio or min_recv_fps_p5; see docs/limit.md)",
            file.display()
        )));
    }
    Ok(cfg)
}

/// The participants one step added, so a later shrink can remove them.
struct Added {
    units: u32,
    ids: Vec<ParticipantId>,
    leave: CancellationToken,
}

/// The live search: the harness, the steps in the call and the next fresh index.
struct Executor<'a> {
    s: &'a Scenario,
    cfg: Limit,
    h: Harness,
    stack: Vec<Added>,
    fresh: u32,
    /// Participants scheduled so far: the next step's first join order.
    scheduled: usize,
    step: u32,
    /// The first window's received video bitrate p50: what `min_recv_bitrate_ratio` compares with.
    baseline_kbps: Option<f64>,
}

/// Run the search into `out`; returns `limit.json`.
pub async fn search(
    s: &Scenario,
    cfg: Limit,
    file: &Path,
    out: &Path,
) -> anyhow::Result<LimitInfo> {
    let per_unit = u64::from(match cfg.grow {
        Grow::Conferences => s.load.participants_per_conference,
        Grow::ParticipantsPerConference => s.load.conferences,
    });
    // A grid must hold the first step; later steps check their own slots and end the search
    // "grid exhausted" rather than failing it up front.
    let first = usize::try_from(u64::from(cfg.start.min(cfg.max)) * per_unit).unwrap_or(usize::MAX);
    let start = harness::Start {
        file,
        out,
        peak: first,
        length: None,
        tokens: Tokens::load(&s.target.jitsi).map_err(UsageError)?,
        // The speaker model is planned over a fixed schedule; a growing run has none.
        talk: TalkPlan::new(),
    };
    let h = Harness::start(s, start).await?;
    let mut ex = Executor {
        s,
        cfg: cfg.clone(),
        h,
        stack: Vec::new(),
        fresh: 0,
        scheduled: 0,
        step: 0,
        baseline_kbps: None,
    };
    let mut searcher = Search::new(cfg.clone());
    let mut rows: Vec<StepRow> = Vec::new();
    let mut next = searcher.first();
    let stopped = loop {
        let (keep, to) = match next {
            Next::Stop(stop) => break stop,
            Next::Step { keep, to } => (keep, to),
        };
        match ex.step(keep, to).await? {
            StepResult::Stopped(stop) => break stop,
            StepResult::Judged(outcome, judged) => {
                rows.extend(judged);
                next = searcher.record(to, outcome);
            }
        }
    };
    for a in &ex.stack {
        a.leave.cancel();
    }
    let rec = ex.h.shared.recorder.clone();
    let info = conclude(&cfg, s, stopped, &searcher, &rows);
    rec.event(RUN, Event::LimitEnded, &info.verdict).await;
    drop(rec);
    let dir = ex.h.path();
    ex.h.finish().await?;
    crate::util::fs::write_atomic(&dir.join(LIMIT_JSON), &serde_json::to_vec_pretty(&info)?)?;
    Ok(info)
}

/// How a step ended.
enum StepResult {
    /// Judged: its outcome and its rows (one or two windows).
    Judged(Outcome, Vec<StepRow>),
    /// The search cannot go on.
    Stopped(Stop),
}

impl Executor<'_> {
    /// Conferences and participants per conference at a load.
    fn shape(&self, load: u32) -> (u32, u32) {
        match self.cfg.grow {
            Grow::Conferences => (load, self.s.load.participants_per_conference),
            Grow::ParticipantsPerConference => (self.s.load.conferences, load),
        }
    }

    /// Keep `keep` units, grow to `to`, wait for the joiners, hold and judge.
    async fn step(&mut self, keep: u32, to: u32) -> anyhow::Result<StepResult> {
        self.shrink(keep).await;
        let current: u32 = self.stack.iter().map(|a| a.units).sum();
        let add = to.saturating_sub(current);
        self.step += 1;
        let sh = self.h.shared.clone();
        if sh.cancel.is_cancelled() {
            return Ok(StepResult::Stopped(Stop::Interrupted));
        }
        let at = sh.start.elapsed();
        let mut plans = schedule::grow(
            &self.s.load,
            self.cfg.grow,
            self.fresh,
            add,
            self.step,
            at,
            self.scheduled,
        );
        let per = self.s.load.participants_per_conference;
        schedule::assign_cohorts(&mut plans, &self.s.cohort, per);
        if let Some(g) = self.h.grid()
            && let Ok(status) = g.status().await
            && status.free_slots() < plans.len()
        {
            let detail = format!(
                "step {}: {} participants, {} free grid slots",
                self.step,
                plans.len(),
                status.free_slots()
            );
            sh.recorder.event(RUN, Event::Step, detail).await;
            return Ok(StepResult::Stopped(Stop::GridExhausted));
        }
        self.fresh += add;
        self.scheduled += plans.len();
        let (conferences, per) = self.shape(to);
        let detail = format!(
            "step {}: {} = {to} ({conferences} conferences × {per})",
            self.step,
            self.cfg.grow.as_str()
        );
        sh.recorder.event(RUN, Event::Step, detail).await;
        let last_join = plans.iter().map(|p| p.join_offset).max().unwrap_or(at);
        let ids: Vec<ParticipantId> = plans.iter().map(|p| p.id).collect();
        let leave = CancellationToken::new();
        self.h.spawn(plans, &leave).await;
        self.h.dir.write_run(&self.h.info)?;
        self.stack.push(Added {
            units: add,
            ids: ids.clone(),
            leave,
        });
        let t = &self.s.timeouts;
        let bound = last_join.saturating_sub(at)
            + t.session.get()
            + t.page.get()
            + t.join.get()
            + t.media.get()
            + Duration::from_secs(10);
        if !self.settle(&ids, bound).await {
            return Ok(StepResult::Stopped(Stop::Interrupted));
        }
        self.judge(to).await
    }

    /// Remove the newest steps until `keep` units are left, and wait for their participants to go.
    async fn shrink(&mut self, keep: u32) {
        let mut current: u32 = self.stack.iter().map(|a| a.units).sum();
        let mut gone = Vec::new();
        while current > keep
            && let Some(a) = self.stack.pop()
        {
            current -= a.units;
            a.leave.cancel();
            gone.extend(a.ids);
        }
        if gone.is_empty() {
            return;
        }
        let sh = self.h.shared.clone();
        let detail = format!("{} participants leave: back to {keep}", gone.len());
        sh.recorder.event(RUN, Event::Step, detail).await;
        let deadline = Instant::now() + self.s.timeouts.hangup.get() + Duration::from_secs(10);
        while Instant::now() < deadline && !sh.cancel.is_cancelled() {
            let left = gone
                .iter()
                .all(|id| matches!(sh.tally.phase(*id), Some(Phase::Done | Phase::Failed)));
            if left {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Wait until each of `ids` has media flowing or ended, at most `bound`; false when interrupted.
    async fn settle(&self, ids: &[ParticipantId], bound: Duration) -> bool {
        let sh = &self.h.shared;
        let deadline = Instant::now() + bound;
        while sh.tally.unsettled(ids) > 0 && Instant::now() < deadline {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = sh.cancel.cancelled() => return false,
            }
        }
        !sh.cancel.is_cancelled()
    }

    /// Hold and judge one window, and a second to confirm a failing one.
    async fn judge(&mut self, load: u32) -> anyhow::Result<StepResult> {
        let mut rows = Vec::new();
        let windows = if self.cfg.confirm { 2 } else { 1 };
        for w in 1..=windows {
            let Some(window) = self.hold().await else {
                return Ok(StepResult::Stopped(Stop::Interrupted));
            };
            let dir = self.h.path();
            let j = step::judge(&dir, &window, self.h.camera_fps())?;
            if self.step == 1 && w == 1 {
                self.baseline_kbps = j.summary.client.recv_bitrate_kbps_p50;
            }
            let row = self.row(load, w, &window, &j);
            let bridges = bridge_rows(self.step, w, &j);
            let verdict = row.verdict;
            self.h.shared.recorder.step(row.clone(), bridges).await;
            rows.push(row);
            match verdict {
                StepVerdict::Holds => return Ok(StepResult::Judged(Outcome::Holds, rows)),
                StepVerdict::GeneratorBound => {
                    return Ok(StepResult::Judged(Outcome::GeneratorBound, rows));
                }
                StepVerdict::Fails => {}
            }
        }
        Ok(StepResult::Judged(Outcome::Fails, rows))
    }

    /// Hold for `[limit] hold`; the window, or `None` when interrupted.
    async fn hold(&self) -> Option<Window> {
        let sh = &self.h.shared;
        let from = results::now();
        tokio::select! {
            _ = tokio::time::sleep(self.cfg.hold.get()) => {}
            _ = sh.cancel.cancelled() => return None,
        }
        // Let the last samples of the window reach the files.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Some(Window {
            from,
            to: results::now(),
        })
    }

    fn row(&self, load: u32, window: u32, w: &Window, j: &Judgement) -> StepRow {
        let (conferences, per) = self.shape(load);
        let s = &j.summary;
        let busiest = s.bridges.iter().max_by(|a, b| {
            a.max_cpu_cores
                .unwrap_or(0.0)
                .total_cmp(&b.max_cpu_cores.unwrap_or(0.0))
        });
        let mut missed = j.missed();
        // As in a run's verdict: with no join-ratio threshold, any failed participant fails the step.
        if self.s.thresholds.min_join_ratio.is_none() && s.participants.failed > 0 {
            missed.push(format!("{} participants failed", s.participants.failed));
        }
        let kbps = s.client.recv_bitrate_kbps_p50;
        let ratio = bitrate_ratio(kbps, self.baseline_kbps);
        if let Some(min) = self.cfg.min_recv_bitrate_ratio {
            match ratio {
                Some(r) if r < min => missed.push(format!(
                    "min_recv_bitrate_ratio was {r:.2} (threshold {min}; {:.0} of the first step's {:.0} kbit/s)",
                    kbps.unwrap_or_default(),
                    self.baseline_kbps.unwrap_or_default()
                )),
                Some(_) => {}
                None => missed.push("min_recv_bitrate_ratio not measured".into()),
            }
        }
        let (verdict, reason) = if !j.generator_bound.is_empty() {
            (StepVerdict::GeneratorBound, j.generator_bound.join("; "))
        } else if !missed.is_empty() {
            (StepVerdict::Fails, missed.join("; "))
        } else {
            (StepVerdict::Holds, String::new())
        };
        let r2 = |v: Option<f64>| v.map(|x| (x * 100.0).round() / 100.0);
        let r4 = |v: Option<f64>| v.map(|x| (x * 10_000.0).round() / 10_000.0);
        let video = s.video.as_ref().map(|v| &v.run);
        StepRow {
            step: self.step,
            window,
            load,
            conferences,
            participants_per_conference: per,
            participants: conferences * per,
            window_from: w.from.clone(),
            window_to: w.to.clone(),
            join_ratio: r4(s.participants.join_ratio),
            join_ms_p95: r2(s.participants.join_ms_p95),
            recv_fps_p50: r2(s.client.recv_fps_p50),
            recv_fps_p5: r2(s.client.recv_fps_p5),
            recv_bitrate_kbps_p50: r2(kbps),
            recv_bitrate_ratio: r4(ratio),
            loss_p95: r4(s.client.loss_p95),
            rtt_ms_p95: r2(s.client.rtt_ms_p95),
            generator_cpu_ratio: r4(s.table.generator_cpu_ratio),
            bridge_cpu_cores: r4(busiest.and_then(|b| b.max_cpu_cores)),
            bridge_tx_mbytes_per_s: r4(busiest.and_then(|b| b.max_tx_mbytes_per_s)),
            video_delay_ms_p95: r2(video.and_then(|v| v.video_delay_ms_p95)),
            freeze_share: r4(video.and_then(|v| v.freeze_share)),
            video_psnr_db_p5: r2(video.and_then(|v| v.video_psnr_db_p5)),
            verdict,
            reason,
        }
    }
}

/// A window's received video bitrate as a share of the first window's.
fn bitrate_ratio(kbps: Option<f64>, baseline: Option<f64>) -> Option<f64> {
    match (kbps, baseline) {
        (Some(k), Some(b)) if b > 0.0 => Some(k / b),
        _ => None,
    }
}

fn bridge_rows(step: u32, window: u32, j: &Judgement) -> Vec<StepBridgeRow> {
    j.summary
        .bridges
        .iter()
        .map(|b| StepBridgeRow {
            step,
            window,
            bridge: b.name.clone(),
            participants: b.participants,
            max_cpu_cores: b.max_cpu_cores,
            max_tx_mbytes_per_s: b.max_tx_mbytes_per_s,
        })
        .collect()
}

/// `limit.json`: the stop reason and the verdict in one line.
fn conclude(
    cfg: &Limit,
    s: &Scenario,
    stopped: Stop,
    search: &Search,
    rows: &[StepRow],
) -> LimitInfo {
    let participants = |load: u32| match cfg.grow {
        Grow::Conferences => load * s.load.participants_per_conference,
        Grow::ParticipantsPerConference => load * s.load.conferences,
    };
    let shape = |load: u32| match cfg.grow {
        Grow::Conferences => format!("{load} × {}", s.load.participants_per_conference),
        Grow::ParticipantsPerConference => format!("{} × {load}", s.load.conferences),
    };
    let last_row = |load: u32, verdict: StepVerdict| {
        rows.iter()
            .rev()
            .find(|r| r.load == load && r.verdict == verdict)
    };
    let bridge = |r: Option<&StepRow>| {
        r.and_then(|r| r.bridge_cpu_cores)
            .map(|c| format!("; the busiest bridge was at {c:.2} cores"))
            .unwrap_or_default()
    };
    let held = search.last_good;
    let holds = |g: u32| {
        format!(
            "holds {} participants ({}) within the thresholds",
            participants(g),
            shape(g)
        )
    };
    let verdict = match stopped {
        Stop::LimitFound => {
            let bad = search.first_bad.unwrap_or_default();
            let why = last_row(bad, StepVerdict::Fails);
            let first = held.map_or("no step held".to_string(), holds);
            format!(
                "{first}; at {} ({}), {}{}",
                participants(bad),
                shape(bad),
                why.map_or("the thresholds failed".into(), |r| r.reason.clone()),
                bridge(why)
            )
        }
        Stop::MaximumHeld => {
            let g = held.unwrap_or(cfg.max);
            format!(
                "{} (the maximum tried){}",
                holds(g),
                bridge(last_row(g, StepVerdict::Holds))
            )
        }
        Stop::GeneratorBound => {
            let r = rows
                .iter()
                .rev()
                .find(|r| r.verdict == StepVerdict::GeneratorBound);
            format!(
                "generator-bound at {}: the load servers, not the server, saturated ({}); add load servers (`loadtest plan --calibrate`) and repeat",
                r.map_or(0, |r| r.participants),
                r.map_or(String::new(), |r| r.reason.clone())
            )
        }
        Stop::GridExhausted => format!(
            "grid exhausted after {}: no free slots for the next step; add grid nodes and repeat",
            held.map_or("the first step".into(), |g| format!(
                "{} participants",
                participants(g)
            ))
        ),
        Stop::Interrupted => format!(
            "interrupted{}",
            held.map_or(String::new(), |g| format!("; it {} before", holds(g)))
        ),
    };
    LimitInfo {
        grow: cfg.grow.as_str().into(),
        stopped,
        held,
        held_participants: held.map(participants),
        failed: search.first_bad,
        failed_participants: search.first_bad.map(participants),
        verdict,
    }
}
