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

/// `fixture.forward`'s signalling messages waiting per (room, recipient endpoint id).
type Mailboxes = Arc<Mutex<std::collections::HashMap<(String, String), Vec<Value>>>>;

/// The members of `room` now: joined and not left (what the FIXTURE focus counts).
fn members(b: &Beacons, room: &str) -> Vec<String> {
    let b = b.lock().unwrap();
    let mut ids: Vec<String> = Vec::new();
    for (kind, r, id) in b.iter().filter(|(_, r, _)| r == room) {
        let _ = r;
        match kind.as_str() {
            "joined" if !ids.contains(id) => ids.push(id.clone()),
            "left" => ids.retain(|x| x != id),
            _ => {}
        }
    }
    ids
}

/// How the FIXTURE server behaves.
#[derive(Clone, Default)]
struct Opts {
    /// Verify tokens on `/__fixture/connect` (like prosody's token auth): signature, `exp`, and a
    /// `room` claim of the room or `*`.
    verify: Option<(jsonwebtoken::DecodingKey, jsonwebtoken::Algorithm)>,
    /// Serve the load-test client (`/_load-test/<room>` and its script); stock installs do not.
    load_test_client: bool,
}

/// What the FIXTURE server saw.
#[derive(Clone, Default)]
struct Seen {
    beacons: Beacons,
    /// Every token presented on `/__fixture/connect`, with the room and whether it was accepted.
    tokens: Arc<Mutex<Vec<(String, String, bool)>>>,
    /// Paths requested.
    paths: Arc<Mutex<Vec<String>>>,
    /// `fixture.forward`'s mailbox: messages waiting per (room, recipient endpoint id).
    signals: Mailboxes,
    /// When each beacon arrived: (kind, id, arrival).
    beacon_times: Arc<Mutex<Vec<(String, String, std::time::Instant)>>>,
}

/// Whether the server accepts `token` for `room` (`None`: no verification configured).
fn verify(opts: &Opts, token: Option<&str>, room: &str) -> bool {
    let Some((key, alg)) = &opts.verify else {
        return true;
    };
    let Some(token) = token else { return false };
    let mut v = jsonwebtoken::Validation::new(*alg);
    v.validate_aud = false;
    v.leeway = 0;
    match jsonwebtoken::decode::<Value>(token, key, &v) {
        Ok(data) => data.claims["room"] == "*" || data.claims["room"] == room,
        Err(_) => false,
    }
}

/// Serves the fixture's index.html for every path, records `/__fixture/{joined,left}` beacons,
/// answers `/__fixture/members?room=` from them and `/__fixture/connect` (token check).
async fn fixture_server() -> (String, Beacons) {
    let (base, seen) = fixture(Opts {
        load_test_client: true,
        ..Opts::default()
    })
    .await;
    (base, seen.beacons)
}

async fn fixture(opts: Opts) -> (String, Seen) {
    let page = std::fs::read(repo().join("tests/fixtures/jitsi-app/index.html")).unwrap();
    let seen = Seen::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let s2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let (page, seen, opts) = (page.clone(), s2.clone(), opts.clone());
            tokio::spawn(async move {
                let Some((head, body)) = read_request(&mut sock, &mut Vec::new()).await else {
                    return;
                };
                let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let url = url::Url::parse(&format!("http://x{target}")).unwrap();
                seen.paths.lock().unwrap().push(url.path().to_string());
                let resp = match url.path() {
                    "/__fixture/signal" => signal(&url, &body, &seen),
                    _ => respond(&url, &page, &seen, &opts),
                };
                let _ = sock.write_all(&resp).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (base, seen)
}

/// `fixture.forward`'s signalling: a POST (`?room=&from=&to=`, a JSON body) leaves a message for `to`;
/// a GET (`?room=&to=`) answers and empties `to`'s mailbox.
fn signal(url: &url::Url, body: &str, seen: &Seen) -> Vec<u8> {
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    let field = |k: &str| q.get(k).cloned().unwrap_or_default();
    let key = (field("room"), field("to"));
    let mut boxes = seen.signals.lock().unwrap();
    if body.is_empty() {
        let inbox = boxes.remove(&key).unwrap_or_default();
        return http(
            "200 OK",
            "application/json",
            Value::from(inbox).to_string().as_bytes(),
        );
    }
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(mut m)) => {
            m.insert("from".into(), Value::String(field("from")));
            boxes.entry(key).or_default().push(Value::Object(m));
            b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_vec()
        }
        _ => http("400 Bad Request", "text/plain", b"expected a JSON object"),
    }
}

fn http(status: &str, ctype: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nCache-Control: no-store\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    r.extend_from_slice(body);
    r
}

/// The FIXTURE load-test client script: what the real page's `libs/load-test-participant.min.js`
/// is for the preflight (the page itself is index.html in load-test mode).
const LOAD_TEST_CLIENT: &str = "/* FIXTURE load-test-participant.min.js (not the real client) */\nwindow.__fixtureLoadTestClient = true;\n";

fn respond(url: &url::Url, page: &[u8], seen: &Seen, opts: &Opts) -> Vec<u8> {
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    let room = q.get("room").cloned().unwrap_or_default();
    let path = url.path();
    let load_test = path.contains("/_load-test/");
    if load_test && !opts.load_test_client {
        // docker-jitsi-meet mounts an empty folder at /usr/share/jitsi-meet/load-test
        return http("404 Not Found", "text/html", b"<h1>404 Not Found</h1>");
    }
    if path.ends_with("/libs/load-test-participant.min.js") {
        return http("200 OK", "text/javascript", LOAD_TEST_CLIENT.as_bytes());
    }
    match path {
        "/__fixture/config-whitelist" => {
            let list = std::fs::read(repo().join("assets/jitsi/config-whitelist.txt")).unwrap();
            http("200 OK", "text/plain", &list)
        }
        "/__fixture/members" => {
            let body = json!({ "members": members(&seen.beacons, &room) }).to_string();
            http("200 OK", "application/json", body.as_bytes())
        }
        "/__fixture/connect" => {
            let token = q.get("token").map(String::as_str);
            let ok = verify(opts, token, &room);
            if let Some(t) = token {
                seen.tokens.lock().unwrap().push((t.to_string(), room, ok));
            }
            if ok {
                http("200 OK", "text/plain", b"ok")
            } else {
                http("403 Forbidden", "text/plain", b"not allowed")
            }
        }
        p if p.starts_with("/__fixture/") => {
            seen.beacon_times.lock().unwrap().push((
                p["/__fixture/".len()..].to_string(),
                q.get("id").cloned().unwrap_or_default(),
                std::time::Instant::now(),
            ));
            seen.beacons.lock().unwrap().push((
                p["/__fixture/".len()..].to_string(),
                room,
                q.get("id").cloned().unwrap_or_default(),
            ));
            b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_vec()
        }
        _ if load_test => {
            // the real page loads its client from libs/ next to it
            let tag = b"<script src=\"libs/load-test-participant.min.js?v=1\"></script>";
            let mut body = page.to_vec();
            body.extend_from_slice(tag);
            http("200 OK", "text/html; charset=utf-8", &body)
        }
        _ => http("200 OK", "text/html; charset=utf-8", page),
    }
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
        // One page alone: the FIXTURE focus starts the media session at once.
        let url = jitsi::participant_url(
            &url::Url::parse(&format!("{base}?fixture.minParticipants=1")).unwrap(),
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
        // The page's own endpoint id, as other pages name its streams (the delay join's alias).
        let ids = c
            .execute("return [window.__lt.myId(), FIXTURE.myId]", vec![])
            .await
            .unwrap();
        assert!(ids[0].is_string() && ids[0] == ids[1], "{page:?}: {ids}");
        // The page parsed every override intact, including a value with = & # and quotes.
        let seen = c
            .execute(
                "return {p2p: config.p2p.enabled, subject: config.subject, lastN: config.channelLastN, \
                 name: APP.params['userInfo.displayName'], jwt: FIXTURE.isLoadTest ? APP.query.jwt : APP.params.jwt, \
                 jwtInQuery: APP.query.jwt !== undefined, tenant: FIXTURE.tenant, load: FIXTURE.isLoadTest, \
                 prejoin: config.prejoinConfig.enabled, muted: config.startWithVideoMuted === undefined}",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            seen,
            json!({"p2p": false, "subject": "a=b&c #1 \"q\"", "lastN": 5, "name": "c0p0", "jwt": "t0k3n", "tenant": "acme",
                   "jwtInQuery": page == JitsiPage::LoadTest,
                   "load": page == JitsiPage::LoadTest, "prejoin": false, "muted": true}),
            "{page:?}"
        );
        // stats.js through the probe: received video attributed to the fixture's remote endpoint.
        // Rates and the concealed share are per interval, so they need a second sample: wait for both.
        let mut rows = Vec::new();
        for _ in 0..20 {
            let s = c.execute_async(&stats, vec![]).await.unwrap();
            rows = s["rows"].as_array().cloned().unwrap_or_default();
            let video = rows.iter().any(|r| {
                r["direction"] == "recv"
                    && r["kind"] == "video"
                    && r["fps"].as_f64().is_some_and(|f| f > 0.0)
            });
            let audio = rows.iter().any(|r| {
                r["direction"] == "recv" && r["kind"] == "audio" && r["concealed_ratio"].is_number()
            });
            if video && audio {
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
            "name = \"jitsi-fixture\"\n[target]\nkind = \"jitsi\"\nurl = \"{base}?fixture.forward=true\"\n[target.jitsi]\njwt_env = \"LT_TEST_JWT\"\n\
             [load]\nconferences = 1\nparticipants_per_conference = 2\nvideo_senders = 2\naudio_senders = 0\nduration = \"10s\"\njoin_delay = \"1s\"\n\
             [media]\nvideo = \"tiny\"\nreceive_audio = false\n[stats]\ninterval = \"1s\"\n\
             [metrics]\ntimeout = \"700ms\"\n\
             [[metrics.jvb]]\nname = \"jvb-fixture\"\nurl = \"{jvb}\"\nmedia_address = \"127.0.0.1\"\n\
             [[metrics.jvb]]\nname = \"hangs\"\nurl = \"{hang}\"\n\
             [[metrics.jvb]]\nname = \"refuses\"\nurl = \"http://127.0.0.1:{refused}\"\n"
        ),
    )
    .unwrap();
    let out = tmp.path().join("run");
    // A shared static token: room "*" (it opens every room) and an expiry after the run.
    let secret = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({ "room": "*", "exp": chrono::Utc::now().timestamp() + 3600, "aud": "jitsi" }),
        &jsonwebtoken::EncodingKey::from_secret(b"static-token-signing-key").unwrap(),
    )
    .unwrap();
    let secret = secret.as_str();
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
    let r = read_results(&out);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{:?}\n{}",
        r.participants,
        String::from_utf8_lossy(&o.stderr)
    );
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
                !text.contains(secret) && !text.contains(secret.split('.').nth(1).unwrap()),
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
    // What people see, injected into the Jitsi page. With fixture.forward each page's bridge sends
    // its canvas (no frame codes, endpoint abcd1234) until it forwards the other participant's real
    // camera under that page's endpoint id: those rows name the sending participant (through the
    // endpoint id its page registered) and carry delays joined with its capture times.
    let seen: Vec<loadtest::results::VideoQualityRow> =
        loadtest::results::read_csv(&out.join("video_quality.csv")).expect("video_quality.csv");
    let endpoints = members_ever(&beacons);
    assert_eq!(endpoints.len(), 2, "{endpoints:?}");
    for p in &r.participants {
        let other = r
            .participants
            .iter()
            .find(|o| o.participant != p.participant);
        let other = other.unwrap().participant.to_string();
        let (canvas, forwarded): (Vec<_>, Vec<_>) = seen
            .iter()
            .filter(|v| v.participant == p.participant)
            .partition(|v| v.peer == "abcd1234");
        assert!(
            canvas
                .iter()
                .all(|v| v.codes == 0 && v.sender.is_empty() && v.delay_ms_p50.is_none()),
            "an endpoint of no participant has no sender and no delay: {canvas:?}"
        );
        // A row before the sender's first take cannot name it yet (empty); none names another.
        assert!(
            forwarded.iter().all(|v| endpoints.contains(&v.peer)
                && (v.sender == other || v.sender.is_empty() && v.delay_samples == 0)),
            "{}: {forwarded:?}",
            p.participant
        );
        let delays: Vec<f64> = forwarded.iter().filter_map(|v| v.delay_ms_p50).collect();
        let samples: u32 = forwarded.iter().map(|v| v.delay_samples).sum();
        println!(
            "{} <- {other}: delay p50 per row {delays:?} ms over {samples} frames",
            p.participant
        );
        assert!(samples >= 10, "{}: {forwarded:?}", p.participant);
        assert!(r.video_peers(p.participant).contains(&forwarded[0].peer));
        assert!(
            delays.iter().all(|d| (0.0..1000.0).contains(d)),
            "plausible on loopback: {delays:?}"
        );
        assert!(
            forwarded
                .iter()
                .any(|v| v.psnr_db_p50.is_some_and(|x| x > 20.0)),
            "{forwarded:?}"
        );
        assert!(
            !r.has_event(p.participant, "quality_warning"),
            "{:?}",
            r.events
        );
    }
}

/// Every endpoint id that joined (the FIXTURE pages' `getMyUserId()`).
fn members_ever(b: &Beacons) -> Vec<String> {
    let b = b.lock().unwrap();
    let mut ids: Vec<String> = Vec::new();
    for (_, _, id) in b.iter().filter(|(kind, _, _)| kind == "joined") {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    ids
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
             [load]\nconferences = 1\nparticipants_per_conference = 1\nduration = \"5s\"\naudio_senders = 0\n[media]\nvideo = \"tiny\"\n[timeouts]\njoin = \"4s\"\n"
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

/// A scenario against the FIXTURE server at `base` (`[target]` prepared, the rest from `rest`), run to
/// its end with `env`; returns the process output, the results and their directory.
fn run_scenario(
    base: &str,
    target_extra: &str,
    rest: &str,
    env: &[(&str, &str)],
) -> (
    std::process::Output,
    RunFiles,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("jitsi.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"jitsi-fixture\"\n[target]\nkind = \"jitsi\"\nurl = \"{base}\"\n{target_extra}\n{rest}\n"
        ),
    )
    .unwrap();
    let out = tmp.path().join("run");
    let o = std::process::Command::new(bin())
        .args([
            "run",
            "-s",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--no-report",
        ])
        .envs(env.iter().copied())
        .env("LOADTEST_CACHE", repo().join(".cache/loadtest"))
        .output()
        .unwrap();
    let r = read_results(&out);
    (o, r, tmp, out)
}

fn completed(r: &RunFiles) -> usize {
    r.participants
        .iter()
        .filter(|p| p.outcome == Outcome::Completed)
        .count()
}

/// Defect 1: jicofo starts no media session for one member, so a one-person conference has no ICE
/// at all; it must still join (in the room) and complete. Failed before: "not joined within 30s
/// (phase connecting, ice -)".
#[tokio::test(flavor = "multi_thread")]
async fn a_one_person_conference_joins_and_completes() {
    require(&[Needs::Chromium]);
    let (base, _b) = fixture_server().await;
    let (o, r, _tmp, _) = run_scenario(
        &base,
        "",
        "[load]\nconferences = 1\nparticipants_per_conference = 1\naudio_senders = 0\nduration = \"6s\"\n\
         [media]\nvideo = \"tiny\"\n[stats]\ninterval = \"1s\"\n[timeouts]\njoin = \"10s\"\n",
        &[],
    );
    assert_eq!(
        completed(&r),
        1,
        "{:?}\n{}",
        r.participants,
        String::from_utf8_lossy(&o.stderr)
    );
    let p = &r.participants[0];
    assert!(p.join_ms.is_some_and(|ms| ms < 10_000), "{p:?}");
    assert_eq!(p.ice_ms, None, "no media session alone: {p:?}");
    assert!(
        r.events
            .iter()
            .any(|e| e.event.as_str() == "media" && e.detail.contains("alone"))
    );
}

/// Defect 1: with `join_delay = 40s` the first member is in the room 40 s before the second; joined
/// is the MUC join, ICE is required (and timed) once the second member is in. Failed before: the
/// first participant was "not joined within 30s (phase connecting, ice -)".
#[tokio::test(flavor = "multi_thread")]
async fn the_first_member_joins_at_once_and_gets_ice_when_the_second_arrives() {
    require(&[Needs::Chromium]);
    let (base, _b) = fixture_server().await;
    let (o, r, _tmp, _) = run_scenario(
        &base,
        "",
        "[load]\nconferences = 1\nparticipants_per_conference = 2\naudio_senders = 0\nduration = \"46s\"\njoin_delay = \"40s\"\n\
         [media]\nvideo = \"tiny\"\nreceive_audio = false\n[stats]\ninterval = \"1s\"\n",
        &[],
    );
    assert_eq!(
        completed(&r),
        2,
        "{:?}\n{}",
        r.participants,
        String::from_utf8_lossy(&o.stderr)
    );
    let first = r
        .participants
        .iter()
        .find(|p| p.participant.index == 0)
        .unwrap();
    let second = r
        .participants
        .iter()
        .find(|p| p.participant.index == 1)
        .unwrap();
    assert!(
        first.join_ms.is_some_and(|ms| ms < 10_000),
        "joined without waiting: {first:?}"
    );
    let ice = first
        .ice_ms
        .expect("ICE connected once the second member came");
    assert!(
        (35_000..60_000).contains(&ice),
        "ICE only after the second joined: {first:?}"
    );
    assert!(second.ice_ms.is_some_and(|ms| ms < 15_000), "{second:?}");
    assert!(
        r.video_peers(first.participant).contains("abcd1234"),
        "media flowed after the wait"
    );
    assert!(r.has_event(first.participant, "ice"));
}

/// Defect 4: ICE `failed` during the join is not final (lib-jitsi-meet restarts ICE); it gets the
/// unhealthy grace. Failed before: "join failed: ICE failed (APP.conference.getConnectionState() ===
/// "failed")" at once. A failure that lasts fails after the grace, with that reason.
#[tokio::test(flavor = "multi_thread")]
async fn ice_failed_while_joining_gets_the_grace_of_an_ice_restart() {
    require(&[Needs::Chromium]);
    let (base, _b) = fixture_server().await;
    let load = "[load]\nconferences = 1\nparticipants_per_conference = 2\naudio_senders = 0\nduration = \"12s\"\n\
                [media]\nvideo = \"tiny\"\nreceive_audio = false\n[stats]\ninterval = \"1s\"\n[timeouts]\nunhealthy = \"5s\"\n";
    let recovering = format!("{base}?fixture.iceFail=true&fixture.iceRecoverMs=2500");
    let (o, r, _tmp, _) = run_scenario(&recovering, "", load, &[]);
    assert_eq!(
        completed(&r),
        2,
        "{:?}\n{}",
        r.participants,
        String::from_utf8_lossy(&o.stderr)
    );
    for p in &r.participants {
        assert!(
            r.has_event(p.participant, "unhealthy"),
            "the failure was seen"
        );
        assert!(r.has_event(p.participant, "recovered"));
        assert!(p.ice_ms.is_some(), "{p:?}");
    }
    let lasting = format!("{base}?fixture.iceFail=true");
    let (_, r, _tmp, _) = run_scenario(&lasting, "", &load.replace("12s", "25s"), &[]);
    for p in &r.participants {
        assert_eq!(p.outcome, Outcome::Failed, "{p:?}");
        assert!(
            p.reason
                .contains("ICE failed for 5s before it ever connected"),
            "{}",
            p.reason
        );
    }
}

/// Defect 3: after an app reload the probe is injected again (event `reload`) and the participant
/// goes on; a redirect to the auth-error page fails with that reason. Failed before: every sample
/// after the reload said `window.__lt` missing, so "unhealthy for 6s: not in the room (phase loading)".
#[tokio::test(flavor = "multi_thread")]
async fn a_reloaded_page_gets_its_probe_again_and_an_auth_error_is_named() {
    require(&[Needs::Chromium]);
    let (base, _b) = fixture_server().await;
    let load = "[load]\nconferences = 1\nparticipants_per_conference = 2\naudio_senders = 0\nduration = \"22s\"\n\
                [media]\nvideo = \"tiny\"\nreceive_audio = false\n[stats]\ninterval = \"1s\"\n[timeouts]\nunhealthy = \"6s\"\n";
    let reloading = format!("{base}?fixture.reloadAfterMs=3000");
    let (o, r, _tmp, _) = run_scenario(&reloading, "", load, &[]);
    assert_eq!(
        completed(&r),
        2,
        "{:?}\n{}",
        r.participants,
        String::from_utf8_lossy(&o.stderr)
    );
    for p in &r.participants {
        assert!(r.has_event(p.participant, "reload"), "{:?}", r.events);
    }
    let refused = format!("{base}?fixture.authErrorAfterMs=3000");
    let (_, r, _tmp, _) = run_scenario(&refused, "", load, &[]);
    for p in &r.participants {
        assert_eq!(p.outcome, Outcome::Failed, "{p:?}");
        assert!(p.reason.contains("auth-error page"), "{}", p.reason);
    }
}

/// Every file under `dir` (recursively) and the process output must hold none of `secrets`.
fn assert_nowhere(dir: &std::path::Path, o: &std::process::Output, secrets: &[&str]) {
    let mut texts = vec![
        (
            "stdout".to_string(),
            String::from_utf8_lossy(&o.stdout).to_string(),
        ),
        (
            "stderr".to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        ),
    ];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                texts.push((
                    p.display().to_string(),
                    String::from_utf8_lossy(&bytes).to_string(),
                ));
            }
        }
    }
    assert!(texts.len() > 6, "the results directory has its files");
    for (name, text) in &texts {
        for s in secrets {
            assert!(!text.contains(s), "a secret is in {name}");
        }
    }
}

/// A token per participant: HS256 minted from a secret in the environment, RS256 from a key file with
/// a JaaS-style `kid`; the FIXTURE verifies signature, room claim and expiry on the XMPP connect.
/// A static token signed with another key is refused (the auth-error page). No token or secret is written anywhere
/// under the results directory (console logs of failed participants included) or printed.
#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_minted_per_participant_verified_and_never_written() {
    require(&[Needs::Chromium]);
    let load = "[load]\nconferences = 2\nparticipants_per_conference = 2\naudio_senders = 0\nduration = \"20s\"\n\
                [media]\nvideo = \"tiny\"\nreceive_audio = false\n[stats]\ninterval = \"1s\"\n";
    // HS256.
    let secret = "fixture-hs256-secret-0123456789";
    let key = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()).unwrap();
    let (base, seen) = fixture(Opts {
        verify: Some((key, jsonwebtoken::Algorithm::HS256)),
        ..Opts::default()
    })
    .await;
    let (o, r, _tmp, out) = run_scenario(
        &base,
        "[target.jitsi]\njwt_secret_env = \"LT_TEST_JWT_SECRET\"\njwt_claims = { iss = \"loadtest-test\", context = { group = \"g1\" } }\n",
        load,
        &[("LT_TEST_JWT_SECRET", secret)],
    );
    assert_eq!(
        completed(&r),
        4,
        "{:?}\n{}",
        r.participants,
        String::from_utf8_lossy(&o.stderr)
    );
    let tokens = seen.tokens.lock().unwrap().clone();
    let mut distinct: Vec<&String> = tokens.iter().map(|(t, _, _)| t).collect();
    distinct.sort();
    distinct.dedup();
    assert!(
        distinct.len() >= 4,
        "one token per participant: {}",
        distinct.len()
    );
    for (t, room, ok) in &tokens {
        assert!(ok, "accepted");
        let claims = loadtest::participant::targets::jwt::decode(t).unwrap();
        assert_eq!(
            claims.room.as_deref(),
            Some(room.as_str()),
            "the participant's own room"
        );
    }
    let mut secrets: Vec<&str> = distinct.iter().map(|t| t.as_str()).collect();
    secrets.push(secret);
    assert_nowhere(&out, &o, &secrets);

    // RS256 with a kid (JaaS-style), the key from a PEM file.
    let tmp = tempfile::tempdir().unwrap();
    let (private, public) = (tmp.path().join("key.pem"), tmp.path().join("pub.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&private)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
        && std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public)
            .status()
            .unwrap()
            .success();
    assert!(ok, "openssl makes a test key pair");
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(&std::fs::read(&public).unwrap()).unwrap();
    let (base, seen) = fixture(Opts {
        verify: Some((key, jsonwebtoken::Algorithm::RS256)),
        ..Opts::default()
    })
    .await;
    let (o, r, _tmp2, out) = run_scenario(
        &base,
        &format!(
            "[target.jitsi]\njwt_key_file = \"{}\"\njwt_kid = \"vpaas-magic-cookie-test/abc123\"\njwt_claims = {{ iss = \"chat\", sub = \"vpaas-magic-cookie-test\" }}\n",
            private.display()
        ),
        load,
        &[],
    );
    assert_eq!(
        completed(&r),
        4,
        "{:?}\n{}",
        r.participants,
        String::from_utf8_lossy(&o.stderr)
    );
    let tokens = seen.tokens.lock().unwrap().clone();
    assert!(tokens.len() >= 4 && tokens.iter().all(|(_, _, ok)| *ok));
    let header = jsonwebtoken::decode_header(&tokens[0].0).unwrap();
    assert_eq!(
        header.kid.as_deref(),
        Some("vpaas-magic-cookie-test/abc123")
    );
    let minted: Vec<&str> = tokens.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_nowhere(&out, &o, &minted);

    // A static token signed with another key (its claims pass the preflight): the server refuses it,
    // the participants fail on the auth-error page, and their console logs (which held the XMPP URL
    // with token=) are written without it. (An expired one is refused before the run: preflight test.)
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({ "room": "*", "exp": chrono::Utc::now().timestamp() + 3600, "aud": "jitsi" }),
        &jsonwebtoken::EncodingKey::from_secret(b"some-other-signing-key").unwrap(),
    )
    .unwrap();
    let key = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()).unwrap();
    let (base, _seen) = fixture(Opts {
        verify: Some((key, jsonwebtoken::Algorithm::HS256)),
        ..Opts::default()
    })
    .await;
    let one = load.replace("conferences = 2", "conferences = 1");
    let (o, r, _tmp3, out) = run_scenario(
        &base,
        "[target.jitsi]\njwt_env = \"LT_TEST_STATIC_JWT\"\n",
        &one,
        &[("LT_TEST_STATIC_JWT", expired.as_str())],
    );
    for p in &r.participants {
        assert!(p.reason.contains("auth-error page"), "{p:?}");
    }
    let logs = std::fs::read_dir(out.join("artifacts"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count();
    assert!(
        logs >= 1,
        "console logs of the failed participants were saved"
    );
    assert_nowhere(&out, &o, &[expired.as_str(), secret]);
}

/// Defect 6: the warnings `validate` prints name exactly the `config.*` overrides the full app drops,
/// by the app's rule (an entry allows everything under it). The FIXTURE applies that rule in a real
/// browser. Failed before: `debug` and `p2p.useStunTurn` were warned about but applied.
#[tokio::test(flavor = "multi_thread")]
async fn whitelist_warnings_match_what_the_app_drops() {
    require(&[Needs::Chromium]);
    let (base, _b) = fixture_server().await;
    let keys = [
        "debug",
        "p2p.useStunTurn",
        "deploymentInfo.userRegion",
        "channelLastN",
        "analytics.rtcstatsEndpoint",
    ];
    let mut opts = JitsiOptions::default();
    for k in keys {
        opts.config.insert(k.into(), toml::Value::Boolean(true));
    }
    let url = jitsi::participant_url(
        &url::Url::parse(&format!("{base}?fixture.minParticipants=1")).unwrap(),
        &opts,
        &plan("c0p0", Role::Receiver),
        None,
    );
    let driver = loadtest::webdriver::chromedriver::ChromeDriver::start(std::path::Path::new(
        "/usr/bin/chromedriver",
    ))
    .await
    .unwrap();
    let caps =
        loadtest::webdriver::capabilities::chrome(&WebDriver::default(), true, true, None, None);
    let mut b = ClientBuilder::native();
    b.capabilities(caps);
    let c = b.connect(driver.url().as_str()).await.unwrap();
    c.goto(url.as_str()).await.unwrap();
    let dropped = c
        .execute("return FIXTURE.droppedConfig", vec![])
        .await
        .unwrap();
    c.close().await.unwrap();
    driver.stop().await;
    let mut dropped: Vec<String> = serde_json::from_value(dropped).unwrap();
    dropped.sort();

    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("w.toml");
    let config: String = keys.iter().map(|k| format!("\"{k}\" = true\n")).collect();
    std::fs::write(
        &scenario,
        format!(
            "[target]\nkind = \"jitsi\"\nurl = \"{base}\"\n[target.jitsi.config]\n{config}[load]\nconferences = 1\nparticipants_per_conference = 1\nduration = \"5s\"\n"
        ),
    )
    .unwrap();
    let o = loadtest(&["validate", "-s", scenario.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    let mut warned: Vec<String> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("warning: target.jitsi.config."))
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect();
    warned.sort();
    assert_eq!(
        dropped,
        ["analytics.rtcstatsEndpoint", "deploymentInfo.userRegion"]
    );
    assert_eq!(warned, dropped, "{stderr}");
}

/// Defect 7: the load-test page reports a failed connection only on the console; the failure reason
/// carries its last error lines. Failed before: "not joined within 5s (phase loading, ice -)" alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_load_test_page_failure_names_its_console_errors() {
    require(&[Needs::Chromium]);
    let (base, _b) = fixture_server().await;
    let (_, r, _tmp, _) = run_scenario(
        &format!("{base}?fixture.connError=true"),
        "[target.jitsi]\npage = \"load-test\"\n",
        "[load]\nconferences = 1\nparticipants_per_conference = 1\nduration = \"5s\"\naudio_senders = 0\n[media]\nvideo = \"tiny\"\n[timeouts]\njoin = \"5s\"\n",
        &[],
    );
    let p = &r.participants[0];
    assert_eq!(p.outcome, Outcome::Failed);
    assert!(p.reason.contains("not joined within 5s"), "{}", p.reason);
    assert!(
        p.reason
            .contains("console: Participant 0: Connection Failed!"),
        "{}",
        p.reason
    );
}

/// Defect 8: with P2P on, the page has two connections; only the JVB connection's selected pair is
/// the bridge. The rows say which connection they come from, and the sample's address is the JVB
/// connection's (the unit test `the_bridge_address_comes_from_the_jvb_connection` shows the old
/// first-row rule picking a P2P row).
#[tokio::test(flavor = "multi_thread")]
async fn the_bridge_address_is_the_jvb_connections_with_p2p_on() {
    require(&[Needs::Chromium]);
    let (base, _b) = fixture_server().await;
    let driver = loadtest::webdriver::chromedriver::ChromeDriver::start(std::path::Path::new(
        "/usr/bin/chromedriver",
    ))
    .await
    .unwrap();
    let caps =
        loadtest::webdriver::capabilities::chrome(&WebDriver::default(), true, true, None, None);
    let mut b = ClientBuilder::native();
    b.capabilities(caps);
    let c = b.connect(driver.url().as_str()).await.unwrap();
    let url = jitsi::participant_url(
        &url::Url::parse(&format!(
            "{base}?fixture.minParticipants=1&fixture.p2p=true"
        ))
        .unwrap(),
        &JitsiOptions::default(),
        &plan("c0p0", Role::AudioVideo),
        None,
    );
    c.goto(url.as_str()).await.unwrap();
    let probe = std::fs::read_to_string(repo().join("assets/js/jitsi-probe.js")).unwrap();
    let stats = std::fs::read_to_string(repo().join("assets/js/stats.js")).unwrap();
    c.execute(&probe, vec![]).await.unwrap();
    let jvb_pair = "var d = arguments[arguments.length-1]; var pc = APP.conference._room.jvbJingleSession.peerconnection.peerconnection; \
        pc.getStats().then(function (r) { var by = {}; r.forEach(function (s) { by[s.id] = s; }); var out = null; \
        r.forEach(function (s) { if (s.type === 'transport' && s.selectedCandidatePairId) { var p = by[s.selectedCandidatePairId]; var rc = by[p.remoteCandidateId]; out = rc.address + ':' + rc.port; } }); d(out); });";
    let mut sample = loadtest::participant::sample::Sample::default();
    let mut raw = Value::Null;
    for _ in 0..40 {
        raw = c.execute_async(&stats, vec![]).await.unwrap();
        let rows = raw["rows"].as_array().cloned().unwrap_or_default();
        let p2p = rows
            .iter()
            .any(|r| r["bridge"] == false && r["remote_address"].is_string());
        let jvb = rows
            .iter()
            .any(|r| r["bridge"] == true && r["remote_address"].is_string());
        if p2p && jvb {
            sample = serde_json::from_value(raw.clone()).unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let expected = c.execute_async(jvb_pair, vec![]).await.unwrap();
    c.close().await.unwrap();
    driver.stop().await;
    let rows = raw["rows"].as_array().unwrap();
    let p2p_addr = rows
        .iter()
        .find(|r| r["bridge"] == false)
        .and_then(|r| r["remote_address"].as_str())
        .expect("rows of the P2P connection");
    assert_ne!(Some(p2p_addr), expected.as_str(), "two different pairs");
    assert_eq!(
        sample.remote_address().as_deref(),
        expected.as_str(),
        "{raw}"
    );
}

/// Defect 2: stock installs do not ship the load-test client. `run` fetches the page and its client
/// script first and fails early (exit 3, how to install it) instead of every participant timing out
/// ("not joined within ..., phase loading" before); `validate --check` says the same, and judges a
/// static token's room claim and expiry without printing it (exit 2).
#[tokio::test(flavor = "multi_thread")]
async fn preflight_finds_a_missing_load_test_client_and_a_refused_token() {
    require(&[Needs::Chromium]);
    let (stock, seen) = fixture(Opts::default()).await;
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, base: &str, extra: &str| {
        let p = tmp.path().join(name);
        std::fs::write(
            &p,
            format!(
                "[target]\nkind = \"jitsi\"\nurl = \"{base}\"\n[target.jitsi]\npage = \"load-test\"\n{extra}\
                 [load]\nconferences = 2\nparticipants_per_conference = 1\nduration = \"5s\"\n"
            ),
        )
        .unwrap();
        p
    };
    let sc = write("stock.toml", &stock, "");
    let out = tmp.path().join("run");
    let o = loadtest(&[
        "run",
        "-s",
        sc.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("the load-test client is not installed"),
        "{err}"
    );
    assert!(
        err.contains("ENABLE_LOAD_TEST_CLIENT"),
        "says how to install it: {err}"
    );
    assert!(
        !seen
            .paths
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.starts_with("/__fixture/")),
        "no browser joined"
    );
    let o = loadtest(&["validate", "--check", "-s", sc.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stdout).contains("FAIL"));

    // With the client installed, and a shared token whose room claim is one room and that expires
    // before the run ends: bad token configuration, named without the token.
    let (with_client, _) = fixture(Opts {
        load_test_client: true,
        ..Opts::default()
    })
    .await;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({ "room": "loadtest0", "exp": chrono::Utc::now().timestamp() + 3 }),
        &jsonwebtoken::EncodingKey::from_secret(b"preflight-secret-0123").unwrap(),
    )
    .unwrap();
    let sc = write(
        "token.toml",
        &with_client,
        "jwt_env = \"LT_PREFLIGHT_JWT\"\n",
    );
    let o = std::process::Command::new(bin())
        .args(["validate", "--check", "-s", sc.to_str().unwrap()])
        .env("LT_PREFLIGHT_JWT", &token)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("refuses rooms loadtest1"), "{stdout}");
    assert!(stdout.contains("before the run ends"), "{stdout}");
    assert!(
        stdout.contains("the load-test client is installed"),
        "{stdout}"
    );
    assert_nowhere(tmp.path(), &o, &[token.as_str()]);
    let good = write("good.toml", &with_client, "");
    let o = loadtest(&["validate", "--check", "-s", good.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// `speakers = "p59"` on Jitsi: the switches go through the app's own mute
/// (`APP.conference.muteAudio`, so the bridge's dominant-speaker logic sees them), on both pages.
#[tokio::test(flavor = "multi_thread")]
async fn p59_switches_go_through_the_apps_mute() {
    require(&[Needs::Chromium]);
    let (base, _b) = fixture_server().await;
    for page in ["app", "load-test"] {
        let (o, r, _tmp, _) = run_scenario(
            &base,
            &format!("[target.jitsi]\npage = \"{page}\"\n"),
            "[load]\nconferences = 1\nparticipants_per_conference = 2\nvideo_senders = 0\nduration = \"10s\"\nspeakers = \"p59\"\nseed = 3\n\
             [media]\naudio = \"tone\"\n[stats]\ninterval = \"1s\"\n",
            &[],
        );
        assert_eq!(
            completed(&r),
            2,
            "{page}: {:?}\n{}",
            r.participants,
            String::from_utf8_lossy(&o.stderr)
        );
        let switches: Vec<_> = r
            .events
            .iter()
            .filter(|e| matches!(e.event.as_str(), "talk" | "silent"))
            .collect();
        assert!(switches.len() >= 4, "{page}: {switches:?}");
        assert!(
            switches.iter().all(|e| e.detail.is_empty()),
            "{page}: applied by APP.conference.muteAudio: {switches:?}"
        );
    }
}

/// A hook like the one the driver installs before the page's scripts (issue #15): it traps the
/// assignment `window.JitsiMeetJS = …`, wraps `JitsiConnection` in a Proxy that records each connection
/// in order and overrides that instance's `initJitsiConference` to record the room it returns.
const CLIENTS_HOOK: &str = r#"(function () {
    var seen = window.__hookSeen = { assigned: 0, connections: [], constructedAt: [], rooms: [] };
    var lib;
    Object.defineProperty(window, 'JitsiMeetJS', {
        configurable: true,
        enumerable: true,
        get: function () { return lib; },
        set: function (v) {
            seen.assigned++;
            v.JitsiConnection = new Proxy(v.JitsiConnection, {
                construct: function (target, args, newTarget) {
                    var conn = Reflect.construct(target, args, newTarget);
                    var index = seen.connections.push(conn) - 1;
                    seen.constructedAt.push(performance.now());
                    var init = conn.initJitsiConference;
                    conn.initJitsiConference = function () {
                        var room = init.apply(this, arguments);
                        seen.rooms.push({ connection: index, room: room });
                        return room;
                    };
                    return conn;
                }
            });
            lib = v;
        }
    });
})();"#;

/// Inbound video packets of each hooked room's JVB connection (`null` before its media session).
const ROOM_PACKETS: &str = "var d = arguments[arguments.length-1]; \
    Promise.all(__hookSeen.rooms.map(function (x) { var s = x.room.jvbJingleSession; if (!s) { return null; } \
    return s.peerconnection.peerconnection.getStats().then(function (r) { var n = 0; \
    r.forEach(function (v) { if (v.type === 'inbound-rtp' && v.kind === 'video') { n += v.packetsReceived || 0; } }); return n; }); })).then(d);";

/// Issue #15: the load-test page runs `numClients` clients, `clientInterval` ms apart, like
/// jitsi-meet-load-test: each client is its own room member with its own media path; `APP` exposes
/// client 0; `muteAudio(mute, num)` reaches one client; unload leaves them all. A hook installed over
/// CDP before the page's scripts (as the driver does) sees every connection and room, in order.
#[tokio::test(flavor = "multi_thread")]
async fn a_load_test_page_runs_num_clients_clients() {
    require(&[Needs::Chromium]);
    let (base, seen) = fixture(Opts {
        load_test_client: true,
        ..Opts::default()
    })
    .await;
    let driver = loadtest::webdriver::chromedriver::ChromeDriver::start(std::path::Path::new(
        "/usr/bin/chromedriver",
    ))
    .await
    .unwrap();
    let caps =
        loadtest::webdriver::capabilities::chrome(&WebDriver::default(), true, true, None, None);
    let mut b = ClientBuilder::native();
    b.capabilities(caps);
    let c = b.connect(driver.url().as_str()).await.unwrap();
    let sid = c.session_id().await.unwrap().expect("a session id");
    let cdp = driver
        .url()
        .join(&format!("session/{sid}/goog/cdp/execute"))
        .unwrap();
    let answer = reqwest::Client::new()
        .post(cdp)
        .json(&json!({"cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {"source": CLIENTS_HOOK}}))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{:?}", answer.text().await);
    c.goto(&format!(
        "{base}_load-test/multi#numClients=3&clientInterval=300"
    ))
    .await
    .unwrap();

    // Every client's media flows (the focus starts a session per member once 2 are in): inbound
    // video packets on each room's own JVB connection, growing.
    let mut first = Value::Null;
    for _ in 0..40 {
        first = c.execute_async(ROOM_PACKETS, vec![]).await.unwrap();
        let all = first
            .as_array()
            .is_some_and(|a| a.len() == 3 && a.iter().all(|n| n.as_u64().is_some_and(|n| n > 0)));
        if all {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let later = c.execute_async(ROOM_PACKETS, vec![]).await.unwrap();
    println!("inbound video packets per client: {first} then {later}");
    for i in 0..3 {
        assert!(
            later[i].as_u64().unwrap_or(0) > first[i].as_u64().unwrap_or(u64::MAX),
            "client {i}'s video flows: {first} then {later}"
        );
    }

    // Three distinct members joined, in index order, about clientInterval apart.
    let clients = c.execute("return FIXTURE.clients()", vec![]).await.unwrap();
    let ids: Vec<String> = (0..3)
        .map(|i| clients[i]["myId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(members(&seen.beacons, "multi"), ids, "{clients}");
    let joined: Vec<std::time::Instant> = {
        let times = seen.beacon_times.lock().unwrap();
        ids.iter()
            .map(|id| {
                times
                    .iter()
                    .find(|(k, i, _)| k == "joined" && i == id)
                    .unwrap()
                    .2
            })
            .collect()
    };
    let gaps: Vec<u128> = joined
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    // Connections are constructed clientInterval apart, and the joins follow as far apart (the
    // FIXTURE's join delay counts from each room's creation).
    let constructed = c
        .execute(
            "var t = __hookSeen.constructedAt; return [t[1] - t[0], t[2] - t[1]]",
            vec![],
        )
        .await
        .unwrap();
    println!("connections constructed {constructed} ms apart, joined beacons {gaps:?} ms apart");
    for g in constructed.as_array().unwrap() {
        assert!(
            (280.0..500.0).contains(&g.as_f64().unwrap()),
            "{constructed}"
        );
    }
    assert!(gaps.iter().all(|g| (150..500).contains(g)), "{gaps:?}");
    let page = c
        .execute(
            "return {app: APP.room.myUserId(), members: APP.numParticipants, \
             hook: {assigned: __hookSeen.assigned, connections: __hookSeen.connections.length, \
             rooms: __hookSeen.rooms.map(function (x) { return [x.connection, x.room.myUserId(), \
             x.room.connection === __hookSeen.connections[x.connection]]; }), \
             first: __hookSeen.rooms[0].room === APP.room}}",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        page,
        json!({"app": ids[0], "members": 3, "hook": {"assigned": 1, "connections": 3,
               "rooms": [[0, ids[0], true], [1, ids[1], true], [2, ids[2], true]], "first": true}}),
        "APP is client 0; the hook saw 3 connections and their rooms in order"
    );

    // muteAudio(mute, num) mutes client num only, through its local track.
    let muted = c
        .execute(
            "APP.conference.muteAudio(true, 1); return __hookSeen.rooms.map(function (x) { \
             return x.room.getLocalTracks().filter(function (t) { return t.getType() === 'audio'; }) \
             .map(function (t) { return t.isMuted(); }); })",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(muted, json!([[false], [true], [false]]));

    // One client's room.leave() leaves only it: its pcs close, its tracks stop, its left beacon.
    let left = c
        .execute_async(
            "var d = arguments[arguments.length-1]; __hookSeen.rooms[2].room.leave().then(function () {              d(__hookSeen.rooms.map(function (x) { return [x.room.isJoined(),              x.room.jvbJingleSession.peerconnection.peerconnection.signalingState,              x.room.getLocalTracks().every(function (t) { return t.getTrack().readyState === 'ended'; })]; })); });",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        left,
        json!([
            [true, "stable", false],
            [true, "stable", false],
            [false, "closed", true]
        ])
    );
    assert!(
        wait_until(Duration::from_secs(3), || count(&seen.beacons, "left") == 1),
        "client 2's left beacon"
    );
    assert_eq!(members(&seen.beacons, "multi"), ids[..2]);

    // Unload: every client not yet left leaves with its own beacon; client 2 sends none again.
    c.goto("about:blank").await.unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || count(&seen.beacons, "left") == 3),
        "three left beacons"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(&seen.beacons, "left"), 3);
    assert!(members(&seen.beacons, "multi").is_empty());
    c.close().await.unwrap();
    driver.stop().await;
}

/// #15, clients per page on the load-test page (`numClients`): 2 conferences × 4 (2 video senders and
/// 2 receivers each), 2 clients per page. The page runs its clients from one URL, so page-mates share a
/// conference and a role: 4 pages, each opened once with `numClients=2`. The page shows only client 0;
/// every participant still keeps its own endpoint (the driver's pre-load hook reached each client's
/// conference), its own stats, and its own hang-up, and the rooms end empty.
#[tokio::test(flavor = "multi_thread")]
async fn load_test_page_clients_keep_their_own_rows() {
    require(&[Needs::Chromium]);
    let (base, beacons) = fixture_server().await;
    let (o, r, _tmp, _) = run_scenario(
        &base,
        "[target.jitsi]\npage = \"load-test\"\n",
        "[load]\nconferences = 2\nparticipants_per_conference = 4\nvideo_senders = 2\naudio_senders = 0\n\
         participants_per_page = 2\njoin_delay = \"1s\"\nduration = \"12s\"\n\
         [media]\nvideo = \"tiny\"\nreceive_audio = false\n[stats]\ninterval = \"1s\"\n",
        &[],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(completed(&r), 8, "{:?}\n{stderr}", r.participants);
    let of = |kind: &str| -> Vec<&loadtest::results::EventRow> {
        r.events
            .iter()
            .filter(|e| e.event.as_str() == kind)
            .collect()
    };
    let navs = of("navigate");
    assert_eq!(navs.len(), 4, "one navigation per page: {navs:?}");
    for n in &navs {
        assert!(
            n.detail.contains("numClients=2") && n.detail.contains("clientInterval=1000"),
            "{}",
            n.detail
        );
    }
    let mates = of("page")
        .iter()
        .filter(|e| e.detail.contains("client 1 of a page-mate's page"))
        .count();
    assert_eq!(mates, 4, "each page's second participant took client 1");
    // Each participant's probe was its own client's: 8 endpoints, the ones the server saw join.
    let endpoints: std::collections::BTreeSet<String> = of("joined")
        .iter()
        .filter_map(|e| e.detail.split("endpoint=").nth(1))
        .map(|id| id.trim().to_string())
        .collect();
    let server: std::collections::BTreeSet<String> = members_ever(&beacons).into_iter().collect();
    assert_eq!(endpoints.len(), 8, "{endpoints:?}");
    assert_eq!(endpoints, server);
    // Stats per participant: every one receives the bridge's video; only senders send video.
    for p in &r.participants {
        let rows = |dir: &str| {
            r.stats.iter().any(|s| {
                s.participant == p.participant
                    && s.direction == dir
                    && s.kind == "video"
                    && s.fps.is_some_and(|f| f > 0.0)
            })
        };
        assert!(rows("recv"), "{} received no video", p.participant);
        assert_eq!(rows("send"), p.participant.index < 2, "{}", p.participant);
        assert!(
            p.join_ms.is_some_and(|ms| (900..10_000).contains(&ms)),
            "{p:?}"
        );
    }
    for room in ["loadtest0", "loadtest1"] {
        assert!(members(&beacons, room).is_empty(), "{room} left behind");
    }
    let joins: Vec<String> = r
        .participants
        .iter()
        .map(|p| format!("{} {:?} ms", p.participant, p.join_ms))
        .collect();
    eprintln!("numClients=2 pages: joins {joins:?}; endpoints {endpoints:?}");
}
