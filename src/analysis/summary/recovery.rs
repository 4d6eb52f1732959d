//! Recovery after `[[disruption]]`s, per participant, from the results alone: who lost media, who
//! got it back and after how long, who never did.
//!
//! A participant's sample (its stream rows of one `client_stats.csv` timestamp) *has media* when a
//! received stream's bitrate over the last interval is above zero. For a disruption that started at
//! `s` and ended at `e` (its `disruption_started`/`disruption_ended` events):
//! - it **was in the call** when it had media in a sample of the three stats intervals before `s`;
//! - it **lost media** when one of its samples in `(s, e + 2 intervals]` had none;
//! - it **recovered** at its first sample with media after `e` (and after the loss); the recovery
//!   time is that sample's time minus `e`: an upper bound, at the stats interval's resolution;
//! - it **never recovered** when it lost media and no later sample had any (its failure reason, if
//!   it failed, says why).
//!
//! Participants whose browser the disruption ended (`browser_killed`) are counted apart.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::results::names::disruption_index;
use crate::results::{ClientStatRow, Event, EventRow, ParticipantRow, parse_ts};
use crate::scenario::Scenario;
use crate::schedule::ParticipantId;
use crate::stats::percentile;

/// One participant in one disruption.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ParticipantRecovery {
    /// Participant id.
    pub participant: String,
    /// Its cohort (empty: none).
    pub cohort: String,
    /// Seconds from the disruption's end to its media flowing again (`None`: it did not).
    pub recovery_s: Option<f64>,
    /// Why it never recovered: its failure reason, or that media did not flow before it left.
    pub never_recovered: Option<String>,
}

/// One disruption and what it did to the participants.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DisruptionSummary {
    /// Index in the scenario's `[[disruption]]`.
    pub index: usize,
    /// `kill_browsers`, `stop_grid_node`, `black_hole`, `kill_media_server`.
    pub kind: String,
    /// What it hit (a cohort, the bridge's link, a hook), as the scenario says.
    pub target: String,
    /// Seconds from the run's start to its start (`None`: it was not applied).
    pub started_s: Option<f64>,
    /// Seconds from the run's start to its end.
    pub ended_s: Option<f64>,
    /// What the tool recorded when applying it (or why it could not).
    pub detail: String,
    /// Participants with media just before it started.
    pub in_call: usize,
    /// Participants whose browser it ended.
    pub killed: Vec<String>,
    /// Of those in the call (and not killed), the ones that lost media.
    pub lost_media: usize,
    /// Of those, the ones whose media came back.
    pub recovered: usize,
    /// Of those, the ones whose media never came back.
    pub never_recovered: usize,
    /// Recovery time, median, s.
    pub recovery_s_p50: Option<f64>,
    /// Recovery time, 95th percentile, s.
    pub recovery_s_p95: Option<f64>,
    /// Recovery time, longest, s.
    pub recovery_s_max: Option<f64>,
    /// Every participant that lost media, with its recovery.
    pub participants: Vec<ParticipantRecovery>,
}

/// Every disruption of the run, and the recoveries over all of them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Disruptions {
    /// Per disruption.
    pub disruptions: Vec<DisruptionSummary>,
    /// Recovery time over every participant and disruption, median, s.
    pub recovery_s_p50: Option<f64>,
    /// Recovery time over every participant and disruption, 95th percentile, s.
    pub recovery_s_p95: Option<f64>,
    /// Participants (counted once per disruption) that lost media and never got it back.
    pub never_recovered: usize,
    /// The resolution of the recovery times: the stats interval, s.
    pub resolution_s: f64,
}

/// One participant in one disruption, while streaming.
#[derive(Default, Clone)]
struct Track {
    before: bool,
    lost: bool,
    recovered_at: Option<DateTime<Utc>>,
    /// Media in a sample later than the grace after the disruption (not just the interval before it).
    media_after: bool,
}

/// A participant's sample being assembled from its rows.
#[derive(Default)]
struct Pending {
    ts: Option<DateTime<Utc>>,
    media: Option<bool>,
}

/// Streams events and client stats into [`Disruptions`].
pub struct Recovery {
    interval: chrono::Duration,
    kinds: Vec<(String, String)>,
    started: BTreeMap<usize, DateTime<Utc>>,
    ended: BTreeMap<usize, DateTime<Utc>>,
    details: BTreeMap<usize, String>,
    killed: BTreeMap<usize, BTreeSet<String>>,
    tracks: BTreeMap<(usize, ParticipantId), Track>,
    pending: BTreeMap<ParticipantId, Pending>,
    /// When each participant that failed did.
    failed: BTreeMap<ParticipantId, DateTime<Utc>>,
}

fn target_of(d: &crate::scenario::Disruption) -> String {
    if let Some(c) = &d.command {
        return format!("hook {}", c.join(" "));
    }
    match (&d.cohort, &d.node) {
        (Some(c), _) => format!("cohort {c}"),
        (None, Some(n)) => format!("node {n}"),
        (None, None) => match d.kind {
            crate::scenario::DisruptionKind::BlackHole => "the bridge's link".into(),
            crate::scenario::DisruptionKind::KillMediaServer => "the media server".into(),
            crate::scenario::DisruptionKind::StopGridNode => "the busiest node".into(),
            crate::scenario::DisruptionKind::KillBrowsers => "any participant".into(),
        },
    }
}

impl Recovery {
    /// For the scenario's disruptions; `None` when it has none.
    pub fn new(s: &Scenario) -> Option<Recovery> {
        if s.disruption.is_empty() {
            return None;
        }
        let ms = s.stats.interval.get().as_millis().max(1) as i64;
        Some(Recovery {
            interval: chrono::Duration::milliseconds(ms),
            kinds: s
                .disruption
                .iter()
                .map(|d| (d.kind.as_str().to_string(), target_of(d)))
                .collect(),
            started: BTreeMap::new(),
            ended: BTreeMap::new(),
            details: BTreeMap::new(),
            killed: BTreeMap::new(),
            tracks: BTreeMap::new(),
            pending: BTreeMap::new(),
            failed: BTreeMap::new(),
        })
    }

    /// An events.csv row (read before the stats).
    pub fn event(&mut self, r: &EventRow) {
        let Some(t) = parse_ts(&r.ts) else { return };
        if r.event == Event::BrowserKilled {
            let i = r
                .detail
                .split(':')
                .nth(1)
                .and_then(|x| x.trim().parse().ok());
            if let Some(i) = i {
                self.killed
                    .entry(i)
                    .or_default()
                    .insert(r.participant.clone());
            }
            return;
        }
        if r.event == Event::Failed
            && let Ok(id) = r.participant.parse()
        {
            self.failed.insert(id, t);
            return;
        }
        let Some(i) = disruption_index(&r.participant) else {
            return;
        };
        match r.event {
            Event::DisruptionStarted => {
                self.started.insert(i, t);
            }
            Event::DisruptionEnded => {
                self.ended.insert(i, t);
            }
            _ => {}
        }
        if matches!(r.event, Event::DisruptionStarted | Event::DisruptionFailed)
            || !self.details.contains_key(&i)
        {
            let d = self.details.entry(i).or_default();
            if !d.is_empty() {
                d.push_str("; ");
            }
            d.push_str(&r.detail);
        }
    }

    /// A client_stats.csv row.
    pub fn stat(&mut self, r: &ClientStatRow) {
        let Some(t) = parse_ts(&r.ts) else { return };
        let p = self.pending.entry(r.participant).or_default();
        if p.ts != Some(t) {
            let done = std::mem::take(p);
            p.ts = Some(t);
            if let (Some(ts), Some(media)) = (done.ts, done.media) {
                self.sample(r.participant, ts, media);
            }
        }
        let p = self.pending.entry(r.participant).or_default();
        if r.received()
            && let Some(kbps) = r.bitrate_kbps
        {
            p.media = Some(p.media.unwrap_or(false) || kbps > 0.0);
        }
    }

    /// One whole sample of one participant.
    fn sample(&mut self, who: ParticipantId, ts: DateTime<Utc>, media: bool) {
        let grace = self.interval * 2;
        for (&i, &s) in &self.started {
            let e = self.ended.get(&i).copied().unwrap_or(s).max(s);
            let before = ts < s && ts >= s - self.interval * 3;
            if ts < s && !before {
                continue;
            }
            let t = self.tracks.entry((i, who)).or_default();
            t.media_after |= media && ts > e + grace;
            if before {
                t.before |= media;
            } else if !media && ts <= e + grace && t.before {
                t.lost = true;
            } else if media && ts > e && t.lost && t.recovered_at.is_none() {
                t.recovered_at = Some(ts);
            }
        }
    }

    /// The summary; `start` is the run's start, `rows` the final participant rows (cohorts, reasons).
    pub fn finish(mut self, start: DateTime<Utc>, rows: &[ParticipantRow]) -> Disruptions {
        for (who, p) in std::mem::take(&mut self.pending) {
            if let (Some(ts), Some(media)) = (p.ts, p.media) {
                self.sample(who, ts, media);
            }
        }
        let secs = |t: DateTime<Utc>| (t - start).num_milliseconds() as f64 / 1000.0;
        let row_of = |id: ParticipantId| rows.iter().find(|r| r.participant == id);
        let mut all: Vec<f32> = Vec::new();
        let mut out = Disruptions {
            resolution_s: self.interval.num_milliseconds() as f64 / 1000.0,
            ..Default::default()
        };
        for (i, (kind, target)) in self.kinds.iter().enumerate() {
            let killed = self.killed.remove(&i).unwrap_or_default();
            let start_t = self.started.get(&i).copied();
            let end_t = self.ended.get(&i).copied().or(start_t);
            let mut d = DisruptionSummary {
                index: i,
                kind: kind.clone(),
                target: target.clone(),
                started_s: start_t.map(secs),
                ended_s: end_t.map(secs),
                detail: self.details.remove(&i).unwrap_or_default(),
                killed: killed.iter().cloned().collect(),
                ..Default::default()
            };
            let mut times: Vec<f32> = Vec::new();
            for ((_, who), t) in self.tracks.iter().filter(|((j, _), _)| *j == i) {
                if !t.before || killed.contains(&who.to_string()) {
                    continue;
                }
                d.in_call += 1;
                // A page whose peer connections closed before a sample could show the loss (its last
                // samples still carry the interval before the disruption) lost media all the same when
                // it failed after the disruption began with no media since.
                let failed_in_it = start_t
                    .zip(self.failed.get(who))
                    .is_some_and(|(s, f)| *f >= s && !t.media_after);
                if !t.lost && !failed_in_it {
                    continue;
                }
                d.lost_media += 1;
                let row = row_of(*who);
                let mut pr = ParticipantRecovery {
                    participant: who.to_string(),
                    cohort: row.map(|r| r.cohort.clone()).unwrap_or_default(),
                    ..Default::default()
                };
                match (t.recovered_at, end_t) {
                    (Some(at), Some(e)) => {
                        let r = ((at - e).num_milliseconds() as f64 / 1000.0).max(0.0);
                        pr.recovery_s = Some(r);
                        times.push(r as f32);
                        d.recovered += 1;
                    }
                    _ => {
                        d.never_recovered += 1;
                        pr.never_recovered = Some(match row {
                            Some(r) if !r.reason.is_empty() => r.reason.clone(),
                            _ => "media did not flow again before it left".into(),
                        });
                    }
                }
                d.participants.push(pr);
            }
            d.recovery_s_p50 = percentile(&mut times, 0.5);
            d.recovery_s_p95 = percentile(&mut times, 0.95);
            d.recovery_s_max = times.iter().copied().fold(None, |m: Option<f64>, v| {
                Some(m.map_or(f64::from(v), |m| m.max(f64::from(v))))
            });
            out.never_recovered += d.never_recovered;
            all.extend(times);
            out.disruptions.push(d);
        }
        out.recovery_s_p50 = percentile(&mut all, 0.5);
        out.recovery_s_p95 = percentile(&mut all, 0.95);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Outcome;

    fn ts(s: f64) -> String {
        let t = parse_ts("2026-11-30T12:00:00.000Z").unwrap()
            + chrono::Duration::milliseconds((s * 1000.0) as i64);
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    fn recv(at: f64, who: &str, kbps: f64) -> ClientStatRow {
        ClientStatRow {
            ts: ts(at),
            participant: who.parse().unwrap(),
            direction: "recv".into(),
            kind: "video".into(),
            bitrate_kbps: Some(kbps),
            ..Default::default()
        }
    }

    fn event(at: f64, who: &str, event: Event) -> EventRow {
        EventRow {
            ts: ts(at),
            participant: who.into(),
            event,
            detail: String::new(),
        }
    }

    /// The media server is killed at 10 s (1 s samples): c0p0 shows the loss in a sample; c0p1's page
    /// closed its connections before any sample could (its last one still covers the second before)
    /// and it failed; c0p2 kept media well after the kill and failed later for its own reason.
    #[test]
    fn a_page_that_failed_before_a_sample_showed_the_loss_lost_media_too() {
        let src = "[target]\nkind = \"janus\"\nurl = \"http://127.0.0.1:8088/janus\"\n[load]\nconferences = 1\nparticipants_per_conference = 3\nduration = \"30s\"\n[stats]\ninterval = \"1s\"\n[[disruption]]\nkind = \"kill_media_server\"\nat = \"10s\"\n";
        let s = crate::scenario::parse(src, std::path::Path::new("t.toml"), &[])
            .unwrap()
            .scenario;
        let mut r = Recovery::new(&s).unwrap();
        r.event(&event(10.0, "disruption:0", Event::DisruptionStarted));
        r.event(&event(16.0, "c0p1", Event::Failed));
        r.event(&event(25.0, "c0p2", Event::Failed));
        for at in [8.0, 9.0, 10.4] {
            for who in ["c0p0", "c0p1", "c0p2"] {
                r.stat(&recv(at, who, 300.0));
            }
        }
        r.stat(&recv(11.4, "c0p0", 0.0));
        for at in [11.4, 12.4, 13.4, 20.0] {
            r.stat(&recv(at, "c0p2", 300.0));
        }
        let rows: Vec<ParticipantRow> = ["c0p0", "c0p1", "c0p2"]
            .iter()
            .map(|p| ParticipantRow {
                participant: p.parse().unwrap(),
                outcome: Outcome::Failed,
                reason: format!("{p} failed"),
                ..Default::default()
            })
            .collect();
        let start = parse_ts(&ts(0.0)).unwrap();
        let d = r.finish(start, &rows).disruptions.remove(0);
        assert_eq!((d.in_call, d.lost_media, d.never_recovered), (3, 2, 2));
        let who: Vec<&str> = d
            .participants
            .iter()
            .map(|p| p.participant.as_str())
            .collect();
        assert_eq!(who, ["c0p0", "c0p1"]);
        assert_eq!(
            d.participants[1].never_recovered.as_deref(),
            Some("c0p1 failed")
        );
    }
}
