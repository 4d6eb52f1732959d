//! The names shared by the writers and the readers of a results directory: metric names, metric
//! sources and timeline events. Writers and readers both use these, so a rename is one edit.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Metric names in `server_metrics.csv`; the suffix names the unit.
pub mod metric {
    /// CPU of one JVB pod, cores (Prometheus built-in).
    pub const JVB_CPU_CORES: &str = "jvb_cpu_cores";
    /// CPU of one JVB pod as a share of its limit (Prometheus built-in).
    pub const JVB_CPU_LIMIT_RATIO: &str = "jvb_cpu_limit_ratio";
    /// Working-set memory of one JVB pod (Prometheus built-in).
    pub const JVB_MEMORY_WORKING_SET_BYTES: &str = "jvb_memory_working_set_bytes";
    /// Transmit rate of one JVB pod (Prometheus built-in).
    pub const JVB_NETWORK_TRANSMIT_BYTES_PER_SECOND: &str = "jvb_network_transmit_bytes_per_second";
    /// Receive rate of one JVB pod (Prometheus built-in).
    pub const JVB_NETWORK_RECEIVE_BYTES_PER_SECOND: &str = "jvb_network_receive_bytes_per_second";
    /// Share of CFS periods a JVB pod was throttled (Prometheus built-in).
    pub const JVB_CPU_THROTTLED_RATIO: &str = "jvb_cpu_throttled_ratio";
    /// JVB pods with samples (Prometheus built-in).
    pub const JVB_REPLICAS: &str = "jvb_replicas";
    /// CPU use of a load generator, share of all its cores (/proc of this machine or node_exporter).
    pub const GENERATOR_CPU_RATIO: &str = "generator_cpu_ratio";
    /// Cores of a load generator.
    pub const GENERATOR_CORES: &str = "generator_cores";
    /// Available memory of a load generator.
    pub const GENERATOR_MEMORY_AVAILABLE_BYTES: &str = "generator_memory_available_bytes";
    /// Transmit rate of a load generator.
    pub const GENERATOR_NETWORK_TRANSMIT_BYTES_PER_SECOND: &str =
        "generator_network_transmit_bytes_per_second";
    /// Receive rate of a load generator.
    pub const GENERATOR_NETWORK_RECEIVE_BYTES_PER_SECOND: &str =
        "generator_network_receive_bytes_per_second";
    /// CPU of a media-server process on this machine, cores.
    pub const PROCESS_CPU_CORES: &str = "process_cpu_cores";
    /// Resident memory of a media-server process on this machine.
    pub const PROCESS_RESIDENT_BYTES: &str = "process_resident_bytes";
    /// Processes matching a `[[metrics.process]]` command.
    pub const PROCESS_COUNT: &str = "process_count";
    /// Janus sessions (admin API).
    pub const JANUS_SESSIONS: &str = "janus_sessions";
    /// Janus handles (admin API).
    pub const JANUS_HANDLES: &str = "janus_handles";
    /// Participants per Janus VideoRoom (admin API).
    pub const JANUS_ROOM_PARTICIPANTS: &str = "janus_room_participants";
    /// Bytes a Janus handle sent, cumulative (admin API).
    pub const JANUS_HANDLE_SENT_BYTES: &str = "janus_handle_sent_bytes";
    /// Bytes a Janus handle received, cumulative (admin API).
    pub const JANUS_HANDLE_RECEIVED_BYTES: &str = "janus_handle_received_bytes";
    /// 1 when a metrics source answered a sample, 0 for a gap.
    pub const LOADTEST_SOURCE_UP: &str = "loadtest_source_up";

    /// The prefix a load generator's metrics share, and the prefix of this machine's when it only
    /// controls browsers elsewhere (a grid).
    pub const GENERATOR_PREFIX: &str = "generator_";
    /// See [`GENERATOR_PREFIX`].
    pub const CONTROLLER_PREFIX: &str = "controller_";
}

/// The `source` column of `server_metrics.csv`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceName {
    /// This machine's `/proc` while it runs the browsers (the local driver): a load generator.
    Generator(String),
    /// This machine's `/proc` while the browsers run on a grid: the controller, not a generator.
    Controller(String),
    /// A media-server process on this machine (`[[metrics.process]]` name).
    Process(String),
    /// A bridge polled directly (`[[metrics.jvb]]` name).
    Jvb(String),
    /// A Prometheus instant query, sampled live.
    Prometheus,
    /// A Prometheus range query, filled in after the run.
    PrometheusRange,
    /// The Janus admin API.
    Janus,
    /// The tool itself (`loadtest_source_up`).
    #[default]
    Loadtest,
    /// A name this version does not know.
    Other(String),
}

impl fmt::Display for SourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceName::Generator(h) => write!(f, "generator:{h}"),
            SourceName::Controller(h) => write!(f, "controller:{h}"),
            SourceName::Process(n) => write!(f, "process:{n}"),
            SourceName::Jvb(n) => write!(f, "jvb:{n}"),
            SourceName::Prometheus => f.write_str("prometheus"),
            SourceName::PrometheusRange => f.write_str("prometheus-range"),
            SourceName::Janus => f.write_str("janus"),
            SourceName::Loadtest => f.write_str("loadtest"),
            SourceName::Other(s) => f.write_str(s),
        }
    }
}

impl FromStr for SourceName {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let named = |prefix: &str| s.strip_prefix(prefix).map(str::to_string);
        Ok(match s {
            "prometheus" => SourceName::Prometheus,
            "prometheus-range" => SourceName::PrometheusRange,
            "janus" => SourceName::Janus,
            "loadtest" => SourceName::Loadtest,
            _ => named("generator:")
                .map(SourceName::Generator)
                .or_else(|| named("controller:").map(SourceName::Controller))
                .or_else(|| named("process:").map(SourceName::Process))
                .or_else(|| named("jvb:").map(SourceName::Jvb))
                .unwrap_or_else(|| SourceName::Other(s.to_string())),
        })
    }
}

impl Serialize for SourceName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SourceName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(SourceName::parse(&String::deserialize(d)?))
    }
}

impl SourceName {
    /// Parse a `source` cell.
    pub fn parse(s: &str) -> SourceName {
        match s.parse() {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }
}

/// A timeline event in `events.csv`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The participant is in the schedule (run start).
    Scheduled,
    /// Its join time came: creating the browser session.
    Launching,
    /// The browser session exists (detail: node and session id).
    Session,
    /// Opening the room URL (detail: the redacted URL).
    Navigate,
    /// The page load answered late; the page state decides.
    PageSlow,
    /// The page loaded.
    Page,
    /// In the room.
    Joined,
    /// The page reloaded or navigated (the probe was injected again; detail: the page path).
    Reload,
    /// ICE connected with the media server (detail: members in the room).
    Ice,
    /// Own media sent and, once a remote sender is in, remote media received.
    Media,
    /// The speaker model unmuted this participant (detail: how the page applied it).
    Talk,
    /// The speaker model muted it.
    Silent,
    /// Received video was decoded although `receive_video = "discard"` (detail: the decoded fps): the
    /// discard transform did not take, so the generator paid for decoding after all.
    Decoding,
    /// One stats sample failed.
    SampleFailed,
    /// In-call health check failed (detail: why).
    Unhealthy,
    /// Healthy again.
    Recovered,
    /// Ctrl-C or SIGTERM reached the participant or the run.
    Interrupted,
    /// The participant failed (detail: the reason).
    Failed,
    /// It left the room and blanked its page.
    Left,
    /// Its browser session was closed.
    Closed,
    /// Closing its session failed.
    CloseFailed,
    /// The run deleted a session left open.
    ForceClosed,
    /// The run started.
    Started,
    /// The run's infrastructure failed before anyone joined.
    Error,
    /// Participants still hanging up when the teardown bound passed were aborted.
    TeardownTimeout,
    /// A participant task panicked.
    TaskFailed,
    /// The run ended (detail: outcome and reason).
    Ended,
    /// A step of a growing run started, or shrank the load (detail: the load).
    Step,
    /// A limit search ended (detail: its verdict).
    LimitEnded,
    /// A metrics source missed a sample.
    MetricsGap,
    /// A metrics source answered in part.
    MetricsWarning,
    /// A browser's clock offset to this machine's (detail: `offset_ms=… bound_ms=…`), measured once
    /// its page loaded and every few minutes when the run measures quality.
    Clock,
    /// Measuring what people see failed for this participant (recorded once; the call goes on).
    QualityWarning,
    /// A disruption began (`participant` is `disruption:<index>`; detail: what was done).
    DisruptionStarted,
    /// A disruption ended (detail: what was undone, a hook's exit code).
    DisruptionEnded,
    /// A disruption could not be applied, or its hook failed (detail: why).
    DisruptionFailed,
    /// A disruption ended this participant's browser (detail: `disruption:<index>` and how).
    BrowserKilled,
    /// A cohort's network profile changed (`participant` is `cohort:<name>`; detail: the profile).
    ProfileChanged,
    /// An event this version does not know.
    #[default]
    #[serde(other)]
    Other,
}

impl Event {
    /// The name written in `events.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Scheduled => "scheduled",
            Event::Launching => "launching",
            Event::Session => "session",
            Event::Navigate => "navigate",
            Event::PageSlow => "page_slow",
            Event::Page => "page",
            Event::Joined => "joined",
            Event::Reload => "reload",
            Event::Ice => "ice",
            Event::Media => "media",
            Event::Talk => "talk",
            Event::Silent => "silent",
            Event::Decoding => "decoding",
            Event::SampleFailed => "sample_failed",
            Event::Unhealthy => "unhealthy",
            Event::Recovered => "recovered",
            Event::Interrupted => "interrupted",
            Event::Failed => "failed",
            Event::Left => "left",
            Event::Closed => "closed",
            Event::CloseFailed => "close_failed",
            Event::ForceClosed => "force_closed",
            Event::Started => "started",
            Event::Error => "error",
            Event::TeardownTimeout => "teardown_timeout",
            Event::TaskFailed => "task_failed",
            Event::Ended => "ended",
            Event::Step => "step",
            Event::LimitEnded => "limit_ended",
            Event::MetricsGap => "metrics_gap",
            Event::MetricsWarning => "metrics_warning",
            Event::Clock => "clock",
            Event::QualityWarning => "quality_warning",
            Event::DisruptionStarted => "disruption_started",
            Event::DisruptionEnded => "disruption_ended",
            Event::DisruptionFailed => "disruption_failed",
            Event::BrowserKilled => "browser_killed",
            Event::ProfileChanged => "profile_changed",
            Event::Other => "other",
        }
    }

    /// The participant's call ended here (it stops counting as in the call).
    pub fn ends_call(self) -> bool {
        matches!(
            self,
            Event::Left | Event::Failed | Event::Interrupted | Event::Closed | Event::ForceClosed
        )
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `participant` column of run-level events.
pub const RUN: &str = "run";
/// The `participant` column of metrics events.
pub const METRICS: &str = "metrics";

/// The `participant` column of a disruption's events: `disruption:<index in [[disruption]]>`.
pub fn disruption_key(index: usize) -> String {
    format!("disruption:{index}")
}

/// The disruption index of a `participant` cell written by [`disruption_key`].
pub fn disruption_index(participant: &str) -> Option<usize> {
    participant.strip_prefix("disruption:")?.parse().ok()
}

/// The `participant` column of a cohort's events: `cohort:<name>`.
pub fn cohort_key(name: &str) -> String {
    format!("cohort:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_round_trip() {
        for s in [
            SourceName::Generator("h".into()),
            SourceName::Controller("h".into()),
            SourceName::Process("janus".into()),
            SourceName::Jvb("jvb-0".into()),
            SourceName::Prometheus,
            SourceName::PrometheusRange,
            SourceName::Janus,
            SourceName::Loadtest,
        ] {
            assert_eq!(SourceName::parse(&s.to_string()), s);
        }
        assert_eq!(
            SourceName::parse("future:x"),
            SourceName::Other("future:x".into())
        );
    }

    #[test]
    fn events_serialise_as_their_names() {
        #[derive(Serialize, Deserialize)]
        struct Row {
            event: Event,
        }
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(Row {
            event: Event::PageSlow,
        })
        .unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(text, "event\npage_slow\n");
        let back: Row = csv::Reader::from_reader("event\nsome_future_event\n".as_bytes())
            .deserialize()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(back.event, Event::Other);
        assert_eq!(Event::PageSlow.as_str(), "page_slow");
        assert_eq!(disruption_index(&disruption_key(3)), Some(3));
        assert_eq!(disruption_index("run"), None);
    }
}
