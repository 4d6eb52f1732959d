//! One window of a growing run (a step of `loadtest limit`), judged while the run goes on: the same
//! summary, thresholds and saturation guard as a whole run's report, restricted to the window (bridge
//! figures included), read from the files the run is writing. The guard judges each shared browser as
//! well as the whole window: a packed browser that lags makes the step generator-bound, named.

use std::collections::HashMap;
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
    // The browser session of each participant, so the guard judges each shared browser too.
    let mut sessions = HashMap::new();
    results::rows(dir, "events.csv", |e: EventRow| {
        if e.ts.as_str() <= window.to.as_str() {
            sessions.extend(guard::session_of(&e));
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
    evidence.group_browsers(&sessions);
    let (summary, _) = agg.finish();
    let checks = thresholds::evaluate(&thresholds, &summary);
    let generator_bound = guard::judge(&guard_cfg, &evidence, camera_fps);
    Ok(Judgement {
        summary,
        checks,
        generator_bound,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Event, EventRow};

    /// The committed local Janus run with its events re-written so two participants share one lagging
    /// browser: the step is generator-bound and the browser is named, though the window's median
    /// sender frame rate is the camera's.
    #[test]
    fn a_lagging_shared_browser_makes_the_step_generator_bound() {
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plan-fixture-janus-run");
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        for f in [
            "run.json",
            "scenario.toml",
            "participants.csv",
            "server_metrics.csv",
        ] {
            std::fs::copy(fixture.join(f), d.join(f)).unwrap();
        }
        let ts = |s: u32| format!("2026-11-24T13:30:{s:02}.000Z");
        let mut ev = csv::Writer::from_path(d.join("events.csv")).unwrap();
        let people = ["c0p0", "c0p1", "c0p2", "c1p0", "c1p1", "c1p2"];
        for (i, p) in people.iter().enumerate() {
            let sid = ["a", "a", "b", "b", "c", "d"][i].repeat(16);
            ev.serialize(EventRow {
                ts: ts(10),
                participant: p.to_string(),
                event: Event::Session,
                detail: format!("node=local session={sid}"),
            })
            .unwrap();
        }
        ev.flush().unwrap();
        let mut st = csv::Writer::from_path(d.join("client_stats.csv")).unwrap();
        for s in [31, 33] {
            for (i, p) in people.iter().enumerate() {
                st.serialize(ClientStatRow {
                    ts: ts(s),
                    participant: p.parse().unwrap(),
                    direction: "send".into(),
                    kind: "video".into(),
                    fps: Some(if i < 2 { 6.0 } else { 15.0 }),
                    ..Default::default()
                })
                .unwrap();
            }
        }
        st.flush().unwrap();
        let window = Window {
            from: ts(30),
            to: ts(40),
        };
        let j = judge(d, &window, Some(15.0)).unwrap();
        assert_eq!(j.generator_bound.len(), 1, "{:?}", j.generator_bound);
        assert!(
            j.generator_bound[0]
                .starts_with("browser aaaaaaaa (c0p0, c0p1): median sender frame rate 6.0 fps"),
            "{:?}",
            j.generator_bound
        );
    }
}
