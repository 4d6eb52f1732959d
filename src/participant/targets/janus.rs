//! The `janus` target: a Janus VideoRoom joined through the tool's own participant page.
//!
//! The page (`assets/janus/`) is built on the `janus.js` Debian ships. It joins the room (creating it
//! if needed), publishes per role, subscribes to every other publisher over one multistream handle,
//! and exposes its peer connections through `window.__lt`. The tool serves it over HTTP on
//! `target.janus.page_host`, together with janus.js and webrtc-adapter.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use bytes::Bytes;
use url::Url;

use crate::scenario::ReceiveVideo;
use crate::schedule::ScheduledParticipant;
use crate::util::serve::Server;

const PAGE_HTML: &str = include_str!("../../../assets/janus/participant.html");
const PAGE_JS: &str = include_str!("../../../assets/janus/participant.js");
const DISCARD_JS: &str = include_str!("../../../assets/janus/discard-video.js");

/// The participant page server, with janus.js and webrtc-adapter; stops when dropped.
#[derive(Debug)]
pub struct PageServer(Server);

impl PageServer {
    /// Serve the page on `host` (port chosen by the OS), with janus.js and adapter.js read from disk.
    pub async fn start(host: &str, janus_js: &Path, adapter_js: &Path) -> io::Result<PageServer> {
        const JS: &str = "text/javascript; charset=utf-8";
        let pages = HashMap::from([
            (
                "/index.html",
                (
                    "text/html; charset=utf-8",
                    Bytes::from_static(PAGE_HTML.as_bytes()),
                ),
            ),
            (
                "/participant.js",
                (JS, Bytes::from_static(PAGE_JS.as_bytes())),
            ),
            (
                "/discard-video.js",
                (JS, Bytes::from_static(DISCARD_JS.as_bytes())),
            ),
            (
                "/quality.js",
                (
                    JS,
                    Bytes::from_static(crate::quality::QUALITY_JS.as_bytes()),
                ),
            ),
            ("/lib/janus.js", (JS, Bytes::from(std::fs::read(janus_js)?))),
            (
                "/lib/adapter.js",
                (JS, Bytes::from(std::fs::read(adapter_js)?)),
            ),
        ]);
        Ok(PageServer(Server::start(host, pages).await?))
    }

    /// The page's URL.
    pub fn base(&self) -> &Url {
        self.0.base()
    }
}

/// What every participant's page is told besides its own room, name and role.
#[derive(Debug, Clone, Copy)]
pub struct PageOptions {
    /// Room capacity when the page creates the room.
    pub publishers: u32,
    /// Subscribe to audio too.
    pub receive_audio: bool,
    /// Decode or discard received video.
    pub receive_video: ReceiveVideo,
    /// Measure what people see (`quality=1`).
    pub measure_quality: bool,
}

/// The page URL for one participant: which Janus, room, name, and what to publish and receive.
pub fn participant_url(
    page: &Url,
    janus: &Url,
    plan: &ScheduledParticipant,
    opts: PageOptions,
) -> Url {
    let flag = |b: bool| if b { "1" } else { "0" };
    let mut u = page.clone();
    u.query_pairs_mut()
        .append_pair("server", janus.as_str())
        .append_pair("room", &plan.room)
        .append_pair("display", &plan.id.to_string())
        .append_pair("audio", flag(plan.role.sends_audio()))
        .append_pair("video", flag(plan.role.sends_video()))
        .append_pair("recv_audio", flag(opts.receive_audio))
        .append_pair("recv_video", opts.receive_video.as_str())
        .append_pair("publishers", &opts.publishers.max(1).to_string())
        .append_pair("quality", flag(opts.measure_quality));
    u
}

/// Check a Janus HTTP API answers `GET <url>/info` as Janus.
pub async fn check_server(http: &reqwest::Client, janus: &Url) -> Result<String, String> {
    let info = format!("{}/info", janus.as_str().trim_end_matches('/'));
    let r = http
        .get(&info)
        .send()
        .await
        .map_err(|e| format!("unreachable: {}", e.without_url()))?;
    let v: serde_json::Value = r
        .json()
        .await
        .map_err(|e| format!("{info} did not answer JSON: {e}"))?;
    if v["janus"] != "server_info" {
        return Err(format!(
            "{info} is not a Janus server (no \"janus\": \"server_info\")"
        ));
    }
    if v["plugins"].get("janus.plugin.videoroom").is_none() {
        return Err("the VideoRoom plugin is not loaded".into());
    }
    Ok(v["version_string"].as_str().unwrap_or("?").to_string())
}

/// Check a Janus WebSocket API answers at `ws` (a `janus-protocol` upgrade gets `101`); `wss://` is
/// not checked here (the pages report a failed connection).
pub async fn check_websocket(ws: &Url) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if ws.scheme() != "ws" {
        return Ok(());
    }
    let host = ws.host_str().unwrap_or_default();
    let port = ws.port_or_known_default().unwrap_or(80);
    let hint = "expected Janus's WebSocket transport (libjanus_websockets.so, janus.transport.websockets.jcfg `ws = true`); without it leave [target.janus] websocket out and keep at most 4 participants per browser";
    let talk = async {
        let mut s = tokio::net::TcpStream::connect((host, port)).await?;
        let req = format!(
            "GET {} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: bG9hZHRlc3Qtd3MtY2hlY2s=\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: janus-protocol\r\n\r\n",
            ws.path()
        );
        s.write_all(req.as_bytes()).await?;
        let mut buf = vec![0u8; 256];
        let n = s.read(&mut buf).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&buf[..n]).to_string())
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), talk).await;
    match answer {
        Ok(Ok(a)) if a.starts_with("HTTP/1.1 101") => Ok(()),
        Ok(Ok(a)) => Err(format!(
            "{ws} did not accept a WebSocket (answered {:?}; {hint})",
            a.lines().next().unwrap_or("nothing")
        )),
        Ok(Err(e)) => Err(format!("{ws} unreachable: {e} ({hint})")),
        Err(_) => Err(format!("{ws} did not answer within 5 s ({hint})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Role;
    use std::time::Duration;

    #[test]
    fn url_carries_role_and_room() {
        let plan = ScheduledParticipant {
            id: "c0p1".parse().unwrap(),
            order: 1,
            conference: 0,
            room: "loadtest0".into(),
            index: 1,
            role: Role::Video,
            join_offset: Duration::ZERO,
            leave_offset: Duration::ZERO,
            step: None,
            cohort: None,
        };
        let u = participant_url(
            &Url::parse("http://127.0.0.1:9/").unwrap(),
            &Url::parse("http://127.0.0.1:8088/janus").unwrap(),
            &plan,
            PageOptions {
                publishers: 3,
                receive_audio: false,
                receive_video: ReceiveVideo::Discard,
                measure_quality: true,
            },
        );
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q["server"], "http://127.0.0.1:8088/janus");
        assert_eq!(q["room"], "loadtest0");
        assert_eq!(q["video"], "1");
        assert_eq!(q["audio"], "0");
        assert_eq!(q["recv_audio"], "0");
        assert_eq!(q["publishers"], "3");
        assert_eq!(q["recv_video"], "discard");
    }

    #[tokio::test]
    async fn a_server_that_refuses_the_upgrade_is_no_janus_websocket() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\n\r\n").await;
        });
        let u = Url::parse(&format!("ws://127.0.0.1:{port}")).unwrap();
        let e = check_websocket(&u).await.unwrap_err();
        assert!(
            e.contains("did not accept a WebSocket") && e.contains("404"),
            "{e}"
        );
        assert!(e.contains("libjanus_websockets.so"), "{e}");
        assert!(
            check_websocket(&u).await.is_err(),
            "nobody listens any more"
        );
    }

    #[tokio::test]
    async fn page_server_serves_the_page_and_libs() {
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("janus.js");
        let a = dir.path().join("adapter.js");
        std::fs::write(&j, "var Janus = 1;").unwrap();
        std::fs::write(&a, "var adapter = 1;").unwrap();
        let s = PageServer::start("127.0.0.1", &j, &a).await.unwrap();
        let get = |path: &str| reqwest::get(s.base().join(path).unwrap());
        let page = get("").await.unwrap().text().await.unwrap();
        assert!(page.contains("participant.js"));
        let discard = get("discard-video.js").await.unwrap().text().await.unwrap();
        assert!(discard.contains("RTCRtpScriptTransform"));
        let lib = get("lib/janus.js").await.unwrap().text().await.unwrap();
        assert_eq!(lib, "var Janus = 1;");
        let adapter = get("lib/adapter.js").await.unwrap().text().await.unwrap();
        assert_eq!(adapter, "var adapter = 1;");
    }
}
