//! Scenario → the schedule: who joins which conference, in which role, when. Pure.
//!
//! Roles follow the torture suite's load test: within a conference, participant `i` sends video iff
//! `i < senders` and sends audio iff `i < audio_senders`. Pacing: with `join_delay`, participant `i` of
//! every conference joins at `i × join_delay` (conferences fill in parallel); with `ramp`, every join of
//! the run is spread evenly over the ramp, interleaving conferences. Everyone stays `duration`.

pub mod seat;
pub mod talk;

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::scenario::{Cohort, Grow, Load, Scenario};

/// What a participant sends (ordered as declared: the most first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sends video and audio.
    #[serde(rename = "audio+video")]
    AudioVideo,
    /// Sends video only.
    Video,
    /// Sends audio only.
    Audio,
    /// Sends nothing.
    Receiver,
}

impl Role {
    fn new(video: bool, audio: bool) -> Role {
        match (video, audio) {
            (true, true) => Role::AudioVideo,
            (true, false) => Role::Video,
            (false, true) => Role::Audio,
            (false, false) => Role::Receiver,
        }
    }
    /// Sends video.
    pub fn sends_video(self) -> bool {
        matches!(self, Role::AudioVideo | Role::Video)
    }
    /// Sends audio.
    pub fn sends_audio(self) -> bool {
        matches!(self, Role::AudioVideo | Role::Audio)
    }
    /// The same role without audio (what is due from an audio sender the speaker model may mute).
    pub fn without_audio(self) -> Role {
        Role::new(self.sends_video(), false)
    }
    /// Sends anything.
    pub fn sends(self) -> bool {
        self != Role::Receiver
    }
    /// The name used in results.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::AudioVideo => "audio+video",
            Role::Video => "video",
            Role::Audio => "audio",
            Role::Receiver => "receiver",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A participant's stable id, written `c<conference>p<index>` in every results file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId {
    /// Conference index (0-based).
    pub conference: u32,
    /// Index within the conference (0-based).
    pub index: u32,
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}p{}", self.conference, self.index)
    }
}

impl FromStr for ParticipantId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("{s:?} is not a participant id (expected c<conference>p<index>, e.g. c0p1)");
        let (c, i) = s
            .strip_prefix('c')
            .and_then(|r| r.split_once('p'))
            .ok_or_else(bad)?;
        Ok(ParticipantId {
            conference: c.parse().map_err(|_| bad())?,
            index: i.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for ParticipantId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ParticipantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One participant of the schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduledParticipant {
    /// Stable id.
    pub id: ParticipantId,
    /// Position in the run's join order (0-based).
    pub order: usize,
    /// Conference index (0-based).
    pub conference: u32,
    /// Room name, `<room_prefix><conference>`.
    pub room: String,
    /// Index within the conference (0-based).
    pub index: u32,
    /// What it sends.
    pub role: Role,
    /// When it joins, from the start of the run.
    #[serde(serialize_with = "ser_ms")]
    pub join_offset: Duration,
    /// When it hangs up, from the start of the run (`Duration::MAX` in a growing run: it leaves when
    /// asked).
    #[serde(serialize_with = "ser_ms")]
    pub leave_offset: Duration,
    /// The step of a growing run (`loadtest limit`) it joined in.
    pub step: Option<u32>,
    /// The `[[cohort]]` whose network it sits behind (`None`: this machine's own network).
    pub cohort: Option<String>,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// The scenario's schedule: the load shape expanded ([`expand`]) and its cohorts assigned
/// ([`assign_cohorts`]).
pub fn of(s: &Scenario) -> Vec<ScheduledParticipant> {
    let mut plans = expand(&s.load);
    assign_cohorts(&mut plans, &s.cohort, s.load.participants_per_conference);
    plans
}

/// Which cohort (index into `cohorts`) each participant index of a conference of `per` belongs to.
/// Each cohort's members ([`Cohort::members`]) are spread evenly over the indices (a smooth weighted
/// round robin, ties to the earlier cohort), so a cohort holds senders and receivers alike; the rest
/// belong to none.
pub fn cohort_pattern(cohorts: &[Cohort], per: u32) -> Vec<Option<usize>> {
    let mut weights: Vec<(Option<usize>, i64)> = cohorts
        .iter()
        .enumerate()
        .map(|(k, c)| (Some(k), i64::from(c.members(per))))
        .collect();
    let taken: i64 = weights.iter().map(|w| w.1).sum();
    weights.push((None, (i64::from(per) - taken).max(0)));
    let total: i64 = weights.iter().map(|w| w.1).sum();
    let mut current = vec![0i64; weights.len()];
    (0..per)
        .map(|_| {
            for (c, w) in current.iter_mut().zip(&weights) {
                *c += w.1;
            }
            let best = (0..weights.len())
                .max_by_key(|&k| (current[k], std::cmp::Reverse(k)))
                .unwrap_or(0);
            current[best] -= total;
            weights[best].0
        })
        .collect()
}

/// Put each participant in its cohort by its index within its conference; indices past `per` (a run
/// growing participants per conference) repeat the pattern of the first `per`.
pub fn assign_cohorts(plans: &mut [ScheduledParticipant], cohorts: &[Cohort], per: u32) {
    let pattern = cohort_pattern(cohorts, per);
    if cohorts.is_empty() || pattern.is_empty() {
        return;
    }
    for p in plans {
        p.cohort = pattern[p.index as usize % pattern.len()].map(|k| cohorts[k].name.clone());
    }
}

/// Expand the load shape into the schedule, sorted by join time (ties by conference). The shape is
/// validated (at most [`crate::scenario::MAX_PARTICIPANTS`]), so the counts fit. Cohorts are not
/// assigned here ([`of`] does).
pub fn expand(load: &Load) -> Vec<ScheduledParticipant> {
    let block = Block {
        conferences: 0..load.conferences,
        indices: 0..load.participants_per_conference,
        at: Duration::ZERO,
        stay: Some(load.duration.get()),
        step: None,
        order_from: 0,
    };
    block.expand(load)
}

/// The participants one step of a growing run adds, joining from `at` (since the run's start) and
/// staying until asked to leave: `count` new conferences from index `fresh` (`grow = conferences`), or
/// `count` new participants from index `fresh` in each of `[load] conferences`. Roles and pacing are
/// the fixed schedule's (`join_delay` per index within the step, or `ramp` over the step's joins).
/// Join `order` continues from `order_from` (the participants scheduled before), so no two steps'
/// participants share an order (and with it a browser, `[load] participants_per_browser`).
pub fn grow(
    load: &Load,
    g: Grow,
    fresh: u32,
    count: u32,
    step: u32,
    at: Duration,
    order_from: usize,
) -> Vec<ScheduledParticipant> {
    let end = fresh.saturating_add(count);
    let (conferences, indices) = match g {
        Grow::Conferences => (fresh..end, 0..load.participants_per_conference),
        Grow::ParticipantsPerConference => (0..load.conferences, fresh..end),
    };
    let block = Block {
        conferences,
        indices,
        at,
        stay: None,
        step: Some(step),
        order_from,
    };
    block.expand(load)
}

/// A rectangle of participants: these conferences × these indices.
struct Block {
    conferences: Range<u32>,
    indices: Range<u32>,
    at: Duration,
    /// How long each stays; `None`: until asked to leave.
    stay: Option<Duration>,
    step: Option<u32>,
    /// The join order of the block's first participant.
    order_from: usize,
}

impl Block {
    fn expand(&self, load: &Load) -> Vec<ScheduledParticipant> {
        let confs = self.conferences.len();
        let total = confs * self.indices.len();
        let video = load.video_sender_count();
        let audio = load.audio_sender_count();
        let mut plans = Vec::with_capacity(total);
        for (ii, i) in self.indices.clone().enumerate() {
            for (ci, c) in self.conferences.clone().enumerate() {
                let k = ii * confs + ci;
                let pace = match (load.join_delay, load.ramp) {
                    (Some(d), _) => d.get().checked_mul(ii as u32).unwrap_or(Duration::MAX),
                    (None, Some(r)) if total > 1 => r.get().mul_f64(k as f64 / (total - 1) as f64),
                    _ => Duration::ZERO,
                };
                let join = self.at.saturating_add(pace);
                plans.push(ScheduledParticipant {
                    id: ParticipantId {
                        conference: c,
                        index: i,
                    },
                    order: self.order_from + k,
                    conference: c,
                    room: load.room(c),
                    index: i,
                    role: Role::new(i < video, i < audio),
                    join_offset: join,
                    leave_offset: self.stay.map_or(Duration::MAX, |d| join.saturating_add(d)),
                    step: self.step,
                    cohort: None,
                });
            }
        }
        plans
    }
}

/// Total run length: the last participant's leave time.
pub fn run_length(plans: &[ScheduledParticipant]) -> Duration {
    plans
        .iter()
        .map(|p| p.leave_offset)
        .max()
        .unwrap_or_default()
}

/// The most browser sessions open at once under this schedule.
pub fn peak_sessions(plans: &[ScheduledParticipant]) -> usize {
    peak(plans.iter().map(|p| (p.join_offset, p.leave_offset)))
}

/// The most browser sessions open at once when `per_browser` consecutive participants (in join order)
/// share one: a browser is open from its first member's join to its last member's leave.
pub fn peak_browsers(plans: &[ScheduledParticipant], per_browser: u32) -> usize {
    let per = per_browser.max(1) as usize;
    peak_browsers_by(plans, |p| p.order / per)
}

/// The most browser sessions open at once when `browser` names each participant's browser.
pub fn peak_browsers_by(
    plans: &[ScheduledParticipant],
    browser: impl Fn(&ScheduledParticipant) -> usize,
) -> usize {
    let mut spans: std::collections::BTreeMap<usize, (Duration, Duration)> = Default::default();
    for p in plans {
        let e = spans
            .entry(browser(p))
            .or_insert((p.join_offset, p.leave_offset));
        e.0 = e.0.min(p.join_offset);
        e.1 = e.1.max(p.leave_offset);
    }
    peak(spans.into_values())
}

/// The most spans (start, end) open at once.
fn peak(spans: impl Iterator<Item = (Duration, Duration)>) -> usize {
    let mut edges: Vec<(Duration, i32)> = spans.flat_map(|(j, l)| [(j, 1), (l, -1)]).collect();
    // At equal times count joins first: sessions close only after the hang-up barrier.
    edges.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let (mut cur, mut peak) = (0i32, 0i32);
    for (_, d) in edges {
        cur += d;
        peak = peak.max(cur);
    }
    peak as usize
}

/// The schedule as text: per conference, its participants, roles, join offsets and media.
pub fn describe(s: &crate::scenario::Scenario, plans: &[ScheduledParticipant]) -> String {
    use std::fmt::Write;
    let base = std::path::Path::new(".");
    let video = crate::media::VideoSource::parse(&s.media.video, base)
        .map(|v| v.describe())
        .unwrap_or_else(|_| s.media.video.clone());
    let audio = crate::media::AudioSource::parse(&s.media.audio, base)
        .map(|a| a.describe())
        .unwrap_or_else(|_| s.media.audio.clone());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenario {}: {} target {}",
        s.name,
        s.target.kind.as_str(),
        crate::redact::url(&s.target.url)
    );
    let _ = writeln!(
        out,
        "webdriver: {}",
        s.webdriver.url.as_deref().map_or(
            "local chromedriver (started by loadtest)".to_string(),
            crate::redact::url
        )
    );
    let _ = writeln!(
        out,
        "{} conferences x {} participants = {} participants; each stays {}; run length {}",
        s.load.conferences,
        s.load.participants_per_conference,
        plans.len(),
        s.load.duration,
        humantime::format_duration(run_length(plans))
    );
    let _ = writeln!(
        out,
        "media: video senders play {video}; audio senders play {audio}; receive audio: {}",
        s.media.receive_audio
    );
    let _ = writeln!(out, "stats every {}", s.stats.interval);
    for c in &s.cohort {
        let profile = c
            .profile
            .resolve(&c.name)
            .map(|p| p.name)
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "cohort {}: {} of each conference behind profile {profile}{}",
            c.name,
            c.members(s.load.participants_per_conference),
            if c.change.is_empty() {
                String::new()
            } else {
                format!(", {} change(s)", c.change.len())
            }
        );
    }
    for (i, d) in s.disruption.iter().enumerate() {
        let _ = writeln!(
            out,
            "disruption {i}: {} at +{}{}{}",
            d.kind.as_str(),
            d.at,
            d.duration.map_or(String::new(), |x| format!(" for {x}")),
            if d.hooked() { " (command hook)" } else { "" }
        );
    }
    let seats: std::collections::HashMap<ParticipantId, seat::Seat> =
        match crate::scenario::packing::seated(s) {
            true => seat::Seating::default()
                .place(plans, crate::scenario::Packing::of(s))
                .into_iter()
                .collect(),
            false => Default::default(),
        };
    if let Some(pages) = seats.values().map(|x| x.page + 1).max() {
        let browsers = seats.values().map(|x| x.browser + 1).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "pages: {pages} load-test pages in {browsers} browsers, each starting up to {} clients (numClients); page-mates share a conference and a role",
            s.load.participants_per_page
        );
    }
    for c in 0..s.load.conferences {
        let conf: Vec<&ScheduledParticipant> = plans.iter().filter(|p| p.conference == c).collect();
        let Some(first) = conf.first() else { continue };
        let _ = writeln!(
            out,
            "\nconference {c} (room {}): {} participants",
            first.room,
            conf.len()
        );
        for p in conf {
            let _ = writeln!(
                out,
                "  {:<8} {:<12} join +{:>8.1}s  leave +{:>8.1}s{}{}",
                p.id.to_string(),
                p.role.as_str(),
                p.join_offset.as_secs_f64(),
                p.leave_offset.as_secs_f64(),
                p.cohort
                    .as_ref()
                    .map_or(String::new(), |c| format!("  cohort {c}")),
                seats.get(&p.id).map_or(String::new(), |x| format!(
                    "  page {} client {}/{}",
                    x.page, x.client, x.clients
                ))
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Dur;
    use proptest::prelude::*;

    fn load(
        conferences: u32,
        participants: u32,
        senders: u32,
        audio: u32,
        delay_ms: Option<u64>,
        ramp_ms: Option<u64>,
    ) -> Load {
        Load {
            conferences,
            participants_per_conference: participants,
            video_senders: Some(senders),
            audio_senders: Some(audio),
            duration: Dur::from_secs(60),
            join_delay: delay_ms.map(Dur::from_millis),
            ramp: ramp_ms.map(Dur::from_millis),
            room_prefix: "r".into(),
            ..Load::default_shape()
        }
    }

    #[test]
    fn torture_layout() {
        let p = expand(&load(2, 3, 2, 1, Some(1000), None));
        let c1: Vec<_> = p.iter().filter(|p| p.conference == 1).collect();
        assert_eq!(
            c1.iter().map(|p| p.role).collect::<Vec<_>>(),
            [Role::AudioVideo, Role::Video, Role::Receiver]
        );
        assert_eq!(c1[2].join_offset, Duration::from_secs(2));
        assert_eq!(c1[2].room, "r1");
        assert_eq!(c1[2].id.to_string(), "c1p2");
        assert_eq!("c1p2".parse::<ParticipantId>(), Ok(c1[2].id));
        assert!("x1p2".parse::<ParticipantId>().is_err());
        assert_eq!(run_length(&p), Duration::from_secs(62));
    }

    #[test]
    fn growing_steps_add_fresh_conferences_or_participants() {
        let l = load(3, 2, 1, 2, Some(1000), None);
        let s = grow(&l, Grow::Conferences, 3, 2, 1, Duration::from_secs(60), 6);
        let ids: Vec<String> = s.iter().map(|p| p.id.to_string()).collect();
        assert_eq!(ids, ["c3p0", "c4p0", "c3p1", "c4p1"]);
        let orders: Vec<usize> = s.iter().map(|p| p.order).collect();
        assert_eq!(
            orders,
            [6, 7, 8, 9],
            "join order continues after the 6 scheduled before, so no browser is shared across steps"
        );
        assert_eq!(s[0].join_offset, Duration::from_secs(60));
        assert_eq!(
            s[2].join_offset,
            Duration::from_secs(61),
            "join_delay within the step"
        );
        assert_eq!(s[1].room, "r4");
        assert!(
            s.iter()
                .all(|p| p.step == Some(1) && p.leave_offset == Duration::MAX)
        );
        assert_eq!(
            s[2].role,
            Role::Audio,
            "roles as in the fixed schedule: index 1 sends audio only"
        );
        let s = grow(
            &l,
            Grow::ParticipantsPerConference,
            2,
            1,
            2,
            Duration::ZERO,
            0,
        );
        let ids: Vec<String> = s.iter().map(|p| p.id.to_string()).collect();
        assert_eq!(ids, ["c0p2", "c1p2", "c2p2"]);
        assert!(s.iter().all(|p| p.role == Role::Receiver));
    }

    fn cohort(name: &str, share: Option<f64>, count: Option<u32>) -> Cohort {
        Cohort {
            name: name.into(),
            share,
            count,
            profile: crate::scenario::ProfileRef::Builtin("3g".into()),
            change: Vec::new(),
        }
    }

    #[test]
    fn cohorts_are_spread_over_each_conference() {
        let cohorts = [cohort("a", None, Some(2)), cohort("b", Some(0.25), None)];
        let pattern = cohort_pattern(&cohorts, 8);
        let count = |k: Option<usize>| pattern.iter().filter(|p| **p == k).count();
        assert_eq!((count(Some(0)), count(Some(1)), count(None)), (2, 2, 4));
        assert_ne!(
            pattern[0], pattern[1],
            "spread, not in a block: {pattern:?}"
        );
        let mut plans = expand(&load(2, 8, 2, 2, None, None));
        assign_cohorts(&mut plans, &cohorts, 8);
        for c in 0..2 {
            let a = plans
                .iter()
                .filter(|p| p.conference == c && p.cohort.as_deref() == Some("a"))
                .count();
            assert_eq!(a, 2, "every conference has its share");
        }
        // A growing run repeats the pattern for new indices.
        let mut grown = grow(
            &load(1, 8, 2, 2, None, None),
            Grow::ParticipantsPerConference,
            8,
            8,
            1,
            Duration::ZERO,
            8,
        );
        assign_cohorts(&mut grown, &cohorts, 8);
        let got: Vec<Option<String>> = grown.iter().map(|p| p.cohort.clone()).collect();
        let want: Vec<Option<String>> = pattern
            .iter()
            .map(|k| k.map(|k| cohorts[k].name.clone()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn room_suffixes_spread_over_conferences() {
        let mut l = load(3, 1, 1, 1, None, None);
        l.room_suffixes = vec!["-a".into(), "-b".into()];
        let rooms: Vec<String> = expand(&l).into_iter().map(|p| p.room).collect();
        assert_eq!(rooms, ["r0-a", "r1-b", "r2-a"]);
    }

    #[test]
    fn peak_counts_overlap() {
        let mut l = load(2, 3, 3, 3, Some(1000), None);
        assert_eq!(peak_sessions(&expand(&l)), 6);
        l.join_delay = Some(Dur::from_secs(10));
        l.duration = Dur::from_secs(5);
        assert_eq!(peak_sessions(&expand(&l)), 2);
        // A shared browser stays open from its first member's join to its last member's leave.
        let plans = expand(&l);
        assert_eq!(peak_browsers(&plans, 1), peak_sessions(&plans));
        assert_eq!(
            peak_browsers(&plans, 3),
            2,
            "[0,15 s] and [10,25 s] overlap"
        );
        assert_eq!(peak_browsers(&plans, 6), 1);
        let all_at_once = expand(&load(2, 3, 3, 3, Some(1000), None));
        assert_eq!(peak_browsers(&all_at_once, 3), 2);
        assert_eq!(peak_browsers(&all_at_once, 4), 2, "rounded up");
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn expansion_honours_counts_roles_and_pacing(
            confs in 1u32..8, per in 1u32..12, s in 0u32..12, a in 0u32..12,
            delay in prop::option::of(0u64..5000), ramp in 0u64..600_000,
        ) {
            let s = s.min(per);
            let a = a.min(per);
            let ramp = if delay.is_some() { None } else { Some(ramp) };
            let plans = expand(&load(confs, per, s, a, delay, ramp));
            prop_assert_eq!(plans.len(), (confs * per) as usize);
            for c in 0..confs {
                let conf: Vec<_> = plans.iter().filter(|p| p.conference == c).collect();
                prop_assert_eq!(conf.len(), per as usize);
                prop_assert_eq!(conf.iter().filter(|p| p.role.sends_video()).count(), s as usize);
                prop_assert_eq!(conf.iter().filter(|p| p.role.sends_audio()).count(), a as usize);
                // Senders come first within a conference.
                for p in &conf {
                    prop_assert_eq!(p.role.sends_video(), p.index < s);
                }
            }
            // Ids are unique, order is a permutation, joins are non-decreasing in order.
            let mut ids: Vec<_> = plans.iter().map(|p| p.id).collect();
            ids.sort();
            ids.dedup();
            prop_assert_eq!(ids.len(), plans.len());
            for (k, p) in plans.iter().enumerate() {
                prop_assert_eq!(p.order, k);
                prop_assert_eq!(p.leave_offset - p.join_offset, Duration::from_secs(60));
            }
            for w in plans.windows(2) {
                prop_assert!(w[0].join_offset <= w[1].join_offset);
            }
            match (delay, ramp) {
                (Some(d), _) => for p in &plans {
                    prop_assert_eq!(p.join_offset, Duration::from_millis(d) * p.index);
                },
                (None, Some(r)) => {
                    let last = plans.last().unwrap().join_offset;
                    prop_assert!(last <= Duration::from_millis(r));
                    if plans.len() > 1 {
                        prop_assert!(Duration::from_millis(r) - last < Duration::from_millis(1));
                        // Even spacing: consecutive gaps differ by at most a rounding step.
                        let gap = Duration::from_millis(r).as_secs_f64() / (plans.len() - 1) as f64;
                        for w in plans.windows(2) {
                            let g = (w[1].join_offset - w[0].join_offset).as_secs_f64();
                            prop_assert!((g - gap).abs() < 1e-6);
                        }
                    }
                }
                _ => unreachable!(),
            }
        }
    }
}
