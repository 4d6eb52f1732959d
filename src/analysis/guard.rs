//! The saturation guard: was the load generator, not the server, the bottleneck? Pure judgement over
//! evidence streamed from the results directory, in the steady window.

use std::path::Path;

use super::window::{Window, inside};
use crate::results::{self, ClientStatRow, ReadError, ServerMetricRow, SourceName, names::metric};
use crate::scenario::Guard;
use crate::stats;

/// What the guard looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evidence {
    /// Generator CPU samples (0..1), from `generator_cpu_ratio` of any live source.
    pub generator_cpu: Vec<f64>,
    /// Sent-video frame rates.
    pub send_fps: Vec<f64>,
    /// Sent-video samples.
    pub send_samples: usize,
    /// Of those, samples whose quality limitation was `cpu`.
    pub cpu_limited: usize,
}

/// Stream the evidence out of a results directory (missing files give empty evidence), restricted to
/// `window` when there is one.
pub fn collect(dir: &Path, window: Option<&Window>) -> Result<Evidence, ReadError> {
    let mut e = Evidence::default();
    results::rows(dir, "server_metrics.csv", |r: ServerMetricRow| {
        e.metric(&r, window)
    })?;
    results::rows(dir, "client_stats.csv", |r: ClientStatRow| {
        e.stat(&r, window)
    })?;
    Ok(e)
}

impl Evidence {
    /// One server_metrics.csv row: generator CPU of a live source inside `window`.
    pub fn metric(&mut self, r: &ServerMetricRow, window: Option<&Window>) {
        if r.metric == metric::GENERATOR_CPU_RATIO
            && r.source != SourceName::PrometheusRange
            && inside(window, &r.ts)
        {
            self.generator_cpu.push(r.value);
        }
    }

    /// One client_stats.csv row: sent video inside `window`.
    pub fn stat(&mut self, r: &ClientStatRow, window: Option<&Window>) {
        if r.sent() && r.video() && inside(window, &r.ts) {
            self.send_samples += 1;
            if r.quality_limitation == "cpu" {
                self.cpu_limited += 1;
            }
            if let Some(f) = r.fps {
                self.send_fps.push(f);
            }
        }
    }
}

/// Reasons the run is invalid; empty when the generators kept up. `camera_fps` is the frame rate the
/// senders' fake camera plays.
pub fn judge(g: &Guard, e: &Evidence, camera_fps: Option<f64>) -> Vec<String> {
    let mut reasons = Vec::new();
    if !e.generator_cpu.is_empty() {
        let share = stats::share(&e.generator_cpu, |&c| c > g.max_generator_cpu).unwrap_or(0.0);
        if share > g.max_saturated_share {
            reasons.push(format!(
                "generator CPU above {:.0} % in {:.0} % of samples (allowed {:.0} %)",
                100.0 * g.max_generator_cpu,
                100.0 * share,
                100.0 * g.max_saturated_share
            ));
        }
    }
    if e.send_samples > 0 {
        let share = e.cpu_limited as f64 / e.send_samples as f64;
        if share > g.max_cpu_limited_share {
            reasons.push(format!(
                "senders reported qualityLimitationReason = cpu in {:.0} % of sent-video samples (allowed {:.0} %)",
                100.0 * share,
                100.0 * g.max_cpu_limited_share
            ));
        }
    }
    if let (Some(m), Some(cam)) = (stats::median(&e.send_fps), camera_fps)
        && cam > 0.0
        && m < g.min_sender_fps_ratio * cam
    {
        reasons.push(format!(
            "median sender frame rate {m:.1} fps is {:.0} % of the camera's {cam:.0} fps (at least {:.0} % expected)",
            100.0 * m / cam,
            100.0 * g.min_sender_fps_ratio
        ));
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_when_generators_keep_up() {
        let e = Evidence {
            generator_cpu: vec![0.5, 0.6, 0.95, 0.7, 0.8],
            send_fps: vec![14.0, 15.0, 15.0],
            send_samples: 3,
            cpu_limited: 0,
        };
        assert!(judge(&Guard::default(), &e, Some(15.0)).is_empty());
    }

    #[test]
    fn trips_on_cpu_limitation_and_collapse() {
        let e = Evidence {
            generator_cpu: vec![0.99, 0.98, 0.97, 0.5],
            send_fps: vec![3.0, 4.0, 15.0],
            send_samples: 4,
            cpu_limited: 2,
        };
        let r = judge(&Guard::default(), &e, Some(15.0));
        assert_eq!(r.len(), 3, "{r:?}");
        assert!(r[0].starts_with("generator CPU above 90 % in 75 % of samples"));
        assert!(r[1].contains("cpu in 50 %"));
        assert!(r[2].starts_with("median sender frame rate 4.0 fps is 27 %"));
        assert!(
            judge(&Guard::default(), &Evidence::default(), Some(15.0)).is_empty(),
            "no evidence, no verdict"
        );
    }
}
