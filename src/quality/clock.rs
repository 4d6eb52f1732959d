//! A browser's clock against the orchestrator's, by round trips through WebDriver (Cristian's method).
//!
//! Each round trip reads the orchestrator's wall clock, asks the page for `performance.timeOrigin +
//! performance.now()`, and reads the wall clock again. Whenever in the trip the page answered, its clock
//! minus the trip's midpoint is off from the true offset by at most half the trip, so the trip with the
//! smallest round-trip time gives the tightest bound. Page times convert to orchestrator time by
//! subtracting the offset; a delay between two browsers is then known within the sum of their bounds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// WebDriver `execute` body reading the page clock (ms since the Unix epoch).
pub const CLOCK_SCRIPT: &str = "return performance.timeOrigin + performance.now();";

/// One round trip, all in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundTrip {
    /// Orchestrator clock when the request left.
    pub sent_ms: f64,
    /// Page clock when the page answered.
    pub browser_ms: f64,
    /// Orchestrator clock when the answer arrived.
    pub received_ms: f64,
}

/// A browser clock's offset to the orchestrator's: `browser = orchestrator + offset_ms`, true within
/// ± `bound_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockOffset {
    /// Page clock minus orchestrator clock (ms).
    pub offset_ms: f64,
    /// Half the round-trip time of the sample the offset came from (ms).
    pub bound_ms: f64,
}

impl ClockOffset {
    /// No offset, no uncertainty: for times already on the orchestrator's clock.
    pub const ZERO: ClockOffset = ClockOffset {
        offset_ms: 0.0,
        bound_ms: 0.0,
    };

    /// A page time on the orchestrator's clock.
    pub fn to_orchestrator(&self, page_ms: f64) -> f64 {
        page_ms - self.offset_ms
    }
}

/// The offset from the round trip with the smallest round-trip time; `None` without a usable trip (no
/// trips, or only ones whose times are not finite or run backwards).
pub fn cristian(trips: &[RoundTrip]) -> Option<ClockOffset> {
    trips
        .iter()
        .filter(|t| {
            [t.sent_ms, t.browser_ms, t.received_ms]
                .iter()
                .all(|v| v.is_finite())
                && t.received_ms >= t.sent_ms
        })
        .min_by(|a, b| (a.received_ms - a.sent_ms).total_cmp(&(b.received_ms - b.sent_ms)))
        .map(|t| ClockOffset {
            offset_ms: t.browser_ms - (t.sent_ms + t.received_ms) / 2.0,
            bound_ms: (t.received_ms - t.sent_ms) / 2.0,
        })
}

/// The orchestrator's wall clock in milliseconds since the Unix epoch.
pub fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
        * 1000.0
}

/// Estimate the offset of `client`'s page clock with `rounds` round trips (at least one). Fails when
/// every round trip failed or returned something other than a number.
pub async fn measure(
    client: &fantoccini::Client,
    rounds: usize,
) -> Result<ClockOffset, fantoccini::error::CmdError> {
    let mut trips = Vec::with_capacity(rounds.max(1));
    let mut last_err = None;
    for _ in 0..rounds.max(1) {
        let sent_ms = now_ms();
        match client.execute(CLOCK_SCRIPT, vec![]).await {
            Ok(v) => {
                let received_ms = now_ms();
                if let Some(browser_ms) = v.as_f64() {
                    trips.push(RoundTrip {
                        sent_ms,
                        browser_ms,
                        received_ms,
                    });
                }
            }
            Err(e) => last_err = Some(e),
        }
    }
    cristian(&trips).ok_or_else(|| {
        last_err.unwrap_or_else(|| {
            fantoccini::error::CmdError::NotJson("page clock: not a number".into())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn trip(sent_ms: f64, browser_ms: f64, received_ms: f64) -> RoundTrip {
        RoundTrip {
            sent_ms,
            browser_ms,
            received_ms,
        }
    }

    #[test]
    fn the_fastest_round_trip_wins() {
        let trips = [
            trip(1000.0, 1530.0, 1040.0),
            trip(2000.0, 2502.0, 2004.0),
            trip(3000.0, 3600.0, 3100.0),
        ];
        let o = cristian(&trips).unwrap();
        assert_eq!(o.offset_ms, 500.0);
        assert_eq!(o.bound_ms, 2.0);
        assert_eq!(o.to_orchestrator(2502.0), 2002.0);
        // A browser behind the orchestrator has a negative offset.
        let o = cristian(&[trip(1000.0, 900.0, 1010.0)]).unwrap();
        assert_eq!((o.offset_ms, o.bound_ms), (-105.0, 5.0));
    }

    #[test]
    fn unusable_trips_are_ignored() {
        assert_eq!(cristian(&[]), None);
        assert_eq!(cristian(&[trip(10.0, 5.0, 9.0)]), None, "runs backwards");
        assert_eq!(cristian(&[trip(10.0, f64::NAN, 12.0)]), None);
        let o = cristian(&[trip(10.0, f64::NAN, 10.5), trip(10.0, 12.0, 14.0)]).unwrap();
        assert_eq!(o.offset_ms, 0.0);
    }

    proptest! {
        /// Whatever the split of the trip between request and answer, the true offset is within the bound.
        #[test]
        fn the_true_offset_is_within_the_bound(
            offset in -1e6f64..1e6,
            there in prop::collection::vec(0.0f64..50.0, 1..8),
            back in prop::collection::vec(0.0f64..50.0, 1..8),
        ) {
            let trips: Vec<RoundTrip> = there.iter().zip(&back).enumerate().map(|(i, (a, b))| {
                let sent = 1.7e12 + i as f64 * 1000.0;
                trip(sent, sent + a + offset, sent + a + b)
            }).collect();
            let o = cristian(&trips).unwrap();
            prop_assert!((o.offset_ms - offset).abs() <= o.bound_ms + 1e-3);
            let min_rtt = there.iter().zip(&back).map(|(a, b)| a + b).fold(f64::MAX, f64::min);
            prop_assert!((o.bound_ms - min_rtt / 2.0).abs() < 1e-3);
        }
    }
}
