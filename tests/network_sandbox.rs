//! `loadtest sandbox --isolated`: Janus in its own namespace behind a real link. With real Chromium:
//! the media crosses that link (its counters rise with the call) and an htb cap below one video
//! stream's bitrate caps what a subscriber receives. With the real binary: SIGINT leaves nothing.

mod netlab;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::Client;
use loadtest::network::Rate;
use loadtest::sandbox::{Options as SandboxOptions, Sandbox};
use loadtest::webdriver::chromedriver::ChromeDriver;
use netlab::browser::*;
use netlab::*;
use serde_json::json;

/// (rx, tx) bytes of an interface, from `ip -s -j` (inside `ns`, or root for `None`).
fn bytes(ns: Option<&str>, dev: &str) -> (f64, f64) {
    let mut args = vec![];
    if let Some(n) = ns {
        args.extend(["-n", n]);
    }
    args.extend(["-s", "-j", "link", "show", "dev", dev]);
    let out = Command::new("ip").args(&args).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v[0]["stats64"];
    (
        s["rx"]["bytes"].as_f64().unwrap(),
        s["tx"]["bytes"].as_f64().unwrap(),
    )
}

/// Received video kbit/s over `secs`, from the browser's own byte counters.
async fn kbps(c: &Client, secs: u64) -> f64 {
    let first = recv_video_bytes(&sample(c).await);
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let last = recv_video_bytes(&sample(c).await);
    (last - first) * 8.0 / 1000.0 / t.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread")]
async fn media_crosses_the_link_and_a_cap_below_one_stream_caps_it() {
    let before = snapshot();
    let tmp = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&SandboxOptions {
        isolated: true,
        dir: Some(tmp.path().join("janus")),
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let net = sb.network.as_ref().unwrap();
    let page = serve_page();
    let driver = ChromeDriver::start(Path::new("/usr/bin/chromedriver"))
        .await
        .unwrap();
    let cam = camera(tmp.path());
    let url = driver.url().as_str().to_string();
    // One publisher and one receive-only participant: each direction of the link carries one
    // video stream.
    let p = session(&url, caps(&cam, Browser::Plain, json!({}))).await;
    let s = session(&url, caps(&cam, Browser::Plain, json!({}))).await;
    join(&p, &page_url(page, &sb.janus_url, "cap1", "pub", true), 0).await;
    join(&s, &page_url(page, &sb.janus_url, "cap1", "sub", false), 1).await;

    // The subscriber's media comes from Janus's address in its namespace...
    let sample_s = sample(&s).await;
    let remote = rows(&sample_s, "recv", "video")[0]["remote_address"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        remote.starts_with(&format!("{}:", net.server.addr)),
        "media from {remote}"
    );
    // ...and crosses the server link: its counters grow by at least what the browsers count.
    let (ns, dev) = (net.server.ns.name(), net.server.iface());
    let (rx0, tx0) = bytes(Some(ns), dev);
    let got0 = recv_video_bytes(&sample(&s).await);
    let clean = kbps(&s, 8).await;
    let (rx1, tx1) = bytes(Some(ns), dev);
    let got = recv_video_bytes(&sample(&s).await) - got0;
    eprintln!(
        "clean: {clean:.0} kbit/s received; server link rx {:.0} kB, tx {:.0} kB; browser counted {:.0} kB",
        (rx1 - rx0) / 1e3,
        (tx1 - tx0) / 1e3,
        got / 1e3
    );
    assert!(clean > 150.0, "a video stream flows: {clean} kbit/s");
    assert!(
        tx1 - tx0 >= 0.95 * got,
        "Janus → subscriber bytes crossed the link"
    );
    assert!(
        rx1 - rx0 >= 0.8 * got,
        "publisher → Janus bytes crossed the link"
    );

    // Cap both directions at half of one stream's bitrate.
    let cap = Rate::from_bits_per_sec((clean * 500.0) as u64);
    net.star
        .cap(&net.server, cap, Duration::from_millis(200))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let capped = kbps(&s, 10).await;
    eprintln!("capped at {cap}: {capped:.0} kbit/s received (was {clean:.0})");
    let cap_kbps = cap.bits_per_sec() as f64 / 1000.0;
    assert!(
        capped <= cap_kbps * 1.1,
        "received {capped} kbit/s through a {cap_kbps} kbit/s cap"
    );
    assert!(capped < 0.7 * clean, "the cap bites: {capped} vs {clean}");
    assert!(
        capped > 0.1 * cap_kbps,
        "media still flows under the cap: {capped}"
    );
    for c in [p, s] {
        leave(c).await;
    }
    driver.stop().await;
    sb.stop().await;
    assert_eq!(snapshot(), before);
}

#[test]
fn sigint_to_an_isolated_sandbox_leaves_nothing() {
    let before = snapshot();
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["sandbox", "--isolated", "--link-rate", "2mbit", "--dir"])
        .arg(tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    while !text.contains("router namespace") {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "sandbox ended: {text}"
        );
        text.push_str(&line);
    }
    eprint!("{text}");
    let ns = text
        .split_whitespace()
        .skip_while(|w| *w != "namespace")
        .nth(1)
        .unwrap()
        .to_string();
    let during = snapshot();
    assert!(during.namespaces.contains(&ns), "{during:?}");
    assert!(
        during.qdiscs.iter().any(|q| q.contains("htb")),
        "the link is capped: {:?}",
        during.qdiscs
    );
    assert!(during.routes.iter().any(|r| r.starts_with("unreachable")));
    let janus = loadtest::network::cmd::netns_pids(&ns);
    assert!(!janus.is_empty(), "Janus runs inside {ns}");
    let api = text
        .split_whitespace()
        .skip_while(|w| *w != "API")
        .nth(1)
        .unwrap();
    let info = Command::new("curl")
        .args(["-s", "--max-time", "5", &format!("{api}/info")])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&info.stdout).contains("server_info"));

    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(snapshot(), before, "nothing left after SIGINT");
    for p in janus {
        assert!(
            !Path::new(&format!("/proc/{p}")).exists(),
            "Janus {p} stopped"
        );
    }
}
