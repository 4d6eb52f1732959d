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

impl Override {
    /// A command-line flag that sets one scenario key (`--metrics-listen ADDR` is `export.listen`);
    /// errors name the flag.
    pub fn from_flag(flag: &str, key: &str, value: &str) -> Override {
        Override {
            raw: format!("{key}={value} (from {flag})"),
            key: key.to_string(),
            value: toml::Value::String(value.to_string()),
        }
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
    let parts: Vec<&str> = key.split('.').map(str::trim).collect();
    let (last, path) = parts.split_last().ok_or("an empty key")?;
    let mut cur = table
        .entry(path.first().copied().unwrap_or(last).to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if path.is_empty() {
        *cur = value;
        return Ok(());
    }
    // Walk tables by name and arrays of tables by index (`metrics.process.0.command`).
    for (i, part) in path.iter().enumerate().skip(1).chain([(path.len(), last)]) {
        let parent = path[i - 1];
        let at_end = i == path.len();
        cur = match cur {
            toml::Value::Table(t) if at_end => {
                t.insert(part.to_string(), value);
                return Ok(());
            }
            toml::Value::Table(t) => t
                .entry(part.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new())),
            toml::Value::Array(items) => {
                let n = items.len();
                let slot = part
                    .parse::<usize>()
                    .ok()
                    .and_then(|k| items.get_mut(k))
                    .ok_or_else(|| {
                        format!(
                            "`{parent}` has {n} entries; expected an index from 0 to {}",
                            n.saturating_sub(1)
                        )
                    })?;
                if at_end {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            _ => {
                return Err(format!(
                    "`{parent}` is a value, not a table, so it has no keys below it"
                ));
            }
        };
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

    #[test]
    fn arrays_of_tables_are_indexed() {
        let mut t: toml::Table = "[[metrics.process]]\nname = \"janus\"\ncommand = \"janus\"\n"
            .parse()
            .unwrap();
        insert(&mut t, "metrics.process.0.media_address", "10.0.0.1".into()).unwrap();
        assert_eq!(
            t["metrics"]["process"][0]["media_address"].as_str(),
            Some("10.0.0.1")
        );
        let e = insert(&mut t, "metrics.process.3.name", "x".into()).unwrap_err();
        assert_eq!(e, "`process` has 1 entries; expected an index from 0 to 0");
        insert(&mut t, "load.conferences", 3.into()).unwrap();
        assert_eq!(t["load"]["conferences"].as_integer(), Some(3));
        let e = insert(&mut t, "load.conferences.x", 1.into()).unwrap_err();
        assert!(e.contains("`conferences` is a value"), "{e}");
    }
}
