//! The results directory: the contract between `run`, `report` and `plan`.
//!
//! Every CSV is appended and flushed row by row by one writer task, so a crash or Ctrl-C loses at most
//! the row in flight. `run.json` is rewritten atomically at the start and at the end. The format is
//! documented in `docs/results-format.md`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Version of the results format, recorded in `run.json`.
pub const FORMAT_VERSION: u32 = 1;

/// `participants.csv`: one row per participant, written when its outcome is final.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ParticipantRow {
    /// Participant id (`c0p1`).
    pub participant: String,
    /// Conference index.
    pub conference: u32,
    /// Room name.
    pub room: String,
    /// `audio+video`, `video`, `audio` or `receiver`.
    pub role: String,
    /// Where the browser ran: `local` or the grid node URI.
    pub node: String,
    /// Creating the WebDriver session.
    pub session_ms: Option<u64>,
    /// Navigation until the page was loaded.
    pub page_ms: Option<u64>,
    /// Navigation until in the room with ICE connected.
    pub join_ms: Option<u64>,
    /// Joined until media flowed.
    pub media_ms: Option<u64>,
    /// `ok` or `failed`.
    pub outcome: String,
    /// Why it failed (empty when ok).
    pub reason: String,
    /// The media server address its media went through (selected ICE candidate pair).
    pub remote_address: String,
    /// The bridge that address belongs to (a `[[metrics.jvb]]` name), else the address's IP.
    pub bridge: String,
}

/// `client_stats.csv`: one row per participant, RTP stream and sample.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClientStatRow {
    /// Sample time (RFC 3339, UTC, milliseconds).
    pub ts: String,
    /// Participant id.
    pub participant: String,
    /// Remote participant of a received stream (empty for sent streams).
    pub peer: String,
    /// `send` or `recv`.
    pub direction: String,
    /// `audio` or `video`.
    pub kind: String,
    /// Bitrate over the last interval, kbit/s.
    pub bitrate_kbps: Option<f64>,
    /// Frames per second over the last interval (from stats timestamps).
    pub fps: Option<f64>,
    /// Frame width.
    pub width: Option<u32>,
    /// Frame height.
    pub height: Option<u32>,
    /// Packets lost, cumulative.
    pub packets_lost: Option<i64>,
    /// Packet loss over the last interval, 0..1.
    pub loss_ratio: Option<f64>,
    /// Jitter, ms.
    pub jitter_ms: Option<f64>,
    /// Round-trip time, ms.
    pub rtt_ms: Option<f64>,
    /// Video freezes, cumulative.
    pub freeze_count: Option<u64>,
    /// Total freeze time, ms, cumulative.
    pub freeze_ms: Option<f64>,
    /// Received audio: share of the interval's played-out samples that were concealed (0..1).
    #[serde(default)]
    pub concealed_ratio: Option<f64>,
    /// Sender's quality-limitation reason (`none`, `cpu`, `bandwidth`, `other`).
    pub quality_limitation: String,
    /// Remote address of the selected candidate pair (the media server).
    pub remote_address: String,
}

/// `server_metrics.csv`: one row per metric sample from every source, long format.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ServerMetricRow {
    /// Sample time (the source's own timestamp when it has one, e.g. Prometheus).
    pub ts: String,
    /// `generator:<host>`, `prometheus`, `prometheus-range`, `jvb:<name>`, `janus`.
    pub source: String,
    /// Metric name; the suffix names the unit (`_cores`, `_ratio`, `_bytes`, `_bytes_per_second`).
    pub metric: String,
    /// `key=value` pairs joined by `;`, sorted by key.
    pub labels: String,
    /// The value.
    pub value: f64,
}

/// `events.csv`: the timeline of every state change and failure.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EventRow {
    /// When (RFC 3339, UTC, milliseconds).
    pub ts: String,
    /// Participant id, or `run` for run-level events.
    pub participant: String,
    /// Event name (`scheduled`, `session`, `page`, `joined`, `media`, `unhealthy`, `left`, `closed`, `failed`, ...).
    pub event: String,
    /// Details (never secrets).
    pub detail: String,
}

/// `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
    /// Results format version.
    pub format_version: u32,
    /// `loadtest` version that wrote it.
    pub tool_version: String,
    /// Scenario name.
    pub scenario: String,
    /// Target kind.
    pub target_kind: String,
    /// Target URL (credentials redacted).
    pub target: String,
    /// WebDriver endpoint (credentials redacted).
    pub webdriver: String,
    /// What produced the numbers: page, media, receive audio.
    pub fidelity: Fidelity,
    /// Start time.
    pub started_at: String,
    /// End time; absent while running or when the run was killed.
    pub ended_at: Option<String>,
    /// `running`, `passed`, `failed`, `interrupted` or `error`.
    pub outcome: String,
    /// Why it ended that way.
    pub exit_reason: String,
    /// Participants planned.
    pub planned: usize,
    /// Participants that ended ok.
    pub ok: usize,
    /// Participants that failed.
    pub failed: usize,
    /// False when the load generators, not the server, were the bottleneck (see `invalid_reasons`).
    #[serde(default = "default_true")]
    pub valid: bool,
    /// Why the run is invalid.
    #[serde(default)]
    pub invalid_reasons: Vec<String>,
    /// Metric sources that left gaps, with their first error.
    #[serde(default)]
    pub metric_gaps: Vec<String>,
}

fn default_true() -> bool {
    true
}

/// The settings that decide what a number means (stated in the report next to each number).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fidelity {
    /// `janus`, `jitsi app` or `jitsi load-test`.
    pub page: String,
    /// Video senders' camera.
    pub video: String,
    /// Audio senders' microphone.
    pub audio: String,
    /// Whether participants receive audio.
    pub receive_audio: bool,
}

/// Current time as written in results.
pub fn now() -> String {
    ts(Utc::now())
}

/// A time as written in results.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A results directory being written.
#[derive(Debug, Clone)]
pub struct ResultsDir {
    path: PathBuf,
}

impl ResultsDir {
    /// Create it; it must not exist yet or be empty (runs never overwrite each other).
    pub fn create(path: &Path) -> io::Result<ResultsDir> {
        if path.exists() && fs::read_dir(path)?.next().is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists and is not empty", path.display()),
            ));
        }
        fs::create_dir_all(path.join("artifacts"))?;
        Ok(ResultsDir {
            path: path.to_path_buf(),
        })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where failure artifacts (screenshots, console logs) go.
    pub fn artifacts(&self) -> PathBuf {
        self.path.join("artifacts")
    }

    /// Write a file atomically (temp + rename).
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.path.join(format!(".{name}.tmp"));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        fs::rename(tmp, self.path.join(name))
    }

    /// Write `run.json`.
    pub fn write_run(&self, info: &RunInfo) -> io::Result<()> {
        let text = serde_json::to_vec_pretty(info).map_err(io::Error::other)?;
        self.write_atomic("run.json", &text)
    }

    /// Start the writer task for the three CSVs; it ends when every [`Recorder`] is dropped.
    pub fn spawn_writer(&self) -> io::Result<(Recorder, JoinHandle<io::Result<()>>)> {
        let mut participants = csv_writer::<ParticipantRow>(&self.path.join("participants.csv"))?;
        let mut events = csv_writer::<EventRow>(&self.path.join("events.csv"))?;
        let mut stats = csv_writer::<ClientStatRow>(&self.path.join("client_stats.csv"))?;
        let mut metrics = csv_writer::<ServerMetricRow>(&self.path.join("server_metrics.csv"))?;
        let (tx, mut rx) = mpsc::channel::<Record>(4096);
        let handle = tokio::task::spawn_blocking(move || {
            while let Some(rec) = rx.blocking_recv() {
                match rec {
                    Record::Participant(r) => write_row(&mut participants, &r)?,
                    Record::Event(r) => write_row(&mut events, &r)?,
                    Record::Stats(rows) => {
                        for r in &rows {
                            stats.serialize(r).map_err(io::Error::other)?;
                        }
                        stats.flush()?;
                    }
                    Record::Metrics(rows) => {
                        for r in &rows {
                            metrics.serialize(r).map_err(io::Error::other)?;
                        }
                        metrics.flush()?;
                    }
                }
            }
            Ok(())
        });
        Ok((Recorder { tx }, handle))
    }
}

fn csv_writer<T: Serialize + Default>(path: &Path) -> io::Result<csv::Writer<File>> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(file);
    // Header from the field names, written once.
    let header = header_of::<T>()?;
    w.write_record(&header).map_err(io::Error::other)?;
    w.flush()?;
    Ok(w)
}

/// The CSV header of a row type (its serde field names).
pub fn header_of<T: Serialize + Default>() -> io::Result<Vec<String>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.serialize(T::default()).map_err(io::Error::other)?;
    let bytes = w
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))?;
    let text = String::from_utf8_lossy(&bytes);
    let first = text.lines().next().unwrap_or_default();
    Ok(first.split(',').map(str::to_string).collect())
}

fn write_row<T: Serialize>(w: &mut csv::Writer<File>, row: &T) -> io::Result<()> {
    w.serialize(row).map_err(io::Error::other)?;
    w.flush()
}

enum Record {
    Participant(ParticipantRow),
    Event(EventRow),
    Stats(Vec<ClientStatRow>),
    Metrics(Vec<ServerMetricRow>),
}

/// A handle for appending rows; cheap to clone, one per participant task.
#[derive(Debug, Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Record>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Record")
    }
}

impl Recorder {
    /// Append an event, timestamped now.
    pub async fn event(&self, participant: &str, event: &str, detail: impl Into<String>) {
        let row = EventRow {
            ts: now(),
            participant: participant.to_string(),
            event: event.to_string(),
            detail: detail.into(),
        };
        let _ = self.tx.send(Record::Event(row)).await;
    }

    /// Append a participant's final row.
    pub async fn participant(&self, row: ParticipantRow) {
        let _ = self.tx.send(Record::Participant(row)).await;
    }

    /// Append one sample's stream rows.
    pub async fn stats(&self, rows: Vec<ClientStatRow>) {
        if !rows.is_empty() {
            let _ = self.tx.send(Record::Stats(rows)).await;
        }
    }
}

impl Recorder {
    /// Append server or generator metric rows.
    pub async fn metrics(&self, rows: Vec<ServerMetricRow>) {
        if !rows.is_empty() {
            let _ = self.tx.send(Record::Metrics(rows)).await;
        }
    }
}

/// Stream a CSV row by row, calling `f` for each (files of any size, constant memory).
pub fn for_each_row<T: for<'de> Deserialize<'de>>(
    path: &Path,
    mut f: impl FnMut(T),
) -> Result<(), csv::Error> {
    let mut r = csv::Reader::from_path(path)?;
    for row in r.deserialize() {
        f(row?);
    }
    Ok(())
}

/// Read a whole CSV of rows (for tests and small files; `report` streams instead).
pub fn read_csv<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, csv::Error> {
    csv::Reader::from_path(path)?.deserialize().collect()
}

/// Read `run.json`.
pub fn read_run(dir: &Path) -> io::Result<RunInfo> {
    let bytes = fs::read(dir.join("run.json"))?;
    serde_json::from_slice(&bytes).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rows_are_flushed_as_they_come() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ResultsDir::create(&tmp.path().join("r")).unwrap();
        let (rec, handle) = dir.spawn_writer().unwrap();
        rec.event("c0p0", "joined", "x").await;
        rec.stats(vec![ClientStatRow {
            participant: "c0p0".into(),
            fps: Some(15.0),
            ..Default::default()
        }])
        .await;
        // Readable before the writer ends.
        for _ in 0..100 {
            if read_csv::<EventRow>(&dir.path().join("events.csv"))
                .unwrap()
                .len()
                == 1
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let ev: Vec<EventRow> = read_csv(&dir.path().join("events.csv")).unwrap();
        assert_eq!(ev[0].event, "joined");
        drop(rec);
        handle.await.unwrap().unwrap();
        let st: Vec<ClientStatRow> = read_csv(&dir.path().join("client_stats.csv")).unwrap();
        assert_eq!(st[0].fps, Some(15.0));
        assert_eq!(header_of::<ParticipantRow>().unwrap()[0], "participant");
        assert!(
            ResultsDir::create(dir.path()).is_err(),
            "never overwrite a run"
        );
    }
}
