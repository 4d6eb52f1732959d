//! Participants per load-generator core, per video preset and density mode (receive fidelity,
//! participants per browser and per page), and the generator cores a scenario needs in each mode. A mode
//! the benchmark has not measured yet has no figure ("not measured"), never a guessed one. The figures come
//! from `cargo bench --bench capacity` (docs/benchmarks.md): one browser per participant per preset, and
//! the density modes measured side by side at `small` (their gain is applied to the other presets).
//! Video only: audio costs a headless browser more, so scenarios with audio senders need more.

use super::{ReceiveVideo, Scenario};

/// One way of packing participants onto generators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// `[load] participants_per_browser` (pages per browser).
    pub per_browser: u32,
    /// `[load] participants_per_page` (clients per page).
    pub per_page: u32,
    /// `[media] receive_video`.
    pub receive_video: ReceiveVideo,
}

impl Mode {
    /// How the mode reads in `validate` and the docs.
    pub fn describe(self) -> String {
        let packing = match (self.per_browser.max(1), self.per_page.max(1)) {
            (1, 1) => "one browser per participant".to_string(),
            (n, 1) => format!("{n} per browser"),
            (1, c) => format!("{c} per page"),
            (n, c) => format!("{c} per page, {n} pages per browser"),
        };
        format!(
            "{packing}, receive_video = \"{}\"",
            self.receive_video.as_str()
        )
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

/// The measured gain of a density mode over one browser per participant at `small`
/// (docs/benchmarks.md, "Density modes"): `(per_browser, per_page, receive_video, gain)`; `None`: the
/// mode is in the benchmark but has not been measured yet.
/// Measured 2026-11-30 on a shared, busy machine (largest valid N at `small`: 12, 12, 16, 20).
const GAIN: &[(u32, u32, ReceiveVideo, Option<f64>)] = &[
    (1, 1, ReceiveVideo::Decode, Some(1.0)),
    (4, 1, ReceiveVideo::Decode, Some(1.0)),
    (1, 6, ReceiveVideo::Decode, None),
    (1, 1, ReceiveVideo::Discard, Some(16.0 / 12.0)),
    (4, 1, ReceiveVideo::Discard, Some(20.0 / 12.0)),
    (1, 6, ReceiveVideo::Discard, None),
];

/// The gain of `mode` over one browser per participant: the measured row with the same receive
/// fidelity and the nearest packing at or below it (clients per page first, then per browser);
/// `None` when that row is not measured.
fn gain(mode: Mode) -> Option<f64> {
    GAIN.iter()
        .filter(|(per, page, rv, _)| {
            *rv == mode.receive_video
                && *page <= mode.per_page.max(1)
                && *per <= mode.per_browser.max(1)
        })
        .max_by_key(|(per, page, _, _)| (*page, *per))
        .map_or(Some(1.0), |(_, _, _, g)| *g)
}

/// Participants per core for a preset in a mode (`None`: not measured).
pub fn per_core(video: &str, mode: Mode) -> Option<f64> {
    gain(mode).map(|g| base_per_core(video) * g)
}

/// The modes `validate` compares: the scenario's own, and each one the benchmark runs.
pub fn modes(s: &Scenario) -> Vec<Mode> {
    let own = Mode {
        per_browser: s.load.participants_per_browser.max(1),
        per_page: s.load.participants_per_page.max(1),
        receive_video: s.media.receive_video,
    };
    let mut v = vec![own];
    for (per, page, rv, _) in GAIN {
        let m = Mode {
            per_browser: *per,
            per_page: *page,
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
        let one = Mode {
            per_browser: 1,
            per_page: 1,
            receive_video: ReceiveVideo::Decode,
        };
        assert_eq!(cores_needed(&s, 300, one), Some(38), "300 / 8 per core");
        s.media.video = "vga".into();
        assert_eq!(cores_needed(&s, 300, one), Some(75));
        let packed = Mode {
            per_browser: 3,
            per_page: 1,
            receive_video: ReceiveVideo::Discard,
        };
        assert_eq!(
            gain(packed),
            gain(Mode {
                per_browser: 1,
                ..packed
            }),
            "nearest packing below"
        );
        assert!(per_core("small", packed).unwrap() > per_core("small", one).unwrap());
        s.media.video = "small".into();
        let dense = Mode {
            per_browser: 4,
            per_page: 1,
            receive_video: ReceiveVideo::Discard,
        };
        assert_eq!(cores_needed(&s, 300, dense), Some(23), "300 / (8 × 20/12)");
        let pages = Mode {
            per_browser: 2,
            per_page: 8,
            receive_video: ReceiveVideo::Discard,
        };
        assert_eq!(
            gain(pages),
            None,
            "clients per page: not measured, never a guess"
        );
        assert_eq!(cores_needed(&s, 300, pages), None);
        assert_eq!(
            pages.describe(),
            "8 per page, 2 pages per browser, receive_video = \"discard\""
        );
        let few = Mode {
            per_page: 3,
            ..pages
        };
        assert_eq!(
            gain(few),
            gain(Mode { per_page: 1, ..few }),
            "below the measured page size"
        );
        let m = modes(&s);
        assert_eq!(m[0], one, "the scenario's own mode first");
        assert_eq!(m.len(), GAIN.len());
    }
}
