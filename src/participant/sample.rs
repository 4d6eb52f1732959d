//! What the page reports: its state and, per RTP stream, the figures `assets/js/stats.js` computes.
//! Pure: turned into `client_stats.csv` rows and judged (media flowing, health) without a browser.

use serde::Deserialize;

use crate::results::ClientStatRow;
use crate::schedule::{ParticipantId, Role};

/// The page's own account of itself (`window.__lt.state()`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageState {
    /// `loading`, `connecting`, `joined`, `left`, `failed`.
    #[serde(default)]
    pub phase: String,
    /// In the room.
    #[serde(default)]
    pub joined: bool,
    /// ICE connection state.
    #[serde(default)]
    pub ice: Option<String>,
    /// Fatal error text.
    #[serde(default)]
    pub error: Option<String>,
    /// Participants in the room (including self).
    #[serde(default)]
    pub members: Option<i64>,
    /// Free text.
    #[serde(default)]
    pub detail: Option<String>,
    /// The failure cannot recover (Janus: the server no longer knows the client's session): the
    /// participant fails at once instead of after `timeouts.unhealthy`.
    #[serde(default)]
    pub terminal: bool,
    /// The participant's own id on the server once joined (Jitsi: its endpoint id, as the bridge's
    /// and jicofo's logs name it).
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// One stream as stats.js reports it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamStats {
    #[serde(default)]
    peer: Option<String>,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    kind: String,
    bitrate_kbps: Option<f64>,
    fps: Option<f64>,
    width: Option<f64>,
    height: Option<f64>,
    packets_lost: Option<f64>,
    loss_ratio: Option<f64>,
    jitter_ms: Option<f64>,
    rtt_ms: Option<f64>,
    freeze_count: Option<f64>,
    freeze_ms: Option<f64>,
    #[serde(default)]
    concealed_ratio: Option<f64>,
    #[serde(default)]
    quality_limitation: Option<String>,
    #[serde(default)]
    remote_address: Option<String>,
    #[serde(default)]
    talk_ratio: Option<f64>,
    #[serde(default)]
    solo_ratio: Option<f64>,
    /// A row of the media server's connection (false: Jitsi's P2P connection).
    #[serde(default = "yes")]
    bridge: bool,
}

fn yes() -> bool {
    true
}

/// One sample: the page state and its streams.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Sample {
    /// The page's `location.pathname`.
    #[serde(default)]
    pub path: Option<String>,
    /// `window.__lt` is gone: the page reloaded or navigated away.
    #[serde(default)]
    pub probe_missing: bool,
    /// Page state.
    #[serde(default)]
    pub state: Option<PageState>,
    /// Streams.
    #[serde(default)]
    pub rows: Vec<StreamStats>,
}

impl PageState {
    /// ICE connected (or completed) with the media server: a media session exists.
    pub(crate) fn ice_up(&self) -> bool {
        matches!(self.ice.as_deref(), Some("connected" | "completed"))
    }
    /// Someone else is in the room (the page counts itself).
    pub(crate) fn others_present(&self) -> bool {
        self.members.is_some_and(|m| m >= 2)
    }
    /// Alone in the room without a media session: Jitsi's focus starts none before a second member
    /// joins (jicofo `min-participants = 2`), so there is nothing to send to yet.
    pub(crate) fn alone(&self) -> bool {
        self.members == Some(1) && !self.ice_up()
    }
}

impl Sample {
    pub(crate) fn state(&self) -> PageState {
        self.state.clone().unwrap_or_default()
    }
    /// On Jitsi's auth-error page (`static/authError.html`, where the app sends a refused token).
    pub(crate) fn on_auth_error_page(&self) -> bool {
        self.path
            .as_deref()
            .is_some_and(|p| p.ends_with("/static/authError.html"))
    }
    pub(crate) fn flowing(&self, direction: &str, kind: Option<&str>) -> bool {
        self.rows.iter().any(|r| {
            r.direction == direction
                && kind.is_none_or(|k| r.kind == k)
                && r.bitrate_kbps.is_some_and(|b| b > 0.0)
        })
    }
    /// The highest decoded frame rate of any received video stream (`None`: no figure).
    pub(crate) fn decoded_fps(&self) -> Option<f64> {
        self.rows
            .iter()
            .filter(|r| r.direction == "recv" && r.kind == "video")
            .filter_map(|r| r.fps)
            .reduce(f64::max)
    }
    /// The media server address: the selected-pair remote address of the bridge connection's first
    /// stream (never the P2P connection's, which goes to another participant).
    pub fn remote_address(&self) -> Option<String> {
        self.rows
            .iter()
            .filter(|r| r.bridge)
            .find_map(|r| r.remote_address.clone().filter(|a| !a.is_empty()))
    }
    /// The sample's `client_stats.csv` rows. With `decoded` false (received video discarded before the
    /// decoder) the decode-based figures of received video (fps, resolution, freezes) are left empty,
    /// never zero: they were not measured.
    pub(crate) fn to_rows(&self, participant: ParticipantId, decoded: bool) -> Vec<ClientStatRow> {
        let ts = crate::results::now();
        let round = |v: Option<f64>, d: i32| v.map(|x| (x * 10f64.powi(d)).round() / 10f64.powi(d));
        self.rows
            .iter()
            .map(|r| {
                if decoded || r.direction != "recv" || r.kind != "video" {
                    return r.clone();
                }
                StreamStats {
                    fps: None,
                    width: None,
                    height: None,
                    freeze_count: None,
                    freeze_ms: None,
                    ..r.clone()
                }
            })
            .map(|r| ClientStatRow {
                ts: ts.clone(),
                participant,
                peer: r.peer.clone().unwrap_or_default(),
                direction: r.direction.clone(),
                kind: r.kind.clone(),
                bitrate_kbps: round(r.bitrate_kbps, 1),
                fps: round(r.fps, 2),
                width: r.width.map(|x| x as u32),
                height: r.height.map(|x| x as u32),
                packets_lost: r.packets_lost.map(|x| x as i64),
                loss_ratio: round(r.loss_ratio, 4),
                jitter_ms: round(r.jitter_ms, 1),
                rtt_ms: round(r.rtt_ms, 1),
                freeze_count: r.freeze_count.map(|x| x as u64),
                freeze_ms: round(r.freeze_ms, 0),
                concealed_ratio: round(r.concealed_ratio, 4),
                talk_ratio: round(r.talk_ratio, 4),
                solo_ratio: round(r.solo_ratio, 4),
                quality_limitation: r.quality_limitation.clone().unwrap_or_default(),
                remote_address: r.remote_address.clone().unwrap_or_default(),
            })
            .collect()
    }
}

/// Media check: own media sent; remote media received once a remote sender has been in the room.
pub(crate) fn media_ok(sample: &Sample, role: Role, expect_remote: bool) -> Result<(), String> {
    let mut missing = Vec::new();
    if role.sends_video() && !sample.flowing("send", Some("video")) {
        missing.push("no video sent");
    }
    if role.sends_audio() && !sample.flowing("send", Some("audio")) {
        missing.push("no audio sent");
    }
    if expect_remote && !sample.flowing("recv", None) {
        missing.push("nothing received from remote senders");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing.join(", "))
    }
}

/// Health while in the call.
pub(crate) fn health(state: &PageState) -> Result<(), String> {
    if state.phase == "failed" {
        return Err(format!(
            "page failed: {}",
            state.error.clone().unwrap_or_default()
        ));
    }
    if state.phase == "left" || !state.joined {
        return Err(format!("not in the room (phase {})", state.phase));
    }
    match state.ice.as_deref() {
        Some("failed") | Some("closed") => {
            Err(format!("ICE {}", state.ice.as_deref().unwrap_or_default()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(direction: &str, kind: &str, kbps: Option<f64>) -> StreamStats {
        StreamStats {
            direction: direction.into(),
            kind: kind.into(),
            bitrate_kbps: kbps,
            bridge: true,
            ..Default::default()
        }
    }

    /// Defect 8: with P2P on, rows of both connections are sorted together; the bridge is the JVB
    /// connection's pair. Failed before: the first row (a P2P one here) won.
    #[test]
    fn the_bridge_address_comes_from_the_jvb_connection() {
        let p2p = StreamStats {
            remote_address: Some("192.0.2.9:50000".into()),
            bridge: false,
            ..stream("recv", "audio", Some(30.0))
        };
        let jvb = StreamStats {
            remote_address: Some("10.0.0.5:10000".into()),
            ..stream("recv", "video", Some(300.0))
        };
        let s = Sample {
            rows: vec![p2p, jvb],
            ..Default::default()
        };
        assert_eq!(s.remote_address().as_deref(), Some("10.0.0.5:10000"));
    }

    /// With received video discarded, the frame counters stand still: the rows say "not measured"
    /// (empty), never 0 fps; bitrate, loss and jitter stay.
    #[test]
    fn discarded_video_has_no_decoded_figures() {
        let recv = StreamStats {
            fps: Some(0.0),
            width: Some(320.0),
            height: Some(240.0),
            freeze_count: Some(0.0),
            jitter_ms: Some(3.0),
            loss_ratio: Some(0.0),
            ..stream("recv", "video", Some(250.0))
        };
        let send = StreamStats {
            fps: Some(15.0),
            ..stream("send", "video", Some(300.0))
        };
        let s = Sample {
            rows: vec![recv, send],
            ..Default::default()
        };
        let id = "c0p1".parse().unwrap();
        let rows = s.to_rows(id, false);
        assert_eq!(
            (rows[0].fps, rows[0].width, rows[0].freeze_count),
            (None, None, None)
        );
        assert_eq!(
            (rows[0].bitrate_kbps, rows[0].jitter_ms, rows[0].loss_ratio),
            (Some(250.0), Some(3.0), Some(0.0))
        );
        assert_eq!(rows[1].fps, Some(15.0), "sent video keeps its fps");
        assert_eq!(s.decoded_fps(), Some(0.0));
        let decoded = s.to_rows(id, true);
        assert_eq!((decoded[0].fps, decoded[0].width), (Some(0.0), Some(320)));
    }

    #[test]
    fn media_check_follows_role_and_remote_presence() {
        let s = Sample {
            path: None,
            probe_missing: false,
            state: None,
            rows: vec![
                stream("send", "video", Some(200.0)),
                stream("recv", "video", Some(0.0)),
            ],
        };
        assert!(media_ok(&s, Role::Video, false).is_ok());
        assert_eq!(
            media_ok(&s, Role::Video, true).unwrap_err(),
            "nothing received from remote senders"
        );
        assert_eq!(
            media_ok(&s, Role::AudioVideo, false).unwrap_err(),
            "no audio sent"
        );
        assert!(media_ok(&Sample::default(), Role::Receiver, false).is_ok());
        let first = Sample {
            path: None,
            probe_missing: false,
            state: None,
            rows: vec![stream("send", "video", None)],
        };
        assert!(
            media_ok(&first, Role::Video, false).is_err(),
            "the first sample has no rates yet"
        );
    }

    #[test]
    fn a_page_says_when_its_failure_cannot_recover() {
        let gone: PageState = serde_json::from_str(
            r#"{"phase":"failed","joined":false,"ice":null,"error":"janus session 7: session gone","members":3,"detail":"","terminal":true}"#,
        )
        .unwrap();
        assert!(gone.terminal && health(&gone).is_err());
        let old: PageState = serde_json::from_str(r#"{"phase":"failed"}"#).unwrap();
        assert!(
            !old.terminal,
            "pages that do not say are given the unhealthy grace"
        );
    }

    #[test]
    fn health_rules() {
        let ok = PageState {
            phase: "joined".into(),
            joined: true,
            ice: Some("connected".into()),
            ..Default::default()
        };
        assert!(health(&ok).is_ok());
        let disc = PageState {
            ice: Some("disconnected".into()),
            ..ok.clone()
        };
        assert!(health(&disc).is_ok(), "transient disconnected is tolerated");
        let failed = PageState {
            ice: Some("failed".into()),
            ..ok.clone()
        };
        assert!(health(&failed).is_err());
        let left = PageState {
            phase: "left".into(),
            ..ok
        };
        assert!(health(&left).is_err());
    }
}
