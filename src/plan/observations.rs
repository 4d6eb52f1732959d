//! Observations: one measured bridge under a known load. Read from observation CSVs (the format of
//! `data/seed-loadtest-observations.csv`, documented in `data/README.md`) with errors that name the
//! file, line, column and what was expected.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::model::{Load, Point, Slice};

/// The shipped observations (the seed's measured runs), used when no other input is given.
pub const SEED_CSV: &str = include_str!("../../data/seed-loadtest-observations.csv");
/// The name the shipped observations are reported under.
pub const SEED_NAME: &str = "data/seed-loadtest-observations.csv";

/// A bridge CPU at or above this share of its limit, with throttling, counts as saturated.
pub const SATURATED_CPU_SHARE: f64 = 0.95;

/// One measured bridge under a known load: the busiest bridge of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    /// Row or run id.
    pub id: String,
    /// The file or results directory it came from.
    pub source: String,
    /// The load on the busiest bridge.
    pub load: Load,
    /// Conference size (largest conference on that bridge).
    pub participants_per_conference: u32,
    /// The bridge's CPU, cores.
    pub cpu_cores: f64,
    /// The bridge's CPU limit, cores.
    pub cpu_limit_cores: f64,
    /// The bridge's network transmit rate, bytes per second, when measured.
    pub egress_bytes_per_second: Option<f64>,
    /// CFS throttling of the bridge's container, 0..1, when measured.
    pub throttled_ratio: Option<f64>,
    /// Every participant stayed in the call.
    pub stable: bool,
    /// The value is a lower bound on demand: CPU at [`SATURATED_CPU_SHARE`] of the limit with
    /// throttling, or participants dropped.
    pub censored: bool,
    /// The load generators' cost, when measured.
    pub generator: Option<GeneratorSample>,
}

/// What the load generators spent on one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeneratorSample {
    /// What it was measured at; its video is the media preset (a name such as `small`, or the seed's
    /// `1280x720@60`).
    pub fidelity: crate::scenario::density::Fidelity,
    /// Participants generated.
    pub participants: f64,
    /// Generator cores busy for them (all servers together).
    pub cores: f64,
}

impl Observation {
    /// Whether a bridge at this CPU, throttling and stability counts as saturated.
    pub fn is_saturated(cpu: f64, limit: f64, throttled: Option<f64>, stable: bool) -> bool {
        !stable || (cpu >= SATURATED_CPU_SHARE * limit && throttled.unwrap_or(0.0) > 0.0)
    }

    /// The CPU model's point.
    pub fn cpu_point(&self) -> Point {
        Point {
            x: self.load.cpu_features(),
            y: self.cpu_cores,
            censored: self.censored,
        }
    }

    /// The egress model's point, when egress was measured.
    pub fn egress_point(&self) -> Option<Point> {
        self.egress_bytes_per_second.map(|y| Point {
            x: self.load.egress_features(),
            y,
            censored: self.censored,
        })
    }
}

/// A bad observations file.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{file}:{line}: {column}: expected {expected}{}", found.as_ref().map(|f| format!(", found {f:?}")).unwrap_or_default())]
pub struct ObservationError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: u64,
    /// The column name (or `header`, `row`).
    pub column: String,
    /// What was expected.
    pub expected: String,
    /// What was there.
    pub found: Option<String>,
}

/// The columns the planner reads.
const COLUMNS: [&str; 17] = [
    "run",
    "conferences",
    "participants_per_conference",
    "participants_total",
    "jvbs",
    "jvb_cpu_limit_cores",
    "channel_last_n",
    "video_senders",
    "audio_senders",
    "video",
    "generator_servers",
    "generator_cores_per_server",
    "generator_cpu_ratio",
    "jvb_max_cpu_cores",
    "jvb_max_tx_mbytes_per_s",
    "jvb_cpu_throttled_ratio",
    "stability",
];

/// Columns of the first format, still read: (name now, name then, factor from then to now).
/// Percentages became ratios (docs/glossary.md).
const RENAMED: [(&str, &str, f64); 4] = [
    ("video_senders", "video_senders_per_conference", 1.0),
    ("audio_senders", "audio_senders_per_conference", 1.0),
    ("generator_cpu_ratio", "generator_cpu_pct", 0.01),
    ("jvb_cpu_throttled_ratio", "cpu_throttling_pct", 0.01),
];

/// Bytes in the source's MB (Grafana's `Bps` unit is SI).
const MEGABYTE: f64 = 1e6;

/// Read an observations file.
pub fn read(path: &Path) -> Result<Vec<Observation>, ObservationError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ObservationError {
        file: name.clone(),
        line: 0,
        column: "file".into(),
        expected: format!("a readable CSV file ({e})"),
        found: None,
    })?;
    parse(&text, &name)
}

/// Parse observations CSV text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Vec<Observation>, ObservationError> {
    let err = |line: u64, column: &str, expected: String, found: Option<&str>| ObservationError {
        file: file.to_string(),
        line,
        column: column.to_string(),
        expected,
        found: found.map(str::to_string),
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| err(1, "header", format!("a CSV header ({e})"), None))?
        .clone();
    let mut index: HashMap<&str, usize> = header.iter().enumerate().map(|(i, h)| (h, i)).collect();
    let mut scale: HashMap<&str, f64> = HashMap::new();
    for (now, then, factor) in RENAMED {
        if !index.contains_key(now)
            && let Some(&i) = index.get(then)
        {
            index.insert(now, i);
            scale.insert(now, factor);
        }
    }
    for c in COLUMNS {
        if !index.contains_key(c) {
            return Err(err(1, c, "this column in the header".into(), None));
        }
    }
    // A value in the column's unit now (an old percentage column is read as a ratio).
    let factor = |c: &str| scale.get(c).copied().unwrap_or(1.0);
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            err(line, "row", format!("a CSV row ({e})"), None)
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != header.len() {
            return Err(err(
                line,
                "row",
                format!("{} fields like the header", header.len()),
                Some(&record.len().to_string()),
            ));
        }
        let cell = |c: &str| record.get(index[c]).unwrap_or("").trim();
        let num =
            |c: &str, what: &str, ok: &dyn Fn(f64) -> bool| -> Result<f64, ObservationError> {
                let s = cell(c);
                match s.parse::<f64>() {
                    Ok(v) if v.is_finite() && ok(v) => Ok(v),
                    _ => Err(err(line, c, what.into(), Some(s))),
                }
            };
        let count = |c: &str| -> Result<u32, ObservationError> {
            let s = cell(c);
            s.parse::<u32>()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| err(line, c, "a positive whole number".into(), Some(s)))
        };
        let conferences = count("conferences")?;
        let size = count("participants_per_conference")?;
        let total = count("participants_total")?;
        if total != conferences * size {
            return Err(err(
                line,
                "participants_total",
                format!(
                    "conferences × participants_per_conference = {}",
                    conferences * size
                ),
                Some(cell("participants_total")),
            ));
        }
        let jvbs = count("jvbs")?;
        let limit = num("jvb_cpu_limit_cores", "a positive number of cores", &|v| {
            v > 0.0
        })?;
        let last_n = match cell("channel_last_n").parse::<i64>() {
            Ok(-1) => None,
            Ok(n) if n >= 0 => Some(n as u32),
            _ => {
                return Err(err(
                    line,
                    "channel_last_n",
                    "-1 (unset) or a whole number ≥ 0".into(),
                    Some(cell("channel_last_n")),
                ));
            }
        };
        let senders = senders_in(&record, &index, "video_senders", size)
            .map_err(|(what, s)| err(line, "video_senders", what, Some(&s)))?;
        let audio_senders = senders_in(&record, &index, "audio_senders", size)
            .map_err(|(what, s)| err(line, "audio_senders", what, Some(&s)))?;
        let video = cell("video");
        if video.is_empty() {
            return Err(err(
                line,
                "video",
                "the senders' video (e.g. 1280x720@60)".into(),
                Some(video),
            ));
        }
        let servers = count("generator_servers")?;
        let cores_per_server = num(
            "generator_cores_per_server",
            "a positive number of cores",
            &|v| v > 0.0,
        )?;
        let ratio = |c: &str| -> Result<f64, ObservationError> {
            let f = factor(c);
            let what = if f == 1.0 {
                "a ratio 0..1"
            } else {
                "a percentage 0..100"
            };
            num(c, what, &|v| (0.0..=1.0).contains(&(v * f))).map(|v| v * f)
        };
        let generator_cpu = ratio("generator_cpu_ratio")?;
        let cpu = num("jvb_max_cpu_cores", "a number of cores ≥ 0", &|v| {
            v >= 0.0
        })?;
        let tx = num("jvb_max_tx_mbytes_per_s", "MB/s ≥ 0", &|v| v >= 0.0)?;
        let throttling = ratio("jvb_cpu_throttled_ratio")?;
        let stability = cell("stability");
        if stability.is_empty() {
            return Err(err(
                line,
                "stability",
                "`stable` or what happened (e.g. `3 participants left`)".into(),
                Some(stability),
            ));
        }
        let stable = stability == "stable";
        // The busiest bridge: conferences are whole on one bridge (no Octo in the seed), spread as
        // evenly as Jicofo's stress-based selection allows.
        let on_busiest = conferences.div_ceil(jvbs);
        let slice = Slice {
            size,
            local: size,
            senders,
            audio_senders,
            last_n,
        };
        let load = Load::of(&vec![slice; on_busiest as usize]);
        out.push(Observation {
            id: cell("run").to_string(),
            source: file.to_string(),
            load,
            participants_per_conference: size,
            cpu_cores: cpu,
            cpu_limit_cores: limit,
            egress_bytes_per_second: Some(tx * MEGABYTE),
            throttled_ratio: Some(throttling),
            stable,
            censored: Observation::is_saturated(cpu, limit, Some(throttling), stable),
            generator: Some(GeneratorSample {
                // The seed's fleets ran the Jitsi app: audio received, video decoded, one browser each.
                fidelity: crate::scenario::density::Fidelity {
                    video: video.to_string(),
                    audio: audio_senders > 0,
                    receive_audio: true,
                    mode: crate::scenario::density::Mode::BASE,
                },
                participants: total as f64,
                cores: generator_cpu * cores_per_server * servers as f64,
            }),
        });
    }
    if out.is_empty() {
        return Err(err(2, "row", "at least one observation".into(), None));
    }
    Ok(out)
}

fn senders_in(
    record: &csv::StringRecord,
    index: &HashMap<&str, usize>,
    column: &str,
    size: u32,
) -> Result<u32, (String, String)> {
    let s = record.get(index[column]).unwrap_or("").trim();
    s.parse::<u32>().ok().filter(|v| *v <= size).ok_or_else(|| {
        (
            format!("a whole number from 0 to participants_per_conference ({size})"),
            s.to_string(),
        )
    })
}

/// The shipped observations.
pub fn seed() -> Vec<Observation> {
    // The shipped file is tested to parse; an error here is a build defect.
    parse(SEED_CSV, SEED_NAME).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_parses_and_marks_r7_saturated() {
        let obs = parse(SEED_CSV, SEED_NAME).unwrap();
        assert_eq!(obs.len(), 7);
        let censored: Vec<&str> = obs
            .iter()
            .filter(|o| o.censored)
            .map(|o| o.id.as_str())
            .collect();
        assert_eq!(
            censored,
            ["R7"],
            "only R7 lost participants; none hit its limit"
        );
        let r9 = obs.iter().find(|o| o.id == "R9").unwrap();
        assert_eq!(
            r9.load.participants, 20.0,
            "8 conferences of 5 on 2 bridges"
        );
        assert_eq!(r9.load.forwarded_video_streams, 4.0 * 5.0 * 3.0);
        assert_eq!(r9.egress_bytes_per_second, Some(9.1e6));
        let g = r9.generator.as_ref().unwrap();
        assert!((g.cores - 0.5 * 16.0 * 8.0).abs() < 1e-9);
    }

    fn first_error(text: &str) -> String {
        parse(text, "obs.csv").unwrap_err().to_string()
    }

    fn seed_with(column: &str, value: &str) -> String {
        let mut lines = SEED_CSV.lines();
        let header = lines.next().unwrap();
        let row = lines.next().unwrap();
        let i = header.split(',').position(|c| c == column).unwrap();
        let mut cells: Vec<&str> = row.split(',').collect();
        cells[i] = value;
        format!("{header}\n{}\n", cells.join(","))
    }

    #[test]
    fn bad_cells_are_located() {
        for (column, value, expected) in [
            ("jvb_max_cpu_cores", "lots", "a number of cores"),
            ("jvb_cpu_limit_cores", "0", "a positive number of cores"),
            ("channel_last_n", "-3", "-1 (unset)"),
            ("video_senders", "9", "a whole number from 0"),
            (
                "participants_total",
                "9",
                "conferences × participants_per_conference = 8",
            ),
            ("jvb_cpu_throttled_ratio", "1.2", "a ratio 0..1"),
            ("stability", "", "`stable`"),
        ] {
            let e = first_error(&seed_with(column, value));
            assert!(
                e.starts_with(&format!("obs.csv:2: {column}: expected {expected}")),
                "{column}={value}: {e}"
            );
        }
    }

    #[test]
    fn first_format_columns_still_read() {
        // The first format's names and percentages (as users may have them) give the same figures.
        let old = SEED_CSV
            .replacen("video_senders,", "video_senders_per_conference,", 1)
            .replacen("audio_senders,", "audio_senders_per_conference,", 1)
            .replacen("generator_cpu_ratio", "generator_cpu_pct", 1)
            .replacen("jvb_cpu_throttled_ratio", "cpu_throttling_pct", 1);
        let mut lines: Vec<String> = old.lines().map(str::to_string).collect();
        let header: Vec<&str> = lines[0].split(',').collect();
        let g = header
            .iter()
            .position(|c| *c == "generator_cpu_pct")
            .unwrap();
        let t = header
            .iter()
            .position(|c| *c == "cpu_throttling_pct")
            .unwrap();
        for line in lines.iter_mut().skip(1) {
            let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
            for i in [g, t] {
                let v: f64 = cells[i].parse().unwrap();
                cells[i] = format!("{}", (v * 100.0).round());
            }
            *line = cells.join(",");
        }
        let parsed = parse(&lines.join("\n"), "old.csv").unwrap();
        assert_eq!(parsed, parse(SEED_CSV, "old.csv").unwrap());
    }

    #[test]
    fn missing_columns_and_ragged_rows_are_located() {
        let e = first_error("run,conferences\nR1,1\n");
        assert!(
            e.starts_with("obs.csv:1: participants_per_conference: expected this column"),
            "{e}"
        );
        let header = SEED_CSV.lines().next().unwrap();
        let e = first_error(&format!("{header}\nR1,one conference,1\n"));
        assert!(e.starts_with("obs.csv:2: row: expected 20 fields"), "{e}");
        let e = first_error(&format!("{header}\n"));
        assert!(e.contains("at least one observation"), "{e}");
    }
}
