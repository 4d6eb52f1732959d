//! The report's charts, built from the summary's time series and drawn by [`crate::chart`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::analysis::Timelines;
use crate::analysis::limit::LimitSummary;
use crate::chart::{self, Chart, ChartError, Series, Style};
use crate::results::StepRow;

/// A chart written into `charts/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartRef {
    /// Path relative to the results directory, e.g. `charts/participants.png`.
    pub file: String,
    /// What it shows.
    pub title: String,
}

const T: &str = "time since start (s)";

fn per(map: &BTreeMap<String, Vec<(f64, f64)>>) -> Vec<Series> {
    map.iter()
        .map(|(name, pts)| Series::line(name.clone(), pts.clone()))
        .collect()
}

/// The charts this run has data for: (file stem, chart).
pub fn build(tl: &Timelines) -> Vec<(&'static str, Chart)> {
    let in_call = || Series::line("participants in call", tl.in_call.clone()).on_secondary();
    let mut out = vec![(
        "participants",
        Chart {
            title: "Participants in the call (media flowing)".into(),
            x_label: T.into(),
            y_label: "participants".into(),
            series: vec![Series::line("participants in call", tl.in_call.clone())],
            ..Default::default()
        },
    )];
    if !tl.join_s.is_empty() {
        out.push((
            "join_time",
            Chart {
                title: "Join time distribution".into(),
                x_label: "join time (s)".into(),
                y_label: "participants".into(),
                series: vec![
                    Series::line("participants", chart::histogram(&tl.join_s, 12))
                        .styled(Style::Bars),
                ],
                ..Default::default()
            },
        ));
    }
    if !tl.recv_fps_p50.is_empty() || !tl.recv_bitrate_p50.is_empty() {
        out.push((
            "received_video",
            Chart {
                title: "Received video: frame rate and bitrate percentiles".into(),
                x_label: T.into(),
                y_label: "frames per second".into(),
                y2_label: "kbit/s".into(),
                series: vec![
                    Series::line("fps p50", tl.recv_fps_p50.clone()),
                    Series::line("fps p5", tl.recv_fps_p5.clone()),
                    Series::line("bitrate p50 (kbit/s)", tl.recv_bitrate_p50.clone())
                        .styled(Style::Thin)
                        .on_secondary(),
                ],
            },
        ));
    }
    if !tl.loss_pct_p95.is_empty() || !tl.rtt_ms_p50.is_empty() || !tl.jitter_ms_p95.is_empty() {
        out.push((
            "network",
            Chart {
                title: "Received loss, jitter and round-trip time".into(),
                x_label: T.into(),
                y_label: "ms".into(),
                y2_label: "loss (%)".into(),
                series: vec![
                    Series::line("jitter p95 (ms)", tl.jitter_ms_p95.clone()),
                    Series::line("RTT p50 (ms)", tl.rtt_ms_p50.clone()),
                    Series::line("loss p95 (%)", tl.loss_pct_p95.clone()).on_secondary(),
                ],
            },
        ));
    }
    if !tl.video_delay_ms_p95.is_empty() || !tl.freeze_pct.is_empty() {
        out.push((
            "what_people_saw",
            Chart {
                title: "What people saw: video delay p95 and freeze share".into(),
                x_label: T.into(),
                y_label: "delay (ms)".into(),
                y2_label: "frozen (% of watched time)".into(),
                series: vec![
                    Series::line("delay p95 (ms)", tl.video_delay_ms_p95.clone()),
                    Series::line("freeze share (%)", tl.freeze_pct.clone()).on_secondary(),
                ],
            },
        ));
    }
    for (stem, title, unit, map) in [
        (
            "server_cpu",
            "Server CPU per bridge",
            "CPU (cores)",
            &tl.bridge_cpu,
        ),
        (
            "server_memory",
            "Server memory per bridge",
            "memory (MiB)",
            &tl.bridge_mem,
        ),
        (
            "server_network",
            "Server transmit per bridge",
            "transmit (MB/s)",
            &tl.bridge_tx,
        ),
        (
            "generator_cpu",
            "Load-generator CPU",
            "CPU (% of all cores)",
            &tl.generator_cpu_pct,
        ),
    ] {
        if map.is_empty() {
            continue;
        }
        let mut series = per(map);
        series.push(in_call().styled(Style::Thin));
        out.push((
            stem,
            Chart {
                title: title.into(),
                x_label: T.into(),
                y_label: unit.into(),
                y2_label: "participants in call".into(),
                series,
            },
        ));
    }
    out
}

/// The limit search's charts: each service level, and the bridges' CPU, against the participants in
/// the call, with the load that held and the one that failed marked.
pub fn build_limit(l: &LimitSummary) -> Vec<(&'static str, Chart)> {
    const X: &str = "participants in the call";
    let steps = l.deciding();
    let line = |name: &str, f: &dyn Fn(&StepRow) -> Option<f64>| {
        let pts = steps
            .iter()
            .filter_map(|r| f(r).map(|v| (f64::from(r.participants), v)))
            .collect();
        Series::line(name, pts)
    };
    let marks = |top: f64| {
        let mut out = Vec::new();
        for (name, at) in [
            ("holds", l.info.held_participants),
            ("fails", l.info.failed_participants),
        ] {
            if let Some(p) = at {
                let x = f64::from(p);
                out.push(Series::line(name, vec![(x, 0.0), (x, top)]).styled(Style::Thin));
            }
        }
        out
    };
    let fps_top = steps
        .iter()
        .filter_map(|r| r.recv_fps_p50)
        .fold(1.0, f64::max);
    let mut levels = vec![
        line("received fps p50", &|r| r.recv_fps_p50).styled(Style::Points),
        line("received fps p5", &|r| r.recv_fps_p5).styled(Style::Points),
        line("loss p95 (%)", &|r| r.loss_p95.map(|v| v * 100.0))
            .styled(Style::Points)
            .on_secondary(),
        line("received kbit/s p50 vs first step (%)", &|r| {
            r.recv_bitrate_ratio.map(|v| v * 100.0)
        })
        .styled(Style::Points)
        .on_secondary(),
    ];
    levels.extend(marks(fps_top));
    let mut bridge_series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in &steps {
        for b in l
            .bridges
            .iter()
            .filter(|b| b.step == r.step && b.window == r.window)
        {
            if let Some(c) = b.max_cpu_cores {
                bridge_series
                    .entry(b.bridge.clone())
                    .or_default()
                    .push((f64::from(r.participants), c));
            }
        }
    }
    let cpu_top = bridge_series
        .values()
        .flatten()
        .map(|p| p.1)
        .fold(0.1, f64::max);
    let mut cpu: Vec<Series> = bridge_series
        .into_iter()
        .map(|(name, pts)| Series::line(name, pts).styled(Style::Points))
        .collect();
    cpu.extend(marks(cpu_top));
    vec![
        (
            "limit_service_levels",
            Chart {
                title: "Limit search: service levels per step".into(),
                x_label: X.into(),
                y_label: "fps".into(),
                y2_label: "loss (%)".into(),
                series: levels,
            },
        ),
        (
            "limit_server_cpu",
            Chart {
                title: "Limit search: bridge CPU per step".into(),
                x_label: X.into(),
                y_label: "cores".into(),
                series: cpu,
                ..Default::default()
            },
        ),
    ]
}

/// Draw every chart into `dir/charts/`; returns what was written.
pub fn write(
    tl: &Timelines,
    limit: Option<&LimitSummary>,
    dir: &Path,
) -> Result<Vec<ChartRef>, ChartError> {
    let charts = dir.join("charts");
    std::fs::create_dir_all(&charts).map_err(|e| ChartError::Draw {
        path: charts.display().to_string(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    let limit_charts = limit.map(build_limit).unwrap_or_default();
    for (stem, c) in limit_charts.into_iter().chain(build(tl)) {
        let file = format!("charts/{stem}.png");
        chart::draw(&c, &dir.join(&file))?;
        out.push(ChartRef {
            file,
            title: c.title,
        });
    }
    Ok(out)
}
