//! Shared by tests/quality.rs and benches/quality_cost.rs: the Janus participant page served with
//! quality.js, browsers joining a room through a local ChromeDriver, and `__ltQuality.take()`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::Client;
use loadtest::media::{self, AudioSource, VIDEO_PRESETS, VideoSource};
use loadtest::quality::{self, ClockOffset, Take};
use loadtest::webdriver::{capabilities, chromedriver::ChromeDriver};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::common;

/// Serves the Janus participant page with quality.js and the Debian janus.js/adapter.js, as the tool's
/// page server does (until that serves quality.js too).
pub async fn page_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let read = |p: &str| std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e} (scripts/setup.sh)"));
    let asset = |p: &str| read(common::repo().join(p).to_str().unwrap());
    let files: Arc<HashMap<&str, (Vec<u8>, &str)>> = Arc::new(HashMap::from([
        ("/", (asset("assets/janus/participant.html"), "text/html")),
        (
            "/blank",
            (b"<!doctype html><title>blank</title>".to_vec(), "text/html"),
        ),
        (
            "/participant.js",
            (asset("assets/janus/participant.js"), "text/javascript"),
        ),
        (
            "/quality.js",
            (asset("assets/js/quality.js"), "text/javascript"),
        ),
        (
            "/lib/janus.js",
            (
                read("/usr/share/javascript/janus-gateway/janus.js"),
                "text/javascript",
            ),
        ),
        (
            "/lib/adapter.js",
            (
                read("/usr/share/javascript/webrtc-adapter/adapter.min.js"),
                "text/javascript",
            ),
        ),
    ]));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let files = files.clone();
            tokio::spawn(async move {
                let Some((head, _)) = common::read_request(&mut s, &mut Vec::new()).await else {
                    return;
                };
                let path = head.split_whitespace().nth(1).unwrap_or("/");
                let path = path.split('?').next().unwrap_or("/");
                let (status, (body, ctype)) = match files.get(path) {
                    Some(f) => ("200 OK", (f.0.as_slice(), f.1)),
                    None => ("404 Not Found", (&b"not found"[..], "text/plain")),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body).await;
            });
        }
    });
    base
}

/// A Janus sandbox, the page server and a local ChromeDriver (browsers die with it).
pub struct Lab {
    pub tmp: tempfile::TempDir,
    pub janus: loadtest::sandbox::Sandbox,
    pub page: String,
    pub driver: ChromeDriver,
}

impl Lab {
    pub async fn start() -> Lab {
        let tmp = tempfile::tempdir().unwrap();
        let janus = common::janus(tmp.path()).await;
        let page = page_server().await;
        let driver = ChromeDriver::start(Path::new("/usr/bin/chromedriver"))
            .await
            .unwrap();
        Lab {
            tmp,
            janus,
            page,
            driver,
        }
    }
}

/// One browser in the call.
pub struct Peer {
    pub name: String,
    pub client: Client,
    pub clock: ClockOffset,
}

pub async fn browser(driver: &ChromeDriver, video: Option<&Path>) -> Client {
    let caps = capabilities::chrome(&Default::default(), true, true, video, None);
    let mut b = fantoccini::ClientBuilder::native();
    b.capabilities(caps);
    b.connect(driver.url().as_str())
        .await
        .expect("a browser session")
}

pub async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.expect("script runs")
}

/// Join `room` as `name`, publishing the camera `video`; `query` adds page options.
pub async fn join(
    driver: &ChromeDriver,
    page: &str,
    janus: &str,
    room: &str,
    name: &str,
    video: &Path,
    query: &str,
) -> Peer {
    let client = browser(driver, Some(video)).await;
    let url = format!("{page}?server={janus}&room={room}&display={name}&video=1&audio=0{query}");
    client.goto(&url).await.unwrap();
    let clock = quality::clock::measure(&client, 10)
        .await
        .expect("page clock");
    Peer {
        name: name.into(),
        client,
        clock,
    }
}

/// Video tracks a page receives.
const RECEIVING: &str = "var n = 0; __lt.pcs().forEach(function (pc) {
  pc.getTransceivers().forEach(function (t) { var r = t.receiver && t.receiver.track;
    if (r && r.kind === 'video' && r.readyState === 'live' && /recv/.test(t.currentDirection || '')) n++; }); });
  return n;";

/// Wait until every peer receives video from every other one, then 3 s more.
pub async fn until_receiving(peers: &[Peer]) {
    for _ in 0..60 {
        let mut ok = true;
        for p in peers {
            let n = js(&p.client, RECEIVING).await.as_u64().unwrap_or(0);
            ok &= n as usize == peers.len() - 1;
        }
        if ok {
            tokio::time::sleep(Duration::from_secs(3)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("not every peer receives every other one");
}

pub async fn take(p: &Peer) -> Take {
    let v = p
        .client
        .execute_async(quality::TAKE_SCRIPT, vec![])
        .await
        .expect("take() answers");
    let t: Option<Take> = serde_json::from_value(v).expect("take() matches quality::Take");
    let t = t.expect("quality.js is loaded");
    assert!(t.error.is_none(), "{}: {:?}", p.name, t.error);
    t
}

/// The generated camera of preset `i` (0 = tiny), from the shared cache.
pub fn preset(i: usize) -> PathBuf {
    let cache = common::repo().join(".cache/loadtest");
    media::prepare(
        &VideoSource::Preset(VIDEO_PRESETS[i]),
        &AudioSource::Chrome,
        &cache,
    )
    .unwrap()
    .video
    .unwrap()
}

/// Leave the room and close every session.
pub async fn leave(peers: Vec<Peer>) {
    for p in peers {
        let _ = p.client.execute("return __lt.leave()", vec![]).await;
        let _ = p.client.close().await;
    }
}
