//! `[export]` end to end: a real Prometheus scrapes `loadtest run` during the local demo (real Janus,
//! real Chromium); PromQL over the scraped series agrees with the results directory, every query of
//! the Grafana dashboard in deploy/monitoring parses and returns data, and the endpoint stays on
//! loopback unless asked.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use loadtest::export::client::FPS_BUCKETS;
use loadtest::export::{Endpoint, Exporter};
use loadtest::live::{Phase, Tally};
use loadtest::results::ClientStatRow;
use loadtest::scenario::{Dur, Export};
use loadtest::schedule::{ParticipantId, Role};
use serde_json::Value;

/// One series of a query answer: its labels and value(s).
type Series = (BTreeMap<String, String>, Vec<(f64, f64)>);

/// Ask Prometheus; `Err` carries its error (a query that does not parse is a 400 with `bad_data`).
async fn ask(prom: &str, path: &str, params: &[(&str, String)]) -> Result<Vec<Series>, String> {
    let r = reqwest::Client::new()
        .get(format!("{prom}/api/v1/{path}"))
        .query(params)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let v: Value = r.json().await.map_err(|e| e.to_string())?;
    if v["status"] != "success" {
        return Err(format!("{}: {}", v["errorType"], v["error"]));
    }
    let num = |p: &Value| -> (f64, f64) {
        (
            p[0].as_f64().unwrap_or(f64::NAN),
            p[1].as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN),
        )
    };
    Ok(v["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let labels = serde_json::from_value(s["metric"].clone()).unwrap_or_default();
            let points = match (&s["value"], s["values"].as_array()) {
                (Value::Array(_), _) => vec![num(&s["value"])],
                (_, Some(vs)) => vs.iter().map(num).collect(),
                _ => Vec::new(),
            };
            (labels, points)
        })
        .collect())
}

async fn instant(prom: &str, q: &str) -> Result<Vec<Series>, String> {
    ask(prom, "query", &[("query", q.to_string())]).await
}

async fn range(prom: &str, q: &str, from: f64, to: f64) -> Result<Vec<Series>, String> {
    let p = [
        ("query", q.to_string()),
        ("start", format!("{from:.3}")),
        ("end", format!("{to:.3}")),
        ("step", "1".to_string()),
    ];
    ask(prom, "query_range", &p).await
}

fn unix(t: &str) -> f64 {
    loadtest::results::parse_ts(t).unwrap().timestamp_millis() as f64 / 1000.0
}

fn now() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

/// Every PromQL expression of the dashboard (panels and annotations), with Grafana's variables
/// replaced as Grafana would for this test: run = All (`.*`), namespace = `jitsi`, and
/// `$__rate_interval` = 10s (Grafana's own rule, max(4 × scrape interval, interval + scrape
/// interval), gives 4 s for a 1 s scrape; 10 s covers five of the demo's 2 s stats samples so a rate
/// over it is never empty by chance).
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("deploy/monitoring/loadtest-dashboard.json"))
        .expect("the dashboard");
    let d: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let fill = |e: &str| {
        e.replace("$__rate_interval", "10s")
            .replace("$run", ".*")
            .replace("$namespace", "jitsi")
    };
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            let e = t["expr"].as_str().expect("each target has an expr");
            out.push((p["title"].as_str().unwrap().to_string(), fill(e)));
        }
    }
    for a in d["annotations"]["list"].as_array().unwrap() {
        if let Some(e) = a["expr"].as_str() {
            out.push((format!("annotation {}", a["name"]), fill(e)));
        }
    }
    assert!(out.len() >= 15, "{} queries", out.len());
    assert!(
        !out.iter().any(|(_, e)| e.contains('$')),
        "a variable the test does not know: {out:#?}"
    );
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_the_local_demo_and_every_dashboard_query_returns_data() {
    require(&[Needs::Janus, Needs::Chromium, Needs::Prometheus]);
    let queries = dashboard_queries();
    let tmp = tempfile::tempdir().unwrap();
    let sb = janus(tmp.path()).await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let prom = start_prometheus_scraping(&tmp.path().join("prom"), &[("loadtest", &listen)]);
    let _bridge = BridgeFixture::start(&prom.textfile);
    let out = tmp.path().join("run");
    let t0 = now();
    let mut child = spawn_loadtest(&[
        "run",
        "-s",
        "scenarios/local-janus.toml",
        "--set",
        &format!("target.url={}", sb.janus_url),
        "--set",
        &format!("metrics.janus.admin_url={}", sb.admin_url),
        "--set",
        &format!(
            "metrics.janus.admin_secret_file={}",
            sb.dir.join("admin_secret").display()
        ),
        "--set",
        "load.duration=20s",
        "--set",
        "export.linger=3s",
        "--metrics-listen",
        &listen,
        "--out",
        out.to_str().unwrap(),
    ]);

    // During the run: wait until Prometheus sees all six in the call, let a few stats samples
    // arrive, then run every dashboard query through the query API.
    let in_call = "sum(loadtest_participants{phase=\"in_call\"})";
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut six_at = None;
    while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        let v = instant(&prom.url, in_call).await.unwrap_or_default();
        if v.first().is_some_and(|s| s.1[0].1 == 6.0) {
            six_at = Some(Instant::now());
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        six_at.is_some(),
        "Prometheus never saw 6 participants in call"
    );
    tokio::time::sleep(Duration::from_secs(8)).await;
    let mut empty = Vec::new();
    for (title, q) in &queries {
        if title.contains("Run end") {
            continue; // no end yet: checked after the run
        }
        let r = instant(&prom.url, q)
            .await
            .unwrap_or_else(|e| panic!("{title}: {q} does not run: {e}"));
        let finite = r.iter().any(|(_, p)| p.iter().any(|(_, v)| v.is_finite()));
        if !finite {
            empty.push(format!("{title}: {q}"));
        }
    }
    assert!(
        empty.is_empty(),
        "panels without data during the run: {empty:#?}"
    );

    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    // Every participant completed; the verdict (exit 0 or 1) may be `invalid` when other work loads
    // this machine, which changes nothing here: both sides read the same samples.
    assert!(matches!(o.status.code(), Some(0 | 1)), "{stderr}");
    let files = read_results(&out);
    assert_eq!(
        (files.info.completed, files.info.failed),
        (6, 0),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "live metrics for Prometheus: http://{listen}/metrics"
        )),
        "{stderr}"
    );
    let t1 = now();

    // Participants in call: rise to 6, back to 0 once everyone hung up (the endpoint lingers 3 s).
    let series = range(&prom.url, in_call, t0, t1).await.unwrap();
    let points = &series.first().expect("an in_call series").1;
    let values: Vec<f64> = points.iter().map(|p| p.1).collect();
    assert!(values[0] < 6.0, "rises: {values:?}");
    assert_eq!(
        values.iter().cloned().fold(0.0, f64::max),
        6.0,
        "{values:?}"
    );
    assert_eq!(*values.last().unwrap(), 0.0, "back to 0: {values:?}");

    // The run's start and end, as the annotations show them, inside the run.
    for (title, q) in queries.iter().filter(|(t, _)| t.starts_with("annotation")) {
        let r = range(&prom.url, q, t0, t1).await.unwrap();
        let ms = r.first().and_then(|s| s.1.last()).map(|p| p.1);
        let at = ms.unwrap_or_else(|| panic!("{title}: no data")) / 1000.0;
        assert!(
            at >= t0 - 1.0 && at <= t1,
            "{title}: {at} outside {t0}..{t1}"
        );
    }

    // The endpoint is a view of the results directory: the same counts...
    let recv_video = files
        .stats
        .iter()
        .filter(|r| r.received() && r.video() && r.fps.is_some())
        .count() as f64;
    let joins = files
        .participants
        .iter()
        .filter(|p| p.join_ms.is_some())
        .count() as f64;
    let last = |q: &'static str| {
        let prom = prom.url.clone();
        async move {
            let r = range(&prom, q, t0, t1).await.unwrap();
            r.first().and_then(|s| s.1.last()).map(|p| p.1)
        }
    };
    let fps_count = "sum(loadtest_client_fps_count{direction=\"recv\",kind=\"video\"})";
    assert_eq!(
        last(fps_count).await,
        Some(recv_video),
        "received video samples"
    );
    assert_eq!(last("sum(loadtest_join_ms_count)").await, Some(joins));

    // ...and the report's received fps median, from the histogram over the same steady window.
    // histogram_quantile only knows which bucket a value is in and interpolates linearly inside it,
    // so the two agree within the width of the bucket that holds the report's value.
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let p50 = summary["table"]["recv_fps_p50"]
        .as_f64()
        .expect("report fps p50");
    let w = &summary["client"]["window"];
    let (from, to) = (
        unix(w["from"].as_str().unwrap()),
        unix(w["to"].as_str().unwrap()),
    );
    let secs = (to - from).floor() as u64;
    let q = format!(
        "histogram_quantile(0.5, sum by (le) (increase(loadtest_client_fps_bucket{{direction=\"recv\",kind=\"video\"}}[{secs}s])))"
    );
    let r = ask(
        &prom.url,
        "query",
        &[("query", q.clone()), ("time", format!("{to:.3}"))],
    )
    .await
    .unwrap();
    let promql = r.first().map(|s| s.1[0].1).expect("a quantile");
    let upper = FPS_BUCKETS
        .iter()
        .position(|b| *b >= p50)
        .expect("in a bucket");
    let tolerance = FPS_BUCKETS[upper]
        - if upper == 0 {
            0.0
        } else {
            FPS_BUCKETS[upper - 1]
        };
    eprintln!("recv fps p50: report {p50}, PromQL {promql} (tolerance {tolerance})");
    assert!(
        (promql - p50).abs() <= tolerance,
        "PromQL {q} = {promql}, report recv_fps_p50 = {p50}, tolerance {tolerance}"
    );
}

#[test]
fn a_non_loopback_endpoint_is_refused_unless_asked() {
    let dry = |extra: &[&str]| {
        let mut args = vec!["run", "-s", "scenarios/local-janus.toml", "--dry-run"];
        args.extend_from_slice(extra);
        loadtest(&args)
    };
    let o = dry(&["--metrics-listen", "0.0.0.0:9464"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0));
    assert!(err.contains("export.listen"), "{err}");
    assert!(err.contains("not a loopback address"), "{err}");
    assert!(err.contains("--metrics-listen"), "names the flag: {err}");
    let o = dry(&[
        "--metrics-listen",
        "0.0.0.0:9464",
        "--set",
        "export.allow_remote=true",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = dry(&["--set", "export.listen=[::1]:9464"]);
    assert_eq!(o.status.code(), Some(0), "IPv6 loopback is loopback");
}

/// The sample lines of a metric family in an exposition text whose labels include every `want`.
fn samples<'a>(text: &'a str, name: &str, want: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| want.iter().all(|w| l.contains(w)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn pushes_to_a_real_pushgateway_and_once_more_at_the_end() {
    require(&[Needs::Pushgateway]);
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = |n: &str| Stdio::from(std::fs::File::create(tmp.path().join(n)).unwrap());
    let _pgw = Procs(vec![
        Command::new("prometheus-pushgateway")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!(
                "--persistence.file={}",
                tmp.path().join("pgw.data").display()
            ))
            .stdout(log("pgw.out"))
            .stderr(log("pgw.err"))
            .spawn()
            .expect("prometheus-pushgateway"),
    ]);
    let base = format!("http://127.0.0.1:{port}");
    let get = |path: &'static str| {
        let url = format!("{base}{path}");
        async move {
            match reqwest::get(&url).await {
                Ok(r) if r.status().is_success() => r.text().await.ok(),
                _ => None,
            }
        }
    };
    let mut ready = false;
    for _ in 0..100 {
        if get("/-/ready").await.is_some() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the Pushgateway did not start");

    let who = ParticipantId {
        conference: 0,
        index: 0,
    };
    let tally = Arc::new(Tally::new([(who, Role::Video)]));
    let cfg = Export {
        listen: String::new(),
        push_url: Some(base.clone()),
        push_interval: Dur::from_secs(1),
        ..Export::default()
    };
    let x = Arc::new(Exporter::new(&cfg, "run-1", 1, tally.clone()));
    let endpoint = Endpoint::start(&cfg, x.clone()).await.unwrap();
    assert!(endpoint.url().is_none(), "push only: nothing listens");
    tally.set(who, Phase::InCall);
    x.stats(
        &mut Default::default(),
        "janus",
        &[ClientStatRow {
            participant: who,
            direction: "recv".into(),
            kind: "video".into(),
            fps: Some(15.0),
            ..Default::default()
        }],
    );
    let group = ["job=\"loadtest\"", "run=\"run-1\""];
    let in_call = [&group[..], &["phase=\"in_call\""]].concat();
    let mut pushed = false;
    for _ in 0..50 {
        let text = get("/metrics").await.unwrap_or_default();
        if samples(&text, "loadtest_participants", &in_call)
            .iter()
            .any(|l| l.ends_with(" 1"))
        {
            pushed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(pushed, "no push reached the Pushgateway");
    endpoint.close().await;
    let text = get("/metrics").await.unwrap();
    let end = samples(&text, "loadtest_run_end_time_seconds", &group);
    let end: f64 = end
        .first()
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no end time pushed: {text}"));
    assert!(end > 1.7e9, "the last push carries the end: {end}");
    let fps = samples(&text, "loadtest_client_fps_count", &group);
    assert!(fps.iter().any(|l| l.ends_with(" 1")), "{fps:?}");
}
