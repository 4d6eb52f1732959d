//! Who talks when: a seeded conversation per conference after ITU-T P.59 (03/93), "Artificial
//! conversational speech", extended from two parties to N the way Malleus does (at most two talk at
//! once). Pure: the same seed and schedule give the same talk.
//!
//! The model is a chain of three states: mutual silence, single talk (one speaker), double talk (two).
//! From silence someone starts talking; from single talk the speaker stops (probability
//! [`P_SILENCE`]) or a second one starts; from double talk one of the two stops. Sojourns are
//! exponential with P.59's means — single talk [`SINGLE_TALK_MS`], double talk [`DOUBLE_TALK_MS`],
//! mutual silence [`SILENCE_MS`] (summed until at least [`MIN_SILENCE_MS`]). These are the numbers
//! jitsi-meet's Malleus port (`tests/malleus/speakers.ts`, "Mean durations of the ITU-T P.59
//! conversational speech model") and torture's `MalleusJitsificus.java` quote; the recommendation
//! text itself could not be retrieved here (docs/scenario.md says so). A new speaker is a past
//! speaker with probability N/(N+1) (N past speakers present), else one who has not spoken yet.
//!
//! Long-run shares follow from the chain: state visits are single 1/2, double 3/10, silence 1/5, so
//! time shares are single 427/626, double 67.8/626, silence 131.2/626 (silence mean 200 + 456 ms):
//! see [`expected_shares`].

use std::collections::BTreeMap;
use std::time::Duration;

use super::{ParticipantId, ScheduledParticipant};
use crate::scenario::{Load, Speakers};

/// Mean single-talk sojourn (P.59, as quoted by Malleus).
pub const SINGLE_TALK_MS: f64 = 854.0;
/// Mean double-talk sojourn (P.59, as quoted by Malleus).
pub const DOUBLE_TALK_MS: f64 = 226.0;
/// Mean of each exponential summed into a mutual silence (P.59, as quoted by Malleus).
pub const SILENCE_MS: f64 = 456.0;
/// A mutual silence lasts at least this long (Malleus).
pub const MIN_SILENCE_MS: f64 = 200.0;
/// From single talk, the probability that the speaker stops rather than a second one starting.
pub const P_SILENCE: f64 = 0.4;

/// One participant starts or stops talking, at an offset from the run start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch {
    /// When, from the run start.
    pub at: Duration,
    /// Talking from then on.
    pub talking: bool,
}

/// Every audio sender's switches (empty unless `[load] speakers = "p59"`).
pub type TalkPlan = BTreeMap<ParticipantId, Vec<Switch>>;

/// A small, seeded generator (SplitMix64): reproducible talk without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }
    /// Exponential with mean `mean`.
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

/// A speaker of a conference: who, and when it is in the call (from, to).
#[derive(Debug, Clone, Copy)]
pub struct Speaker {
    /// The participant.
    pub id: ParticipantId,
    /// In the call from.
    pub from: Duration,
    /// Until.
    pub to: Duration,
}

/// The switches of every audio sender of the schedule, one conversation per conference seeded from
/// `[load] seed` and the conference index.
pub fn plan(load: &Load, plans: &[ScheduledParticipant]) -> TalkPlan {
    let mut out = TalkPlan::new();
    if load.speakers != Speakers::P59 {
        return out;
    }
    let horizon = super::run_length(plans);
    for c in 0..load.conferences {
        let speakers: Vec<Speaker> = plans
            .iter()
            .filter(|p| p.conference == c && p.role.sends_audio())
            .map(|p| Speaker {
                id: p.id,
                from: p.join_offset,
                to: p.leave_offset,
            })
            .collect();
        let seed = load.seed ^ (u64::from(c) + 1).wrapping_mul(0xA076_1D64_78BD_642F);
        for (id, sw) in conversation(seed, &speakers, horizon) {
            out.entry(id).or_default().push(sw);
        }
    }
    out
}

/// One conference's conversation until `horizon`: (who, switch) in time order.
pub fn conversation(
    seed: u64,
    speakers: &[Speaker],
    horizon: Duration,
) -> Vec<(ParticipantId, Switch)> {
    let mut rng = Rng(seed);
    let mut st = Talk::default();
    let mut t = 0.0f64;
    let end = horizon.as_secs_f64() * 1000.0;
    while t < end {
        let now = Duration::from_micros((t * 1000.0) as u64);
        let present: Vec<ParticipantId> = speakers
            .iter()
            .filter(|s| s.from <= now && now < s.to)
            .map(|s| s.id)
            .collect();
        // Speakers whose call ended fall silent.
        for id in st.talking.clone() {
            if !present.contains(&id) {
                st.stop(id, now);
            }
        }
        match st.talking.len() {
            0 => st.start(&mut rng, &present, now),
            1 if rng.unit() < P_SILENCE => st.stop(st.talking[0], now),
            1 => st.start(&mut rng, &present, now),
            n => st.stop(st.talking[rng.below(n)], now),
        }
        t += match st.talking.len() {
            0 => {
                let mut s = 0.0;
                while s < MIN_SILENCE_MS {
                    s += rng.exp(SILENCE_MS);
                }
                s
            }
            1 => rng.exp(SINGLE_TALK_MS),
            _ => rng.exp(DOUBLE_TALK_MS),
        };
    }
    st.out
}

/// The conversation so far.
#[derive(Default)]
struct Talk {
    talking: Vec<ParticipantId>,
    spoken: Vec<ParticipantId>,
    out: Vec<(ParticipantId, Switch)>,
}

impl Talk {
    fn start(&mut self, rng: &mut Rng, present: &[ParticipantId], now: Duration) {
        let free: Vec<ParticipantId> = present
            .iter()
            .copied()
            .filter(|id| !self.talking.contains(id))
            .collect();
        if let Some(id) = choose(rng, &free, &self.spoken) {
            self.talking.push(id);
            if !self.spoken.contains(&id) {
                self.spoken.push(id);
            }
            self.out.push((
                id,
                Switch {
                    at: now,
                    talking: true,
                },
            ));
        }
    }
    fn stop(&mut self, id: ParticipantId, now: Duration) {
        self.talking.retain(|x| *x != id);
        self.out.push((
            id,
            Switch {
                at: now,
                talking: false,
            },
        ));
    }
}

/// A new speaker among the free ones: a past speaker with probability N/(N+1), else a new one.
fn choose(
    rng: &mut Rng,
    free: &[ParticipantId],
    spoken: &[ParticipantId],
) -> Option<ParticipantId> {
    let past: Vec<ParticipantId> = free
        .iter()
        .copied()
        .filter(|id| spoken.contains(id))
        .collect();
    let fresh: Vec<ParticipantId> = free
        .iter()
        .copied()
        .filter(|id| !spoken.contains(id))
        .collect();
    let slots = past.len() + usize::from(!fresh.is_empty());
    if slots == 0 {
        return None;
    }
    let i = rng.below(slots);
    if i < past.len() {
        Some(past[i])
    } else {
        Some(fresh[rng.below(fresh.len())])
    }
}

/// Time shares of a conversation over a window: how long nobody, exactly one, or two talked, and
/// each speaker's talk time, as shares (0..1) of the window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shares {
    /// Mutual silence.
    pub silence: f64,
    /// Exactly one talker.
    pub single: f64,
    /// Two or more talkers.
    pub double: f64,
    /// Each speaker's talk time.
    pub talk: BTreeMap<ParticipantId, f64>,
}

/// The shares of `switches` (in time order) within `[from, to)`.
pub fn shares(switches: &[(ParticipantId, Switch)], from: Duration, to: Duration) -> Shares {
    let mut out = Shares::default();
    let span = to.saturating_sub(from).as_secs_f64();
    if span <= 0.0 {
        return out;
    }
    let mut talking: Vec<ParticipantId> = Vec::new();
    let mut last = Duration::ZERO;
    let add = |talking: &[ParticipantId], a: Duration, b: Duration, out: &mut Shares| {
        let (a, b) = (a.max(from), b.min(to));
        if b <= a {
            return;
        }
        let d = (b - a).as_secs_f64() / span;
        match talking.len() {
            0 => out.silence += d,
            1 => out.single += d,
            _ => out.double += d,
        }
        for id in talking {
            *out.talk.entry(*id).or_default() += d;
        }
    };
    for (id, sw) in switches {
        add(&talking, last, sw.at, &mut out);
        last = sw.at;
        if sw.talking {
            talking.push(*id);
        } else {
            talking.retain(|x| x != id);
        }
    }
    add(&talking, last, to, &mut out);
    out
}

/// The long-run shares of mutual silence, single talk and double talk (with enough speakers).
pub fn expected_shares() -> (f64, f64, f64) {
    let silence_mean = MIN_SILENCE_MS + SILENCE_MS;
    let visits = (P_SILENCE, 1.0, 1.0 - P_SILENCE);
    let (s, one, two) = (
        visits.0 * silence_mean,
        visits.1 * SINGLE_TALK_MS,
        visits.2 * DOUBLE_TALK_MS,
    );
    let total = s + one + two;
    (s / total, one / total, two / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speakers(n: u32, secs: u64) -> Vec<Speaker> {
        (0..n)
            .map(|i| Speaker {
                id: ParticipantId {
                    conference: 0,
                    index: i,
                },
                from: Duration::ZERO,
                to: Duration::from_secs(secs),
            })
            .collect()
    }

    /// Over a long conversation the shares and mean sojourns match the chain's (within 2 points /
    /// 5 %): silence 21.0 %, single 68.2 %, double 10.8 %; every speaker talks an equal share.
    #[test]
    fn long_run_statistics_match_the_model() {
        let horizon = Duration::from_secs(20_000);
        let sw = conversation(42, &speakers(4, 20_000), horizon);
        let s = shares(&sw, Duration::ZERO, horizon);
        let (silence, single, double) = expected_shares();
        assert!((s.silence - silence).abs() < 0.02, "{s:?} vs {silence}");
        assert!((s.single - single).abs() < 0.02, "{s:?} vs {single}");
        assert!((s.double - double).abs() < 0.02, "{s:?} vs {double}");
        let each = (single + 2.0 * double) / 4.0;
        for (id, share) in &s.talk {
            assert!((share - each).abs() < 0.03, "{id}: {share} vs {each}");
        }
        // Mean single-talk sojourn: time in single talk / number of single-talk spells.
        let mut talking = 0usize;
        let (mut spells, mut since, mut total) = (0u32, Duration::ZERO, 0.0f64);
        for (_, w) in &sw {
            if talking == 1 {
                total += (w.at - since).as_secs_f64();
                spells += 1;
            }
            talking = if w.talking { talking + 1 } else { talking - 1 };
            since = w.at;
        }
        let mean_ms = total / f64::from(spells) * 1000.0;
        assert!(
            (mean_ms - SINGLE_TALK_MS).abs() / SINGLE_TALK_MS < 0.05,
            "{mean_ms}"
        );
        assert!(sw.iter().all(|(_, w)| w.at < horizon));
    }

    #[test]
    fn seeded_reproducible_and_bounded_by_presence() {
        let mut sp = speakers(3, 60);
        sp[2].from = Duration::from_secs(30);
        let a = conversation(7, &sp, Duration::from_secs(60));
        assert_eq!(a, conversation(7, &sp, Duration::from_secs(60)));
        assert_ne!(a, conversation(8, &sp, Duration::from_secs(60)));
        assert!(
            a.iter()
                .filter(|(id, w)| id.index == 2 && w.talking)
                .all(|(_, w)| w.at >= Duration::from_secs(30)),
            "nobody talks before joining"
        );
        let s = shares(&a, Duration::ZERO, Duration::from_secs(60));
        assert!((s.silence + s.single + s.double - 1.0).abs() < 1e-9);
        // At most two at once.
        let mut n = 0i32;
        for (_, w) in &a {
            n += if w.talking { 1 } else { -1 };
            assert!((0..=2).contains(&n));
        }
    }
}
