//! Deltas against a baseline run, kept apart from collection: two summaries in, a table out. A change
//! is a regression when it goes the bad way by more than the relative tolerance *and* by more than the
//! metric's noise floor (so 0 → 0.1 % loss is not a 100 % regression).

use serde::{Deserialize, Serialize};

use crate::analysis::Summary;

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
}

/// The compared metrics: name (as in summary.json), unit, better, noise floor, value.
type Metric = (
    &'static str,
    &'static str,
    Better,
    f64,
    fn(&Summary) -> Option<f64>,
);

/// One [`Metric`]: its summary.json path is the field path it reads.
macro_rules! metric {
    ($group:ident . $field:ident, $unit:literal, $better:ident, $floor:literal) => {
        (
            concat!(stringify!($group), ".", stringify!($field)),
            $unit,
            Better::$better,
            $floor,
            |s: &Summary| s.$group.$field,
        )
    };
}

const METRICS: &[Metric] = &[
    metric!(participants.join_ratio, "", Higher, 0.0),
    metric!(participants.join_ms_p50, "ms", Lower, 250.0),
    metric!(participants.join_ms_p95, "ms", Lower, 250.0),
    metric!(client.recv_fps_p50, "fps", Higher, 1.0),
    metric!(client.recv_fps_p5, "fps", Higher, 1.0),
    metric!(client.recv_bitrate_kbps_p50, "kbit/s", Higher, 20.0),
    metric!(client.loss_p95, "", Lower, 0.005),
    metric!(client.jitter_ms_p95, "ms", Lower, 5.0),
    metric!(client.rtt_ms_p95, "ms", Lower, 10.0),
    metric!(table.jvb_max_cpu_cores, "cores", Lower, 0.05),
    metric!(table.jvb_max_memory_mib, "MiB", Lower, 20.0),
    metric!(table.jvb_max_tx_mbytes_per_s, "MB/s", Lower, 0.1),
    metric!(table.generator_cpu_ratio, "", Lower, 0.05),
];

/// One compared metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// The summary.json path of the metric.
    pub metric: String,
    /// Its unit.
    pub unit: String,
    /// This run.
    pub current: Option<f64>,
    /// The baseline run.
    pub baseline: Option<f64>,
    /// current − baseline.
    pub delta: Option<f64>,
    /// The change relative to the baseline (a ratio: -0.2 is 20 % lower).
    pub relative_change: Option<f64>,
    /// Worse than the baseline beyond the tolerance and the noise floor.
    pub regression: bool,
}

/// The comparison with a baseline run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The baseline results directory, as given.
    pub baseline: String,
    /// The baseline's scenario, to warn when it differs.
    pub baseline_scenario: String,
    /// Relative tolerance (0..1).
    pub tolerance: f64,
    /// Every metric both runs could have.
    pub deltas: Vec<Delta>,
}

impl Comparison {
    /// The regressions, as verdict reasons.
    pub fn regressions(&self) -> Vec<String> {
        self.deltas
            .iter()
            .filter(|d| d.regression)
            .map(|d| {
                format!(
                    "{} regressed: {} vs {} in the baseline ({:+.1} %)",
                    d.metric,
                    fmt(d.current),
                    fmt(d.baseline),
                    d.relative_change.unwrap_or(f64::NAN) * 100.0
                )
            })
            .collect()
    }
}

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.3}"))
}

/// Compare `current` with `baseline`; `tolerance` is relative (0.1 = 10 %).
pub fn compare(current: &Summary, baseline: &Summary, name: &str, tolerance: f64) -> Comparison {
    let deltas = METRICS
        .iter()
        .map(|(metric, unit, better, floor, get)| {
            let (c, b) = (get(current), get(baseline));
            let delta = c.zip(b).map(|(c, b)| c - b);
            let relative_change = delta
                .zip(b)
                .and_then(|(d, b)| (b.abs() > f64::EPSILON).then(|| d / b.abs()));
            let worse = delta.map(|d| match better {
                Better::Higher => -d,
                Better::Lower => d,
            });
            let regression = match (worse, b) {
                // A metric the baseline had and this run lost is a regression too.
                (None, Some(_)) => c.is_none(),
                (Some(w), Some(b)) => w > *floor && w > tolerance * b.abs(),
                _ => false,
            };
            Delta {
                metric: metric.to_string(),
                unit: unit.to_string(),
                current: c,
                baseline: b,
                delta,
                relative_change,
                regression,
            }
        })
        .collect();
    Comparison {
        baseline: name.to_string(),
        baseline_scenario: baseline.tested.scenario.clone(),
        tolerance,
        deltas,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta<'a>(c: &'a Comparison, m: &str) -> &'a Delta {
        c.deltas.iter().find(|d| d.metric == m).unwrap()
    }

    #[test]
    fn regressions_respect_direction_tolerance_and_noise_floor() {
        let mut base = Summary::default();
        base.client.recv_fps_p50 = Some(15.0);
        base.participants.join_ms_p95 = Some(2000.0);
        base.client.loss_p95 = Some(0.0);
        base.table.jvb_max_cpu_cores = Some(2.0);
        let mut cur = base.clone();
        cur.client.recv_fps_p50 = Some(12.0); // 20 % worse, 3 fps: regression
        cur.participants.join_ms_p95 = Some(2150.0); // 7.5 % worse: within 10 %
        cur.client.loss_p95 = Some(0.003); // infinitely worse, but under the 0.5 % floor
        cur.table.jvb_max_cpu_cores = Some(1.0); // better
        let c = compare(&cur, &base, "b", 0.10);
        assert!(delta(&c, "client.recv_fps_p50").regression);
        assert_eq!(delta(&c, "client.recv_fps_p50").relative_change, Some(-0.2));
        assert!(!delta(&c, "participants.join_ms_p95").regression);
        assert!(!delta(&c, "client.loss_p95").regression);
        assert_eq!(delta(&c, "client.loss_p95").relative_change, None);
        assert!(!delta(&c, "table.jvb_max_cpu_cores").regression);
        assert_eq!(c.regressions().len(), 1);
        // Higher join time beyond the tolerance and the floor.
        cur.participants.join_ms_p95 = Some(2600.0);
        assert!(delta(&compare(&cur, &base, "b", 0.10), "participants.join_ms_p95").regression);
        // A metric the baseline measured and this run did not.
        cur.client.recv_fps_p50 = None;
        assert!(delta(&compare(&cur, &base, "b", 0.10), "client.recv_fps_p50").regression);
    }
}
