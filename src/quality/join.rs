//! End-to-end delay: each receiver's (code, arrival time) samples joined with the sender's (code, capture
//! time) log, both on the orchestrator's clock. Arrival is when the decoded frame reached the receiving
//! page, ready to be shown.
//!
//! The sender's log holds a few anchors a second (code, capture time); the camera runs on a fixed clock,
//! so a code's capture time is counted in frame intervals from an anchor of the same pass of the loop,
//! at most [`REACH_MS`] away. Codes repeat every loop (10 s), so a received code matches the latest such
//! capture not after the frame arrived (within the clocks' bounds): unambiguous for any delay under one
//! loop. A sample waits until the sender's log covers its time (the sender's take can come after the
//! receiver's); one the sender never covers is dropped after [`HORIZON_MS`] and counted as unmatched.

use std::collections::{HashMap, VecDeque};

use super::alias::Aliases;
use super::clock::ClockOffset;
use super::take::Take;

/// How long a receiver's sample waits for its sender's log, and how long the log is kept (ms).
pub const HORIZON_MS: f64 = 30_000.0;
/// Seconds of a generated loop (`media::VIDEO_LOOP_SECS`): a code's captures are this far apart.
const LOOP_SECS: f64 = 10.0;
/// A sender's take covers frames captured up to this long before it.
const COVER_MARGIN_MS: f64 = 200.0;
/// How far from an anchor a capture time is counted (ms).
pub const REACH_MS: f64 = 1000.0;

/// One joined frame: when a receiver saw a sender's frame and how late it was.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DelaySample {
    /// The receiving participant.
    pub receiver: String,
    /// The sending participant (the receiver page's name for it, resolved through [`Aliases`]).
    pub sender: String,
    /// When the frame reached the receiving page (orchestrator clock, ms since the Unix epoch).
    pub at_ms: f64,
    /// Capture to arrival (ms).
    pub delay_ms: f64,
    /// The two clocks' combined uncertainty (ms): the true delays are within ± this.
    pub bound_ms: f64,
}

#[derive(Debug, Default)]
struct SenderLog {
    /// Orchestrator time up to which captures are in the log.
    covered_ms: f64,
    bound_ms: f64,
    fps: u32,
    /// Anchors: (code, capture time on the orchestrator clock), oldest first.
    anchors: VecDeque<(u16, f64)>,
}

#[derive(Debug, Clone)]
struct Pending {
    receiver: String,
    /// The receiver page's name for the sender (resolved when joined: its alias may come later).
    sender: String,
    code: u16,
    fps: u32,
    at_ms: f64,
    bound_ms: f64,
}

/// Joins receivers' samples with senders' logs, across takes from every participant.
#[derive(Debug, Default)]
pub struct DelayJoin {
    senders: HashMap<String, SenderLog>,
    pending: VecDeque<Pending>,
    aliases: Aliases,
    latest_ms: f64,
    unmatched: u64,
}

impl DelayJoin {
    /// An empty join.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one take of `participant`'s page, whose clock is `clock`; the page's own name in it
    /// ([`Take::me`]) is registered as an alias of `participant` (again at every take: it changes
    /// when the page rejoins).
    pub fn add_take(&mut self, participant: &str, clock: ClockOffset, take: &Take) {
        if let Some(me) = &take.me {
            self.aliases.register(me, participant);
        }
        let at = |t: f64| clock.to_orchestrator(t);
        let taken = at(take.ts);
        self.latest_ms = self.latest_ms.max(taken);
        if !take.sent.is_empty() {
            let log = self.senders.entry(participant.to_string()).or_default();
            log.covered_ms = log.covered_ms.max(taken);
            log.bound_ms = clock.bound_ms;
            for track in &take.sent {
                if let Some(fps) = track.fps {
                    log.fps = fps;
                }
                for (&code, &t) in track.c.iter().zip(&track.t) {
                    log.anchors.push_back((code, at(t)));
                }
            }
            let keep_from = taken - HORIZON_MS;
            while log.anchors.front().is_some_and(|&(_, t)| t < keep_from) {
                log.anchors.pop_front();
            }
        }
        for s in &take.recv {
            let (Some(sender), Some(fps)) = (&s.peer, s.fps) else {
                continue;
            };
            for (&code, &t) in s.c.iter().zip(&s.t) {
                self.pending.push_back(Pending {
                    receiver: participant.to_string(),
                    sender: sender.clone(),
                    code,
                    fps,
                    at_ms: at(t),
                    bound_ms: clock.bound_ms,
                });
            }
        }
    }

    /// The samples that can be joined now; the rest keep waiting or, past the horizon, are dropped.
    pub fn drain(&mut self) -> Vec<DelaySample> {
        let mut out = Vec::new();
        let mut waiting = VecDeque::new();
        while let Some(p) = self.pending.pop_front() {
            let sender = self.aliases.resolve(&p.sender);
            let log = sender
                .as_ref()
                .and_then(|s| self.senders.get(s).map(|l| (s, l)));
            match log {
                Some((sender, log)) if log.covered_ms >= p.at_ms + COVER_MARGIN_MS => {
                    match captured(log, &p) {
                        Some(sent) => out.push(DelaySample {
                            receiver: p.receiver,
                            sender: sender.clone(),
                            at_ms: p.at_ms,
                            delay_ms: p.at_ms - sent,
                            bound_ms: p.bound_ms + log.bound_ms,
                        }),
                        None => self.unmatched += 1,
                    }
                }
                _ if p.at_ms < self.latest_ms - HORIZON_MS => self.unmatched += 1,
                _ => waiting.push_back(p),
            }
        }
        self.pending = waiting;
        out
    }

    /// The participant a receiver page's name for a sender stands for (see [`Aliases::resolve`]).
    pub fn sender_of(&self, name: &str) -> Option<String> {
        self.aliases.resolve(name)
    }

    /// Receiver samples dropped so far: no capture of their code in the sender's log (a sender without
    /// codes, a camera restarted), a sender that never reported, or a name no participant registered.
    pub fn unmatched(&self) -> u64 {
        self.unmatched
    }

    /// Samples still waiting for their sender.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }
}

/// The capture time of the frame a receiver saw: counted from each anchor within reach, the latest not
/// after the frame arrived and less than a loop before it.
fn captured(log: &SenderLog, p: &Pending) -> Option<f64> {
    let fps = if log.fps > 0 { log.fps } else { p.fps };
    let interval = 1000.0 / fps as f64;
    let arrived = p.at_ms + p.bound_ms + log.bound_ms;
    // Codes only grow within a pass: counting across a wrap lands a loop away and is dropped.
    log.anchors
        .iter()
        .map(|&(code, t)| (code as f64 - p.code as f64, t))
        .filter(|&(frames, _)| frames.abs() * interval <= REACH_MS)
        .map(|(frames, t)| t - frames * interval)
        .filter(|&t| t <= arrived && p.at_ms - t < LOOP_SECS * 1000.0)
        .fold(None, |best: Option<f64>, t| {
            Some(best.map_or(t, |b| b.max(t)))
        })
}

#[cfg(test)]
mod tests {
    use super::super::take::{RecvStream, SentTrack};
    use super::*;

    const T0: f64 = 1.7e12;

    /// A sender page's take: frames `from..to` of a 10 fps loop, captured every 100 ms from `T0`.
    fn sent(from: u32, to: u32, clock_offset: f64) -> Take {
        let (c, t) = (from..to)
            .map(|n| ((n % 100) as u16, T0 + n as f64 * 100.0 + clock_offset))
            .unzip();
        Take {
            ts: T0 + to as f64 * 100.0 + 50.0 + clock_offset,
            sent: vec![SentTrack {
                fps: Some(10),
                c,
                t,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// A receiver page's take: frames `frames`, arriving `delay` ms after capture.
    fn recv(frames: &[u32], delay: f64, clock_offset: f64) -> Take {
        let at = |n: u32| T0 + n as f64 * 100.0 + delay + clock_offset;
        Take {
            ts: at(*frames.last().unwrap()) + 10.0,
            recv: vec![RecvStream {
                peer: Some("c0p0".into()),
                fps: Some(10),
                c: frames.iter().map(|n| (n % 100) as u16).collect(),
                t: frames.iter().map(|&n| at(n)).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// `take` with only the captures of the frames (indexes into its log) `pick` keeps.
    fn keep(mut take: Take, pick: impl Fn(usize) -> bool) -> Take {
        let track = &mut take.sent[0];
        let kept: Vec<usize> = (0..track.c.len()).filter(|&n| pick(n)).collect();
        track.c = kept.iter().map(|&n| track.c[n]).collect();
        track.t = kept.iter().map(|&n| track.t[n]).collect();
        take
    }

    fn offset(offset_ms: f64, bound_ms: f64) -> ClockOffset {
        ClockOffset {
            offset_ms,
            bound_ms,
        }
    }

    #[test]
    fn delays_across_clocks_and_the_loop_wrap() {
        let mut j = DelayJoin::new();
        // Sender clock 300 ms ahead, receiver 50 ms behind; frames 95..105 cross the wrap (code 99 -> 0).
        j.add_take("c0p0", offset(300.0, 2.0), &sent(0, 120, 300.0));
        j.add_take(
            "c0p1",
            offset(-50.0, 1.5),
            &recv(&[95, 99, 100, 101, 104], 80.0, -50.0),
        );
        let d = j.drain();
        assert_eq!(d.len(), 5);
        for s in &d {
            assert!((s.delay_ms - 80.0).abs() < 1e-6, "{s:?}");
            assert_eq!(s.bound_ms, 3.5);
            assert_eq!((s.receiver.as_str(), s.sender.as_str()), ("c0p1", "c0p0"));
        }
        assert_eq!(j.unmatched(), 0);
    }

    #[test]
    fn a_sample_waits_for_its_sender_then_expires() {
        let mut j = DelayJoin::new();
        j.add_take("c0p1", ClockOffset::ZERO, &recv(&[10, 11], 40.0, 0.0));
        assert!(j.drain().is_empty());
        assert_eq!(j.waiting(), 2);
        j.add_take("c0p0", ClockOffset::ZERO, &sent(0, 12, 0.0));
        assert_eq!(j.drain().len(), 1, "frame 11 is not covered yet");
        assert_eq!(j.waiting(), 1);
        j.add_take("c0p0", ClockOffset::ZERO, &sent(12, 20, 0.0));
        assert_eq!(j.drain().len(), 1);
        // A sender that never reports: dropped once the run has moved on past the horizon.
        let mut lone = recv(&[30], 40.0, 0.0);
        lone.recv[0].peer = Some("gone".into());
        j.add_take("c0p1", ClockOffset::ZERO, &lone);
        j.add_take("c0p0", ClockOffset::ZERO, &sent(20, 400, 0.0));
        let _ = j.drain();
        assert_eq!((j.waiting(), j.unmatched()), (0, 1));
    }

    #[test]
    fn sparse_anchors_the_latest_pass_and_reach() {
        let mut j = DelayJoin::new();
        // Two loops captured, an anchor every 5th frame (2 a second at 10 fps, as the page reads them).
        j.add_take(
            "c0p0",
            ClockOffset::ZERO,
            &keep(sent(0, 200, 0.0), |n| n % 5 == 2),
        );
        // Frames 148, 150, 153 (codes 48, 50, 53) seen 2.5 s late: the first pass of those codes is 12.5 s
        // before, the second 2.5 s.
        j.add_take(
            "c0p1",
            ClockOffset::ZERO,
            &recv(&[148, 150, 153], 2500.0, 0.0),
        );
        let d = j.drain();
        assert_eq!(d.len(), 3);
        assert!(
            d.iter().all(|s| (s.delay_ms - 2500.0).abs() < 1e-6),
            "{d:?}"
        );
        // No anchor within a second of frame 60: not guessed.
        let mut j = DelayJoin::new();
        let far = |n: usize| n % 5 == 2 && !(45..=75).contains(&n);
        j.add_take("c0p0", ClockOffset::ZERO, &keep(sent(0, 100, 0.0), far));
        j.add_take("c0p1", ClockOffset::ZERO, &recv(&[60, 80], 40.0, 0.0));
        assert_eq!(j.drain().len(), 1);
        assert_eq!(j.unmatched(), 1);
    }

    #[test]
    fn jitsi_endpoint_ids_join_through_aliases_registered_later() {
        let mut j = DelayJoin::new();
        // The receiver names its sender by endpoint id before the sender's first take registered it.
        let mut r = recv(&[10, 11], 40.0, 0.0);
        r.recv[0].peer = Some("e1e1e1e1".into());
        j.add_take("c0p1", ClockOffset::ZERO, &r);
        assert!(j.drain().is_empty());
        assert_eq!(j.sender_of("e1e1e1e1"), None);
        let mut s = sent(0, 20, 0.0);
        s.me = Some("e1e1e1e1".into());
        j.add_take("c0p0", ClockOffset::ZERO, &s);
        assert_eq!(j.sender_of("e1e1e1e1").as_deref(), Some("c0p0"));
        let d = j.drain();
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|x| x.sender == "c0p0" && x.receiver == "c0p1"));
        // After a rejoin the sender's page has a new endpoint id: registered again at its next take.
        let mut s = sent(20, 40, 0.0);
        s.me = Some("f2f2f2f2".into());
        j.add_take("c0p0", ClockOffset::ZERO, &s);
        let mut r = recv(&[25, 30], 40.0, 0.0);
        r.recv[0].peer = Some("f2f2f2f2".into());
        j.add_take("c0p1", ClockOffset::ZERO, &r);
        assert_eq!(j.drain().len(), 2);
        // An endpoint no participant registered (the FIXTURE's bridge) stays unmatched and is counted.
        let mut r = recv(&[35], 40.0, 0.0);
        r.recv[0].peer = Some("abcd1234".into());
        j.add_take("c0p1", ClockOffset::ZERO, &r);
        j.add_take("c0p0", ClockOffset::ZERO, &sent(40, 400, 0.0));
        assert!(j.drain().is_empty());
        assert_eq!((j.waiting(), j.unmatched()), (0, 1));
    }
}
