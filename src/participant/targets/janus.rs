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
