//! The received-stream values kept for percentiles, shared by the main figures and the per-cohort
//! table.

use crate::results::ClientStatRow;

/// Values kept for percentiles (of received streams).
#[derive(Default)]
pub(super) struct Bag {
    pub(super) fps: Vec<f32>,
    pub(super) bitrate: Vec<f32>,
    pub(super) loss: Vec<f32>,
    pub(super) jitter: Vec<f32>,
    pub(super) rtt: Vec<f32>,
}

impl Bag {
    /// One received stream's row.
    pub(super) fn push(&mut self, r: &ClientStatRow) {
        if r.video() {
            self.fps.extend(r.fps.map(|v| v as f32));
            self.bitrate.extend(r.bitrate_kbps.map(|v| v as f32));
        }
        self.loss.extend(r.loss_ratio.map(|v| v as f32));
        self.jitter.extend(r.jitter_ms.map(|v| v as f32));
        self.rtt.extend(r.rtt_ms.map(|v| v as f32));
    }
}
