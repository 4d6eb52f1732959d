//! Real Chromium participants for the network tests: the tool's Janus participant page (served here
//! from the repository's assets), sessions through a local ChromeDriver or a Grid, and the tool's
//! stats probe.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

const PAGE_HTML: &str = include_str!("../../assets/janus/participant.html");
const PAGE_JS: &str = include_str!("../../assets/janus/participant.js");
/// The tool's own stats probe.
pub const STATS_JS: &str = include_str!("../../assets/js/stats.js");

/// Serves the participant page on 127.0.0.1 (root namespace) until the process ends.
pub fn serve_page() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let janus = std::fs::read("/usr/share/javascript/janus-gateway/janus.js").unwrap();
    let adapter = std::fs::read("/usr/share/javascript/webrtc-adapter/adapter.min.js").unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let (janus, adapter) = (janus.clone(), adapter.clone());
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]);
                let path = head.split_whitespace().nth(1).unwrap_or("/");
                let path = path.split('?').next().unwrap_or("/");
                let (ctype, body): (&str, &[u8]) = match path {
                    "/" => ("text/html", PAGE_HTML.as_bytes()),
                    "/participant.js" => ("text/javascript", PAGE_JS.as_bytes()),
                    "/lib/janus.js" => ("text/javascript", &janus),
                    "/lib/adapter.js" => ("text/javascript", &adapter),
                    _ => ("text/plain", b"not found"),
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(body);
            });
        }
    });
    port
}

/// A small looping camera file (320x240 at 15 fps), generated once per test process.
pub fn camera(dir: &Path) -> PathBuf {
    let p = dir.join("camera-320x240.y4m");
    if !p.is_file() {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        loadtest::media::write_y4m(&mut f, 320, 240, 15, 30).unwrap();
    }
    p
}

/// How a session's browser is started.
pub enum Browser<'a> {
    /// Chromium in the root namespace.
    Plain,
    /// Through a wrapper that starts it inside a namespace (the pipe switch is added).
    Wrapped(&'a Path),
    /// Whatever the Grid node's stereotype says (no binary in the request).
    Node,
}

/// Capabilities of a headless participant with fake media; `extra`: more capabilities (e.g. for a
/// Grid).
pub fn caps(camera: &Path, browser: Browser, extra: Value) -> serde_json::Map<String, Value> {
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
        "--mute-audio",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--disable-renderer-backgrounding",
        "--disable-background-timer-throttling",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!(
        "--use-file-for-fake-video-capture={}",
        camera.display()
    ));
    let mut opts = json!({ "args": args });
    match browser {
        Browser::Wrapped(b) => {
            opts["binary"] = json!(b.display().to_string());
            opts["args"]
                .as_array_mut()
                .unwrap()
                .push(json!(loadtest::network::netns::PIPE_ARG));
        }
        Browser::Plain => opts["binary"] = json!("/usr/bin/chromium"),
        Browser::Node => {}
    }
    let mut c = serde_json::Map::new();
    c.insert("browserName".into(), json!("chrome"));
    c.insert("goog:chromeOptions".into(), opts);
    if let Value::Object(m) = extra {
        c.extend(m);
    }
    c
}

/// A WebDriver session.
pub async fn session(url: &str, caps: serde_json::Map<String, Value>) -> Client {
    ClientBuilder::native()
        .capabilities(caps)
        .connect(url)
        .await
        .expect("a browser session")
}

/// The page URL of a participant.
pub fn page_url(page_port: u16, janus: &str, room: &str, name: &str, video: bool) -> String {
    format!(
        "http://127.0.0.1:{page_port}/?server={janus}&room={room}&display={name}&audio=0&video={}&recv_audio=0&publishers=8",
        if video { 1 } else { 0 }
    )
}

/// Open the page and wait until the participant is in the room (and, with `publishers` > 0, until
/// it receives video from that many others).
pub async fn join(c: &Client, url: &str, peers: usize) {
    c.goto(url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = c
            .execute("return window.__lt ? window.__lt.state() : null", vec![])
            .await
            .unwrap_or(Value::Null);
        if s["phase"] == "failed" {
            panic!("participant failed: {s}");
        }
        if s["joined"] == true && (peers == 0 || receiving(&sample(c).await) >= peers) {
            return;
        }
        assert!(Instant::now() < deadline, "not joined within 60 s: {s}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One stats probe sample (`{ts, state, rows}`).
pub async fn sample(c: &Client) -> Value {
    c.execute_async(STATS_JS, vec![])
        .await
        .unwrap_or(Value::Null)
}

/// Received video streams with bytes flowing.
pub fn receiving(s: &Value) -> usize {
    rows(s, "recv", "video")
        .iter()
        .filter(|r| r["bytes"].as_f64().unwrap_or(0.0) > 0.0)
        .count()
}

/// Rows of one direction and kind.
pub fn rows(s: &Value, direction: &str, kind: &str) -> Vec<Value> {
    s["rows"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["direction"] == direction && r["kind"] == kind)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Total received video bytes (all streams).
pub fn recv_video_bytes(s: &Value) -> f64 {
    rows(s, "recv", "video")
        .iter()
        .filter_map(|r| r["bytes"].as_f64())
        .sum()
}

/// Leave the room cleanly and end the session.
pub async fn leave(c: Client) {
    let _ = c
        .execute_async(
            "const done = arguments[arguments.length - 1]; (window.__lt ? window.__lt.leave() : Promise.resolve()).then(() => done(true), () => done(false));",
            vec![],
        )
        .await;
    let _ = c.close().await;
}
