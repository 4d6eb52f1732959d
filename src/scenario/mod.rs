//! The scenario file: schema, defaults, `--set` overrides and validation.
//!
//! A scenario is TOML. [`load`] parses a file, applies `--set key.path=value` overrides exactly as if they
//! had been written in the file, validates the result and returns either a [`Loaded`] scenario with its
//! warnings or one [`ScenarioError`] that names the file, line and column (or the `--set` argument), the
//! key and the expected form. [`Scenario::from_results`] reads the resolved copy a run wrote into its
//! results directory (old key names included), without re-validating it.

mod cohort;
mod compat;
pub mod density;
mod duration;
mod error;
mod export;
mod judgement;
mod limit;
mod overrides;
pub mod packing;
pub mod profile;
mod schema;
mod sources;
mod validate;
mod validate_cohorts;
mod warnings;

use std::path::{Path, PathBuf};

pub use cohort::*;
pub use compat::RENAMED;
pub use density::Packing;
pub use duration::Dur;
pub use error::{Origin, ScenarioError};
pub use export::{AUTO_CONFERENCES, DEFAULT_LISTEN, EXPORT_LABELS, Export, is_loopback};
pub use judgement::{Guard, Thresholds};
pub use limit::{Grow, Increment, Limit};
pub use overrides::Override;
pub use packing::JANUS_HTTP_PER_BROWSER;
pub use schema::*;
pub use sources::*;
pub use validate::MAX_PARTICIPANTS;

/// Where a bare scenario file name is looked up when it is not in the working directory.
pub const SCENARIO_DIR: &str = "scenarios";

/// A loaded scenario and what the user should know about it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The scenario, validated.
    pub scenario: Scenario,
    /// The file it came from (after [`resolve_path`]).
    pub path: PathBuf,
    /// Renamed keys and overrides the target will ignore; printed, never fatal.
    pub warnings: Vec<String>,
}

/// The scenario file a user named: the path itself when it exists; a bare file name that is not in
/// the working directory is looked up in `scenarios/` too. The error says where it looked.
pub fn resolve_path(path: &Path) -> Result<PathBuf, ScenarioError> {
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    let bare = path.parent().is_none_or(|p| p.as_os_str().is_empty());
    let candidate = Path::new(SCENARIO_DIR).join(path);
    if bare && candidate.is_file() {
        return Ok(candidate);
    }
    let looked = if bare {
        format!("{} and {}", path.display(), candidate.display())
    } else {
        path.display().to_string()
    };
    Err(ScenarioError {
        origin: Origin::File {
            path: path.to_path_buf(),
            at: None,
        },
        key: None,
        message: format!("no such scenario file (looked for {looked})"),
    })
}

/// Find, read, override and validate a scenario file.
pub fn load(path: &Path, sets: &[Override]) -> Result<Loaded, ScenarioError> {
    let path = resolve_path(path)?;
    let src = std::fs::read_to_string(&path).map_err(|e| ScenarioError::io(&path, &e))?;
    let mut loaded = parse(&src, &path, sets)?;
    loaded.path = path;
    Ok(loaded)
}

/// Parse, override and validate scenario text; `path` is used for messages and the default name.
pub fn parse(src: &str, path: &Path, sets: &[Override]) -> Result<Loaded, ScenarioError> {
    let file = error::SourceFile::new(path, src);
    // The file alone first: its errors point into the file.
    let mut table: toml::Table = toml::from_str(src).map_err(|e| file.toml_error(&e))?;
    let mut warnings = compat::migrate(&mut table).map_err(|v| file.locate(v, &[]))?;
    let _: Scenario = toml::from_str(src).map_err(|e| file.toml_error(&e))?;
    let (sets, set_warnings) = compat::migrate_sets(sets);
    warnings.extend(set_warnings);
    let mut scenario = overrides::apply(table, &sets)?;
    if scenario.name.is_empty() {
        scenario.name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".to_string());
    }
    validate::validate(&scenario, path).map_err(|v| file.locate(v, &sets))?;
    warnings.extend(warnings::warnings(&scenario));
    Ok(Loaded {
        scenario,
        path: path.to_path_buf(),
        warnings,
    })
}

impl Scenario {
    /// The resolved scenario as TOML, as written to the results directory (it never holds secrets:
    /// the JWT is referenced by environment-variable name only).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# could not serialise: {e}\n"))
    }

    /// The resolved scenario a run wrote (`scenario.toml` of a results directory), including copies
    /// written with old key names. It is not validated again: environment variables and files it
    /// names need not exist where the results are read.
    pub fn from_results(text: &str) -> Result<Scenario, String> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| e.message().to_string())?;
        compat::migrate(&mut table).map_err(|v| format!("{}: {}", v.key, v.message))?;
        let text = toml::to_string(&table).map_err(|e| e.to_string())?;
        toml::from_str(&text).map_err(|e| e.message().trim().to_string())
    }
}
