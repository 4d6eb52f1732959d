//! The scenario's schema: every table and key, its default and its documentation
//! (docs/scenario.md is the user-facing copy). Metric sources are in [`super::sources`],
//! thresholds and the guard in [`super::judgement`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Dur;
use super::cohort::{Cohort, Disruption};
use super::export::Export;
use super::judgement::{Guard, Thresholds};
use super::limit::Limit;
use super::sources::Metrics;

/// A parsed, defaulted and validated scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Scenario name; defaults to the file stem.
    #[serde(default)]
    pub name: String,
    /// Free text shown in the report.
    #[serde(default)]
    pub description: String,
    /// What the participants join.
    pub target: Target,
    /// Where the browsers come from.
    #[serde(default)]
    pub webdriver: WebDriver,
    /// The load shape.
    pub load: Load,
    /// Fake camera and microphone.
    #[serde(default)]
    pub media: Media,
    /// Client statistics sampling.
    #[serde(default)]
    pub stats: Stats,
    /// Bounds on every participant phase.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Pass/fail criteria evaluated by `loadtest report`.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Server and generator metrics sampled on the run's timeline.
    #[serde(default)]
    pub metrics: Metrics,
    /// When a run measured the load generators rather than the server.
    #[serde(default)]
    pub guard: Guard,
    /// How `loadtest limit` grows the load (ignored by `loadtest run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
    /// Participants behind network profiles (`[[cohort]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cohort: Vec<Cohort>,
    /// Things broken during the run (`[[disruption]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disruption: Vec<Disruption>,
    /// The live state served to Prometheus (absent: not exported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<Export>,
}

/// The conference server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Jitsi Meet (full app or its `/_load-test` page).
    Jitsi,
    /// A Janus VideoRoom, joined through the tool's own participant page.
    Janus,
}

impl TargetKind {
    /// The name used in the scenario and the results.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Jitsi => "jitsi",
            TargetKind::Janus => "janus",
        }
    }
}

/// `[target]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// `jitsi` or `janus`.
    pub kind: TargetKind,
    /// Jitsi: the deployment's base URL. Janus: the Janus HTTP API URL (`http://host:8088/janus`).
    pub url: String,
    /// Options of the `jitsi` target.
    #[serde(default)]
    pub jitsi: JitsiOptions,
    /// Options of the `janus` target.
    #[serde(default)]
    pub janus: JanusOptions,
}

/// Which Jitsi page participants open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JitsiPage {
    /// The full jitsi-meet web app.
    #[default]
    App,
    /// The lightweight lib-jitsi-meet page under `/_load-test/`.
    LoadTest,
}

impl JitsiPage {
    /// The name used in the scenario and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            JitsiPage::App => "app",
            JitsiPage::LoadTest => "load-test",
        }
    }
}

/// `[target.jitsi]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JitsiOptions {
    /// `app` (full web app) or `load-test` (the `/_load-test` page).
    #[serde(default)]
    pub page: JitsiPage,
    /// Tenant path segment between the base URL and the room.
    #[serde(default)]
    pub tenant: Option<String>,
    /// `#config.<key>=<value>` overrides for every participant (they win over the tool's defaults).
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
    /// `#interfaceConfig.<key>=<value>` overrides.
    #[serde(default)]
    pub interface_config: BTreeMap<String, toml::Value>,
    /// Name of the environment variable holding one JWT for everyone (never the token itself); it
    /// needs `room: "*"` to open every room.
    #[serde(default)]
    pub jwt_env: Option<String>,
    /// Name of the environment variable holding an HS256 secret: one token minted per participant.
    #[serde(default)]
    pub jwt_secret_env: Option<String>,
    /// An RS256 private key (PEM): one token minted per participant (JaaS-style).
    #[serde(default)]
    pub jwt_key_file: Option<PathBuf>,
    /// `kid` header of minted tokens (JaaS: `<AppID>/<key id>`).
    #[serde(default)]
    pub jwt_kid: Option<String>,
    /// Claims of minted tokens on top of the defaults (`iss`, `aud`, `sub`, `context`, ...).
    #[serde(default)]
    pub jwt_claims: toml::Table,
    /// `tile` (the app's tile view) or `stage` (`config.disableTileView`: one large video).
    #[serde(default)]
    pub layout: Layout,
    /// Tenants conferences are spread over, round-robin (instead of one `tenant`).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Receivers discard received frames (`config.flags.runInLiteMode`), saving generator CPU.
    #[serde(default)]
    pub lite_mode: bool,
    /// `config.deploymentInfo.userRegion`, assigned round-robin by participant.
    #[serde(default)]
    pub regions: Vec<String>,
}

/// The video layout a Jitsi participant shows, which decides the receiver constraints it sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Tile view: every participant's video, sized by the tile count.
    #[default]
    Tile,
    /// Stage view: the dominant speaker large (`config.disableTileView = true`).
    Stage,
}

/// `[target.janus]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JanusOptions {
    /// janus.js served to the participant page (Debian package `janus-demos`).
    #[serde(default = "default_janus_js")]
    pub janus_js: PathBuf,
    /// webrtc-adapter served to the participant page.
    #[serde(default = "default_adapter_js")]
    pub adapter_js: PathBuf,
    /// Address the tool's participant page server binds to; browsers must reach it.
    #[serde(default = "default_page_host")]
    pub page_host: String,
    /// The Janus WebSocket API (`ws://host:8188`) participant pages connect to instead of the HTTP
    /// API of `target.url`; needed for more than 4 participants per browser (no long polls).
    #[serde(default)]
    pub websocket: Option<String>,
}

fn default_janus_js() -> PathBuf {
    PathBuf::from("/usr/share/javascript/janus-gateway/janus.js")
}
fn default_adapter_js() -> PathBuf {
    PathBuf::from("/usr/share/javascript/webrtc-adapter/adapter.min.js")
}
fn default_page_host() -> String {
    "127.0.0.1".to_string()
}

impl Default for JanusOptions {
    fn default() -> Self {
        JanusOptions {
            janus_js: default_janus_js(),
            adapter_js: default_adapter_js(),
            page_host: default_page_host(),
            websocket: None,
        }
    }
}

/// `[webdriver]`: absent `url` means the embedded default, a local ChromeDriver the tool starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebDriver {
    /// Selenium Grid (or any W3C WebDriver) URL; `/wd/hub` is accepted.
    #[serde(default)]
    pub url: Option<String>,
    /// ChromeDriver binary for the embedded default.
    #[serde(default = "default_chromedriver")]
    pub chromedriver: PathBuf,
    /// Browser binary for the embedded default (grid nodes use their own).
    #[serde(default = "default_browser")]
    pub browser: PathBuf,
    /// Run Chrome headless.
    #[serde(default = "yes")]
    pub headless: bool,
    /// Extra Chrome command-line switches.
    #[serde(default)]
    pub args: Vec<String>,
    /// `browserVersion` capability (a grid alias such as `stable`).
    #[serde(default)]
    pub browser_version: Option<String>,
    /// Directory holding the fake media files on grid nodes (default: the local cache path).
    #[serde(default)]
    pub media_dir: Option<PathBuf>,
    /// `acceptInsecureCerts` capability (self-signed staging servers).
    #[serde(default)]
    pub accept_insecure_certs: bool,
    /// Capabilities merged into video senders' session requests (a grid places them on nodes whose
    /// stereotype matches, e.g. `{ "nodename:applicationName" = "sender" }`).
    #[serde(default)]
    pub sender_capabilities: toml::Table,
    /// Capabilities merged into everyone else's session requests.
    #[serde(default)]
    pub receiver_capabilities: toml::Table,
}

fn default_chromedriver() -> PathBuf {
    PathBuf::from("/usr/bin/chromedriver")
}
fn default_browser() -> PathBuf {
    PathBuf::from("/usr/bin/chromium")
}
pub(crate) fn yes() -> bool {
    true
}

impl Default for WebDriver {
    fn default() -> Self {
        WebDriver {
            url: None,
            chromedriver: default_chromedriver(),
            browser: default_browser(),
            headless: true,
            args: Vec::new(),
            browser_version: None,
            media_dir: None,
            accept_insecure_certs: false,
            sender_capabilities: toml::Table::new(),
            receiver_capabilities: toml::Table::new(),
        }
    }
}

/// `[load]`: the names of the torture suite's load test.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Number of conferences (rooms).
    pub conferences: u32,
    /// Participants in each conference (was `participants`).
    #[serde(alias = "participants")]
    pub participants_per_conference: u32,
    /// Participants per conference that send video (default: every participant; was `senders`).
    #[serde(default, alias = "senders")]
    pub video_senders: Option<u32>,
    /// Participants per conference that send audio (default: every participant).
    #[serde(default)]
    pub audio_senders: Option<u32>,
    /// Time each participant stays in the call.
    pub duration: Dur,
    /// Delay between consecutive joins within a conference (conferences fill in parallel).
    #[serde(default)]
    pub join_delay: Option<Dur>,
    /// Alternative to `join_delay`: spread every join of the run evenly over this time.
    #[serde(default)]
    pub ramp: Option<Dur>,
    /// Room name prefix; room `i` is `<room_prefix><i>`.
    #[serde(default = "default_room_prefix")]
    pub room_prefix: String,
    /// Suffixes spread over conferences round-robin: room `i` is `<room_prefix><i><suffix>`.
    #[serde(default)]
    pub room_suffixes: Vec<String>,
    /// Who talks when: `all` (every audio sender all the time) or `p59` (ITU-T P.59 conversation).
    #[serde(default)]
    pub speakers: Speakers,
    /// Seed of the speaker model (one sequence per conference; the same seed repeats a run's talk).
    #[serde(default)]
    pub seed: u64,
    /// Participants one browser (WebDriver session) hosts, each in its own window; consecutive
    /// participants in join order share one.
    #[serde(default = "one")]
    pub participants_per_browser: u32,
    /// Participants one page hosts (clients per page: the Janus page's own clients, the Jitsi
    /// load-test page's `numClients`); consecutive participants in join order share one.
    #[serde(default = "one")]
    pub participants_per_page: u32,
}

fn one() -> u32 {
    1
}

/// Who talks when.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speakers {
    /// Every audio sender sends all the time.
    #[default]
    All,
    /// A seeded ITU-T P.59 conversation per conference mutes and unmutes audio senders.
    P59,
}

fn default_room_prefix() -> String {
    "loadtest".to_string()
}

impl Load {
    /// A one-conference, one-participant shape of 30 s with every default (tests, examples).
    pub fn default_shape() -> Load {
        Load {
            conferences: 1,
            participants_per_conference: 1,
            video_senders: None,
            audio_senders: None,
            duration: Dur::from_secs(30),
            join_delay: None,
            ramp: None,
            room_prefix: default_room_prefix(),
            room_suffixes: Vec::new(),
            speakers: Speakers::All,
            seed: 0,
            participants_per_browser: 1,
            participants_per_page: 1,
        }
    }
    /// The room of conference `c`: `<room_prefix><c>` and the conference's suffix, if any.
    pub fn room(&self, c: u32) -> String {
        let suffix = match self.room_suffixes.len() {
            0 => "",
            n => self.room_suffixes[c as usize % n].as_str(),
        };
        format!("{}{c}{suffix}", self.room_prefix)
    }
    /// Video senders per conference after defaults.
    pub fn video_sender_count(&self) -> u32 {
        self.video_senders
            .unwrap_or(self.participants_per_conference)
    }
    /// Audio senders per conference after defaults.
    pub fn audio_sender_count(&self) -> u32 {
        self.audio_senders
            .unwrap_or(self.participants_per_conference)
    }
    /// Participants of the whole run (conferences × participants per conference), without overflow.
    pub fn participants_total(&self) -> u64 {
        u64::from(self.conferences) * u64::from(self.participants_per_conference)
    }
}

/// `[media]`: what senders' fake camera and microphone play.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Media {
    /// A video preset (`tiny`, `small`, `vga`, `hd`), `chrome` (Chrome's built-in pattern) or a `.y4m` path.
    #[serde(default = "default_video")]
    pub video: String,
    /// An audio preset (`tone`, `speech`), `chrome` (Chrome's built-in beep) or a `.wav` path.
    #[serde(default = "default_audio")]
    pub audio: String,
    /// Whether participants receive (subscribe to and decode) remote audio.
    #[serde(default = "yes")]
    pub receive_audio: bool,
    /// What participants do with received video: decode it, or discard it before the decoder.
    #[serde(default)]
    pub receive_video: ReceiveVideo,
    /// Measure what people see (docs/quality.md): frame codes read on every received video stream
    /// into `video_quality.csv`. Default: on for generated presets (the only cameras with codes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure_quality: Option<bool>,
}

impl Media {
    /// Whether the run measures what people see: never when received video is discarded (no
    /// picture to read), else `measure_quality`, else whether `video` is a generated preset.
    pub fn measures_quality(&self) -> bool {
        self.receive_video.decodes()
            && self.measure_quality.unwrap_or_else(|| {
                crate::media::VIDEO_PRESETS
                    .iter()
                    .any(|p| p.name == self.video)
            })
    }
}

/// `[media] receive_video`: the receive fidelity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ReceiveVideo {
    /// Received video is decoded, as a real participant does.
    #[default]
    Decode,
    /// Received video frames are dropped before the decoder (an encoded-frame transform, like Jitsi's
    /// `runInLiteMode`): the server still forwards and the network still carries every stream, but
    /// decoded frame rate and picture figures are not measured.
    Discard,
}

impl ReceiveVideo {
    /// The TOML value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiveVideo::Decode => "decode",
            ReceiveVideo::Discard => "discard",
        }
    }
    /// True when received video is decoded (decoded fps and resolution are measured).
    pub fn decodes(self) -> bool {
        self == ReceiveVideo::Decode
    }
}

fn default_video() -> String {
    "small".to_string()
}
fn default_audio() -> String {
    "speech".to_string()
}

impl Default for Media {
    fn default() -> Self {
        Media {
            video: default_video(),
            audio: default_audio(),
            receive_audio: true,
            measure_quality: None,
            receive_video: ReceiveVideo::Decode,
        }
    }
}

/// `[stats]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    /// Client stats sampling interval (one script call per participant per interval).
    #[serde(default = "default_stats_interval")]
    pub interval: Dur,
}

fn default_stats_interval() -> Dur {
    Dur::from_secs(5)
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            interval: default_stats_interval(),
        }
    }
}

/// `[timeouts]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Creating the WebDriver session (a grid may queue it).
    #[serde(default = "secs::<60>")]
    pub session: Dur,
    /// Loading the page until `document.readyState == 'complete'`.
    #[serde(default = "secs::<30>")]
    pub page: Dur,
    /// From page ready until the participant is in the room with ICE connected.
    #[serde(default = "secs::<30>")]
    pub join: Dur,
    /// From joined until media flows (own media sent; remote media received once a remote sender is in).
    #[serde(default = "secs::<30>")]
    pub media: Dur,
    /// An in-call participant unhealthy this long is failed.
    #[serde(default = "secs::<20>")]
    pub unhealthy: Dur,
    /// Bound on the orderly hang-up of one participant, and on the run's whole teardown.
    #[serde(default = "secs::<20>")]
    pub hangup: Dur,
}

fn secs<const N: u64>() -> Dur {
    Dur::from_secs(N)
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            session: secs::<60>(),
            page: secs::<30>(),
            join: secs::<30>(),
            media: secs::<30>(),
            unhealthy: secs::<20>(),
            hangup: secs::<20>(),
        }
    }
}
