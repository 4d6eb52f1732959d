//! Keys renamed since earlier versions. A scenario (or a results directory's copy of one) written with
//! an old name still loads: the key is moved to its new name and a warning says so. Giving both names
//! is an error.

use super::Override;
use super::error::Invalid;

/// (old dotted key, new dotted key), in the order the glossary lists them (docs/glossary.md).
pub const RENAMED: &[(&str, &str)] = &[
    ("load.participants", "load.participants_per_conference"),
    ("load.senders", "load.video_senders"),
    ("metrics.generator", "metrics.this_machine"),
];

fn split(key: &str) -> (&str, &str) {
    key.rsplit_once('.').unwrap_or(("", key))
}

fn table_at<'a>(table: &'a mut toml::Table, path: &str) -> Option<&'a mut toml::Table> {
    if path.is_empty() {
        return Some(table);
    }
    let mut cur = table;
    for part in path.split('.') {
        cur = cur.get_mut(part)?.as_table_mut()?;
    }
    Some(cur)
}

/// Move old keys of `table` to their new names; returns a warning per moved key, or the key given
/// under both names.
pub(crate) fn migrate(table: &mut toml::Table) -> Result<Vec<String>, Invalid> {
    let mut warnings = Vec::new();
    for (old, new) in RENAMED {
        let (parent, old_leaf) = split(old);
        let (_, new_leaf) = split(new);
        let Some(t) = table_at(table, parent) else {
            continue;
        };
        let Some(v) = t.remove(old_leaf) else {
            continue;
        };
        if t.contains_key(new_leaf) {
            return Err(Invalid::new(
                *old,
                format!("give {new} or its old name {old}, not both"),
            ));
        }
        t.insert(new_leaf.to_string(), v);
        warnings.push(format!("{old} is now called {new}; please rename it"));
    }
    Ok(warnings)
}

/// `--set` arguments with old keys rewritten to new ones, and a warning per rewrite.
pub(crate) fn migrate_sets(sets: &[Override]) -> (Vec<Override>, Vec<String>) {
    let mut warnings = Vec::new();
    let sets = sets
        .iter()
        .map(|s| {
            let mut s = s.clone();
            if let Some((old, new)) = RENAMED
                .iter()
                .find(|(old, _)| s.key == *old || s.key.starts_with(&format!("{old}.")))
            {
                warnings.push(format!("--set {}: {old} is now called {new}", s.raw));
                s.key = format!("{new}{}", &s.key[old.len()..]);
            }
            s
        })
        .collect();
    (sets, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_names_move_with_a_warning_and_both_names_are_refused() {
        let mut t: toml::Table =
            "[load]\nparticipants = 3\nsenders = 1\n[metrics]\ngenerator = false\n"
                .parse()
                .unwrap();
        let w = migrate(&mut t).unwrap();
        assert_eq!(w.len(), 3);
        assert_eq!(
            t["load"]["participants_per_conference"].as_integer(),
            Some(3)
        );
        assert_eq!(t["load"]["video_senders"].as_integer(), Some(1));
        assert_eq!(t["metrics"]["this_machine"].as_bool(), Some(false));
        let mut both: toml::Table = "[load]\nparticipants = 3\nparticipants_per_conference = 4\n"
            .parse()
            .unwrap();
        let e = migrate(&mut both).unwrap_err();
        assert_eq!(e.key, "load.participants");
        let (sets, w) = migrate_sets(&["load.senders=2".parse().unwrap()]);
        assert_eq!(sets[0].key, "load.video_senders");
        assert_eq!(w.len(), 1);
    }
}
