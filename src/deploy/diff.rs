//! The unified diff `--dry-run` prints (the `similar` crate, three lines of context).

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// Unified diff of `old` (`None`: a new file) against `new`, labelled with `path`; empty if equal.
pub fn unified(path: &str, old: Option<&str>, new: &str) -> String {
    if old == Some(new) {
        return String::new();
    }
    let from = match old {
        Some(_) => format!("a/{path}"),
        None => "/dev/null".to_string(),
    };
    similar::TextDiff::from_lines(old.unwrap_or(""), new)
        .unified_diff()
        .context_radius(CONTEXT)
        .header(&from, &format!("b/{path}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunks_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\n";
        let d = unified("x.yaml", Some(old), new);
        assert_eq!(
            d,
            "--- a/x.yaml\n+++ b/x.yaml\n@@ -2,8 +2,9 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n i\n+j\n"
        );
        assert_eq!(unified("x", Some(old), old), "");
    }

    #[test]
    fn new_file_and_separate_hunks() {
        assert_eq!(
            unified("n", None, "x\ny\n"),
            "--- /dev/null\n+++ b/n\n@@ -0,0 +1,2 @@\n+x\n+y\n"
        );
        let old: String = (0..30).map(|i| format!("{i}\n")).collect();
        let new: String = (0..30)
            .map(|i| {
                if i == 2 || i == 25 {
                    format!("changed {i}\n")
                } else {
                    format!("{i}\n")
                }
            })
            .collect();
        let d = unified("f", Some(&old), &new);
        assert_eq!(d.matches("@@ -").count(), 2, "{d}");
        assert!(
            d.contains("@@ -1,6 +1,6 @@\n 0\n 1\n-2\n+changed 2\n 3\n"),
            "{d}"
        );
        assert!(d.contains("-25\n+changed 25\n"), "{d}");
    }
}
