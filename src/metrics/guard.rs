//! The saturation guard: was the load generator, not the server, the bottleneck? Pure judgement over
//! evidence streamed from the results directory.

use std::path::Path;

use crate::results::{ClientStatRow, EventRow, ServerMetricRow, for_each_row};
use crate::scenario::Guard;

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

/// The steady in-call window: from the last participant's media start to the first hang-up (browser
/// start-up and teardown load the generator but measure nothing). `None` when they do not overlap.
pub fn steady_window(dir: &Path) -> Option<(String, String)> {
    let (mut last_media, mut first_left): (Option<String>, Option<String>) = (None, None);
    let _ = for_each_row(&dir.join("events.csv"), |r: EventRow| {
        match r.event.as_str() {
            "media" if last_media.as_ref().is_none_or(|t| r.ts > *t) => last_media = Some(r.ts),
            "left" if first_left.as_ref().is_none_or(|t| r.ts < *t) => first_left = Some(r.ts),
            _ => {}
        }
    });
    match (last_media, first_left) {
        (Some(a), Some(b)) if a < b => Some((a, b)),
        (Some(a), None) => Some((a, "9999".into())),
        _ => None,
    }
}

/// Stream the evidence out of a results directory (missing files give empty evidence), restricted to
/// the steady in-call window when there is one.
pub fn collect(dir: &Path) -> Evidence {
    let mut e = Evidence::default();
    let window = steady_window(dir);
    let inside = |ts: &str| {
        window
            .as_ref()
            .is_none_or(|(a, b)| ts >= a.as_str() && ts <= b.as_str())
    };
    let _ = for_each_row(&dir.join("server_metrics.csv"), |r: ServerMetricRow| {
        if r.metric == "generator_cpu_ratio" && r.source != "prometheus-range" && inside(&r.ts) {
            e.generator_cpu.push(r.value);
        }
    });
    let _ = for_each_row(&dir.join("client_stats.csv"), |r: ClientStatRow| {
        if r.direction == "send" && r.kind == "video" && inside(&r.ts) {
            e.send_samples += 1;
            if r.quality_limitation == "cpu" {
                e.cpu_limited += 1;
            }
            if let Some(f) = r.fps {
                e.send_fps.push(f);
            }
        }
    });
    e
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    Some(s[s.len() / 2])
}

/// Reasons the run is invalid; empty when the generators kept up. `camera_fps` is the frame rate the
/// senders' fake camera plays.
pub fn judge(g: &Guard, e: &Evidence, camera_fps: Option<f64>) -> Vec<String> {
    let mut reasons = Vec::new();
    if !e.generator_cpu.is_empty() {
        let hot = e
            .generator_cpu
            .iter()
            .filter(|&&c| c > g.max_generator_cpu)
            .count();
        let share = hot as f64 / e.generator_cpu.len() as f64;
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
    if let (Some(m), Some(cam)) = (median(&e.send_fps), camera_fps)
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
