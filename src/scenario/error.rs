//! Scenario errors that name the place of the mistake: `file:line:column` or the `--set` argument.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::overrides::Override;

/// Where a bad value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A place in the scenario file (1-based line and column; `None` when the key is absent).
    File {
        /// The scenario file.
        path: PathBuf,
        /// Line and column, when the key is written in the file.
        at: Option<(usize, usize)>,
    },
    /// A `--set` argument, quoted as given.
    Set(String),
}

/// One clear error about the scenario; nothing starts when there is one.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub struct ScenarioError {
    /// Where.
    pub origin: Origin,
    /// The dotted key (`load.senders`), when known.
    pub key: Option<String>,
    /// What is wrong, including the expected form.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::File {
                path,
                at: Some((l, c)),
            } => write!(f, "{}:{l}:{c}: ", path.display())?,
            Origin::File { path, at: None } => write!(f, "{}: ", path.display())?,
            Origin::Set(arg) => write!(f, "--set {arg}: ")?,
        }
        if let Some(k) = &self.key {
            write!(f, "{k}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl ScenarioError {
    pub(crate) fn io(path: &Path, e: &std::io::Error) -> Self {
        ScenarioError {
            origin: Origin::File {
                path: path.to_path_buf(),
                at: None,
            },
            key: None,
            message: format!("cannot read the scenario file: {e}"),
        }
    }
}

/// A semantic error before it is located: the key path and the message.
#[derive(Debug, Clone)]
pub(crate) struct Invalid {
    pub key: String,
    pub message: String,
}

impl Invalid {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The scenario text, for turning byte spans and key paths into line:column.
pub(crate) struct SourceFile<'a> {
    path: &'a Path,
    src: &'a str,
}

impl<'a> SourceFile<'a> {
    pub fn new(path: &'a Path, src: &'a str) -> Self {
        SourceFile { path, src }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
        (line, col)
    }

    /// A TOML syntax or type error of the file itself.
    pub fn toml_error(&self, e: &toml::de::Error) -> ScenarioError {
        let span = e.span();
        let key = span.as_ref().and_then(|s| key_at(self.src, s));
        ScenarioError {
            origin: Origin::File {
                path: self.path.to_path_buf(),
                at: span.map(|s| self.line_col(s.start)),
            },
            key,
            message: e.message().trim().to_string(),
        }
    }

    /// Place a semantic error: on the `--set` that wrote the key, else on the key in the file.
    pub fn locate(&self, v: Invalid, sets: &[Override]) -> ScenarioError {
        if let Some(set) = sets
            .iter()
            .rev()
            .find(|s| v.key == s.key || v.key.starts_with(&format!("{}.", s.key)))
        {
            return ScenarioError {
                origin: Origin::Set(set.raw.clone()),
                key: Some(v.key),
                message: v.message,
            };
        }
        let at = span_of(self.src, &v.key).map(|s| self.line_col(s.start));
        ScenarioError {
            origin: Origin::File {
                path: self.path.to_path_buf(),
                at,
            },
            key: Some(v.key),
            message: v.message,
        }
    }
}

/// The span of the value at a dotted key path, or of its nearest written ancestor.
fn span_of(src: &str, key: &str) -> Option<Range<usize>> {
    let doc = toml::de::DeTable::parse(src).ok()?;
    let mut table = doc.get_ref();
    let mut best: Option<Range<usize>> = None;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let Some((_, mut value)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == part) else {
            break;
        };
        // An array of tables: the next part is the element's index (`metrics.jvb.0.url`).
        if let Some(items) = value.get_ref().as_array()
            && let Some(item) = parts
                .peek()
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| items.get(i))
        {
            parts.next();
            value = item;
        }
        best = Some(value.span());
        match value.get_ref().as_table() {
            Some(t) if parts.peek().is_some() => table = t,
            _ => break,
        }
    }
    best
}

/// The dotted key whose value (or key) contains a byte span, deepest first.
fn key_at(src: &str, span: &Range<usize>) -> Option<String> {
    fn inside(r: Range<usize>, at: usize) -> bool {
        r.start <= at && at < r.end.max(r.start + 1)
    }
    fn walk(table: &toml::de::DeTable<'_>, at: usize, path: &mut Vec<String>) -> bool {
        for (k, v) in table.iter() {
            path.push(k.get_ref().to_string());
            if let Some(t) = v.get_ref().as_table()
                && walk(t, at, path)
            {
                return true;
            }
            // Arrays of tables: `cohort.0.profile`.
            for (i, item) in v.get_ref().as_array().into_iter().flatten().enumerate() {
                if let Some(t) = item.get_ref().as_table() {
                    path.push(i.to_string());
                    if walk(t, at, path) {
                        return true;
                    }
                    path.pop();
                }
            }
            if inside(k.span(), at) || inside(v.span(), at) {
                return true;
            }
            path.pop();
        }
        false
    }
    let doc = toml::de::DeTable::parse(src).ok()?;
    let mut path = Vec::new();
    walk(doc.get_ref(), span.start, &mut path).then(|| path.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let f = SourceFile::new(Path::new("x.toml"), "a = 1\nbb = 2\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(6), (2, 1));
        assert_eq!(f.line_col(11), (2, 6));
    }

    #[test]
    fn spans_follow_nested_keys() {
        let src = "[load]\nconferences = 2\nparticipants = 3\n";
        let s = span_of(src, "load.participants").unwrap();
        assert_eq!(&src[s], "3");
        assert_eq!(key_at(src, &(31..32)).as_deref(), Some("load.participants"));
        let src = "[[cohort]]\nname = \"a\"\n[[cohort]]\nprofile = { lag = 1 }\n";
        let at = src.find("lag").unwrap();
        assert_eq!(
            key_at(src, &(at..at + 3)).as_deref(),
            Some("cohort.1.profile.lag")
        );
    }
}
