//! What people see: end-to-end video delay, freezes and picture quality for every received stream.
//!
//! Every generated camera frame carries a code (`media::code`). Each page runs `assets/js/quality.js`,
//! which records when each code leaves its camera and reads the code of every video frame it receives;
//! it reports freezes, skipped and repeated frames and PSNR/SSIM itself, and returns compact (code,
//! time) samples. This module holds what the orchestrator does with them: the
//! shapes the page returns ([`Take`]), the browsers' clock offsets ([`clock`]), and the join of each
//! receiver's samples with the sender's send times into delays ([`DelayJoin`]). See docs/quality.md.

pub mod clock;
mod join;
mod ledger;
mod take;

pub use clock::{ClockOffset, RoundTrip};
pub use join::{DelayJoin, DelaySample};
pub use ledger::Ledger;
pub use take::{Freeze, RecvStream, SentTrack, Take};

/// The page script: defines `window.__ltQuality`. The Janus page loads it as `quality.js`; on other
/// targets inject it with WebDriver `execute`, then call [`START_SCRIPT`].
pub const QUALITY_JS: &str = include_str!("../../assets/js/quality.js");

/// WebDriver `execute` body that starts measuring on a page that does not start it itself (Jitsi).
/// Returns true, false when the browser lacks `MediaStreamTrackProcessor`, or null when quality.js is
/// not loaded.
pub const START_SCRIPT: &str = "return window.__ltQuality ? window.__ltQuality.start({}) : null;";

/// WebDriver `execute/async` body answering a [`Take`] (or null when quality.js is not loaded); call it
/// once per stats sample.
pub const TAKE_SCRIPT: &str = "var done = arguments[arguments.length - 1];
if (!window.__ltQuality) { done(null); } else {
  window.__ltQuality.take({max_samples: 64}).then(done, function (e) { done({v: 1, error: String(e)}); });
}";

/// Figures for one received stream over one sampling interval.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StreamFigures {
    /// Sender (the page's `peerOf` name), empty when unknown.
    pub peer: String,
    /// Frames received.
    pub frames: u64,
    /// Frames whose code was read and valid.
    pub codes: u64,
    /// Frames whose code was unreadable or failed its checksum.
    pub garbled: u64,
    /// Frames the camera produced that never arrived.
    pub skipped: u64,
    /// Frames received again with the same content.
    pub repeated: u64,
    /// Freezes that began in the interval.
    pub freeze_count: u32,
    /// Frozen time in the interval (ms).
    pub freeze_ms: f64,
    /// Time the stream was watched in the interval (ms).
    pub observed_ms: f64,
    /// PSNR of luma (dB), 5th percentile and median of the interval's samples.
    pub psnr_p5: Option<f64>,
    /// See `psnr_p5`.
    pub psnr_p50: Option<f64>,
    /// SSIM of luma (0..1), 5th percentile and median.
    pub ssim_p5: Option<f64>,
    /// See `ssim_p5`.
    pub ssim_p50: Option<f64>,
}

impl StreamFigures {
    /// The page's per-interval aggregates of `stream`.
    pub fn of(stream: &RecvStream) -> StreamFigures {
        let p = |v: &[f64], q: f64| crate::stats::percentile(&mut v.to_vec(), q);
        StreamFigures {
            peer: stream.peer.clone().unwrap_or_default(),
            frames: stream.frames,
            codes: stream.codes,
            garbled: stream.garbled,
            skipped: stream.skipped,
            repeated: stream.repeated,
            freeze_count: stream.freeze_count,
            freeze_ms: stream.freeze_ms,
            observed_ms: stream.observed_ms,
            psnr_p5: p(&stream.psnr, 0.05),
            psnr_p50: p(&stream.psnr, 0.5),
            ssim_p5: p(&stream.ssim, 0.05),
            ssim_p50: p(&stream.ssim, 0.5),
        }
    }

    /// Share of the watched time the picture was frozen (0..1); `None` when nothing was watched.
    pub fn freeze_share(&self) -> Option<f64> {
        (self.observed_ms > 0.0).then(|| (self.freeze_ms / self.observed_ms).clamp(0.0, 1.0))
    }
}

/// The 50th and 95th percentiles of a set of delays (ms): `(p50, p95)`.
pub fn delay_percentiles(delays: &[f64]) -> (Option<f64>, Option<f64>) {
    let mut v = delays.to_vec();
    (
        crate::stats::percentile(&mut v, 0.5),
        crate::stats::percentile(&mut v, 0.95),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_summarise_a_stream() {
        let s = RecvStream {
            peer: Some("p1".into()),
            frames: 100,
            codes: 98,
            garbled: 2,
            freeze_count: 1,
            freeze_ms: 500.0,
            observed_ms: 10_000.0,
            psnr: vec![40.0, 41.0, 12.0, 42.0],
            ssim: vec![0.99, 0.98],
            ..Default::default()
        };
        let f = StreamFigures::of(&s);
        assert_eq!(f.peer, "p1");
        assert_eq!((f.psnr_p5, f.psnr_p50), (Some(12.0), Some(40.0)));
        assert_eq!(f.ssim_p5, Some(0.98));
        assert_eq!(f.freeze_share(), Some(0.05));
        assert_eq!(StreamFigures::default().freeze_share(), None);
        assert_eq!(
            delay_percentiles(&[30.0, 10.0, 20.0]),
            (Some(20.0), Some(30.0))
        );
    }

    #[test]
    fn scripts_name_the_page_api() {
        assert!(QUALITY_JS.contains("window.__ltQuality = {"));
        assert!(START_SCRIPT.contains("window.__ltQuality.start("));
        assert!(TAKE_SCRIPT.contains("window.__ltQuality.take({max_samples: 64})"));
    }
}
