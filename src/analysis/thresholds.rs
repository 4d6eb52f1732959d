//! The scenario's `[thresholds]` evaluated against a summary (of a whole run, or of one window of it).
//! A threshold whose metric the run did not measure is `not evaluable`, which is not a pass.

use serde::{Deserialize, Serialize};

use super::summary::Summary;
use super::summary::cohorts::CohortSummary;
use crate::scenario::Thresholds;

/// The outcome of one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Met.
    Pass,
    /// Missed.
    Fail,
    /// The run has no such measurement.
    NotEvaluable,
}

/// One evaluated threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The `[thresholds]` key.
    pub threshold: String,
    /// `≥ 10` or `≤ 0.05`.
    pub limit: String,
    /// The measured value, in the key's unit.
    pub actual: Option<f64>,
    /// The outcome.
    pub status: Status,
}

fn check(threshold: &str, min: bool, limit: f64, actual: Option<f64>) -> Check {
    let status = match actual {
        None => Status::NotEvaluable,
        Some(a) if (min && a >= limit) || (!min && a <= limit) => Status::Pass,
        Some(_) => Status::Fail,
    };
    Check {
        threshold: threshold.to_string(),
        limit: format!("{} {limit}", if min { "≥" } else { "≤" }),
        actual,
        status,
    }
}

/// Evaluate every threshold the scenario sets, in the order of `[thresholds]`'s documentation.
pub fn evaluate(t: &Thresholds, s: &Summary) -> Vec<Check> {
    let mut out = Vec::new();
    if let Some(l) = t.min_join_ratio {
        out.push(check("min_join_ratio", true, l, s.participants.join_ratio));
    }
    if let Some(l) = t.max_join_time_p95 {
        out.push(check(
            "max_join_time_p95",
            false,
            l.get().as_secs_f64(),
            s.participants.join_ms_p95.map(|ms| ms / 1000.0),
        ));
    }
    if let Some(l) = t.min_recv_fps_p50 {
        out.push(check("min_recv_fps_p50", true, l, s.client.recv_fps_p50));
    }
    if let Some(l) = t.min_recv_fps_p5 {
        out.push(check("min_recv_fps_p5", true, l, s.client.recv_fps_p5));
    }
    if let Some(l) = t.max_loss_p95 {
        out.push(check("max_loss_p95", false, l, s.client.loss_p95));
    }
    if let Some(l) = t.max_generator_cpu {
        out.push(check(
            "max_generator_cpu",
            false,
            l,
            s.table.generator_cpu_ratio,
        ));
    }
    let video = s.video.as_ref().map(|v| &v.run);
    if let Some(l) = t.max_video_delay_p95 {
        out.push(check(
            "max_video_delay_p95",
            false,
            l.get().as_secs_f64(),
            video
                .and_then(|v| v.video_delay_ms_p95)
                .map(|ms| ms / 1000.0),
        ));
    }
    if let Some(l) = t.max_freeze_share {
        let actual = video.and_then(|v| v.freeze_share);
        out.push(check("max_freeze_share", false, l, actual));
    }
    if let Some(l) = t.min_video_psnr_p5 {
        let actual = video.and_then(|v| v.video_psnr_db_p5);
        out.push(check("min_video_psnr_p5", true, l, actual));
    }
    let d = s.disruptions.as_ref();
    if let Some(l) = t.max_recovery_p95 {
        // No participant lost media: nothing to recover from, which meets any bound.
        let p95 = d.map(|d| {
            d.recovery_s_p95
                .or((d.disruptions.iter().all(|x| x.recovered == 0)).then_some(0.0))
        });
        out.push(check(
            "max_recovery_p95",
            false,
            l.get().as_secs_f64(),
            p95.flatten(),
        ));
    }
    if let Some(l) = t.max_never_recovered {
        out.push(check(
            "max_never_recovered",
            false,
            f64::from(l),
            d.map(|d| d.never_recovered as f64),
        ));
    }
    if let Some(l) = t.max_rtt_p95 {
        let ms = l.get().as_secs_f64() * 1000.0;
        out.push(check("max_rtt_p95", false, ms, s.client.rtt_ms_p95));
    }
    for (name, c) in &t.cohort {
        let row = s.cohorts.iter().find(|r| &r.cohort == name);
        let val = |f: fn(&CohortSummary) -> Option<f64>| row.and_then(f);
        let secs = |d: Option<crate::scenario::Dur>| d.map(|d| d.get().as_secs_f64());
        let bounds = [
            (
                "min_join_ratio",
                true,
                c.min_join_ratio,
                val(|r| r.join_ratio),
            ),
            (
                "max_join_time_p95",
                false,
                secs(c.max_join_time_p95),
                val(|r| r.join_ms_p95.map(|ms| ms / 1000.0)),
            ),
            (
                "min_recv_fps_p50",
                true,
                c.min_recv_fps_p50,
                val(|r| r.recv_fps_p50),
            ),
            (
                "min_recv_fps_p5",
                true,
                c.min_recv_fps_p5,
                val(|r| r.recv_fps_p5),
            ),
            ("max_loss_p95", false, c.max_loss_p95, val(|r| r.loss_p95)),
            (
                "max_rtt_p95",
                false,
                secs(c.max_rtt_p95).map(|s| s * 1000.0),
                val(|r| r.rtt_ms_p95),
            ),
        ];
        for (k, min, limit, actual) in bounds {
            if let Some(l) = limit {
                out.push(check(&format!("cohort.{name}.{k}"), min, l, actual));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_fail_and_not_evaluable() {
        let mut s = Summary::default();
        s.participants.join_ratio = Some(0.9);
        s.client.recv_fps_p50 = Some(14.0);
        s.participants.join_ms_p95 = Some(3500.0);
        let t = Thresholds {
            min_join_ratio: Some(1.0),
            min_recv_fps_p50: Some(10.0),
            max_join_time_p95: Some("3s".parse().unwrap()),
            max_loss_p95: Some(0.05),
            ..Default::default()
        };
        let c = evaluate(&t, &s);
        let status: Vec<_> = c.iter().map(|c| (c.threshold.as_str(), c.status)).collect();
        assert_eq!(
            status,
            [
                ("min_join_ratio", Status::Fail),
                ("max_join_time_p95", Status::Fail),
                ("min_recv_fps_p50", Status::Pass),
                ("max_loss_p95", Status::NotEvaluable),
            ]
        );
        assert_eq!(c[1].actual, Some(3.5));
        assert_eq!(c[0].limit, "≥ 1");
        // Limits are inclusive.
        s.participants.join_ratio = Some(1.0);
        assert_eq!(evaluate(&t, &s)[0].status, Status::Pass);
    }

    #[test]
    fn what_people_saw_is_judged() {
        let t = Thresholds {
            max_video_delay_p95: Some("100ms".parse().unwrap()),
            max_freeze_share: Some(0.01),
            min_video_psnr_p5: Some(30.0),
            ..Default::default()
        };
        let c = evaluate(&t, &Summary::default());
        assert!(
            c.iter().all(|c| c.status == Status::NotEvaluable),
            "not measured"
        );
        let mut s = Summary::default();
        let mut v = crate::analysis::summary::Video::default();
        v.run.video_delay_ms_p95 = Some(150.0);
        v.run.freeze_share = Some(0.005);
        v.run.video_psnr_db_p5 = Some(31.0);
        s.video = Some(v);
        let c = evaluate(&t, &s);
        let status: Vec<_> = c.iter().map(|c| (c.threshold.as_str(), c.status)).collect();
        assert_eq!(
            status,
            [
                ("max_video_delay_p95", Status::Fail),
                ("max_freeze_share", Status::Pass),
                ("min_video_psnr_p5", Status::Pass),
            ]
        );
        assert_eq!(c[0].actual, Some(0.15));
        assert_eq!(c[0].limit, "≤ 0.1");
    }

    #[test]
    fn cohorts_and_recovery_are_judged_by_name() {
        let mut s = Summary::default();
        s.cohorts.push(CohortSummary {
            cohort: "3g".into(),
            recv_fps_p5: Some(4.0),
            rtt_ms_p95: Some(320.0),
            join_ms_p95: Some(2500.0),
            ..Default::default()
        });
        s.client.rtt_ms_p95 = Some(120.0);
        let mut t: Thresholds = toml::from_str(
            "max_recovery_p95 = \"5s\"\nmax_never_recovered = 0\nmax_rtt_p95 = \"100ms\"\n[cohort.3g]\nmin_recv_fps_p5 = 5\nmax_rtt_p95 = \"400ms\"\nmax_join_time_p95 = \"2s\"\n[cohort.wifi]\nmax_loss_p95 = 0.1",
        )
        .unwrap();
        let c = evaluate(&t, &s);
        let got: Vec<(&str, Status)> = c.iter().map(|c| (c.threshold.as_str(), c.status)).collect();
        assert_eq!(
            got,
            [
                ("max_recovery_p95", Status::NotEvaluable),
                ("max_never_recovered", Status::NotEvaluable),
                ("max_rtt_p95", Status::Fail),
                ("cohort.3g.max_join_time_p95", Status::Fail),
                ("cohort.3g.min_recv_fps_p5", Status::Fail),
                ("cohort.3g.max_rtt_p95", Status::Pass),
                ("cohort.wifi.max_loss_p95", Status::NotEvaluable),
            ]
        );
        assert_eq!(c[5].limit, "≤ 400");
        s.disruptions = Some(crate::analysis::summary::recovery::Disruptions {
            recovery_s_p95: Some(6.0),
            never_recovered: 1,
            ..Default::default()
        });
        t.cohort.clear();
        let c = evaluate(&t, &s);
        assert_eq!(c[0].status, Status::Fail);
        assert_eq!(c[1].status, Status::Fail);
    }
}
