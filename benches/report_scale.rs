//! `loadtest report` at scale: a GENERATED results directory with one million client-stats rows
//! (100 participants × 10 received streams × 1000 one-second samples, plus 20 000 server-metric rows),
//! reported in this process. Prints wall time and the peak resident memory of the report alone (the
//! peak is reset through `/proc/self/clear_refs` after the directory is written).
//!
//! Then judges one `loadtest limit` step's window over the same directory (the search's cost per step).
//!
//! `cargo bench --bench report_scale` prints the figures recorded in docs/benchmarks.md.
//! Target: under 10 s and under 200 MB.

use std::time::Instant;

use loadtest::report::{Options, write};
use loadtest::results::{
    ClientStatRow, Event, EventRow, Outcome, ParticipantRow, ServerMetricRow, SourceName,
};
use loadtest::schedule::ParticipantId;

const PARTICIPANTS: u32 = 100;
const STREAMS: u32 = 10;
const SAMPLES: u32 = 1000;

fn at(s: u32, ms: u32) -> String {
    let t = chrono::DateTime::from_timestamp(1_767_225_600 + i64::from(s), ms * 1_000_000).unwrap();
    loadtest::results::ts(t)
}

fn peak_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    std::fs::create_dir_all(&dir).unwrap();
    let t0 = Instant::now();
    let run = serde_json::json!({
        "format_version": 2, "tool_version": "bench", "scenario": "generated",
        "target_kind": "jitsi", "target": "https://meet.example.test/", "webdriver": "grid",
        "fidelity": {"page": "jitsi app", "video": "vga", "audio": "speech", "receive_audio": true},
        "started_at": at(0, 0), "ended_at": at(SAMPLES + 10, 0), "outcome": "completed",
        "exit_reason": "generated", "scheduled": PARTICIPANTS, "completed": PARTICIPANTS, "failed": 0,
        "valid": true
    });
    std::fs::write(dir.join("run.json"), run.to_string()).unwrap();
    std::fs::write(
        dir.join("scenario.toml"),
        "name = \"generated\"\n[target]\nkind = \"jitsi\"\nurl = \"https://meet.example.test/\"\n\
         [load]\nconferences = 10\nparticipants_per_conference = 10\nduration = \"1000s\"\n\
         [stats]\ninterval = \"1s\"\n[thresholds]\nmin_recv_fps_p50 = 10\n",
    )
    .unwrap();
    let mut p = csv::Writer::from_path(dir.join("participants.csv")).unwrap();
    let mut e = csv::Writer::from_path(dir.join("events.csv")).unwrap();
    for i in 0..PARTICIPANTS {
        let id = ParticipantId {
            conference: i / 10,
            index: i % 10,
        };
        p.serialize(ParticipantRow {
            participant: id,
            conference: i / 10,
            node: format!("http://127.0.0.{}:5555", 11 + i % 4),
            join_ms: Some(1000 + u64::from(i) * 17),
            media_ms: Some(300),
            outcome: Outcome::Completed,
            bridge: format!("shard-0-jvb-{}", i % 4),
            ..Default::default()
        })
        .unwrap();
        for (t, event) in [(1, Event::Media), (SAMPLES + 5, Event::Left)] {
            e.serialize(EventRow {
                ts: at(t, i),
                participant: id.to_string(),
                event,
                detail: String::new(),
            })
            .unwrap();
        }
    }
    p.flush().unwrap();
    e.flush().unwrap();
    let mut c = csv::Writer::from_path(dir.join("client_stats.csv")).unwrap();
    let mut m = csv::Writer::from_path(dir.join("server_metrics.csv")).unwrap();
    let mut rows = 0u64;
    for s in 0..SAMPLES {
        for i in 0..PARTICIPANTS {
            for k in 0..STREAMS {
                let v = f64::from((s * 7 + i * 13 + k) % 100);
                c.serialize(ClientStatRow {
                    ts: at(s + 2, i),
                    participant: ParticipantId {
                        conference: i / 10,
                        index: i % 10,
                    },
                    peer: format!("c{}p{k}", i / 10),
                    direction: "recv".into(),
                    kind: if k == 0 { "audio" } else { "video" }.into(),
                    bitrate_kbps: Some(300.0 + v),
                    fps: (k != 0).then_some(20.0 + v / 10.0),
                    width: Some(640),
                    height: Some(360),
                    packets_lost: Some(i64::from(s)),
                    loss_ratio: Some(v / 10_000.0),
                    jitter_ms: Some(v / 10.0),
                    rtt_ms: Some(20.0 + v / 5.0),
                    ..Default::default()
                })
                .unwrap();
                rows += 1;
            }
        }
        for b in 0..4 {
            for (name, v) in [
                ("jvb_cpu_cores", 1.0 + f64::from(s % 30) / 10.0),
                ("jvb_memory_working_set_bytes", 8e8),
                ("jvb_network_transmit_bytes_per_second", 4e6),
                ("jvb_cpu_throttled_ratio", 0.01),
            ] {
                m.serialize(ServerMetricRow {
                    ts: at(s + 2, 0),
                    source: SourceName::Prometheus,
                    metric: name.into(),
                    labels: format!("pod=shard-0-jvb-{b}"),
                    value: v,
                })
                .unwrap();
            }
        }
        for g in 0..4 {
            m.serialize(ServerMetricRow {
                ts: at(s + 2, 0),
                source: SourceName::Prometheus,
                metric: "generator_cpu_ratio".into(),
                labels: format!("instance=127.0.0.{}:9100", 11 + g),
                value: 0.5,
            })
            .unwrap();
        }
    }
    c.flush().unwrap();
    m.flush().unwrap();
    drop((c, m));
    let size = std::fs::metadata(dir.join("client_stats.csv"))
        .unwrap()
        .len();
    println!(
        "generated {rows} client-stats rows ({:.0} MB) in {:.1} s",
        size as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );
    // Reset the peak resident set so it measures the report alone.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = peak_kb();
    let t = Instant::now();
    let r = write(&dir, &Options::default()).unwrap();
    let wall = t.elapsed().as_secs_f64();
    let peak = peak_kb();
    assert_eq!(r.summary.client.recv_video_samples as u64, rows / 10 * 9);
    println!(
        "report: {wall:.2} s wall, peak resident {:.0} MB (was {:.0} MB before), {} charts, verdict {:?}",
        peak as f64 / 1024.0,
        before as f64 / 1024.0,
        r.charts.len(),
        r.verdict
    );
    println!(
        "targets: under 10 s: {}; under 200 MB: {}",
        wall < 10.0,
        peak < 200 * 1024
    );
    // `loadtest limit` judges each step's window from the same files while the run goes on: its
    // cost per step is one such judgement over everything written so far.
    let window = loadtest::analysis::Window {
        from: at(SAMPLES - 30, 0),
        to: at(SAMPLES, 0),
    };
    let t = Instant::now();
    let j = loadtest::analysis::step::judge(&dir, &window, Some(15.0)).unwrap();
    println!(
        "limit: one step judged over the same directory (a 30 s window) in {:.2} s, {} checks",
        t.elapsed().as_secs_f64(),
        j.checks.len()
    );
}
