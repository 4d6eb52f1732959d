//! The client figures as Prometheus histograms: each one a column of `client_stats.csv` (or
//! `participants.csv`), observed from the very rows the results directory gets, with buckets around
//! the values conferences produce.
//!
//! **Adding a figure** (video delay, freezes, once `ClientStatRow` carries them): add a [`Figure`]
//! to [`FIGURES`] with its column and buckets; it is registered, observed and documented
//! (docs/scenario.md "Metric names") from that one line.

use crate::results::ClientStatRow;

/// One client figure exported as a histogram per conference, bridge, direction and kind.
pub struct Figure {
    /// Series name after the `loadtest_` prefix (the CSV column, with `client_`).
    pub name: &'static str,
    /// HELP text.
    pub help: &'static str,
    /// Bucket upper bounds (`+Inf` is implicit).
    pub buckets: &'static [f64],
    /// The value of a row, when the row has one for this figure.
    pub value: fn(&ClientStatRow) -> Option<f64>,
}

/// Frame rates: fine steps around the usual 15, 24, 25 and 30 fps cameras.
pub const FPS_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 8.0, 10.0, 12.0, 13.0, 14.0, 15.0, 16.0, 20.0, 24.0, 25.0, 28.0, 30.0, 45.0,
    60.0,
];
/// Bitrates, kbit/s: audio (~30–60) up to HD simulcast layers.
pub const BITRATE_BUCKETS: &[f64] = &[
    16.0, 32.0, 64.0, 100.0, 150.0, 200.0, 300.0, 500.0, 750.0, 1000.0, 1500.0, 2000.0, 3000.0,
    5000.0,
];
/// Loss ratios: exactly none, then 0.1 % to half.
pub const LOSS_BUCKETS: &[f64] = &[0.0, 0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5];
/// Jitter, ms.
pub const JITTER_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 200.0, 500.0,
];
/// Round-trip times, ms: loopback to intercontinental and overloaded.
pub const RTT_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 20.0, 50.0, 100.0, 150.0, 200.0, 300.0, 500.0, 1000.0, 2000.0,
];
/// Join times, ms (navigation until in the room; `[timeouts] join` defaults to 30 s).
pub const JOIN_BUCKETS: &[f64] = &[
    500.0, 1000.0, 2000.0, 3000.0, 5000.0, 7500.0, 10000.0, 15000.0, 20000.0, 30000.0, 45000.0,
    60000.0,
];

/// The per-stream figures, as `client_stats.csv` has them.
pub const FIGURES: &[Figure] = &[
    Figure {
        name: "client_fps",
        help: "Frames per second of a video stream over the last stats interval (client_stats.csv fps)",
        buckets: FPS_BUCKETS,
        value: |r| r.video().then_some(r.fps).flatten(),
    },
    Figure {
        name: "client_bitrate_kbps",
        help: "Bitrate of a stream over the last stats interval, kbit/s (client_stats.csv bitrate_kbps)",
        buckets: BITRATE_BUCKETS,
        value: |r| r.bitrate_kbps,
    },
    Figure {
        name: "client_loss_ratio",
        help: "Packet loss of a stream over the last stats interval, 0..1 (client_stats.csv loss_ratio)",
        buckets: LOSS_BUCKETS,
        value: |r| r.loss_ratio,
    },
    Figure {
        name: "client_jitter_ms",
        help: "Jitter of a stream, ms (client_stats.csv jitter_ms)",
        buckets: JITTER_BUCKETS,
        value: |r| r.jitter_ms,
    },
    Figure {
        name: "client_rtt_ms",
        help: "Round-trip time, ms (client_stats.csv rtt_ms)",
        buckets: RTT_BUCKETS,
        value: |r| r.rtt_ms,
    },
    // Video delay and freezes: add their figures here once `ClientStatRow` measures them.
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_rise_and_figures_read_their_column() {
        for f in FIGURES {
            assert!(
                f.buckets.windows(2).all(|w| w[0] < w[1]),
                "{} buckets must rise",
                f.name
            );
        }
        assert!(JOIN_BUCKETS.windows(2).all(|w| w[0] < w[1]));
        let video = ClientStatRow {
            direction: "recv".into(),
            kind: "video".into(),
            fps: Some(14.5),
            bitrate_kbps: Some(280.0),
            ..Default::default()
        };
        let audio = ClientStatRow {
            kind: "audio".into(),
            fps: Some(50.0),
            ..video.clone()
        };
        let fps = &FIGURES[0];
        assert_eq!((fps.value)(&video), Some(14.5));
        assert_eq!((fps.value)(&audio), None, "audio has no frame rate");
        assert_eq!((FIGURES[1].value)(&video), Some(280.0));
    }
}
