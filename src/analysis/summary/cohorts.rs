//! The per-cohort table: the main table's quality figures for each `[[cohort]]` (and for the
//! participants in none), from the same steady window.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use std::collections::BTreeSet;

use crate::results::{ClientStatRow, Event, EventRow, Outcome, ParticipantRow};
use crate::scenario::Scenario;
use crate::schedule::{ParticipantId, cohort_pattern};
use crate::stats::percentile;

/// One cohort's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CohortSummary {
    /// Cohort name; empty for the participants in no cohort.
    pub cohort: String,
    /// Its profile as resolved (a built-in's name or the custom values), empty for no cohort.
    pub profile: String,
    /// Participants scheduled in it.
    pub scheduled: usize,
    /// Joined with media.
    pub joined: usize,
    /// Completed.
    pub completed: usize,
    /// Failed.
    pub failed: usize,
    /// Joined with media, then failed.
    pub lost: usize,
    /// Joined with media / scheduled (0..1).
    pub join_ratio: Option<f64>,
    /// Join time median, ms.
    pub join_ms_p50: Option<f64>,
    /// Join time 95th percentile, ms.
    pub join_ms_p95: Option<f64>,
    /// Received video frame rate median, fps.
    pub recv_fps_p50: Option<f64>,
    /// Received video frame rate 5th percentile, fps.
    pub recv_fps_p5: Option<f64>,
    /// Received video bitrate median, kbit/s.
    pub recv_bitrate_kbps_p50: Option<f64>,
    /// Received packet loss, mean of the samples (0..1): near the link's loss rate.
    pub loss_mean: Option<f64>,
    /// Received packet loss median (0..1).
    pub loss_p50: Option<f64>,
    /// Received packet loss 95th percentile (0..1).
    pub loss_p95: Option<f64>,
    /// Received jitter 95th percentile, ms.
    pub jitter_ms_p95: Option<f64>,
    /// Round-trip time median, ms.
    pub rtt_ms_p50: Option<f64>,
    /// Round-trip time 95th percentile, ms.
    pub rtt_ms_p95: Option<f64>,
}

/// A cohort's received-stream values and join times.
#[derive(Default)]
struct Bag {
    streams: super::bag::Bag,
    joins: Vec<f32>,
}

/// Streams rows into per-cohort figures.
pub struct CohortFigures {
    names: Vec<String>,
    profiles: Vec<String>,
    /// Cohort (index into `names`; `names.len()` = none) of each index within a conference.
    pattern: Vec<usize>,
    of: BTreeMap<ParticipantId, usize>,
    bags: Vec<Bag>,
    scheduled: BTreeSet<ParticipantId>,
    joined: BTreeSet<ParticipantId>,
}

impl CohortFigures {
    /// For the scenario's cohorts; `None` when it has none.
    pub fn new(s: &Scenario) -> Option<CohortFigures> {
        if s.cohort.is_empty() {
            return None;
        }
        let names: Vec<String> = s.cohort.iter().map(|c| c.name.clone()).collect();
        let none = names.len();
        let pattern = cohort_pattern(&s.cohort, s.load.participants_per_conference)
            .into_iter()
            .map(|k| k.unwrap_or(none))
            .collect();
        let profiles = s
            .cohort
            .iter()
            .map(|c| {
                c.profile
                    .resolve(&c.name)
                    .map(|p| p.describe())
                    .unwrap_or_default()
            })
            .collect();
        Some(CohortFigures {
            bags: (0..=none).map(|_| Bag::default()).collect(),
            names,
            profiles,
            pattern,
            of: BTreeMap::new(),
            scheduled: BTreeSet::new(),
            joined: BTreeSet::new(),
        })
    }

    fn cohort(&self, id: ParticipantId) -> usize {
        self.of.get(&id).copied().unwrap_or_else(|| {
            let n = self.pattern.len().max(1);
            self.pattern
                .get(id.index as usize % n)
                .copied()
                .unwrap_or(self.names.len())
        })
    }

    /// A participants.csv row (its `cohort` column wins over the scenario's pattern).
    pub fn participant(&mut self, r: &ParticipantRow) {
        let k = if r.cohort.is_empty() {
            self.names.len()
        } else {
            self.names
                .iter()
                .position(|n| *n == r.cohort)
                .unwrap_or(self.names.len())
        };
        self.of.insert(r.participant, k);
        if r.outcome == Outcome::Completed
            && let Some(j) = r.join_ms
        {
            self.bags[k].joins.push(j as f32);
        }
    }

    /// An events.csv row (who was scheduled, who had media).
    pub fn event(&mut self, r: &EventRow) {
        let set = match r.event {
            Event::Scheduled => &mut self.scheduled,
            Event::Media => &mut self.joined,
            _ => return,
        };
        if let Ok(id) = r.participant.parse() {
            set.insert(id);
        }
    }

    /// A client_stats.csv row inside the window (received streams count, as in the main table).
    pub fn stat(&mut self, r: &ClientStatRow) {
        if r.received() {
            let k = self.cohort(r.participant);
            self.bags[k].streams.push(r);
        }
    }

    /// The table: one row per cohort, then one for participants in none (when there are any);
    /// `rows` are the final participant rows.
    pub fn finish(mut self, rows: &[ParticipantRow]) -> Vec<CohortSummary> {
        let mut out: Vec<CohortSummary> = (0..=self.names.len())
            .map(|k| CohortSummary {
                cohort: self.names.get(k).cloned().unwrap_or_default(),
                profile: self.profiles.get(k).cloned().unwrap_or_default(),
                ..Default::default()
            })
            .collect();
        for id in &self.scheduled {
            out[self.cohort(*id)].scheduled += 1;
        }
        for id in &self.joined {
            out[self.cohort(*id)].joined += 1;
        }
        for r in rows {
            let c = &mut out[self.cohort(r.participant)];
            if r.outcome == Outcome::Completed {
                c.completed += 1;
            } else {
                c.failed += 1;
                if r.media_ms.is_some() {
                    c.lost += 1;
                }
            }
        }
        for (
            c,
            Bag {
                streams: bag,
                joins,
            },
        ) in out.iter_mut().zip(self.bags.iter_mut())
        {
            c.scheduled = c.scheduled.max(c.completed + c.failed);
            c.join_ratio = (c.scheduled > 0).then(|| c.joined as f64 / c.scheduled as f64);
            c.join_ms_p50 = percentile(joins, 0.5);
            c.join_ms_p95 = percentile(joins, 0.95);
            c.recv_fps_p50 = percentile(&mut bag.fps, 0.5);
            c.recv_fps_p5 = percentile(&mut bag.fps, 0.05);
            c.recv_bitrate_kbps_p50 = percentile(&mut bag.bitrate, 0.5);
            c.loss_mean = (!bag.loss.is_empty()).then(|| {
                bag.loss.iter().map(|&v| f64::from(v)).sum::<f64>() / bag.loss.len() as f64
            });
            c.loss_p50 = percentile(&mut bag.loss, 0.5);
            c.loss_p95 = percentile(&mut bag.loss, 0.95);
            c.jitter_ms_p95 = percentile(&mut bag.jitter, 0.95);
            c.rtt_ms_p50 = percentile(&mut bag.rtt, 0.5);
            c.rtt_ms_p95 = percentile(&mut bag.rtt, 0.95);
        }
        // The row of participants in no cohort only when there are some.
        if out.last().is_some_and(|c| c.scheduled == 0) {
            out.pop();
        }
        out
    }
}
