//! One window of a growing run (a step of `loadtest limit`), judged while the run goes on: the same
//! summary, thresholds and saturation guard as a whole run's report, restricted to the window (bridge
//! figures included), read from the files the run is writing.

use std::path::Path;

use super::guard;
use super::summary::{Aggregator, Summary};
use super::thresholds::{self, Check, Status};
use super::window::Window;
use crate::results::{self, ClientStatRow, EventRow, ParticipantRow, ReadError, ServerMetricRow};

/// What a window says.
#[derive(Debug, Clone)]
pub struct Judgement {
    /// The figures in the window (participant counts so far).
    pub summary: Summary,
    /// The scenario's thresholds, evaluated on them.
    pub checks: Vec<Check>,
    /// The saturation guard's reasons: not empty when the generators were the bottleneck.
    pub generator_bound: Vec<String>,
}

impl Judgement {
    /// The thresholds missed or not evaluable, in words.
    pub fn missed(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| c.status != Status::Pass)
            .map(|c| match c.actual {
                Some(a) => format!("{} was {} (threshold {})", c.threshold, short(a), c.limit),
                None => format!("{} not measured", c.threshold),
            })
            .collect()
    }
}

fn short(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Judge `window` of the run in `dir` (its `run.json` says how many participants are scheduled so
/// far); `camera_fps` is the senders' camera rate, for the guard.
pub fn judge(dir: &Path, window: &Window, camera_fps: Option<f64>) -> Result<Judgement, ReadError> {
    let info = results::read_run(dir)?;
    let scenario = results::read_scenario(dir)?;
    let guard_cfg = scenario.guard.clone();
    let thresholds = scenario.thresholds.clone();
    let mut agg = Aggregator::new(info, scenario, Some(window.clone())).server_in_window();
    results::rows(dir, "participants.csv", |p: ParticipantRow| {
        agg.participant(p)
    })?;
    results::rows(dir, "events.csv", |e: EventRow| {
        if e.ts.as_str() <= window.to.as_str() {
            agg.event(e)
        }
    })?;
    // One pass over the large files feeds both the summary and the guard.
    let mut evidence = guard::Evidence::default();
    results::rows(dir, "client_stats.csv", |r: ClientStatRow| {
        evidence.stat(&r, Some(window));
        agg.stat(&r)
    })?;
    results::rows(dir, "server_metrics.csv", |r: ServerMetricRow| {
        evidence.metric(&r, Some(window));
        agg.metric(&r)
    })?;
    results::rows(dir, results::VIDEO_QUALITY_CSV, |r| agg.video(&r))?;
    let (summary, _) = agg.finish();
    let checks = thresholds::evaluate(&thresholds, &summary);
    let generator_bound = guard::judge(&guard_cfg, &evidence, camera_fps);
    Ok(Judgement {
        summary,
        checks,
        generator_bound,
    })
}
