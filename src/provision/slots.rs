//! Browser slots per load server for the density mode a test runs at: participants per core of the
//! mode (the documented table × the measured density gains, `scenario::density`), divided by the
//! participants one browser hosts. With tabs, one slot is one browser hosting several participants.
//! Pure: no I/O.

use crate::scenario::density::{self, Fidelity};

/// How many Grid slots a node gets, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Slots {
    /// The mode sized for.
    pub fidelity: Fidelity,
    /// Participants per core in that mode.
    pub per_core: f64,
    /// Where that figure comes from.
    pub source: String,
    /// Why the figure does not quite hold for the mode (audio not measured), if so.
    pub caveat: Option<String>,
    /// `--slots`: a fixed number per node instead.
    pub fixed: Option<u32>,
}

impl Slots {
    /// Slots for `wanted` from the density table, or `fixed` (`--slots`).
    pub fn for_mode(wanted: &Fidelity, fixed: Option<u32>) -> Slots {
        let f = density::documented(wanted);
        Slots {
            fidelity: wanted.clone(),
            per_core: f.per_core,
            caveat: f.caveat(wanted),
            source: f.source,
            fixed,
        }
    }

    /// Participants one slot (one browser) hosts.
    pub fn per_browser(&self) -> u32 {
        self.fidelity.mode.packing.per_slot()
    }

    /// Slots of a node with `cores`: the fixed number, else ⌊cores × participants per core ÷
    /// participants per browser⌋; at least 1.
    pub fn per_node(&self, cores: u32) -> u32 {
        self.fixed
            .unwrap_or_else(|| {
                (f64::from(cores) * self.per_core / f64::from(self.per_browser())).floor() as u32
            })
            .max(1)
    }

    /// How any node is sized, in words.
    pub fn rule(&self) -> String {
        if let Some(n) = self.fixed {
            return format!("{n} per node (--slots)");
        }
        let mut line = format!(
            "cores × {:.1} participants per core ÷ {} per browser, at {} ({})",
            self.per_core,
            self.per_browser(),
            self.fidelity.describe(),
            self.source
        );
        if let Some(c) = &self.caveat {
            line.push_str("; ");
            line.push_str(c);
        }
        line
    }

    /// One line saying how a node of `cores` is sized.
    pub fn describe(&self, cores: u32) -> String {
        let n = self.per_node(cores);
        format!(
            "{n} browser slots per {cores}-core node, {} participants: {}",
            n * self.per_browser(),
            self.rule()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ReceiveVideo;
    use crate::scenario::density::{Mode, Packing};

    fn mode(video: &str, per_browser: u32, rv: ReceiveVideo) -> Fidelity {
        Fidelity {
            video: video.into(),
            audio: false,
            receive_audio: false,
            mode: Mode {
                packing: Packing::tabs(per_browser),
                receive_video: rv,
            },
        }
    }

    #[test]
    fn slots_follow_the_preset_the_packing_and_the_receive_fidelity() {
        let one = Slots::for_mode(&mode("small", 1, ReceiveVideo::Decode), None);
        assert_eq!(one.per_node(2), 16, "8 per core, one browser each");
        assert_eq!(one.caveat, None, "video only: what the table measured");
        assert_eq!(
            Slots::for_mode(&mode("vga", 1, ReceiveVideo::Decode), None).per_node(16),
            64
        );
        assert_eq!(
            Slots::for_mode(&mode("hd", 1, ReceiveVideo::Decode), None).per_node(3),
            6
        );
        // 4 tabs, decoding: 8 × 8/12 per core (the measured gain 0.67), ⌊2 × 5.33 / 4⌋ = 2 browsers.
        let tabs = Slots::for_mode(&mode("small", 4, ReceiveVideo::Decode), None);
        assert_eq!(tabs.per_node(2), 2);
        // 4 tabs, discarding: 8 × 12/12 per core, ⌊2 × 8 / 4⌋ = 4 browsers hosting 16.
        let dense = Slots::for_mode(&mode("small", 4, ReceiveVideo::Discard), None);
        assert_eq!(dense.per_node(2), 4);
        let line = dense.describe(2);
        assert!(
            line.starts_with("4 browser slots per 2-core node, 16 participants: cores × 8.0"),
            "{line}"
        );
        assert!(
            line.contains("receive_video = discard, 4 per browser"),
            "{line}"
        );
        // Audio is not in the table: the figure is used, and said to be a lower bound.
        let audio = Fidelity {
            audio: true,
            ..mode("small", 1, ReceiveVideo::Decode)
        };
        let s = Slots::for_mode(&audio, None);
        assert_eq!(s.per_node(2), 16);
        assert!(
            s.describe(2).contains("measured without audio"),
            "{}",
            s.describe(2)
        );
        // --slots wins; never 0.
        assert_eq!(Slots::for_mode(&audio, Some(2)).per_node(16), 2);
        assert_eq!(Slots::for_mode(&audio, Some(0)).per_node(16), 1);
        assert_eq!(
            Slots::for_mode(&mode("hd", 4, ReceiveVideo::Decode), None).per_node(1),
            1
        );
    }
}
