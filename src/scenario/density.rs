//! Participants per load-generator core, per video preset and density mode (receive fidelity and
//! packing: per browser and per page), and the generator cores a scenario needs in each mode. A mode the
//! benchmark has not measured yet says so ("not measured"), never a guessed gain. The figures come from
//! `cargo bench --bench capacity` (docs/benchmarks.md): one browser per participant per preset, and the
//! density modes measured side by side at `small` (their gain is applied to the other presets).
//! Video only: audio costs a headless browser more, so scenarios with audio senders need more.
//!
//! A figure is keyed by its [`Fidelity`] (video preset, audio, receive fidelity, [`Packing`]):
//! `loadtest plan --calibrate` and provision's slot sizing use a figure only for the mode it was
//! measured at.

use serde::Serialize;

use super::{ReceiveVideo, Scenario};

/// How participants are packed onto generator browsers: one value, so that another packing knob is
/// one more field here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Packing {
    /// `[load] participants_per_browser`: pages (windows) per WebDriver session.
    pub per_browser: u32,
    /// `[load] participants_per_page`: participants (clients) per page.
    pub per_page: u32,
}

impl Packing {
    /// One browser per participant.
    pub const ONE: Packing = Packing {
        per_browser: 1,
        per_page: 1,
    };

    /// `n` per browser, one window each.
    pub const fn tabs(n: u32) -> Packing {
        Packing {
            per_browser: n,
            per_page: 1,
        }
    }

    /// The scenario's packing.
    pub fn of(s: &Scenario) -> Packing {
        Packing {
            per_browser: s.load.participants_per_browser.max(1),
            per_page: s.load.participants_per_page.max(1),
        }
    }

    /// Participants one browser (one Grid slot) hosts: pages × clients per page.
    pub fn per_slot(self) -> u32 {
        self.per_browser.max(1) * self.per_page.max(1)
    }

    /// The page a participant (by join order) belongs to.
    pub fn page_of(self, order: usize) -> usize {
        order / self.per_page.max(1) as usize
    }

    /// The browser a participant (by join order) belongs to: consecutive participants share pages,
    /// consecutive pages share browsers.
    pub fn browser_of(self, order: usize) -> usize {
        order / self.per_slot() as usize
    }

    /// How the packing reads in outputs.
    pub fn describe(self) -> String {
        match (self.per_browser.max(1), self.per_page.max(1)) {
            (1, 1) => "one browser per participant".to_string(),
            (n, 1) => format!("{n} per browser"),
            (1, c) => format!("{c} per page"),
            (n, c) => format!("{c} per page, {n} pages per browser"),
        }
    }
}

/// One way of packing participants onto generators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Mode {
    /// Participants per browser (and per page, when that exists).
    pub packing: Packing,
    /// `[media] receive_video`.
    pub receive_video: ReceiveVideo,
}

impl Mode {
    /// One browser per participant, decoding: what the per-preset table was measured at.
    pub const BASE: Mode = Mode {
        packing: Packing::ONE,
        receive_video: ReceiveVideo::Decode,
    };

    /// How the mode reads in `validate` and the docs.
    pub fn describe(self) -> String {
        format!(
            "{}, receive_video = \"{}\"",
            self.packing.describe(),
            self.receive_video.as_str()
        )
    }
}

/// What a participants-per-core figure holds for: the key of the density table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fidelity {
    /// The video preset (`small`, ...) senders play.
    pub video: String,
    /// Whether senders send audio.
    pub audio: bool,
    /// `[media] receive_audio`.
    pub receive_audio: bool,
    /// Receive-video fidelity and packing.
    pub mode: Mode,
}

impl Fidelity {
    /// The scenario's fidelity.
    pub fn of(s: &Scenario) -> Fidelity {
        Fidelity {
            video: s.media.video.clone(),
            audio: s.load.audio_sender_count() > 0,
            receive_audio: s.media.receive_audio,
            mode: Mode {
                packing: Packing::of(s),
                receive_video: s.media.receive_video,
            },
        }
    }

    /// The same mode with another video preset.
    pub fn with_video(&self, video: &str) -> Fidelity {
        Fidelity {
            video: video.to_string(),
            ..self.clone()
        }
    }

    /// How the fidelity reads in outputs.
    pub fn describe(&self) -> String {
        let yes = |b: bool, y: &str, n: &str| if b { y } else { n }.to_string();
        [
            self.video.clone(),
            yes(self.audio, "audio sent", "no audio sent"),
            yes(self.receive_audio, "audio received", "audio not received"),
            format!("receive_video = {}", self.mode.receive_video.as_str()),
            self.mode.packing.describe(),
        ]
        .join(", ")
    }

    /// What differs from `other`, in words (empty when the two are the same).
    pub fn differences(&self, other: &Fidelity) -> Vec<String> {
        let mut d = Vec::new();
        let mut diff = |what: &str, a: String, b: String| {
            if a != b {
                d.push(format!("{what} {a}, not {b}"));
            }
        };
        diff("video", self.video.clone(), other.video.clone());
        let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
        diff("audio sent", yes(self.audio), yes(other.audio));
        diff(
            "audio received",
            yes(self.receive_audio),
            yes(other.receive_audio),
        );
        diff(
            "receive_video",
            self.mode.receive_video.as_str().into(),
            other.mode.receive_video.as_str().into(),
        );
        diff(
            "participants_per_browser",
            self.mode.packing.per_browser.to_string(),
            other.mode.packing.per_browser.to_string(),
        );
        diff(
            "participants_per_page",
            self.mode.packing.per_page.to_string(),
            other.mode.packing.per_page.to_string(),
        );
        d
    }
}

/// A participants-per-core figure and what it holds for.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Participants per generator core.
    pub per_core: f64,
    /// What it was measured at.
    pub fidelity: Fidelity,
    /// Where it comes from.
    pub source: String,
}

impl Figure {
    /// Why the figure does not quite hold for `wanted` (audio not measured), or `None`.
    pub fn caveat(&self, wanted: &Fidelity) -> Option<String> {
        let d = self.fidelity.differences(wanted);
        (!d.is_empty()).then(|| {
            format!(
                "the figure was measured without audio ({}): audio costs more, so it overstates participants per core (cores needed are a lower bound, slots an upper bound)",
                d.join("; ")
            )
        })
    }
}

/// The documented figure for `wanted`: the per-preset table (video only, one browser per
/// participant, decoding) × the measured gain of its mode. Its fidelity says what it holds for (no
/// audio sent or received).
pub fn documented(wanted: &Fidelity) -> Figure {
    let (base, from) = match wanted.video.as_str() {
        "tiny" | "small" | "vga" | "chrome" => (
            base_per_core(&wanted.video),
            "docs/benchmarks.md (measured: video only, one browser per participant, decoding)",
        ),
        "hd" => (base_per_core("hd"), "assumed: half of vga (not measured)"),
        _ => (
            base_per_core(&wanted.video),
            "assumed: like vga (not measured)",
        ),
    };
    let (g, source) = match gain(wanted.mode) {
        _ if wanted.mode == Mode::BASE => (1.0, from.to_string()),
        Some(g) => (
            g,
            format!(
                "{from} × {g:.2}, the measured gain of {} at small",
                wanted.mode.describe()
            ),
        ),
        // A packing the benchmark has not measured: the figure of the same mode without clients per
        // page, said so.
        None => {
            let without = Mode {
                packing: Packing {
                    per_page: 1,
                    ..wanted.mode.packing
                },
                ..wanted.mode
            };
            let g = gain(without).unwrap_or(1.0);
            (
                g,
                format!(
                    "{from} × {g:.2}, the measured gain of {} at small ({} not measured: its packing gain is left out)",
                    without.describe(),
                    wanted.mode.describe()
                ),
            )
        }
    };
    Figure {
        per_core: base * g,
        fidelity: Fidelity {
            audio: false,
            receive_audio: false,
            ..wanted.clone()
        },
        source,
    }
}

/// The mode to size generators for, on the command line of `plan` and `provision`: the scenario's
/// names; each overrides the scenario's (or the default) value.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ModeArgs {
    /// `[media] receive_audio` of the mode to size for [default: the scenario's, else true].
    #[arg(long, value_name = "BOOL")]
    pub receive_audio: Option<bool>,
    /// `[media] receive_video` of the mode to size for [default: the scenario's, else decode].
    #[arg(long, value_enum)]
    pub receive_video: Option<ReceiveVideo>,
    /// `[load] participants_per_browser` of the mode to size for [default: the scenario's, else 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub participants_per_browser: Option<u32>,
    /// `[load] participants_per_page` of the mode to size for [default: the scenario's, else 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub participants_per_page: Option<u32>,
}

impl ModeArgs {
    /// `base` with the flags given applied.
    pub fn apply(&self, mut base: Fidelity) -> Fidelity {
        if let Some(r) = self.receive_audio {
            base.receive_audio = r;
        }
        if let Some(r) = self.receive_video {
            base.mode.receive_video = r;
        }
        if let Some(n) = self.participants_per_browser {
            base.mode.packing.per_browser = n;
        }
        if let Some(n) = self.participants_per_page {
            base.mode.packing.per_page = n;
        }
        base
    }
}

/// Participants per core with one browser each, decoding, video only, by preset (docs/benchmarks.md:
/// 8 tiny/small senders per core held their frame rate, 4 at VGA; HD is an assumption, half of VGA; a
/// user file is assumed VGA-like).
pub fn base_per_core(video: &str) -> f64 {
    match video {
        "tiny" | "small" => 8.0,
        "vga" | "chrome" => 4.0,
        "hd" => 2.0,
        _ => 4.0,
    }
}

/// The gain of a density mode over one browser per participant at `small` (docs/benchmarks.md,
/// "Density modes"), by packing and receive fidelity; `None`: in the benchmark, not measured yet.
/// Measured 2026-11-30 12:14 UTC on a quiet machine (largest valid N at `small`, in steps of 4: 12 one
/// browser each, 8 with 4 per browser, 8 with 6 per page; with `discard` 16, 12 and 16).
const GAIN: &[(Packing, ReceiveVideo, Option<f64>)] = &[
    (Packing::ONE, ReceiveVideo::Decode, Some(1.0)),
    (Packing::tabs(4), ReceiveVideo::Decode, Some(8.0 / 12.0)),
    (PAGES, ReceiveVideo::Decode, Some(8.0 / 12.0)),
    (Packing::ONE, ReceiveVideo::Discard, Some(16.0 / 12.0)),
    (Packing::tabs(4), ReceiveVideo::Discard, Some(1.0)), // 12 / 12
    (PAGES, ReceiveVideo::Discard, Some(16.0 / 12.0)),
];

/// The clients-per-page mode the benchmark runs: 6 per page, one page per browser.
const PAGES: Packing = Packing {
    per_browser: 1,
    per_page: 6,
};

/// The gain of `mode` over one browser per participant: the row with the same receive fidelity and
/// the nearest packing at or below it (clients per page first, then per browser); `None` when that
/// row is not measured.
fn gain(mode: Mode) -> Option<f64> {
    let p = mode.packing;
    GAIN.iter()
        .filter(|(q, rv, _)| {
            *rv == mode.receive_video
                && q.per_page <= p.per_page.max(1)
                && q.per_browser <= p.per_browser.max(1)
        })
        .max_by_key(|(q, _, _)| (q.per_page, q.per_browser))
        .map_or(Some(1.0), |(_, _, g)| *g)
}

/// Participants per core for a preset in a mode (`None`: the mode is not measured).
pub fn per_core(video: &str, mode: Mode) -> Option<f64> {
    gain(mode).map(|g| base_per_core(video) * g)
}

/// The modes `validate` compares: the scenario's own, and each one the benchmark runs.
pub fn modes(s: &Scenario) -> Vec<Mode> {
    let own = Fidelity::of(s).mode;
    let mut v = vec![own];
    for (packing, rv, _) in GAIN {
        let m = Mode {
            packing: *packing,
            receive_video: *rv,
        };
        if m != own {
            v.push(m);
        }
    }
    v
}

/// Generator cores a scenario needs in a mode (its peak participants over participants per core,
/// rounded up; `None`: the mode is not measured).
pub fn cores_needed(s: &Scenario, peak: usize, mode: Mode) -> Option<u64> {
    per_core(&s.media.video, mode).map(|p| (peak as f64 / p).ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_follow_the_preset_and_the_mode() {
        let src = "[target]\nkind = \"janus\"\nurl = \"http://127.0.0.1:8088/janus\"\n[load]\nconferences = 1\nparticipants_per_conference = 2\nduration = \"10s\"\n";
        let mut s = crate::scenario::parse(src, std::path::Path::new("t.toml"), &[])
            .unwrap()
            .scenario;
        let one = Mode::BASE;
        assert_eq!(cores_needed(&s, 300, one), Some(38), "300 / 8 per core");
        s.media.video = "vga".into();
        assert_eq!(cores_needed(&s, 300, one), Some(75));
        let packed = Mode {
            packing: Packing::tabs(3),
            receive_video: ReceiveVideo::Discard,
        };
        assert_eq!(
            gain(packed),
            gain(Mode {
                packing: Packing::ONE,
                ..packed
            }),
            "nearest packing below"
        );
        assert!(per_core("small", packed) > per_core("small", one));
        s.media.video = "small".into();
        let dense = Mode {
            packing: Packing::tabs(4),
            receive_video: ReceiveVideo::Discard,
        };
        assert_eq!(cores_needed(&s, 300, dense), Some(38), "300 / (8 × 12/12)");
        let pages = Mode {
            packing: Packing {
                per_browser: 2,
                per_page: 8,
            },
            receive_video: ReceiveVideo::Discard,
        };
        assert_eq!(
            gain(pages),
            Some(16.0 / 12.0),
            "8 per page in 2 pages: the benchmark's 6 per page, the nearest packing below"
        );
        assert_eq!(cores_needed(&s, 300, pages), Some(29), "300 / (8 × 16/12)");
        assert_eq!(pages.packing.per_slot(), 16);
        assert_eq!(
            pages.describe(),
            "8 per page, 2 pages per browser, receive_video = \"discard\""
        );
        let few = Packing {
            per_page: 3,
            ..pages.packing
        };
        let discard = Mode {
            packing: Packing::ONE,
            receive_video: ReceiveVideo::Discard,
        };
        assert_eq!(
            gain(Mode {
                packing: few,
                ..pages
            }),
            gain(discard),
            "below the benchmark's page size: the nearest measured packing"
        );
        let doc = documented(&Fidelity {
            video: "small".into(),
            audio: false,
            receive_audio: false,
            mode: pages,
        });
        assert_eq!(doc.per_core, per_core("small", pages).unwrap());
        assert!(doc.source.contains("measured gain"), "{}", doc.source);
        let m = modes(&s);
        assert_eq!(m[0], one, "the scenario's own mode first");
        assert_eq!(m.len(), GAIN.len());
    }
}

#[cfg(test)]
mod table {
    use super::*;

    /// A scenario's fidelity, the flags over it, and what differs, in words.
    #[test]
    fn the_key_comes_from_the_scenario_and_the_flags() {
        let src = "[target]\nkind = \"janus\"\nurl = \"http://127.0.0.1:8088/janus\"\n[load]\nconferences = 1\nparticipants_per_conference = 4\naudio_senders = 0\nparticipants_per_browser = 2\nduration = \"10s\"\n[media]\nreceive_audio = false\n";
        let s = crate::scenario::parse(src, std::path::Path::new("t.toml"), &[])
            .unwrap()
            .scenario;
        let f = Fidelity::of(&s);
        assert_eq!(
            f.describe(),
            "small, no audio sent, audio not received, receive_video = decode, 2 per browser"
        );
        let flags = ModeArgs {
            receive_audio: Some(true),
            receive_video: Some(ReceiveVideo::Discard),
            participants_per_browser: None,
            participants_per_page: Some(6),
        };
        let g = flags.apply(f.clone());
        assert_eq!(
            g.mode.packing.per_browser, 2,
            "unset flags keep the scenario's"
        );
        assert_eq!(
            f.differences(&g),
            [
                "audio received no, not yes",
                "receive_video decode, not discard",
                "participants_per_page 1, not 6"
            ]
        );
        assert!(g.differences(&g).is_empty());
        let doc = documented(&g);
        assert!(!doc.fidelity.receive_audio && doc.caveat(&g).is_some());
        assert_eq!(doc.caveat(&doc.fidelity), None);
    }

    /// docs/benchmarks.md quotes the table the planner and provision use, row by row.
    #[test]
    fn docs_quote_the_density_table() {
        let docs = include_str!("../../docs/benchmarks.md");
        for video in ["tiny", "small", "vga", "hd"] {
            for (packing, rv, g) in GAIN {
                if g.is_none() {
                    continue;
                }
                let f = Fidelity {
                    video: video.into(),
                    audio: false,
                    receive_audio: false,
                    mode: Mode {
                        packing: *packing,
                        receive_video: *rv,
                    },
                };
                let row = format!(
                    "| {video} | no / no | {} | {} | {:.1} |",
                    rv.as_str(),
                    f.mode.packing.describe(),
                    documented(&f).per_core
                );
                assert!(docs.contains(&row), "docs/benchmarks.md should have {row}");
            }
        }
    }
}
