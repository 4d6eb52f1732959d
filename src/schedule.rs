//! Scenario → participant plans: who joins which conference, in which role, when. Pure.
//!
//! Roles follow the torture suite's load test: within a conference, participant `i` sends video iff
//! `i < senders` and sends audio iff `i < audio_senders`. Pacing: with `join_delay`, participant `i` of
//! every conference joins at `i × join_delay` (conferences fill in parallel); with `ramp`, every join of
//! the run is spread evenly over the ramp, interleaving conferences. Everyone stays `duration`.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::scenario::Load;

/// What a participant sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
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

/// One participant of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParticipantPlan {
    /// Stable id, `c<conference>p<index>`.
    pub id: String,
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
    /// When it hangs up, from the start of the run.
    #[serde(serialize_with = "ser_ms")]
    pub leave_offset: Duration,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// Expand the load shape into participant plans, sorted by join time (ties by conference).
pub fn expand(load: &Load) -> Vec<ParticipantPlan> {
    let confs = load.conferences;
    let per = load.participants;
    let total = (confs * per) as usize;
    let video = load.video_senders();
    let audio = load.audio_sender_count();
    let mut plans = Vec::with_capacity(total);
    for i in 0..per {
        for c in 0..confs {
            let k = (i * confs + c) as usize;
            let join = match (load.join_delay, load.ramp) {
                (Some(d), _) => d.get() * i,
                (None, Some(r)) if total > 1 => r.get().mul_f64(k as f64 / (total - 1) as f64),
                _ => Duration::ZERO,
            };
            plans.push(ParticipantPlan {
                id: format!("c{c}p{i}"),
                order: k,
                conference: c,
                room: format!("{}{c}", load.room_prefix),
                index: i,
                role: Role::new(i < video, i < audio),
                join_offset: join,
                leave_offset: join + load.duration.get(),
            });
        }
    }
    plans
}

/// Total run length: the last participant's leave time.
pub fn run_length(plans: &[ParticipantPlan]) -> Duration {
    plans
        .iter()
        .map(|p| p.leave_offset)
        .max()
        .unwrap_or_default()
}

/// The expanded plan as text: per conference, its participants, roles, join offsets and media.
pub fn describe(s: &crate::scenario::Scenario, plans: &[ParticipantPlan]) -> String {
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
        s.load.participants,
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
    for c in 0..s.load.conferences {
        let conf: Vec<&ParticipantPlan> = plans.iter().filter(|p| p.conference == c).collect();
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
                "  {:<8} {:<12} join +{:>8.1}s  leave +{:>8.1}s",
                p.id,
                p.role.as_str(),
                p.join_offset.as_secs_f64(),
                p.leave_offset.as_secs_f64()
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
            participants,
            senders: Some(senders),
            audio_senders: Some(audio),
            duration: Dur::from_secs(60),
            join_delay: delay_ms.map(Dur::from_millis),
            ramp: ramp_ms.map(Dur::from_millis),
            room_prefix: "r".into(),
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
        assert_eq!(c1[2].id, "c1p2");
        assert_eq!(run_length(&p), Duration::from_secs(62));
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
            let mut ids: Vec<_> = plans.iter().map(|p| p.id.clone()).collect();
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
