//! The saturation guard: was the load generator, not the server, the bottleneck? Pure judgement over
//! evidence streamed from the results directory, in the steady window.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::window::{Window, inside};
use crate::results::{
    self, ClientStatRow, Event, EventRow, ReadError, ServerMetricRow, SourceName, names::metric,
};
use crate::scenario::Guard;
use crate::stats;

/// How long after the steady window opens (the last joiner's media) a run's guard starts looking:
/// browsers keep starting up (decoders, page workers) for a few seconds after their media flows, and
/// that burst loads the generator without measuring the server.
pub const WARM_UP: std::time::Duration = std::time::Duration::from_secs(5);

/// What the guard looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evidence {
    /// Generator CPU samples (0..1), from `generator_cpu_ratio` of any live source.
    pub generator_cpu: Vec<f64>,
    /// Sent-video frame rates.
    pub send_fps: Vec<f64>,
    /// Sent-video samples.
    pub send_samples: usize,
    /// Of those, samples whose quality limitation was `cpu`.
    pub cpu_limited: usize,
    /// The same per browser session that hosted more than one participant (`participants_per_browser`).
    pub browsers: Vec<BrowserEvidence>,
    /// Sent video per participant, grouped into [`Evidence::browsers`] once sessions are known.
    pub by_participant: HashMap<String, BrowserEvidence>,
}

/// Sent video of the participants of one shared browser.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrowserEvidence {
    /// The WebDriver session id.
    pub session: String,
    /// Its participants.
    pub participants: Vec<String>,
    /// Their sent-video frame rates.
    pub send_fps: Vec<f64>,
    /// Their sent-video samples.
    pub send_samples: usize,
    /// Of those, samples limited by `cpu`.
    pub cpu_limited: usize,
}

/// The participant and its browser session of a `session` event (`node=… session=<id>`).
pub fn session_of(r: &EventRow) -> Option<(String, String)> {
    if r.event != Event::Session {
        return None;
    }
    let sid = r
        .detail
        .split_whitespace()
        .find_map(|w| w.strip_prefix("session="))
        .filter(|sid| !sid.is_empty())?;
    Some((r.participant.clone(), sid.to_string()))
}

/// The session of each participant, from its `session` event.
fn sessions(dir: &Path) -> Result<HashMap<String, String>, ReadError> {
    let mut m = HashMap::new();
    results::rows(dir, "events.csv", |r: EventRow| m.extend(session_of(&r)))?;
    Ok(m)
}

/// Stream the evidence out of a results directory (missing files give empty evidence), restricted to
/// `window` when there is one.
pub fn collect(dir: &Path, window: Option<&Window>) -> Result<Evidence, ReadError> {
    let mut e = Evidence::default();
    results::rows(dir, "server_metrics.csv", |r: ServerMetricRow| {
        e.metric(&r, window)
    })?;
    results::rows(dir, "client_stats.csv", |r: ClientStatRow| {
        e.stat(&r, window)
    })?;
    e.group_browsers(&sessions(dir)?);
    Ok(e)
}

impl Evidence {
    /// One server_metrics.csv row: generator CPU of a live source inside `window`.
    pub fn metric(&mut self, r: &ServerMetricRow, window: Option<&Window>) {
        if r.metric == metric::GENERATOR_CPU_RATIO
            && r.source != SourceName::PrometheusRange
            && inside(window, &r.ts)
        {
            self.generator_cpu.push(r.value);
        }
    }

    /// One client_stats.csv row: sent video inside `window`.
    pub fn stat(&mut self, r: &ClientStatRow, window: Option<&Window>) {
        if r.sent() && r.video() && inside(window, &r.ts) {
            let limited = usize::from(r.quality_limitation == "cpu");
            self.send_samples += 1;
            self.cpu_limited += limited;
            self.send_fps.extend(r.fps);
            let p = self
                .by_participant
                .entry(r.participant.to_string())
                .or_default();
            p.send_samples += 1;
            p.cpu_limited += limited;
            p.send_fps.extend(r.fps);
        }
    }

    /// Group the participants' sent video by browser session (`participant → session`), keeping the
    /// sessions that hosted more than one participant.
    pub fn group_browsers(&mut self, session_of: &HashMap<String, String>) {
        let mut members: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (p, sid) in session_of {
            members.entry(sid.as_str()).or_default().push(p.clone());
        }
        self.browsers = members
            .into_iter()
            .filter(|(_, ps)| ps.len() > 1)
            .map(|(sid, mut ps)| {
                ps.sort();
                let mut b = BrowserEvidence {
                    session: sid.to_string(),
                    ..Default::default()
                };
                for p in &ps {
                    if let Some(e) = self.by_participant.get(p) {
                        b.send_fps.extend(&e.send_fps);
                        b.send_samples += e.send_samples;
                        b.cpu_limited += e.cpu_limited;
                    }
                }
                b.participants = ps;
                b
            })
            .collect();
    }
}

/// Reasons the run is invalid; empty when the generators kept up. `camera_fps` is the frame rate the
/// senders' fake camera plays.
pub fn judge(g: &Guard, e: &Evidence, camera_fps: Option<f64>) -> Vec<String> {
    let mut reasons = Vec::new();
    if !e.generator_cpu.is_empty() {
        let share = stats::share(&e.generator_cpu, |&c| c > g.max_generator_cpu).unwrap_or(0.0);
        if share > g.max_saturated_share {
            reasons.push(format!(
                "generator CPU above {:.0} % in {:.0} % of samples (allowed {:.0} %)",
                100.0 * g.max_generator_cpu,
                100.0 * share,
                100.0 * g.max_saturated_share
            ));
        }
    }
    reasons.extend(sender_reasons(
        g,
        "",
        (&e.send_fps, e.send_samples, e.cpu_limited),
        camera_fps,
    ));
    for b in &e.browsers {
        // A packed browser that lags makes the run invalid even when the others hide it overall.
        let who = format!(
            "browser {} ({}): ",
            b.session.chars().take(8).collect::<String>(),
            b.participants.join(", ")
        );
        let sent = (b.send_fps.as_slice(), b.send_samples, b.cpu_limited);
        reasons.extend(sender_reasons(g, &who, sent, camera_fps));
    }
    reasons
}

/// The senders' signals (cpu limitation share, median frame rate against the camera's) of the whole
/// run or one browser (`who`: the reason's prefix); `sent` is (frame rates, samples, cpu-limited).
fn sender_reasons(
    g: &Guard,
    who: &str,
    (fps, samples, limited): (&[f64], usize, usize),
    camera_fps: Option<f64>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if samples > 0 {
        let share = limited as f64 / samples as f64;
        if share > g.max_cpu_limited_share {
            reasons.push(format!(
                "{who}senders reported qualityLimitationReason = cpu in {:.0} % of sent-video samples (allowed {:.0} %)",
                100.0 * share,
                100.0 * g.max_cpu_limited_share
            ));
        }
    }
    if let (Some(m), Some(cam)) = (stats::median(fps), camera_fps)
        && cam > 0.0
        && m < g.min_sender_fps_ratio * cam
    {
        reasons.push(format!(
            "{who}median sender frame rate {m:.1} fps is {:.0} % of the camera's {cam:.0} fps (at least {:.0} % expected)",
            100.0 * m / cam,
            100.0 * g.min_sender_fps_ratio
        ));
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_when_generators_keep_up() {
        let e = Evidence {
            generator_cpu: vec![0.5, 0.6, 0.95, 0.7, 0.8],
            send_fps: vec![14.0, 15.0, 15.0],
            send_samples: 3,
            cpu_limited: 0,
            ..Default::default()
        };
        assert!(judge(&Guard::default(), &e, Some(15.0)).is_empty());
    }

    #[test]
    fn trips_on_cpu_limitation_and_collapse() {
        let e = Evidence {
            generator_cpu: vec![0.99, 0.98, 0.97, 0.5],
            send_fps: vec![3.0, 4.0, 15.0],
            send_samples: 4,
            cpu_limited: 2,
            ..Default::default()
        };
        let r = judge(&Guard::default(), &e, Some(15.0));
        assert_eq!(r.len(), 3, "{r:?}");
        assert!(r[0].starts_with("generator CPU above 90 % in 75 % of samples"));
        assert!(r[1].contains("cpu in 50 %"));
        assert!(r[2].starts_with("median sender frame rate 4.0 fps is 27 %"));
        assert!(
            judge(&Guard::default(), &Evidence::default(), Some(15.0)).is_empty(),
            "no evidence, no verdict"
        );
    }

    /// One packed browser that lags fails validity even when the run's overall figures look fine.
    #[test]
    fn a_lagging_shared_browser_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut ev = csv::Writer::from_path(d.join("events.csv")).unwrap();
        for (p, sid) in [
            ("c0p0", "a"),
            ("c0p1", "a"),
            ("c0p2", "b"),
            ("c0p3", "b"),
            ("c0p4", "c"),
        ] {
            ev.serialize(EventRow {
                ts: "2026-01-01T00:00:00.000Z".into(),
                participant: p.into(),
                event: Event::Session,
                detail: format!("node=local session={}", sid.repeat(12)),
            })
            .unwrap();
        }
        ev.flush().unwrap();
        let mut st = csv::Writer::from_path(d.join("client_stats.csv")).unwrap();
        // Browser a lags (6 fps); b and the lone c keep 15: the run's median is 15.
        for (p, fps) in [
            ("c0p0", 6.0),
            ("c0p1", 6.0),
            ("c0p2", 15.0),
            ("c0p3", 15.0),
            ("c0p4", 15.0),
            ("c0p4", 15.0),
        ] {
            st.serialize(ClientStatRow {
                ts: "2026-01-01T00:00:01.000Z".into(),
                participant: p.parse().unwrap(),
                direction: "send".into(),
                kind: "video".into(),
                fps: Some(fps),
                ..Default::default()
            })
            .unwrap();
        }
        st.flush().unwrap();
        let e = collect(d, None).unwrap();
        assert_eq!(
            e.browsers.len(),
            2,
            "the lone browser is judged with the run only"
        );
        let r = judge(&Guard::default(), &e, Some(15.0));
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(
            r[0].starts_with("browser aaaaaaaa (c0p0, c0p1): median sender frame rate 6.0 fps"),
            "{r:?}"
        );
    }
}
