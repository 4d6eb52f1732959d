//! What people see: end-to-end video delay, freezes and picture quality for every received stream.
//!
//! Every generated camera frame carries a code (`media::code`). Each page runs `assets/js/quality.js`,
//! which records when each code leaves its camera and reads the code of every video frame it receives;
//! it reports freezes, skipped and repeated frames and PSNR/SSIM itself, and returns compact (code,
//! time) samples. This module holds what the orchestrator does with them: the
//! shapes the page returns ([`Take`]), the browsers' clock offsets ([`clock`]), and the join of each
//! receiver's samples with the sender's send times into delays ([`DelayJoin`]). See docs/quality.md.

mod alias;
pub mod clock;
mod join;
mod ledger;
mod take;

pub use alias::Aliases;
pub use clock::{ClockOffset, RoundTrip};
pub use join::{DelayJoin, DelaySample};
pub use ledger::Ledger;
pub use take::{Freeze, RecvStream, SentTrack, Take};

use crate::results::VideoQualityRow;

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

/// The `video_quality.csv` row of one received stream over one sampling interval, as the page measured
/// it: counts, freezes and PSNR/SSIM percentiles (`ts`, `participant` and the delay figures are the
/// [`Ledger`]'s to fill).
pub fn figures(stream: &RecvStream) -> VideoQualityRow {
    let p = |v: &[f64], q: f64, digits: i32| {
        let scale = 10f64.powi(digits);
        crate::stats::percentile(&mut v.to_vec(), q).map(|x| (x * scale).round() / scale)
    };
    VideoQualityRow {
        peer: stream.peer.clone().unwrap_or_default(),
        frames: stream.frames,
        codes: stream.codes,
        garbled: stream.garbled,
        skipped: stream.skipped,
        repeated: stream.repeated,
        freeze_count: stream.freeze_count,
        freeze_ms: stream.freeze_ms.round(),
        observed_ms: stream.observed_ms.round(),
        psnr_db_p5: p(&stream.psnr, 0.05, 2),
        psnr_db_p50: p(&stream.psnr, 0.5, 2),
        ssim_p5: p(&stream.ssim, 0.05, 4),
        ssim_p50: p(&stream.ssim, 0.5, 4),
        ..Default::default()
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
        let f = figures(&s);
        assert_eq!((f.peer.as_str(), f.codes), ("p1", 98));
        assert_eq!((f.psnr_db_p5, f.psnr_db_p50), (Some(12.0), Some(40.0)));
        assert_eq!(f.ssim_p5, Some(0.98));
        assert_eq!(f.freeze_share(), Some(0.05));
        assert_eq!(VideoQualityRow::default().freeze_share(), None);
        assert_eq!(
            delay_percentiles(&[30.0, 10.0, 20.0]),
            (Some(20.0), Some(30.0))
        );
    }

    #[test]
    fn scripts_name_the_page_api() {
        assert!(QUALITY_JS.contains("window.__ltQuality = meter("));
        assert!(QUALITY_JS.contains("window.__ltQualityFor = function (lt)"));
        assert!(START_SCRIPT.contains("window.__ltQuality.start("));
        assert!(TAKE_SCRIPT.contains("window.__ltQuality.take({max_samples: 64})"));
    }
}
