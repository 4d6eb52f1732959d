//! `video_quality.csv`: what people saw of every received video stream, one row per stream and stats
//! sample (docs/quality.md explains how each figure is measured). Written only by runs that measure
//! quality (`[media] measure_quality`); readers treat a missing file as "not measured".

use serde::{Deserialize, Serialize};

use crate::schedule::ParticipantId;

/// `video_quality.csv`.
pub const VIDEO_QUALITY_CSV: &str = "video_quality.csv";

/// One received video stream over one stats interval.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct VideoQualityRow {
    /// Sample time (RFC 3339, UTC, milliseconds).
    pub ts: String,
    /// The receiving participant.
    pub participant: ParticipantId,
    /// The receiving page's name for the sender (as in `client_stats.csv`'s `peer`: on Jitsi the
    /// sender's endpoint id); empty when unknown.
    pub peer: String,
    /// The sending participant (`peer` resolved: on Jitsi through the endpoint id each page
    /// registers); empty when no participant of the run sent it, or before its page first reported.
    /// Absent in older files.
    #[serde(default)]
    pub sender: String,
    /// Frames received in the interval.
    pub frames: u64,
    /// Frames whose code was read and valid.
    pub codes: u64,
    /// Frames whose code was unreadable or failed its checksum.
    pub garbled: u64,
    /// Camera frames that never arrived.
    pub skipped: u64,
    /// Frames received again with the same picture.
    pub repeated: u64,
    /// Freezes that began in the interval.
    pub freeze_count: u32,
    /// Frozen time in the interval (ms).
    pub freeze_ms: f64,
    /// Time the stream was watched in the interval (ms): `freeze_ms / observed_ms` is its freeze share.
    pub observed_ms: f64,
    /// PSNR of luma against the sent picture, 5th percentile of the interval's samples (dB).
    pub psnr_db_p5: Option<f64>,
    /// PSNR median (dB).
    pub psnr_db_p50: Option<f64>,
    /// SSIM of luma, 5th percentile (0..1).
    pub ssim_p5: Option<f64>,
    /// SSIM median (0..1).
    pub ssim_p50: Option<f64>,
    /// End-to-end delay (camera capture to decoded frame in the receiving page), median of the frames
    /// joined since the previous row (ms).
    pub delay_ms_p50: Option<f64>,
    /// End-to-end delay, 95th percentile (ms).
    pub delay_ms_p95: Option<f64>,
    /// The two browsers' clock uncertainty: true delays are within ± this (ms).
    pub delay_bound_ms: Option<f64>,
    /// Frames the delay figures come from.
    pub delay_samples: u32,
}

impl VideoQualityRow {
    /// Share of the watched time the picture was frozen (0..1); `None` when nothing was watched.
    pub fn freeze_share(&self) -> Option<f64> {
        (self.observed_ms > 0.0).then(|| (self.freeze_ms / self.observed_ms).clamp(0.0, 1.0))
    }
}
