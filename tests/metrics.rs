//! Metrics sources: a real Prometheus + node_exporter, JVB fixtures of both generations, and sources
//! that hang, return garbage or refuse connections.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::*;
use loadtest::analysis::attribution::Bridges;
use loadtest::live::Tally;
use loadtest::metrics::{
    self, Source, colibri::Jvb, prometheus::Prometheus, this_machine::ThisMachine,
};
use loadtest::results::{Event, EventRow, ResultsDir, ServerMetricRow, SourceName, read_csv};
use loadtest::scenario::{JvbSource, PrometheusSource};
use tokio::io::AsyncWriteExt;

use tokio_util::sync::CancellationToken;

fn prom_cfg(url: &str) -> PrometheusSource {
    toml::from_str(&format!("url = \"{url}\"")).unwrap()
}

fn value(rows: &[ServerMetricRow], metric: &str) -> Option<f64> {
    rows.iter().find(|r| r.metric == metric).map(|r| r.value)
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_builtins_from_a_real_prometheus_and_node_exporter() {
    require(&[Needs::Prometheus]);
    let tmp = tempfile::tempdir().unwrap();
    let prom = start_prometheus(tmp.path());
    // FIXTURE cAdvisor / kube-state-metrics series for one JVB pod, published through the exporter's
    // textfile collector and advanced every 250 ms: 1.5 CPU cores, 5 MB/s out, 10 % throttled.
    let fixture = BridgeFixture::start(&prom.textfile);
    let start = Utc::now();
    tokio::time::sleep(Duration::from_secs(14)).await;
    let p = Prometheus::new(&prom_cfg(&prom.url), "10s", Duration::from_secs(3));
    let (rows, errors) = p.instant(Utc::now()).await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let near = |m: &str, want: f64, tol: f64| {
        let v = value(&rows, m).unwrap_or_else(|| panic!("no {m} in {rows:#?}"));
        assert!((v - want).abs() <= tol, "{m} = {v}, want {want} ± {tol}");
    };
    near("jvb_cpu_cores", 1.5, 0.25);
    near("jvb_cpu_limit_ratio", 1.5 / 4.0, 0.07);
    near("jvb_memory_working_set_bytes", 734003200.0, 1.0);
    near("jvb_network_transmit_bytes_per_second", 5e6, 8e5);
    near("jvb_network_receive_bytes_per_second", 2e6, 3.5e5);
    near("jvb_cpu_throttled_ratio", 0.1, 0.03);
    near("jvb_replicas", 1.0, 0.0);
    let jvb = rows.iter().find(|r| r.metric == "jvb_cpu_cores").unwrap();
    assert_eq!(jvb.labels, "pod=shard-0-jvb-0");
    // The generator built-ins read the real node_exporter.
    let cpu = rows
        .iter()
        .find(|r| r.metric == "generator_cpu_ratio")
        .expect("generator_cpu_ratio");
    assert!((0.0..=1.0).contains(&cpu.value));
    assert!(
        cpu.labels.contains(&format!("instance={}", prom.exporter)),
        "{}",
        cpu.labels
    );
    assert!(value(&rows, "generator_memory_available_bytes").unwrap() > 1e8);
    assert!(value(&rows, "generator_network_transmit_bytes_per_second").is_some());
    // The range API fills the whole window.
    let range = p
        .range(start, Utc::now(), Duration::from_secs(1))
        .await
        .unwrap();
    let cores: Vec<&ServerMetricRow> = range
        .iter()
        .filter(|r| r.metric == "jvb_cpu_cores")
        .collect();
    assert!(cores.len() >= 5, "{} range points", cores.len());
    assert!(
        cores
            .iter()
            .all(|r| r.source == SourceName::PrometheusRange)
    );
    drop(fixture);
}

fn jvb_cfg(name: &str, url: &str, media: &str) -> JvbSource {
    JvbSource {
        name: Some(name.into()),
        url: url.into(),
        media_address: Some(media.into()),
        prometheus: true,
    }
}

#[tokio::test]
async fn jvb_stats_of_both_generations_and_bridge_attribution() {
    let old = Jvb::new(
        &jvb_cfg(
            "jvb-2020",
            &jvb_fixture("colibri-stats-2020.json").await,
            "10.0.0.5",
        ),
        Duration::from_secs(2),
    );
    let new = Jvb::new(
        &jvb_cfg(
            "jvb-now",
            &jvb_fixture("colibri-stats-current.json").await,
            "2001:db8::7",
        ),
        Duration::from_secs(2),
    );
    let a = old.sample(Utc::now()).await.unwrap();
    let b = new.sample(Utc::now()).await.unwrap();
    assert!(
        a.iter()
            .all(|r| r.source == SourceName::Jvb("jvb-2020".into()))
    );
    assert_eq!(value(&a, "colibri_conferences"), Some(3.0));
    assert_eq!(value(&a, "colibri_participants"), Some(24.0));
    assert_eq!(value(&a, "colibri_bit_rate_upload"), Some(68412.0));
    assert_eq!(value(&a, "colibri_rtp_loss"), Some(0.013));
    assert_eq!(
        value(&a, "colibri_nonempty_conferences"),
        Some(2.0),
        "conferences - conference_sizes[0]"
    );
    assert!(a.iter().any(|r| r.metric == "colibri_conference_sizes"
        && r.labels == "bucket=16"
        && r.value == 1.0));
    assert_eq!(
        value(&a, "colibri_stress_level"),
        None,
        "the 2020 bridge had no stress level"
    );
    assert_eq!(value(&b, "colibri_stress_level"), Some(0.37));
    assert_eq!(value(&b, "colibri_endpoints"), Some(11.0));
    assert_eq!(value(&b, "colibri_bit_rate_download"), Some(9120.5));
    assert_eq!(value(&b, "colibri_healthy"), Some(1.0));
    assert_eq!(
        value(&b, "colibri_nonempty_conferences"),
        None,
        "no histogram in the current field set"
    );
    // The bridge's own /metrics (only answered because an Accept header was sent).
    assert_eq!(value(&b, "jitsi_jvb_stress"), Some(0.37));
    assert_eq!(
        value(&b, "jitsi_jvb_incoming_bytes_total"),
        Some(123456789.0)
    );
    assert!(
        b.iter()
            .any(|r| r.metric == "jitsi_jvb_conferences_by_size_bucket" && r.labels == "le=3.0")
    );
    // Attribution: a participant's selected candidate pair → the bridge that served it.
    let bridges = Bridges::new(vec![
        ("10.0.0.5".to_string(), old.name.clone()),
        ("2001:db8::7".to_string(), new.name.clone()),
    ]);
    assert_eq!(bridges.bridge_of("10.0.0.5:10000"), "jvb-2020");
    assert_eq!(bridges.bridge_of("[2001:db8::7]:10000"), "jvb-now");
}

/// A server that answers every request with malformed JSON.
async fn garbage() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = read_request(&mut s, &mut Vec::new()).await;
                let body = "{\"conferences\": 3, \"oops\": [";
                let _ = s.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes()).await;
            });
        }
    });
    base
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_sources_leave_recorded_gaps_and_never_stall() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ResultsDir::create(&tmp.path().join("run")).unwrap();
    let (rec, writer) = dir.spawn_writer().unwrap();
    let refused = format!("http://127.0.0.1:{}", free_port());
    let timeout = Duration::from_millis(500);
    let sources = vec![
        Arc::new(Source::ThisMachine(ThisMachine::new(true))),
        Arc::new(Source::Jvb(Jvb::new(
            &jvb_cfg("hangs", &hanging().await, "127.0.0.1"),
            timeout,
        ))),
        Arc::new(Source::Jvb(Jvb::new(
            &jvb_cfg("garbage", &garbage().await, "127.0.0.1"),
            timeout,
        ))),
        Arc::new(Source::Jvb(Jvb::new(
            &jvb_cfg("refuses", &refused, "127.0.0.1"),
            timeout,
        ))),
        Arc::new(Source::Prometheus(Prometheus::new(
            &prom_cfg(&hanging().await),
            "15s",
            timeout,
        ))),
    ];
    let stop = CancellationToken::new();
    let tally = Arc::new(Tally::default());
    let began = Instant::now();
    let task = tokio::spawn(metrics::collect(
        sources,
        Duration::from_secs(1),
        timeout,
        rec.clone(),
        (tally.clone(), None),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(3500)).await;
    stop.cancel();
    let gaps = task.await.unwrap();
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "the collector stalled: {:?}",
        began.elapsed()
    );
    drop(rec);
    writer.await.unwrap().unwrap();
    for name in ["jvb:hangs", "jvb:garbage", "jvb:refuses", "prometheus"] {
        assert!(
            gaps.iter().any(|g| g.starts_with(&format!("{name}: "))),
            "{name} missing from {gaps:?}"
        );
    }
    assert!(
        gaps.iter().any(|g| g.starts_with("jvb:hangs: ")
            && (g.contains("timed out") || g.contains("no answer within 500ms"))),
        "{gaps:?}"
    );
    assert!(
        gaps.iter()
            .any(|g| g.starts_with("jvb:garbage: /colibri/stats is not JSON: malformed answer")),
        "{gaps:?}"
    );
    assert!(
        gaps.iter()
            .any(|g| g.starts_with("jvb:refuses: /colibri/stats unreachable: connection failed")),
        "{gaps:?}"
    );
    assert!(
        !gaps.iter().any(|g| g.starts_with("generator:")),
        "the healthy source kept working"
    );
    let rows: Vec<ServerMetricRow> = read_csv(&dir.path().join("server_metrics.csv")).unwrap();
    let up = |src: &str, v: f64| {
        rows.iter()
            .filter(|r| {
                r.metric == "loadtest_source_up"
                    && r.labels == format!("source={src}")
                    && r.value == v
            })
            .count()
    };
    assert!(
        up("jvb:hangs", 0.0) >= 3 && up("jvb:garbage", 0.0) >= 3 && up("jvb:refuses", 0.0) >= 3
    );
    assert!(
        rows.iter().any(|r| r.metric == "generator_cpu_ratio"),
        "generator rows kept coming"
    );
    let events: Vec<EventRow> = read_csv(&dir.path().join("events.csv")).unwrap();
    assert!(
        events
            .iter()
            .filter(|e| e.event == Event::MetricsGap)
            .count()
            >= 12
    );
    assert!(
        tally.line().contains("metric gaps"),
        "the live view warns: {}",
        tally.line()
    );
}
