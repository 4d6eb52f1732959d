//! `loadtest report` on a FIXTURE results directory built here row by row, whose summary numbers are
//! computed by hand in the comments (nearest-rank percentiles: rank ⌈p·n⌉ of the sorted values).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::png_size;
use loadtest::results::{
    ClientStatRow, Event, EventRow, Outcome, ParticipantRow, ServerMetricRow, SourceName,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_loadtest");

fn at(s: u32) -> String {
    format!("2026-01-01T00:{:02}:{:02}.000Z", s / 60, s % 60)
}

fn write_csv<T: serde::Serialize>(path: &Path, rows: &[T]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    for r in rows {
        w.serialize(r).unwrap();
    }
    w.flush().unwrap();
}

fn participant(
    id: &str,
    conf: u32,
    join: u64,
    bridge: &str,
    failed: Option<&str>,
) -> ParticipantRow {
    ParticipantRow {
        participant: id.parse().unwrap(),
        conference: conf,
        room: format!("room{conf}"),
        role: "audio+video".into(),
        node: if conf == 0 {
            "http://127.0.0.11:5555"
        } else {
            "http://127.0.0.12:5555"
        }
        .into(),
        join_ms: Some(join),
        media_ms: Some(500),
        outcome: if failed.is_some() {
            Outcome::Failed
        } else {
            Outcome::Completed
        },
        reason: failed.unwrap_or_default().into(),
        bridge: bridge.into(),
        ..Default::default()
    }
}

fn video(t: u32, who: &str, fps: f64, loss: f64, w: u32) -> ClientStatRow {
    ClientStatRow {
        ts: at(t),
        participant: who.parse().unwrap(),
        direction: "recv".into(),
        kind: "video".into(),
        fps: Some(fps),
        bitrate_kbps: Some(300.0),
        loss_ratio: Some(loss),
        jitter_ms: Some(4.0),
        rtt_ms: Some(20.0),
        width: Some(w),
        height: Some(w * 9 / 16),
        ..Default::default()
    }
}

fn metric(t: u32, source: &str, metric: &str, labels: &str, value: f64) -> ServerMetricRow {
    ServerMetricRow {
        ts: at(t),
        source: SourceName::parse(source),
        metric: metric.into(),
        labels: labels.into(),
        value,
    }
}

/// The FIXTURE run: 2 conferences × 2 participants; c1p1 joined, then failed. Its run.json and
/// scenario.toml are written in results format 1 (`planned`/`ok`, `participants`/`senders`) on purpose:
/// the report reads the previous format.
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    std::fs::create_dir_all(dir.join("artifacts")).unwrap();
    std::fs::write(dir.join("artifacts/c1p1.png"), b"png").unwrap();
    let run = serde_json::json!({
        "format_version": 1, "tool_version": "0.1.0", "scenario": "fixture",
        "target_kind": "jitsi", "target": "https://meet.example.test/",
        "webdriver": "http://127.0.0.11:4444",
        "fidelity": {"page": "jitsi app", "video": "vga (640x480@30)", "audio": "speech", "receive_audio": true},
        "started_at": at(0), "ended_at": at(60), "outcome": "failed",
        "exit_reason": "1 participant failed", "planned": 4, "ok": 3, "failed": 1,
        "valid": true, "invalid_reasons": [], "metric_gaps": []
    });
    std::fs::write(dir.join("run.json"), serde_json::to_vec(&run).unwrap()).unwrap();
    std::fs::write(
        dir.join("scenario.toml"),
        "name = \"fixture\"\ndescription = \"FIXTURE | hand-computed\"\n\
         [target]\nkind = \"jitsi\"\nurl = \"https://meet.example.test/\"\n\
         [load]\nconferences = 2\nparticipants = 2\nsenders = 2\nduration = \"50s\"\n\
         [stats]\ninterval = \"10s\"\n[thresholds]\nmin_recv_fps_p50 = 10\nmin_recv_fps_p5 = 12\nmax_loss_p95 = 0.05\n\
         max_generator_cpu = 0.9\nmax_join_time_p95 = \"5s\"\n",
    )
    .unwrap();
    write_csv(
        &dir.join("participants.csv"),
        &[
            participant("c0p0", 0, 1000, "jvb-a", None),
            participant("c0p1", 0, 3000, "jvb-a", None),
            participant("c1p0", 1, 2000, "jvb-b", None),
            participant(
                "c1p1",
                1,
                2500,
                "jvb-b",
                Some("unhealthy for 20s: ICE failed"),
            ),
        ],
    );
    // Media at 5..8 s; c1p1 fails at 30 s; the others leave at 50 s: steady window [8 s, 50 s].
    let mut events = Vec::new();
    for (i, p) in ["c0p0", "c0p1", "c1p0", "c1p1"].iter().enumerate() {
        events.push(EventRow {
            ts: at(5 + i as u32),
            participant: p.to_string(),
            event: Event::Media,
            detail: String::new(),
        });
    }
    events.push(EventRow {
        ts: at(30),
        participant: "c1p1".into(),
        event: Event::Failed,
        detail: "unhealthy".into(),
    });
    for p in ["c0p0", "c0p1", "c1p0"] {
        events.push(EventRow {
            ts: at(50),
            participant: p.into(),
            event: Event::Left,
            detail: String::new(),
        });
    }
    write_csv(&dir.join("events.csv"), &events);
    let mut audio = video(20, "c0p0", 0.0, 0.04, 0);
    audio.kind = "audio".into();
    audio.concealed_ratio = Some(0.125);
    audio.fps = None;
    audio.width = None;
    audio.height = None;
    write_csv(
        &dir.join("client_stats.csv"),
        &[
            video(2, "c0p0", 1.0, 0.9, 640), // before the window: ignored
            video(10, "c0p0", 10.0, 0.0, 640),
            video(20, "c0p0", 12.0, 0.01, 640),
            video(30, "c0p0", 14.0, 0.02, 640),
            video(10, "c0p1", 15.0, 0.0, 640),
            video(20, "c0p1", 15.0, 0.1, 320),
            video(10, "c1p0", 8.0, 0.0, 640),
            video(20, "c1p0", 20.0, 0.0, 320),
            audio,
        ],
    );
    write_csv(
        &dir.join("server_metrics.csv"),
        &[
            metric(10, "prometheus", "jvb_cpu_cores", "pod=jvb-a", 1.5),
            metric(20, "prometheus", "jvb_cpu_cores", "pod=jvb-a", 2.5),
            metric(10, "prometheus", "jvb_cpu_cores", "pod=jvb-b", 0.5),
            // The range backfill only stands in where there is no live sample.
            metric(20, "prometheus-range", "jvb_cpu_cores", "pod=jvb-b", 3.0),
            metric(
                10,
                "prometheus",
                "jvb_memory_working_set_bytes",
                "pod=jvb-a",
                524_288_000.0,
            ),
            metric(
                10,
                "prometheus",
                "jvb_network_transmit_bytes_per_second",
                "pod=jvb-a",
                2e6,
            ),
            metric(
                10,
                "prometheus",
                "jvb_cpu_throttled_ratio",
                "pod=jvb-a",
                0.05,
            ),
            metric(9, "generator:h1", "generator_cpu_ratio", "", 0.5),
            metric(20, "generator:h1", "generator_cpu_ratio", "", 0.7),
            metric(55, "generator:h1", "generator_cpu_ratio", "", 0.95), // after the window
        ],
    );
    (tmp, dir)
}

fn report(dir: &Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .arg("report")
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn summary(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn golden_summary_table_thresholds_and_charts() {
    let (_tmp, dir) = fixture();
    let (code, out) = report(&dir, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("verdict: FAIL"), "{out}");
    let s = summary(&dir);
    // In-window received video fps: [8, 10, 12, 14, 15, 15, 20]: p50 = rank 4 = 14, p5 = rank 1 = 8.
    assert_eq!(s["client"]["recv_fps_p50"], 14.0);
    assert_eq!(s["client"]["recv_fps_p5"], 8.0);
    // Loss, audio and video: [0, 0, 0, 0, .01, .02, .04, .1]: p95 = rank 8 = 0.1.
    let loss = s["client"]["loss_p95"].as_f64().unwrap();
    assert!((loss - 0.1).abs() < 1e-6, "{loss}");
    // Joins of those who stayed: [1000, 2000, 3000]: p50 = rank 2, p95 = rank 3.
    assert_eq!(s["participants"]["join_ms_p50"], 2000.0);
    assert_eq!(s["participants"]["join_ms_p95"], 3000.0);
    assert_eq!(s["participants"]["lost"], 1);
    let t = &s["table"];
    assert_eq!(t["participants_total"], 4);
    assert_eq!(t["participants_stable"], 3);
    assert_eq!(t["participants_lost"], 1);
    assert_eq!(t["video_received"], "640x360");
    assert_eq!(
        t["generator_cpu_ratio"], 0.7,
        "the 95 % sample is after the window"
    );
    assert_eq!(t["jvb_max_cpu_cores"], 2.5);
    assert_eq!(t["jvb_max_memory_mib"], 500.0);
    assert_eq!(t["jvb_max_tx_mbytes_per_s"], 2.0);
    assert_eq!(t["jvb_cpu_throttled_ratio"], 0.05);
    assert_eq!(t["audio_concealed_p95"], 0.125);
    let audio = t["audio_loss_p95"].as_f64().unwrap();
    assert!((audio - 0.04).abs() < 1e-6, "{audio}");
    // jvb-b has a live sample, so the range backfill's 3.0 is not its peak.
    let b = &s["bridges"];
    assert_eq!(b[1]["name"], "jvb-b");
    assert_eq!(b[1]["max_cpu_cores"], 0.5);
    assert_eq!(b[0]["participants"], 2);
    // Conference 0: fps [10, 12, 14, 15, 15]: p50 = rank 3 = 14, p5 = 10; joins [1000, 3000].
    let c0 = &s["conferences"][0];
    assert_eq!(
        (c0["completed"].as_u64(), c0["scheduled"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(c0["recv_fps_p50"], 14.0);
    assert_eq!(c0["recv_fps_p5"], 10.0);
    assert_eq!(c0["join_ms_p50"], 1000.0);
    assert_eq!(c0["bridges"], serde_json::json!(["jvb-a"]));
    assert_eq!(s["conferences"][1]["failed"], 1);
    // Thresholds.
    let status: Vec<(String, String)> = s["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["threshold"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("max_join_time_p95", "pass"),
        ("min_recv_fps_p50", "pass"),
        ("min_recv_fps_p5", "fail"),
        ("max_loss_p95", "fail"),
        ("max_generator_cpu", "pass"),
    ];
    assert_eq!(
        status,
        want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
    );
    assert_eq!(s["verdict"], "fail");
    let reasons = s["reasons"].to_string();
    assert!(reasons.contains("1 of 4 participants failed"), "{reasons}");
    // The failure links its screenshot, and no console log that does not exist.
    assert_eq!(s["failures"][0]["screenshot"], "artifacts/c1p1.png");
    assert!(s["failures"][0]["console_log"].is_null());

    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.starts_with("# Load test report: fixture\n\n**Verdict: FAIL**"),
        "{md}"
    );
    assert!(
        md.contains(
            "| 4 | 70 % | 640x360 | 14.0 / 8.0 | 4.00 % / 12.50 % | 3 / 1 | 500 | 2.50 | 2.00 | 5.0 % |"
        ),
        "{md}"
    );
    assert!(
        md.contains("FIXTURE \\| hand-computed"),
        "pipes in cells are escaped"
    );
    assert!(md.contains("[png](artifacts/c1p1.png)"));
    // Every chart is a 1000×480 PNG linked from the report, and every linked chart exists.
    let charts: Vec<_> = std::fs::read_dir(dir.join("charts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for name in [
        "participants",
        "join_time",
        "received_video",
        "network",
        "server_cpu",
        "server_memory",
        "server_network",
        "generator_cpu",
    ] {
        assert!(
            md.contains(&format!("](charts/{name}.png)")),
            "{name} not linked"
        );
    }
    assert_eq!(charts.len(), 8);
    for c in &charts {
        assert_eq!(png_size(c), (1000, 480));
    }
}

#[test]
fn an_interrupted_run_with_a_torn_last_line_still_reports() {
    let (_tmp, dir) = fixture();
    let mut run: Value =
        serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap();
    run.as_object_mut().unwrap().remove("ended_at");
    run["outcome"] = "running".into();
    std::fs::write(dir.join("run.json"), serde_json::to_vec(&run).unwrap()).unwrap();
    let mut stats = std::fs::read_to_string(dir.join("client_stats.csv")).unwrap();
    stats.push_str("2026-01-01T00:00:40.000Z,c0p0,,recv,vid");
    std::fs::write(dir.join("client_stats.csv"), stats).unwrap();
    // A last participants row cut inside a number: every field there, one unreadable.
    let mut parts = std::fs::read_to_string(dir.join("participants.csv")).unwrap();
    let fields = parts.lines().next().unwrap().split(',').count();
    parts.push_str(&format!("c9p9,1x{}", ",".repeat(fields - 2)));
    std::fs::write(dir.join("participants.csv"), parts).unwrap();
    std::fs::remove_file(dir.join("server_metrics.csv")).unwrap();
    let (code, out) = report(&dir, &[]);
    assert_eq!(code, 1, "{out}");
    let s = summary(&dir);
    assert_eq!(s["interrupted"], true);
    assert_eq!(s["participants"]["recorded"], 4, "the torn row is skipped");
    assert!(s["reasons"].to_string().contains("interrupted"));
    assert_eq!(
        s["client"]["recv_fps_p50"], 14.0,
        "complete rows still count"
    );
    // No server metrics: the JVB columns are empty, never zero, and a threshold on a missing
    // metric is not evaluable, which is not a pass.
    assert!(s["table"]["jvb_max_cpu_cores"].is_null());
    let gen_check = s["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["threshold"] == "max_generator_cpu")
        .unwrap()
        .clone();
    assert_eq!(gen_check["status"], "not_evaluable");
    assert!(
        s["reasons"]
            .to_string()
            .contains("max_generator_cpu not evaluable")
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("(interrupted run"), "{md}");
    assert!(md.contains("no end time"));
    assert!(md.contains("| — | — | — | — |"), "empty JVB columns: {md}");
}

#[test]
fn baseline_deltas_flag_regressions_only() {
    let (_tmp, base) = fixture();
    let (_tmp2, cur) = fixture();
    // Against itself: no regression among the deltas.
    report(&cur, &["--baseline", base.to_str().unwrap()]);
    let s = summary(&cur);
    let deltas = s["comparison"]["deltas"].as_array().unwrap();
    assert!(
        deltas.iter().all(|d| d["regression"] == false),
        "{deltas:?}"
    );
    assert!(!s["reasons"].to_string().contains("regressed"));
    // Slower joins in the current run: p95 3000 → 6000 ms.
    let mut rows: Vec<ParticipantRow> =
        loadtest::results::read_csv(&cur.join("participants.csv")).unwrap();
    rows[1].join_ms = Some(6000);
    write_csv(&cur.join("participants.csv"), &rows);
    let (code, out) = report(&cur, &["--baseline", base.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let s = summary(&cur);
    let d = s["comparison"]["deltas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["metric"] == "participants.join_ms_p95")
        .unwrap()
        .clone();
    assert_eq!(d["delta"], 3000.0);
    assert_eq!(d["relative_change"], 1.0);
    assert_eq!(d["regression"], true);
    assert!(
        s["reasons"]
            .to_string()
            .contains("participants.join_ms_p95 regressed")
    );
    let md = std::fs::read_to_string(cur.join("report.md")).unwrap();
    assert!(md.contains("## Compared with the baseline"));
    assert!(md.contains("**regression**"));
}

#[test]
fn invalid_runs_pass_nothing_and_templates_can_be_replaced() {
    let (_tmp, dir) = fixture();
    let mut run: Value =
        serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap();
    run["valid"] = false.into();
    run["invalid_reasons"] = serde_json::json!(["median sender frame rate 4.1 fps"]);
    std::fs::write(dir.join("run.json"), serde_json::to_vec(&run).unwrap()).unwrap();
    let tpl = dir.parent().unwrap().join("tpl");
    std::fs::create_dir_all(&tpl).unwrap();
    std::fs::write(
        tpl.join("report.md.tera"),
        "{{ verdict }}: {{ s.participants.scheduled }} scheduled, fps {{ s.client.recv_fps_p50 | num(digits=0) }}\n",
    )
    .unwrap();
    let (code, out) = report(&dir, &["--template", tpl.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("verdict: INVALID"));
    assert_eq!(
        std::fs::read_to_string(dir.join("report.md")).unwrap(),
        "invalid: 4 scheduled, fps 14\n"
    );
    // A broken template is an error naming the file, and nothing is (re)written.
    std::fs::remove_file(dir.join("report.md")).unwrap();
    std::fs::remove_file(dir.join("summary.json")).unwrap();
    std::fs::write(tpl.join("report.md.tera"), "{{ s.no_such_field }}").unwrap();
    let (code, out) = report(&dir, &["--template", tpl.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("report.md.tera"), "{out}");
    assert!(!dir.join("report.md").exists() && !dir.join("summary.json").exists());
    // Not a results directory: a usage error.
    let (code, out) = report(&tpl, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("not a results directory"));
}

#[test]
fn a_broken_row_that_is_not_the_last_is_an_error_naming_the_file() {
    let (_tmp, dir) = fixture();
    let stats = std::fs::read_to_string(dir.join("client_stats.csv")).unwrap();
    let mut lines: Vec<&str> = stats.lines().collect();
    lines.insert(3, "2026-01-01T00:00:11.000Z,c0p0,,recv,video,not-a-number");
    std::fs::write(dir.join("client_stats.csv"), lines.join("\n") + "\n").unwrap();
    let (code, out) = report(&dir, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("client_stats.csv"), "{out}");
    assert!(!dir.join("summary.json").exists());
}
