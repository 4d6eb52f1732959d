//! The per-bridge cost model: what the load on one bridge is in the model's terms, a non-negative
//! least-squares fit in which saturated observations are lower bounds (censored), leave-one-out error
//! and bootstrap intervals. Pure: no I/O.
//!
//! CPU (cores) = `cores_per_participant` × participants + `cores_per_forwarded_stream` × forwarded streams;
//! egress (bytes/s) = `bytes_per_second_per_participant` × participants +
//! `bytes_per_second_per_forwarded_video_stream` × forwarded video streams. `docs/plan.md` says why.

use serde::Serialize;

use crate::stats;

/// Part of one conference hosted on one bridge (all of it unless the conference is split).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slice {
    /// Participants in the whole conference.
    pub size: u32,
    /// Of them, on this bridge.
    pub local: u32,
    /// Video senders in the whole conference.
    pub senders: u32,
    /// Audio senders in the whole conference.
    pub audio_senders: u32,
    /// Video streams a participant receives at most (`channelLastN`); `None` = every sender.
    pub last_n: Option<u32>,
}

/// The load on one bridge in the model's terms. Forwarded = sent by the bridge to one receiver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Load {
    /// Participants (endpoints) on the bridge.
    pub participants: f64,
    /// Video streams the bridge forwards: Σ over its participants of min(other video senders, lastN).
    pub forwarded_video_streams: f64,
    /// Audio streams the bridge forwards: Σ over its participants of the other audio senders (lastN
    /// does not apply to audio).
    pub forwarded_audio_streams: f64,
}

impl Load {
    /// The load of these conference slices on one bridge. Senders are spread over a split conference's
    /// bridges in proportion to its participants.
    pub fn of(slices: &[Slice]) -> Load {
        let mut l = Load::default();
        for s in slices {
            let (local, size) = (s.local as f64, s.size.max(1) as f64);
            let cap = |n: f64| s.last_n.map_or(n, |ln| n.min(ln as f64));
            let senders = s.senders.min(s.size) as f64;
            let local_senders = senders * local / size;
            l.participants += local;
            l.forwarded_video_streams += local_senders * cap((senders - 1.0).max(0.0))
                + (local - local_senders) * cap(senders);
            let audio = s.audio_senders.min(s.size) as f64;
            let local_audio = audio * local / size;
            l.forwarded_audio_streams +=
                local_audio * (audio - 1.0).max(0.0) + (local - local_audio) * audio;
        }
        l
    }

    /// Audio and video streams forwarded.
    pub fn forwarded_streams(&self) -> f64 {
        self.forwarded_video_streams + self.forwarded_audio_streams
    }

    /// The CPU model's features.
    pub fn cpu_features(&self) -> Vec<f64> {
        vec![self.participants, self.forwarded_streams()]
    }

    /// The egress model's features.
    pub fn egress_features(&self) -> Vec<f64> {
        vec![self.participants, self.forwarded_video_streams]
    }
}

/// Names of the CPU model's coefficients (JSON keys), in feature order.
pub const CPU_COEFFICIENTS: [&str; 2] = ["cores_per_participant", "cores_per_forwarded_stream"];
/// Names of the egress model's coefficients (JSON keys), in feature order.
pub const EGRESS_COEFFICIENTS: [&str; 2] = [
    "bytes_per_second_per_participant",
    "bytes_per_second_per_forwarded_video_stream",
];

/// One observation as the fit sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Features, in coefficient order.
    pub x: Vec<f64>,
    /// The observed value.
    pub y: f64,
    /// `y` is a lower bound on the true value (the bridge saturated).
    pub censored: bool,
}

/// Why a model could not be fitted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    /// Fewer usable observations than the fit needs.
    #[error(
        "{target}: {have} usable observations, at least {need} needed (add runs or --observations)"
    )]
    TooFew {
        /// Which model.
        target: &'static str,
        /// Observations given.
        have: usize,
        /// Observations needed.
        need: usize,
    },
    /// A feature or value is negative, infinite or NaN.
    #[error("{target}: observation {index} has a negative or non-finite value")]
    BadValue {
        /// Which model.
        target: &'static str,
        /// Its index.
        index: usize,
    },
}

/// Censored non-negative least squares: minimise Σ (y − ŷ)² over exact points plus Σ max(0, y − ŷ)²
/// over censored points (a lower bound costs nothing once the prediction reaches it), with every
/// coefficient ≥ 0. Convex; solved by cyclic coordinate descent with exact one-dimensional steps.
#[allow(clippy::needless_range_loop)] // j names a coordinate: of b and of every row's x
pub fn fit(points: &[Point]) -> Vec<f64> {
    let k = points.first().map_or(0, |p| p.x.len());
    let mut b = vec![0.0; k];
    // Residuals y − ŷ, kept up to date as coefficients move.
    let mut r: Vec<f64> = points.iter().map(|p| p.y).collect();
    for _sweep in 0..10_000 {
        let mut moved: f64 = 0.0;
        for j in 0..k {
            // The objective along b[j] is a convex piecewise quadratic: Newton steps on the rows
            // that count (exact ones, and censored ones below their bound) converge in a few steps.
            for _ in 0..100 {
                let (mut g, mut h) = (0.0, 0.0);
                for (p, r) in points.iter().zip(&r) {
                    if !p.censored || *r > 0.0 {
                        g -= r * p.x[j];
                        h += p.x[j] * p.x[j];
                    }
                }
                if h <= 0.0 {
                    break;
                }
                let next = (b[j] - g / h).max(0.0);
                let step = next - b[j];
                b[j] = next;
                for (p, r) in points.iter().zip(r.iter_mut()) {
                    *r -= step * p.x[j];
                }
                moved = moved.max(step.abs());
                if step.abs() <= 1e-14 * (1.0 + b[j].abs()) {
                    break;
                }
            }
        }
        if moved <= 1e-13 {
            break;
        }
    }
    b
}

/// Prediction of a linear model.
pub fn predict(coef: &[f64], x: &[f64]) -> f64 {
    coef.iter().zip(x).map(|(b, x)| b * x).sum()
}

/// The error of one prediction: prediction − observed for exact points; for censored points only a
/// shortfall counts (negative), a prediction above the bound is no error.
pub fn error(pred: f64, p: &Point) -> f64 {
    if p.censored {
        (pred - p.y).min(0.0)
    } else {
        pred - p.y
    }
}

/// One row of leave-one-out cross-validation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LooRow {
    /// Prediction of the model fitted without this row.
    pub predicted: f64,
    /// The observed value.
    pub observed: f64,
    /// Whether the observed value is a lower bound.
    pub censored: bool,
    /// [`error`] of that prediction.
    pub error: f64,
}

/// Leave-one-out predictions, in the order of `points`.
pub fn leave_one_out(points: &[Point]) -> Vec<LooRow> {
    (0..points.len())
        .map(|i| {
            let rest: Vec<Point> = points
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, p)| p.clone())
                .collect();
            let pred = predict(&fit(&rest), &points[i].x);
            LooRow {
                predicted: pred,
                observed: points[i].y,
                censored: points[i].censored,
                error: error(pred, &points[i]),
            }
        })
        .collect()
}

/// Root mean square of errors.
pub fn rms(errors: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for e in errors {
        s += e * e;
        n += 1;
    }
    if n == 0 { 0.0 } else { (s / n as f64).sqrt() }
}

/// A small deterministic generator (xorshift64*), so bootstrap figures are reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// Coefficients refitted on `reps` resamples of the rows (drawn with replacement, fixed seed).
pub fn bootstrap(points: &[Point], reps: usize) -> Vec<Vec<f64>> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let n = points.len();
    (0..reps)
        .map(|_| {
            let sample: Vec<Point> = (0..n).map(|_| points[rng.below(n)].clone()).collect();
            fit(&sample)
        })
        .collect()
}

/// The central [`INTERVAL`] of values (nearest-rank percentiles, [`crate::stats`]); `NaN` bounds
/// when no value is finite.
pub fn central_interval(values: &[f64]) -> (f64, f64) {
    let mut v: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let tail = (1.0 - INTERVAL) / 2.0;
    let lo = stats::percentile(&mut v, tail).unwrap_or(f64::NAN);
    let hi = stats::percentile(&mut v, 1.0 - tail).unwrap_or(f64::NAN);
    (lo, hi)
}

/// Bootstrap resamples used for intervals.
pub const BOOTSTRAP_REPS: usize = 1000;
/// Central coverage of the reported intervals.
pub const INTERVAL: f64 = 0.9;

/// A fitted linear model with its uncertainty.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    /// Which quantity (`cpu`, `egress`).
    pub target: &'static str,
    /// Coefficient names, in feature order.
    pub names: &'static [&'static str],
    /// Point estimates.
    pub coef: Vec<f64>,
    /// Bootstrap coefficient samples.
    pub boot: Vec<Vec<f64>>,
    /// Residual standard deviation (shortfalls only for censored rows), n − k degrees of freedom.
    pub residual_sd: f64,
    /// Leave-one-out rows, in observation order.
    pub loo: Vec<LooRow>,
    /// Root mean square of the leave-one-out errors.
    pub loo_rmse: f64,
    /// Mean absolute leave-one-out error.
    pub loo_mae: f64,
    /// Points the model was fitted on.
    pub points: Vec<Point>,
}

impl Fitted {
    /// Fit, cross-validate and bootstrap.
    pub fn new(
        target: &'static str,
        names: &'static [&'static str],
        points: Vec<Point>,
    ) -> Result<Fitted, ModelError> {
        let k = names.len();
        let need = k + 2;
        if points.len() < need {
            return Err(ModelError::TooFew {
                target,
                have: points.len(),
                need,
            });
        }
        for (index, p) in points.iter().enumerate() {
            let ok = |v: f64| v.is_finite() && v >= 0.0;
            if p.x.len() != k || !p.x.iter().all(|v| ok(*v)) || !ok(p.y) {
                return Err(ModelError::BadValue { target, index });
            }
        }
        let coef = fit(&points);
        let sse: f64 = points
            .iter()
            .map(|p| error(predict(&coef, &p.x), p).powi(2))
            .sum();
        let residual_sd = (sse / (points.len() - k) as f64).sqrt();
        let loo = leave_one_out(&points);
        let loo_rmse = rms(loo.iter().map(|r| r.error));
        let loo_mae = loo.iter().map(|r| r.error.abs()).sum::<f64>() / loo.len() as f64;
        let boot = bootstrap(&points, BOOTSTRAP_REPS);
        Ok(Fitted {
            target,
            names,
            coef,
            boot,
            residual_sd,
            loo,
            loo_rmse,
            loo_mae,
            points,
        })
    }

    /// Point prediction.
    pub fn predict(&self, x: &[f64]) -> f64 {
        predict(&self.coef, x)
    }

    /// The central [`INTERVAL`] of the prediction over the bootstrap fits (parameter uncertainty).
    pub fn interval(&self, x: &[f64]) -> (f64, f64) {
        let preds: Vec<f64> = self.boot.iter().map(|b| predict(b, x)).collect();
        central_interval(&preds)
    }

    /// The central [`INTERVAL`] of each coefficient over the bootstrap fits.
    pub fn coef_intervals(&self) -> Vec<(f64, f64)> {
        (0..self.coef.len())
            .map(|j| {
                let v: Vec<f64> = self.boot.iter().map(|b| b[j]).collect();
                central_interval(&v)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(size: u32, senders: u32, last_n: Option<u32>) -> Slice {
        Slice {
            size,
            local: size,
            senders,
            audio_senders: senders,
            last_n,
        }
    }

    #[test]
    fn forwarded_streams_follow_last_n_and_senders() {
        let l = Load::of(&[whole(8, 8, None)]);
        assert_eq!(l.participants, 8.0);
        assert_eq!(l.forwarded_video_streams, 56.0);
        assert_eq!(l.forwarded_audio_streams, 56.0);
        let l = Load::of(&[whole(32, 32, Some(5))]);
        assert_eq!(l.forwarded_video_streams, 160.0);
        assert_eq!(l.forwarded_audio_streams, 992.0, "lastN does not cap audio");
        // 10 people, 3 send: senders get 2 each, receivers 3 each.
        let l = Load::of(&[whole(10, 3, Some(5))]);
        assert_eq!(l.forwarded_video_streams, 3.0 * 2.0 + 7.0 * 3.0);
        // Half of a conference on this bridge: half its participants, half the streams out.
        let half = Load::of(&[Slice {
            local: 5,
            ..whole(10, 10, None)
        }]);
        assert_eq!(half.participants, 5.0);
        assert_eq!(half.forwarded_video_streams, 45.0);
    }

    #[test]
    fn fit_recovers_exact_coefficients() {
        let truth = [0.1, 0.01];
        let points: Vec<Point> = [(8.0, 100.0), (16.0, 300.0), (4.0, 20.0), (30.0, 900.0)]
            .iter()
            .map(|&(a, b)| Point {
                x: vec![a, b],
                y: truth[0] * a + truth[1] * b,
                censored: false,
            })
            .collect();
        let b = fit(&points);
        assert!(
            (b[0] - 0.1).abs() < 1e-6 && (b[1] - 0.01).abs() < 1e-6,
            "{b:?}"
        );
    }

    #[test]
    fn coefficients_stay_non_negative() {
        // y falls with the second feature: unconstrained least squares would make it negative.
        let points: Vec<Point> = [(1.0, 0.0, 2.0), (2.0, 1.0, 3.0), (3.0, 5.0, 2.0)]
            .iter()
            .map(|&(a, b, y)| Point {
                x: vec![a, b],
                y,
                censored: false,
            })
            .collect();
        let b = fit(&points);
        assert!(b.iter().all(|v| *v >= 0.0), "{b:?}");
        assert_eq!(b[1], 0.0);
    }

    #[test]
    fn a_censored_point_below_the_prediction_costs_nothing() {
        let mut points: Vec<Point> = (1..=4)
            .map(|i| Point {
                x: vec![i as f64],
                y: 2.0 * i as f64,
                censored: false,
            })
            .collect();
        points.push(Point {
            x: vec![5.0],
            y: 1.0,
            censored: true,
        });
        assert!((fit(&points)[0] - 2.0).abs() < 1e-9);
        // The same value as an exact point drags the slope down.
        points[4].censored = false;
        assert!(fit(&points)[0] < 1.9);
    }

    #[test]
    fn central_intervals_are_measured_values() {
        let v: Vec<f64> = (1..=20).map(f64::from).rev().collect();
        // 90 %: the 5th and 95th nearest-rank percentiles of 20 values are ranks 1 and 19.
        assert_eq!(central_interval(&v), (1.0, 19.0));
        assert!(central_interval(&[f64::INFINITY]).0.is_nan());
    }

    #[test]
    fn too_few_points_is_an_error() {
        let p = Point {
            x: vec![1.0, 1.0],
            y: 1.0,
            censored: false,
        };
        let e = Fitted::new("cpu", &CPU_COEFFICIENTS, vec![p.clone(), p.clone(), p]).unwrap_err();
        assert!(matches!(e, ModelError::TooFew { need: 4, .. }), "{e}");
    }
}
