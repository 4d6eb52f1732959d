//! What `window.__ltQuality.take()` returns (docs/quality.md is the contract). Times are the page's wall
//! clock: `performance.timeOrigin + performance.now()` in milliseconds.

use serde::{Deserialize, Serialize};

/// Everything one page measured since its previous `take()`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Take {
    /// Shape version (1).
    pub v: u32,
    /// Measuring (false: switched off, or not started yet).
    pub on: bool,
    /// When this take ran (page clock, ms).
    pub ts: f64,
    /// When the previous one ran (or measuring started).
    pub since: f64,
    /// The page's camera tracks: when each code left the camera.
    pub sent: Vec<SentTrack>,
    /// The page's received video streams.
    pub recv: Vec<RecvStream>,
    /// Main-thread time the measurement's own code took since the previous take (ms).
    pub cost_ms: f64,
    /// Set when the page failed to build the take (the rest is then empty).
    pub error: Option<String>,
    /// How other pages name this page's streams when it is their sender, when that is not its
    /// participant id: on Jitsi its endpoint id (`__lt.myId()`); `None` on the Janus page.
    pub me: Option<String>,
}

/// One camera track of the page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SentTrack {
    /// `MediaStreamTrack.id`.
    pub track: String,
    /// Frame rate carried in the codes (`None` before the first code or for a camera without codes).
    pub fps: Option<u32>,
    /// Camera frames read / with a valid code / garbled / not readable.
    pub frames: u64,
    /// See `frames`.
    pub codes: u64,
    /// See `frames`.
    pub garbled: u64,
    /// See `frames`.
    pub unread: u64,
    /// The track ended (last report for it).
    pub ended: bool,
    /// Codes (frame index in the loop), one per captured frame read.
    pub c: Vec<u16>,
    /// Capture time of each code (page clock, ms).
    pub t: Vec<f64>,
}

/// A freeze: `(start, duration, ongoing)`; start is when the last frame before the gap arrived (page
/// clock, ms).
pub type Freeze = (f64, f64, bool);

/// One received video stream, over the interval since the previous take.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecvStream {
    /// The sender, as the page's `__lt.peerOf` names it (`None` until known).
    pub peer: Option<String>,
    /// `MediaStreamTrack.id` of the received track.
    pub track: String,
    /// Frame rate carried in the codes; `None` until the stream has locked onto codes (a camera without
    /// codes never does: its streams have no figures).
    pub fps: Option<u32>,
    /// Size of the received frames.
    pub width: Option<u32>,
    /// See `width`.
    pub height: Option<u32>,
    /// Frames received (decoded and delivered to the page).
    pub frames: u64,
    /// Frames read with a valid code.
    pub codes: u64,
    /// Frames whose code was unreadable or failed its checksum (skipped, counted).
    pub garbled: u64,
    /// Frames that could not be read (an unsupported pixel format).
    pub unread: u64,
    /// Frames received again with the same code.
    pub repeated: u64,
    /// Camera frames that never arrived.
    pub skipped: u64,
    /// Time the stream was watched in the interval (ms).
    pub observed_ms: f64,
    /// Freezes that began in the interval (an ongoing one is counted once, when first reported).
    pub freeze_count: u32,
    /// Frozen time in the interval (ms).
    pub freeze_ms: f64,
    /// Freezes touching the interval.
    pub freezes: Vec<Freeze>,
    /// PSNR samples of luma (dB, 99 = identical).
    pub psnr: Vec<f64>,
    /// SSIM samples of luma (0..1).
    pub ssim: Vec<f64>,
    /// Quality samples taken while the picture was behind (frozen): scored against a later frame.
    pub stale: u64,
    /// Quality samples of frames received smaller than sent (scaled up to be scored).
    pub scaled: u64,
    /// The stream ended (last report for it).
    pub ended: bool,
    /// Codes of received frames (thinned to at most `max_samples`).
    pub c: Vec<u16>,
    /// When each was delivered to the page, decoded (page clock, ms).
    pub t: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_take_parses() {
        let json = r#"{"v":1,"on":true,"ts":1000.5,"since":0,"cost_ms":1.2,
          "sent":[{"track":"a","fps":10,"frames":3,"codes":3,"garbled":0,"unread":0,"ended":false,
                   "c":[1,2,3],"t":[10,110,210]}],
          "recv":[{"peer":"p1","track":"b","fps":10,"width":160,"height":120,"frames":2,"codes":2,
                   "garbled":0,"unread":0,"repeated":0,"skipped":1,"observed_ms":900,"freeze_count":1,
                   "freeze_ms":400,"freezes":[[100.5,400,false]],"psnr":[47.1],"ssim":[0.99],"stale":0,
                   "scaled":0,"ended":false,"c":[1,3],"t":[40,250]}]}"#;
        let t: Take = serde_json::from_str(json).unwrap();
        assert_eq!(t.sent[0].c, vec![1, 2, 3]);
        assert_eq!(t.recv[0].freezes, vec![(100.5, 400.0, false)]);
        assert_eq!(t.recv[0].t, vec![40.0, 250.0]);
        // A page without quality.js answers null; an older page may lack fields.
        let t: Take = serde_json::from_str(r#"{"v":1,"recv":[{"peer":null}]}"#).unwrap();
        assert_eq!(t.recv[0].peer, None);
        assert!(
            serde_json::from_str::<Option<Take>>("null")
                .unwrap()
                .is_none()
        );
    }
}
