//! The results-directory writer: one task appends and flushes every CSV row as it comes.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::quality::{VIDEO_QUALITY_CSV, VideoQualityRow};
use super::steps::{STEP_BRIDGES_CSV, STEPS_CSV, StepBridgeRow, StepRow};
use super::{ClientStatRow, Event, EventRow, ParticipantRow, RunInfo, ServerMetricRow, now};

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

    /// Write a file of the directory atomically.
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        crate::util::fs::write_atomic(&self.path.join(name), bytes)
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
        let dir = self.path.clone();
        // Written by growing runs only: created with their first row.
        let mut steps: Option<(csv::Writer<File>, csv::Writer<File>)> = None;
        // Written by runs that measure quality only: created with its first row.
        let mut quality: Option<csv::Writer<File>> = None;
        let handle = tokio::task::spawn_blocking(move || {
            while let Some(rec) = rx.blocking_recv() {
                match rec {
                    Record::Step(row, bridges) => {
                        if steps.is_none() {
                            steps = Some((
                                csv_writer::<StepRow>(&dir.join(STEPS_CSV))?,
                                csv_writer::<StepBridgeRow>(&dir.join(STEP_BRIDGES_CSV))?,
                            ));
                        }
                        if let Some((s, b)) = steps.as_mut() {
                            write_row(s, &row)?;
                            for r in &bridges {
                                b.serialize(r).map_err(io::Error::other)?;
                            }
                            b.flush()?;
                        }
                    }
                    Record::Quality(rows) => {
                        let w = match quality.as_mut() {
                            Some(w) => w,
                            None => quality.insert(csv_writer::<VideoQualityRow>(
                                &dir.join(VIDEO_QUALITY_CSV),
                            )?),
                        };
                        for r in &rows {
                            w.serialize(r).map_err(io::Error::other)?;
                        }
                        w.flush()?;
                    }
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
    Step(StepRow, Vec<StepBridgeRow>),
    Participant(ParticipantRow),
    Event(EventRow),
    Stats(Vec<ClientStatRow>),
    Metrics(Vec<ServerMetricRow>),
    Quality(Vec<VideoQualityRow>),
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
    /// Append an event, timestamped now. `who` is a participant id or [`super::names::RUN`] /
    /// [`super::names::METRICS`]. Secrets in the detail are masked ([`crate::redact::text`]).
    pub async fn event(
        &self,
        who: impl std::fmt::Display,
        event: Event,
        detail: impl Into<String>,
    ) {
        let row = EventRow {
            ts: now(),
            participant: who.to_string(),
            event,
            detail: crate::redact::text(&detail.into()),
        };
        let _ = self.tx.send(Record::Event(row)).await;
    }

    /// Append a participant's final row (secrets in its reason masked).
    pub async fn participant(&self, mut row: ParticipantRow) {
        row.reason = crate::redact::text(&row.reason);
        let _ = self.tx.send(Record::Participant(row)).await;
    }

    /// Append one sample's stream rows.
    pub async fn stats(&self, rows: Vec<ClientStatRow>) {
        if !rows.is_empty() {
            let _ = self.tx.send(Record::Stats(rows)).await;
        }
    }

    /// Append one quality take's rows (`video_quality.csv`).
    pub async fn quality(&self, rows: Vec<VideoQualityRow>) {
        if !rows.is_empty() {
            let _ = self.tx.send(Record::Quality(rows)).await;
        }
    }

    /// Append one evaluated window of a growing run, with its bridges.
    pub async fn step(&self, row: StepRow, bridges: Vec<StepBridgeRow>) {
        let _ = self.tx.send(Record::Step(row, bridges)).await;
    }

    /// Append server or generator metric rows.
    pub async fn metrics(&self, rows: Vec<ServerMetricRow>) {
        if !rows.is_empty() {
            let _ = self.tx.send(Record::Metrics(rows)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rows_are_flushed_as_they_come() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ResultsDir::create(&tmp.path().join("r")).unwrap();
        let (rec, handle) = dir.spawn_writer().unwrap();
        rec.event("c0p0", Event::Joined, "x").await;
        rec.stats(vec![ClientStatRow {
            participant: "c0p0".parse().unwrap(),
            fps: Some(15.0),
            ..Default::default()
        }])
        .await;
        // Readable before the writer ends.
        for _ in 0..100 {
            if super::super::read::read_csv::<EventRow>(&dir.path().join("events.csv"))
                .unwrap()
                .len()
                == 1
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let ev: Vec<EventRow> =
            super::super::read::read_csv(&dir.path().join("events.csv")).unwrap();
        assert_eq!(ev[0].event, Event::Joined);
        drop(rec);
        handle.await.unwrap().unwrap();
        let st: Vec<ClientStatRow> =
            super::super::read::read_csv(&dir.path().join("client_stats.csv")).unwrap();
        assert_eq!(st[0].fps, Some(15.0));
        assert_eq!(header_of::<ParticipantRow>().unwrap()[0], "participant");
        assert!(
            ResultsDir::create(dir.path()).is_err(),
            "never overwrite a run"
        );
    }
}
