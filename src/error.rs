//! Error kinds that decide the exit code (`cli::exit_code` maps them; scenario errors are bad input).

/// Exit code: every participant ok (and thresholds met).
pub const EXIT_OK: i32 = 0;
/// Exit code: participants failed or thresholds missed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: bad input; nothing started.
pub const EXIT_BAD_INPUT: i32 = 2;
/// Exit code: infrastructure (grid, browser driver, target) unreachable.
pub const EXIT_INFRA: i32 = 3;
/// Exit code: interrupted by SIGINT/SIGTERM (results kept).
pub const EXIT_INTERRUPTED: i32 = 130;

/// Something outside the tool is missing or unreachable: the grid, the driver, the target.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {detail}")]
pub struct InfraError {
    /// The component, e.g. `Selenium Grid at http://127.0.0.1:4444`.
    pub what: String,
    /// What went wrong and what to do.
    pub detail: String,
}

impl InfraError {
    /// Build one.
    pub fn new(what: impl Into<String>, detail: impl Into<String>) -> Self {
        InfraError {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// Bad command-line input other than the scenario (e.g. an existing `--out` directory).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
