//! The `jitsi` target against a FIXTURE page (tests/fixtures/jitsi-app: a stand-in implementing the
//! documented `APP.conference` / load-test `APP.room` surface over a real in-page WebRTC path; a Jitsi
//! server cannot run here). Real Chromium, real ChromeDriver.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use fantoccini::ClientBuilder;
use loadtest::participant::targets::jitsi;
use loadtest::results::{Outcome, SourceName};
use loadtest::scenario::{JitsiOptions, JitsiPage, WebDriver};
use loadtest::schedule::{Role, ScheduledParticipant};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// Beacons the fixture sent: (kind, room, id).
type Beacons = Arc<Mutex<Vec<(String, String, String)>>>;

/// Serves the fixture's index.html for every path and records `/__fixture/{joined,left}` beacons.
async fn fixture_server() -> (String, Beacons) {
    let page = std::fs::read(repo().join("tests/fixtures/jitsi-app/index.html")).unwrap();
    let beacons: Beacons = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let b = beacons.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let (page, b) = (page.clone(), b.clone());
            tokio::spawn(async move {
                let Some((head, _)) = read_request(&mut sock, &mut Vec::new()).await else {
                    return;
                };
                let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let url = url::Url::parse(&format!("http://x{target}")).unwrap();
                let resp = if let Some(kind) = url.path().strip_prefix("/__fixture/") {
                    let q: std::collections::HashMap<_, _> =
                        url.query_pairs().into_owned().collect();
                    b.lock().unwrap().push((
                        kind.to_string(),
                        q.get("room").cloned().unwrap_or_default(),
                        q.get("id").cloned().unwrap_or_default(),
                    ));
                    b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_vec()
                } else {
                    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", page.len()).into_bytes();
                    r.extend_from_slice(&page);
                    r
                };
                let _ = sock.write_all(&resp).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (base, beacons)
}

fn count(b: &Beacons, kind: &str) -> usize {
    b.lock()
        .unwrap()
        .iter()
        .filter(|(k, _, _)| k == kind)
        .count()
}

fn plan(id: &str, role: Role) -> ScheduledParticipant {
    ScheduledParticipant {
        id: id.parse().unwrap(),
        order: 0,
        conference: 0,
        room: "room1".into(),
        index: 0,
        role,
        join_offset: Duration::ZERO,
        leave_offset: Duration::ZERO,
        step: None,
        cohort: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn urls_and_probes_in_a_real_browser() {
    require(&[Needs::Chromium]);
    let (base, beacons) = fixture_server().await;
    let driver = loadtest::webdriver::chromedriver::ChromeDriver::start(std::path::Path::new(
        "/usr/bin/chromedriver",
    ))
    .await
    .unwrap();
    let probe = std::fs::read_to_string(repo().join("assets/js/jitsi-probe.js")).unwrap();
    let stats = std::fs::read_to_string(repo().join("assets/js/stats.js")).unwrap();
    let caps =
        loadtest::webdriver::capabilities::chrome(&WebDriver::default(), true, true, None, None);

    for page in [JitsiPage::App, JitsiPage::LoadTest] {
        let mut opts = JitsiOptions {
            page,
            tenant: Some("acme".into()),
            ..Default::default()
        };
        opts.config.insert(
            "subject".into(),
            toml::Value::String("a=b&c #1 \"q\"".into()),
        );
        opts.config
            .insert("channelLastN".into(), toml::Value::Integer(5));
        let url = jitsi::participant_url(
            &url::Url::parse(&base).unwrap(),
            &opts,
            &plan("c0p0", Role::AudioVideo),
            Some("t0k3n"),
        );
        let mut b = ClientBuilder::native();
        b.capabilities(caps.clone());
        let c = b.connect(driver.url().as_str()).await.unwrap();
        c.goto(url.as_str()).await.unwrap();
        c.execute(&probe, vec![]).await.unwrap();
        // Joined within the join timeout.
        let mut state = Value::Null;
        for _ in 0..40 {
            state = c
                .execute("return window.__lt.state()", vec![])
                .await
                .unwrap();
            if state["phase"] == "joined" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert_eq!(state["phase"], "joined", "{page:?}: {state}");
        assert_eq!(state["joined"], true);
        // The page parsed every override intact, including a value with = & # and quotes.
        let seen = c
            .execute(
                "return {p2p: config.p2p.enabled, subject: config.subject, lastN: config.channelLastN, \
                 name: APP.params['userInfo.displayName'], jwt: APP.query.jwt, tenant: FIXTURE.tenant, load: FIXTURE.isLoadTest, \
                 prejoin: config.prejoinConfig.enabled, muted: config.startWithVideoMuted === undefined}",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            seen,
            json!({"p2p": false, "subject": "a=b&c #1 \"q\"", "lastN": 5, "name": "c0p0", "jwt": "t0k3n", "tenant": "acme",
                   "load": page == JitsiPage::LoadTest, "prejoin": false, "muted": true}),
            "{page:?}"
        );
        // stats.js through the probe: received video attributed to the fixture's remote endpoint.
        let mut rows = Vec::new();
        for _ in 0..20 {
            let s = c.execute_async(&stats, vec![]).await.unwrap();
            rows = s["rows"].as_array().cloned().unwrap_or_default();
            if rows.iter().any(|r| {
                r["direction"] == "recv"
                    && r["kind"] == "video"
                    && r["fps"].as_f64().is_some_and(|f| f > 0.0)
            }) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let recv = rows
            .iter()
            .find(|r| r["direction"] == "recv" && r["kind"] == "video")
            .expect("a received video stream");
        assert_eq!(recv["peer"], "abcd1234", "{page:?}: {recv}");
        assert!(recv["fps"].as_f64().unwrap() > 0.0);
        assert!(
            recv["remote_address"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:")
        );
        assert!(
            rows.iter()
                .any(|r| r["direction"] == "send" && r["kind"] == "video")
        );
        // The fixture's tone arrives, with the share of concealed audio over the interval.
        assert!(
            rows.iter().any(|r| r["direction"] == "recv"
                && r["kind"] == "audio"
                && r["concealed_ratio"]
                    .as_f64()
                    .is_some_and(|c| (0.0..=1.0).contains(&c))),
            "{page:?}: {rows:?}"
        );
        // Leave: the page's leave, then a blank page; the fixture saw the participant go.
        let joined_before = count(&beacons, "joined");
        c.execute_async("var d = arguments[arguments.length-1]; window.__lt.leave().then(function(){ d(window.__lt.state().phase); });", vec![])
            .await
            .unwrap();
        c.goto("about:blank").await.unwrap();
        assert!(
            wait_until(Duration::from_secs(5), || count(&beacons, "left")
                == count(&beacons, "joined")),
            "{page:?} left beacon"
        );
        assert!(joined_before >= 1);
        c.close().await.unwrap();
    }
    driver.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn loadtest_run_against_the_fixture() {
    require(&[Needs::Chromium]);
    let (base, beacons) = fixture_server().await;
    // A bridge FIXTURE for attribution, one that hangs and one that refuses: the run must not care.
    let (jvb, hang, refused) = (
        jvb_fixture("colibri-stats-current.json").await,
        hanging().await,
        free_port(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("jitsi.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"jitsi-fixture\"\n[target]\nkind = \"jitsi\"\nurl = \"{base}\"\n[target.jitsi]\njwt_env = \"LT_TEST_JWT\"\n\
             [load]\nconferences = 1\nparticipants = 2\nsenders = 2\naudio_senders = 0\nduration = \"8s\"\njoin_delay = \"1s\"\n\
             [media]\nvideo = \"tiny\"\nreceive_audio = false\n[stats]\ninterval = \"1s\"\n\
             [metrics]\ntimeout = \"700ms\"\n\
             [[metrics.jvb]]\nname = \"jvb-fixture\"\nurl = \"{jvb}\"\nmedia_address = \"127.0.0.1\"\n\
             [[metrics.jvb]]\nname = \"hangs\"\nurl = \"{hang}\"\n\
             [[metrics.jvb]]\nname = \"refuses\"\nurl = \"http://127.0.0.1:{refused}\"\n"
        ),
    )
    .unwrap();
    let out = tmp.path().join("run");
    let secret = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRlc3Q.sig";
    let o = std::process::Command::new(bin())
        .args([
            "run",
            "-s",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .env("LT_TEST_JWT", secret)
        .env("LOADTEST_CACHE", repo().join(".cache/loadtest"))
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = read_results(&out);
    assert_eq!(
        r.participants
            .iter()
            .filter(|p| p.outcome == Outcome::Completed)
            .count(),
        2,
        "{:?}",
        r.participants
    );
    for p in &r.participants {
        assert!(r.video_peers(p.participant).contains("abcd1234"));
        assert!(p.remote_address.starts_with("127.0.0.1:"));
        assert_eq!(
            p.bridge, "jvb-fixture",
            "attributed to the bridge whose media address it used"
        );
    }
    let server: Vec<loadtest::results::ServerMetricRow> =
        loadtest::results::read_csv(&out.join("server_metrics.csv")).unwrap();
    assert!(
        server
            .iter()
            .any(|m| m.source == SourceName::Jvb("jvb-fixture".into())
                && m.metric == "colibri_stress_level"
                && m.value == 0.37)
    );
    assert!(
        server
            .iter()
            .any(|m| m.source == SourceName::Jvb("jvb-fixture".into())
                && m.metric == "jitsi_jvb_endpoints")
    );
    for broken in ["jvb:hangs: ", "jvb:refuses: "] {
        assert!(
            r.info.metric_gaps.iter().any(|g| g.starts_with(broken)),
            "{broken} {:?}",
            r.info.metric_gaps
        );
    }
    assert_eq!(count(&beacons, "joined"), 2);
    assert!(
        wait_until(Duration::from_secs(3), || count(&beacons, "left") == 2),
        "every participant left the room"
    );
    // The JWT reached the page but no results file.
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                !text.contains(secret) && !text.contains("c2VjcmV0LXRlc3Q"),
                "secret in {}",
                path.display()
            );
        }
    }
    assert!(
        r.events
            .iter()
            .any(|e| e.event.as_str() == "navigate" && e.detail.contains("jwt=***"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_participant_that_never_joins_fails_with_its_reason() {
    require(&[Needs::Chromium]);
    let (base, _beacons) = fixture_server().await;
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("jitsi.toml");
    // The base URL's query travels with every participant: the fixture never completes the join.
    std::fs::write(
        &scenario,
        format!(
            "[target]\nkind = \"jitsi\"\nurl = \"{base}?fixture.failJoin=true\"\n\
             [load]\nconferences = 1\nparticipants = 1\nduration = \"5s\"\naudio_senders = 0\n[media]\nvideo = \"tiny\"\n[timeouts]\njoin = \"4s\"\n"
        ),
    )
    .unwrap();
    let out = tmp.path().join("run");
    let o = loadtest(&[
        "run",
        "-s",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let r = read_results(&out);
    assert_eq!(r.participants[0].outcome, Outcome::Failed);
    assert!(
        r.participants[0].reason.contains("not joined within 4s"),
        "{}",
        r.participants[0].reason
    );
    assert!(
        r.participants[0].reason.contains("phase connecting"),
        "{}",
        r.participants[0].reason
    );
}
