//! The run's account of what people saw: every participant's takes go through one [`Ledger`], which
//! joins delays across participants ([`DelayJoin`]) and turns each take's received streams into
//! `video_quality.csv` rows.

use std::collections::HashMap;

use super::clock::ClockOffset;
use super::join::{DelayJoin, DelaySample};
use super::take::Take;
use super::{delay_percentiles, figures};
use crate::results::VideoQualityRow;
use crate::schedule::ParticipantId;

/// Delays joined but not yet written, per (receiver, sender).
type Waiting = HashMap<(String, String), Vec<DelaySample>>;

/// How often the join is drained (orchestrator ms): a drain scans every waiting sample, so draining
/// at every take would cost O(participants²) per interval in a large run.
const DRAIN_EVERY_MS: f64 = 500.0;

/// One per run, shared by every participant (behind a mutex: each call is short and never waits).
#[derive(Debug)]
pub struct Ledger {
    join: DelayJoin,
    delays: Waiting,
    drained_ms: f64,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            join: DelayJoin::default(),
            delays: Waiting::default(),
            drained_ms: f64::NEG_INFINITY,
        }
    }
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `participant`'s take (its page clock `clock`), stamped `ts`: one row per received stream.
    /// A row's delay figures are those of its frames joined since its previous row (a frame joins once
    /// its sender's take covers it and the join was drained, so they lag by up to one interval and
    /// [`DRAIN_EVERY_MS`]).
    pub fn add(
        &mut self,
        participant: ParticipantId,
        clock: ClockOffset,
        take: &Take,
        ts: &str,
    ) -> Vec<VideoQualityRow> {
        let me = participant.to_string();
        self.join.add_take(&me, clock, take);
        let now = clock.to_orchestrator(take.ts);
        if now - self.drained_ms >= DRAIN_EVERY_MS {
            self.drained_ms = now;
            for d in self.join.drain() {
                let key = (d.receiver.clone(), d.sender.clone());
                self.delays.entry(key).or_default().push(d);
            }
        }
        take.recv
            .iter()
            .map(|s| {
                let mut f = figures(s);
                let joined = match self.join.sender_of(&f.peer) {
                    Some(sender) => {
                        let joined = self.delays.remove(&(me.clone(), sender.clone()));
                        f.sender = sender;
                        joined.unwrap_or_default()
                    }
                    None => Vec::new(),
                };
                row(participant, ts, f, &joined)
            })
            .collect()
    }

    /// Receiver frames that never found their sender's capture (see [`DelayJoin::unmatched`]).
    pub fn unmatched(&self) -> u64 {
        self.join.unmatched()
    }
}

fn row(
    participant: ParticipantId,
    ts: &str,
    mut row: VideoQualityRow,
    joined: &[DelaySample],
) -> VideoQualityRow {
    let delays: Vec<f64> = joined.iter().map(|d| d.delay_ms).collect();
    let (p50, p95) = delay_percentiles(&delays);
    let tenth = |v: Option<f64>| v.map(|x| (x * 10.0).round() / 10.0);
    row.ts = ts.to_string();
    row.participant = participant;
    row.delay_ms_p50 = tenth(p50);
    row.delay_ms_p95 = tenth(p95);
    row.delay_bound_ms = tenth(joined.iter().map(|d| d.bound_ms).reduce(f64::max));
    row.delay_samples = delays.len() as u32;
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::{RecvStream, SentTrack};

    fn id(s: &str) -> ParticipantId {
        s.parse().unwrap()
    }

    /// A 10 fps sender's take at 2000 ms: codes 1..=9 captured at 1000 + 100·code ms; `me`: its page's
    /// own name.
    fn sender_take(me: Option<&str>) -> Take {
        Take {
            ts: 2000.0,
            me: me.map(String::from),
            sent: vec![SentTrack {
                fps: Some(10),
                c: (1..=9).collect(),
                t: (1..=9).map(|c| 1000.0 + 100.0 * c as f64).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// A sender at 10 fps whose anchors are codes 1..=9 captured at 1000 + 100·code ms, and a receiver
    /// that got codes 2..=5 40 ms after capture: the delays join once the sender's take covers them.
    #[test]
    fn rows_carry_figures_and_joined_delays() {
        let clock = ClockOffset {
            offset_ms: 0.0,
            bound_ms: 1.0,
        };
        let mut l = Ledger::new();
        let recv = Take {
            ts: 1700.0,
            recv: vec![RecvStream {
                peer: Some("c0p0".into()),
                fps: Some(10),
                frames: 4,
                observed_ms: 1000.0,
                freeze_ms: 250.0,
                freeze_count: 1,
                psnr: vec![30.0, 40.0],
                c: vec![2, 3, 4, 5],
                t: vec![1240.0, 1340.0, 1440.0, 1540.0],
                ..Default::default()
            }],
            ..Default::default()
        };
        // The sender has not reported yet: figures, no delay.
        let rows = l.add(id("c0p1"), clock, &recv, "t1");
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.peer.as_str(), r.frames, r.freeze_count), ("c0p0", 4, 1));
        assert_eq!(
            r.sender, "c0p0",
            "the Janus page names senders by participant id"
        );
        assert_eq!(r.freeze_share(), Some(0.25));
        assert_eq!((r.psnr_db_p5, r.psnr_db_p50), (Some(30.0), Some(30.0)));
        assert_eq!((r.delay_ms_p50, r.delay_samples), (None, 0));
        let sent = sender_take(None);
        assert!(
            l.add(id("c0p0"), clock, &sent, "t2").is_empty(),
            "it receives nothing"
        );
        assert_eq!(
            l.join.waiting(),
            4,
            "300 ms after the last drain: not drained yet"
        );
        // The receiver's next row carries the joined delays.
        let next = Take {
            ts: 2700.0,
            recv: vec![RecvStream {
                peer: Some("c0p0".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let r = &l.add(id("c0p1"), clock, &next, "t3")[0];
        assert_eq!((r.delay_ms_p50, r.delay_ms_p95), (Some(40.0), Some(40.0)));
        assert_eq!((r.delay_bound_ms, r.delay_samples), (Some(2.0), 4));
        assert_eq!(l.join.waiting(), 0);
        assert_eq!(r.freeze_share(), None, "nothing watched");
        assert_eq!(l.unmatched(), 0);
    }

    /// Jitsi: streams are named by endpoint id; each page's take names its own, so rows carry the
    /// sending participant and its delays; the FIXTURE bridge's endpoint stays unknown.
    #[test]
    fn jitsi_rows_name_the_sending_participant() {
        let clock = ClockOffset::ZERO;
        let mut l = Ledger::new();
        let stream = |peer: &str, codes: Vec<u16>, t: Vec<f64>| RecvStream {
            peer: Some(peer.into()),
            fps: Some(10),
            c: codes,
            t,
            ..Default::default()
        };
        let sent = sender_take(Some("e1e1e1e1"));
        assert!(l.add(id("c0p0"), clock, &sent, "t1").is_empty());
        let recv = Take {
            ts: 2600.0,
            me: Some("f2f2f2f2".into()),
            recv: vec![
                stream("e1e1e1e1", vec![2, 3], vec![1260.0, 1360.0]),
                stream("abcd1234", vec![4], vec![1460.0]),
            ],
            ..Default::default()
        };
        let rows = l.add(id("c0p1"), clock, &recv, "t2");
        assert_eq!(rows[0].peer, "e1e1e1e1");
        assert_eq!(rows[0].sender, "c0p0");
        assert_eq!(
            (rows[0].delay_ms_p50, rows[0].delay_samples),
            (Some(60.0), 2)
        );
        assert_eq!((rows[1].sender.as_str(), rows[1].delay_samples), ("", 0));
        assert_eq!(l.join.sender_of("f2f2f2f2").as_deref(), Some("c0p1"));
    }
}
