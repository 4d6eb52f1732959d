//! `--set key.path=value`: override any scenario key, validated exactly like the file.

use std::str::FromStr;

use super::Scenario;
use super::error::{Origin, ScenarioError};

/// One `--set key.path=value` argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// The argument as given, for messages.
    pub raw: String,
    /// Dotted key path.
    pub key: String,
    /// The value: TOML syntax (`3`, `true`, `"x"`, `[1, 2]`), or a bare string.
    pub value: toml::Value,
}

impl FromStr for Override {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let (key, value) = raw
            .split_once('=')
            .ok_or_else(|| format!("expected key.path=value, got {raw:?}"))?;
        let key = key.trim();
        if key.is_empty() || key.split('.').any(|p| p.trim().is_empty()) {
            return Err(format!("expected a dotted key before '=', got {raw:?}"));
        }
        Ok(Override {
            raw: raw.to_string(),
            key: key.to_string(),
            value: parse_value(value.trim()),
        })
    }
}

/// A TOML value if the text is one, else the text as a string (so `--set load.duration=30s` works).
fn parse_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

fn insert(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let mut parts = key.split('.').map(str::trim).peekable();
    let mut cur = table;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(part.to_string(), value);
            return Ok(());
        }
        let entry = cur
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| {
            format!("`{part}` is a value, not a table, so it has no keys below it")
        })?;
    }
    Ok(())
}

/// Apply overrides in order; the first that makes the scenario unreadable is reported by itself.
pub(crate) fn apply(mut table: toml::Table, sets: &[Override]) -> Result<Scenario, ScenarioError> {
    let err = |set: &Override, message: String| ScenarioError {
        origin: Origin::Set(set.raw.clone()),
        key: Some(set.key.clone()),
        message,
    };
    for set in sets {
        insert(&mut table, &set.key, set.value.clone()).map_err(|m| err(set, m))?;
        // Check after each one, so an error names the argument that caused it.
        Scenario::deserialize_table(&table).map_err(|e| err(set, e))?;
    }
    Scenario::deserialize_table(&table).map_err(|message| ScenarioError {
        origin: Origin::Set(String::new()),
        key: None,
        message,
    })
}

impl Scenario {
    fn deserialize_table(table: &toml::Table) -> Result<Scenario, String> {
        // Round-trip through text: the table came from valid TOML plus valid values.
        let text = toml::to_string(table).map_err(|e| e.to_string())?;
        toml::from_str(&text).map_err(|e| e.message().trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_toml_or_strings() {
        let o: Override = "load.participants=4".parse().unwrap();
        assert_eq!(o.value, toml::Value::Integer(4));
        let o: Override = "load.duration=30s".parse().unwrap();
        assert_eq!(o.value, toml::Value::String("30s".into()));
        let o: Override = "target.jitsi.regions=[\"eu\", \"us\"]".parse().unwrap();
        assert!(o.value.is_array());
        assert!("novalue".parse::<Override>().is_err());
        assert!("a..b=1".parse::<Override>().is_err());
    }
}
