//! Cohorts behind emulated links with real Chromium and a real Janus (the isolated sandbox): the
//! shaping is real and confined to its cohort, black-holes stop media and it comes back, a Grid node
//! places sessions on a namespace's browsers by capability, and nothing is left afterwards — after a
//! normal end and after a panic.

mod netlab;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::Client;
use loadtest::network::netns::{GRID_CAPABILITY, grid_driver_configuration};
use loadtest::network::{Profile, ProfileSpec};
use loadtest::sandbox::Sandbox;
use loadtest::webdriver::chromedriver::ChromeDriver;
use netlab::browser::*;
use netlab::*;
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn profile(toml_text: &str) -> Profile {
    toml::from_str::<ProfileSpec>(toml_text)
        .unwrap()
        .resolve()
        .unwrap()
}

/// The isolated sandbox with one cohort behind `p`, the page relayed into the cohort's namespace and
/// a browser wrapper for it.
struct Shaped {
    sb: Sandbox,
    cohort: loadtest::network::Cohort,
    page: u16,
    wrapper: std::path::PathBuf,
    _relay: loadtest::network::netns::Relay,
}

async fn shaped(dir: &Path, p: Profile) -> Shaped {
    let sb = isolated(dir).await;
    let cohort = sb
        .network
        .as_ref()
        .unwrap()
        .star
        .add_cohort("c0", p)
        .unwrap();
    let page = serve_page();
    let relay = cohort.ns.forward_out(page).unwrap();
    let wrapper = cohort.ns.browser_wrapper(Path::new(CHROMIUM), dir).unwrap();
    Shaped {
        sb,
        cohort,
        page,
        wrapper,
        _relay: relay,
    }
}

/// One participant over a window: median RTT of its sent video (from Janus's receiver reports),
/// mean loss of the video it receives (leaving out streams from `skip`), received video kbit/s.
#[derive(Debug, Default, Clone, Copy)]
struct Window {
    rtt_ms: f64,
    loss: f64,
    kbps: f64,
}

async fn measure(c: &Client, secs: u64, skip: &str) -> Window {
    let first = sample(c).await;
    let t0 = Instant::now();
    let (mut rtts, mut losses) = (Vec::new(), Vec::new());
    let mut last = first.clone();
    while t0.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        last = sample(c).await;
        rtts.extend(
            rows(&last, "send", "video")
                .iter()
                .filter_map(|r| r["rtt_ms"].as_f64()),
        );
        losses.extend(
            rows(&last, "recv", "video")
                .iter()
                .filter(|r| r["peer"] != skip)
                .filter_map(|r| r["loss_ratio"].as_f64()),
        );
    }
    rtts.sort_by(f64::total_cmp);
    assert!(!rtts.is_empty() && !losses.is_empty(), "no stats: {last}");
    Window {
        rtt_ms: rtts[rtts.len() / 2],
        loss: losses.iter().sum::<f64>() / losses.len() as f64,
        kbps: (recv_video_bytes(&last) - recv_video_bytes(&first)) * 8.0
            / 1000.0
            / t0.elapsed().as_secs_f64(),
    }
}

/// Wait until a participant receives video from `n` others.
async fn receives_from(c: &Client, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiving(&sample(c).await) < n {
        assert!(Instant::now() < deadline, "no video from {n} peers in 60 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shaped_cohort_gets_its_delay_and_loss_and_the_clean_one_does_not() {
    let before = snapshot();
    let tmp = tempfile::tempdir().unwrap();
    let lab = shaped(tmp.path(), profile("delay = \"100ms\"\nloss = \"5%\"")).await;
    let (sb, page, wrapper, shaped) = (&lab.sb, lab.page, &lab.wrapper, &lab.cohort);
    let driver = ChromeDriver::start(Path::new(CHROMEDRIVER)).await.unwrap();
    let cam = camera(tmp.path());
    let url = driver.url().as_str().to_string();
    let a = session(&url, caps(&cam, Browser::Plain, json!({}))).await;
    let b = session(&url, caps(&cam, Browser::Plain, json!({}))).await;
    let c = session(&url, caps(&cam, Browser::Wrapped(wrapper), json!({}))).await;
    for (cl, name) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        join(cl, &page_url(page, &sb.janus_url, "net1", name, true), 0).await;
    }
    for cl in [&a, &b, &c] {
        receives_from(cl, 2).await;
    }
    // The shaped browser's media goes to Janus through the emulated link, the clean ones' do not.
    let down0 = shaped.link.counters().down.delivered_bytes;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (wa, wb, wc) = tokio::join!(
        measure(&a, 16, "c"),
        measure(&b, 16, "c"),
        measure(&c, 16, "")
    );
    let counters = shaped.link.counters();
    eprintln!("clean a: {wa:?}\nclean b: {wb:?}\nshaped c: {wc:?}\nlink: {counters:?}");
    for cl in [a, b, c] {
        leave(cl).await;
    }
    driver.stop().await;
    lab.sb.stop().await;
    assert_eq!(snapshot(), before, "nothing left after a normal end");

    // Tolerances: RTT +200 ms ± 30 ms over the clean participants'; received loss 5 % ± 2 points;
    // clean participants under 30 ms RTT and 1 % loss between themselves.
    let clean_rtt = wa.rtt_ms.max(wb.rtt_ms);
    assert!(clean_rtt < 30.0, "clean RTT {clean_rtt} ms");
    assert!(
        (wc.rtt_ms - clean_rtt - 200.0).abs() < 30.0,
        "shaped RTT {} ms vs clean {clean_rtt} ms",
        wc.rtt_ms
    );
    assert!((wc.loss - 0.05).abs() < 0.02, "shaped loss {}", wc.loss);
    assert!(wa.loss < 0.01 && wb.loss < 0.01, "clean loss {wa:?} {wb:?}");
    let down_kbit = (counters.down.delivered_bytes - down0) as f64 * 8.0 / 1000.0;
    assert!(
        down_kbit / 22.0 > 0.8 * wc.kbps,
        "the shaped browser's received video ({} kbit/s) crossed the emulated link ({} kbit/s)",
        wc.kbps,
        down_kbit / 22.0
    );
    let lost = counters.down.lost as f64 / counters.down.offered as f64;
    assert!((lost - 0.05).abs() < 0.015, "emulator loss {lost}");
}

/// Received video bytes of each participant every 250 ms, with the time they were read.
type Trace = Arc<Mutex<Vec<(Instant, Vec<f64>)>>>;

fn trace(clients: Vec<Client>) -> (Trace, tokio::task::JoinHandle<Vec<Client>>) {
    let t: Trace = Arc::new(Mutex::new(Vec::new()));
    let t2 = t.clone();
    let h = tokio::spawn(async move {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(44) {
            let mut v = Vec::new();
            for c in &clients {
                v.push(recv_video_bytes(&sample(c).await));
            }
            t2.lock().unwrap().push((Instant::now(), v));
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        clients
    });
    (t, h)
}

/// For participant `i` and a black-hole over [from, to): whether its received video stopped (no
/// byte for at least 2 s inside the window) and how long after `to` bytes flowed again.
fn stopped_and_recovery(
    t: &Trace,
    i: usize,
    from: Instant,
    to: Instant,
) -> (bool, Option<Duration>) {
    let t = t.lock().unwrap();
    let inside: Vec<&(Instant, Vec<f64>)> = t
        .iter()
        .filter(|(at, _)| *at > from + Duration::from_millis(1500) && *at < to)
        .collect();
    let stopped =
        inside.len() >= 4 && inside.first().map(|x| x.1[i]) == inside.last().map(|x| x.1[i]);
    let at_end = t
        .iter()
        .rfind(|(at, _)| *at <= to)
        .map(|x| x.1[i])
        .unwrap_or(0.0);
    let back = t
        .iter()
        .find(|(at, v)| *at > to && v[i] > at_end)
        .map(|(at, _)| *at - to);
    (stopped, back)
}

#[tokio::test(flavor = "multi_thread")]
async fn black_holes_stop_media_and_it_comes_back() {
    let before = snapshot();
    let tmp = tempfile::tempdir().unwrap();
    let lab = shaped(tmp.path(), Profile::clean()).await;
    let (sb, page, wrapper, cohort) = (&lab.sb, lab.page, &lab.wrapper, &lab.cohort);
    let net = sb.network.as_ref().unwrap();
    let driver = ChromeDriver::start(Path::new(CHROMEDRIVER)).await.unwrap();
    let cam = camera(tmp.path());
    let url = driver.url().as_str().to_string();
    let a = session(&url, caps(&cam, Browser::Plain, json!({}))).await;
    let c = session(&url, caps(&cam, Browser::Wrapped(wrapper), json!({}))).await;
    join(&a, &page_url(page, &sb.janus_url, "net2", "a", true), 0).await;
    join(&c, &page_url(page, &sb.janus_url, "net2", "c", true), 0).await;
    receives_from(&a, 1).await;
    receives_from(&c, 1).await;

    let (t, h) = trace(vec![a, c]);
    tokio::time::sleep(Duration::from_secs(4)).await;
    // 6 s black-hole of the cohort's emulated link: both lose the other's video.
    let hole = Duration::from_secs(6);
    let from1 = Instant::now();
    cohort.link.black_hole_for(hole);
    tokio::time::sleep(hole + Duration::from_secs(14)).await;
    // 6 s black-hole of the server's link: everyone's media stops.
    let from2 = Instant::now();
    net.star.black_hole(&net.server, true).unwrap();
    tokio::time::sleep(hole).await;
    net.star.black_hole(&net.server, false).unwrap();
    let to2 = Instant::now();
    let clients = h.await.unwrap();
    let mut results = Vec::new();
    for (name, from, to) in [
        ("cohort link", from1, from1 + hole),
        ("server link", from2, to2),
    ] {
        for (i, who) in ["a (root)", "c (cohort)"].iter().enumerate() {
            let (stopped, back) = stopped_and_recovery(&t, i, from, to);
            eprintln!("{name} black-hole, {who}: stopped {stopped}, media back after {back:?}");
            results.push((name, *who, stopped, back));
        }
    }
    for c in clients {
        leave(c).await;
    }
    driver.stop().await;
    lab.sb.stop().await;
    assert_eq!(snapshot(), before);
    for (name, who, stopped, back) in results {
        assert!(stopped, "{name}: {who}'s media did not stop");
        assert!(
            back.is_some_and(|d| d < Duration::from_secs(12)),
            "{name}: {who}'s media did not come back within 12 s ({back:?})"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_with_janus_and_a_namespaced_browser_running_leaves_nothing() {
    let before = snapshot();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let seen: Arc<Mutex<Vec<i32>>> = Arc::default();
    let seen2 = seen.clone();
    let body = tokio::spawn(async move {
        let lab = shaped(&dir, Profile::builtin("3g").unwrap()).await;
        let (sb, page, wrapper, cohort) = (&lab.sb, lab.page, &lab.wrapper, &lab.cohort);
        let driver = ChromeDriver::start(Path::new(CHROMEDRIVER)).await.unwrap();
        let c = session(
            driver.url().as_str(),
            caps(&camera(&dir), Browser::Wrapped(wrapper), json!({})),
        )
        .await;
        join(&c, &page_url(page, &sb.janus_url, "net3", "c", true), 0).await;
        let mut pids = loadtest::network::cmd::netns_pids(cohort.ns.name());
        let inside = pids.len();
        assert!(inside > 0, "the browser runs inside the cohort's namespace");
        pids.extend(loadtest::network::cmd::netns_pids(
            sb.network.as_ref().unwrap().server.ns.name(),
        ));
        *seen2.lock().unwrap() = pids;
        panic!("the test body fails with {inside} browser processes and Janus running");
    });
    assert!(body.await.unwrap_err().is_panic());
    assert_eq!(snapshot(), before, "nothing left after a panic");
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() > 1, "browser and Janus processes were seen");
    // Killed processes may linger as zombies until init reaps them; none may still run.
    let alive: Vec<(i32, String)> = seen
        .into_iter()
        .filter_map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            let state = stat.rsplit_once(") ")?.1.chars().next()?;
            (state != 'Z').then_some((p, stat))
        })
        .collect();
    assert!(alive.is_empty(), "processes left running: {alive:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_grid_node_places_sessions_in_the_namespace_by_capability() {
    let before = snapshot();
    let tmp = tempfile::tempdir().unwrap();
    let lab = shaped(tmp.path(), profile("delay = \"60ms\"")).await;
    let (sb, page, wrapper, cohort) = (&lab.sb, lab.page, &lab.wrapper, &lab.cohort);
    let drivers = [
        grid_driver_configuration(
            "none",
            Path::new(CHROMIUM),
            None,
            Path::new(CHROMEDRIVER),
            2,
        )
        .unwrap(),
        grid_driver_configuration(
            "c0",
            Path::new(CHROMIUM),
            Some(wrapper),
            Path::new(CHROMEDRIVER),
            2,
        )
        .unwrap(),
    ];
    let grid = netlab::grid::start(&tmp.path().join("grid"), &drivers);
    let cam = camera(tmp.path());
    let hub = format!("{}/", grid.url);
    // The session asks for the network by capability only; the node's stereotype brings the
    // wrapper and the pipe switch.
    let shaped = session(
        &hub,
        caps(&cam, Browser::Node, json!({ GRID_CAPABILITY: "c0" })),
    )
    .await;
    let clean = session(
        &hub,
        caps(&cam, Browser::Node, json!({ GRID_CAPABILITY: "none" })),
    )
    .await;
    join(
        &clean,
        &page_url(page, &sb.janus_url, "net4", "clean", true),
        0,
    )
    .await;
    join(
        &shaped,
        &page_url(page, &sb.janus_url, "net4", "shaped", true),
        0,
    )
    .await;
    receives_from(&shaped, 1).await;
    receives_from(&clean, 1).await;
    let up = cohort.link.counters().up.offered;
    let (ws, wc) = tokio::join!(measure(&shaped, 6, ""), measure(&clean, 6, ""));
    let up = cohort.link.counters().up.offered - up;
    eprintln!("via grid: shaped {ws:?}, clean {wc:?}, {up} packets up the emulated link");
    // An unknown network is refused, not queued.
    let unknown = fantoccini::ClientBuilder::native()
        .capabilities(caps(&cam, Browser::Node, json!({ GRID_CAPABILITY: "c9" })))
        .connect(&hub)
        .await;
    for c in [shaped, clean] {
        leave(c).await;
    }
    drop(grid);
    lab.sb.stop().await;
    assert_eq!(snapshot(), before);
    assert!(
        unknown.is_err(),
        "a session for an unknown network is refused"
    );
    assert!(
        up > 100,
        "the shaped session's packets crossed the emulated link"
    );
    assert!(
        ws.rtt_ms > wc.rtt_ms + 100.0,
        "60 ms each way shows in the shaped session's RTT: {ws:?} vs {wc:?}"
    );
}
