//! Reading a results directory back, typed: `run.json` (format version checked), the resolved
//! scenario, and every CSV streamed row by row in constant memory.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::{FORMAT_VERSION, OLDEST_READ_VERSION, RunInfo};
use crate::scenario::Scenario;

/// Why a results directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// `run.json` is missing or unreadable: this is not a results directory.
    #[error("{path}: {detail} (is this a results directory written by `loadtest run`?)")]
    NotResults {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// Written by a format this version cannot read.
    #[error(
        "{path}: results format {found}, but this loadtest reads formats {OLDEST_READ_VERSION} to {FORMAT_VERSION} (use the loadtest version that wrote it)"
    )]
    Version {
        /// `run.json`.
        path: String,
        /// The directory's format version.
        found: u32,
    },
    /// `scenario.toml` is missing or unreadable.
    #[error("{path}: {detail}")]
    Scenario {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// A CSV row could not be read.
    #[error("{path}: {detail}")]
    Csv {
        /// The file.
        path: String,
        /// csv's message, with the line.
        detail: String,
    },
}

/// Read `run.json`, checking the format version.
pub fn read_run(dir: &Path) -> Result<RunInfo, ReadError> {
    let path = dir.join("run.json");
    let not_results = |detail: String| ReadError::NotResults {
        path: path.display().to_string(),
        detail,
    };
    let bytes = std::fs::read(&path).map_err(|e| not_results(e.to_string()))?;
    #[derive(serde::Deserialize)]
    struct Version {
        format_version: u32,
    }
    let v: Version = serde_json::from_slice(&bytes).map_err(|e| not_results(e.to_string()))?;
    if !(OLDEST_READ_VERSION..=FORMAT_VERSION).contains(&v.format_version) {
        return Err(ReadError::Version {
            path: path.display().to_string(),
            found: v.format_version,
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| not_results(e.to_string()))
}

/// Read the resolved scenario a run wrote (`scenario.toml`), old key names included.
pub fn read_scenario(dir: &Path) -> Result<Scenario, ReadError> {
    let path = dir.join("scenario.toml");
    let err = |detail: String| ReadError::Scenario {
        path: path.display().to_string(),
        detail,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
    Scenario::from_results(&text).map_err(err)
}

/// Stream the rows of `dir/file` into `f`, in constant memory. A missing file is a run that never got
/// that far: no rows. A run killed mid-write may leave a torn last line (too few fields, or a cut
/// value), which is skipped; an unreadable row is an error only when another row follows it.
pub fn rows<T: DeserializeOwned>(
    dir: &Path,
    file: &str,
    mut f: impl FnMut(T),
) -> Result<(), ReadError> {
    let path = dir.join(file);
    let err = |e: csv::Error| ReadError::Csv {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let Ok(mut r) = csv::Reader::from_path(&path) else {
        return Ok(());
    };
    let header = r.headers().map_err(err)?.clone();
    let mut record = csv::StringRecord::new();
    let mut unreadable: Option<csv::Error> = None;
    loop {
        let row = match r.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => record.deserialize::<T>(Some(&header)),
            Err(e) if matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) => Err(e),
            Err(e) => return Err(err(e)),
        };
        if let Some(e) = unreadable.take() {
            return Err(err(e));
        }
        match row {
            Ok(v) => f(v),
            Err(e) => unreadable = Some(e),
        }
    }
}

/// Read a whole CSV of rows (tests and small files; readers of a run stream with [`rows`]).
pub fn read_csv<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, csv::Error> {
    csv::Reader::from_path(path)?.deserialize().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{EventRow, ParticipantRow};

    #[test]
    fn torn_last_rows_are_skipped_and_broken_middle_rows_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let header = "ts,participant,event,detail\n";
        std::fs::write(
            dir.path().join("events.csv"),
            format!("{header}2026-01-01T00:00:00.000Z,c0p0,joined,\n2026-01-01T00:00:01"),
        )
        .unwrap();
        let mut n = 0;
        rows(dir.path(), "events.csv", |_: EventRow| n += 1).unwrap();
        assert_eq!(n, 1, "the torn last line is skipped");
        std::fs::write(
            dir.path().join("participants.csv"),
            "participant,conference\nnot-an-id,0\nc0p1,0\n",
        )
        .unwrap();
        let e = rows(dir.path(), "participants.csv", |_: ParticipantRow| {}).unwrap_err();
        assert!(e.to_string().contains("participants.csv"), "{e}");
        rows(dir.path(), "missing.csv", |_: EventRow| unreachable!()).unwrap();
    }

    #[test]
    fn run_json_versions_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_run(dir.path()).unwrap_err();
        assert!(matches!(e, ReadError::NotResults { .. }));
        std::fs::write(dir.path().join("run.json"), r#"{"format_version": 99}"#).unwrap();
        let e = read_run(dir.path()).unwrap_err();
        assert!(e.to_string().contains("results format 99"), "{e}");
    }
}
