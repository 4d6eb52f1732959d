//! A growing run's search, read back: `limit.json`, `steps.csv` and `step_bridges.csv` (present only
//! when the run was `loadtest limit`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::results::steps::LIMIT_JSON;
use crate::results::{self, LimitInfo, ReadError, StepBridgeRow, StepRow};

/// The search and its steps, for the report's "Limit" section and for `plan`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LimitSummary {
    /// How it ended, with the verdict in one line.
    pub info: LimitInfo,
    /// Every evaluated window.
    pub steps: Vec<StepRow>,
    /// Every bridge in every window.
    pub bridges: Vec<StepBridgeRow>,
}

impl LimitSummary {
    /// The last window of each step (the one that decided it), in step order.
    pub fn deciding(&self) -> Vec<&StepRow> {
        let mut out: Vec<&StepRow> = Vec::new();
        for r in &self.steps {
            match out.last_mut() {
                Some(last) if last.step == r.step => *last = r,
                _ => out.push(r),
            }
        }
        out
    }
}

/// The search of the run in `dir`, or `None` when it was no limit search.
pub fn read(dir: &Path) -> Result<Option<LimitSummary>, ReadError> {
    let path = dir.join(LIMIT_JSON);
    let mut steps = Vec::new();
    results::rows(dir, results::steps::STEPS_CSV, |r: StepRow| steps.push(r))?;
    let info: LimitInfo = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ReadError::Csv {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?,
        // A search killed before it concluded still has its steps.
        Err(_) if !steps.is_empty() => LimitInfo {
            grow: String::new(),
            stopped: results::Stop::Interrupted,
            held: None,
            held_participants: None,
            failed: None,
            failed_participants: None,
            verdict:
                "the search ended without a verdict (killed): the steps below are what it measured"
                    .into(),
        },
        Err(_) => return Ok(None),
    };
    let mut bridges = Vec::new();
    results::rows(dir, results::steps::STEP_BRIDGES_CSV, |r: StepBridgeRow| {
        bridges.push(r)
    })?;
    Ok(Some(LimitSummary {
        info,
        steps,
        bridges,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::StepVerdict;

    #[test]
    fn the_last_window_of_a_step_decides_it() {
        let row = |step, window, verdict| StepRow {
            step,
            window,
            verdict,
            ..Default::default()
        };
        let l = LimitSummary {
            info: LimitInfo {
                grow: "conferences".into(),
                stopped: results::Stop::LimitFound,
                held: Some(1),
                held_participants: Some(2),
                failed: Some(2),
                failed_participants: Some(4),
                verdict: String::new(),
            },
            steps: vec![
                row(1, 1, StepVerdict::Holds),
                row(2, 1, StepVerdict::Fails),
                row(2, 2, StepVerdict::Fails),
            ],
            bridges: Vec::new(),
        };
        let d = l.deciding();
        assert_eq!(d.len(), 2);
        assert_eq!((d[1].step, d[1].window), (2, 2));
    }
}
