//! A small unified diff (longest common subsequence over lines) for `--dry-run`.

/// Lines of context around each change.
const CONTEXT: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Same,
    Del,
    Add,
}

/// Unified diff of `old` (`None`: a new file) against `new`, labelled with `path`; empty if equal.
pub fn unified(path: &str, old: Option<&str>, new: &str) -> String {
    let a: Vec<&str> = old.map(|o| o.lines().collect()).unwrap_or_default();
    let b: Vec<&str> = new.lines().collect();
    if old == Some(new) {
        return String::new();
    }
    // LCS table over suffixes; the files are a few hundred lines at most.
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut ops = Vec::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((Op::Same, i, j));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push((Op::Del, i, j));
            i += 1;
        } else {
            ops.push((Op::Add, i, j));
            j += 1;
        }
    }
    let from = if old.is_some() {
        format!("a/{path}")
    } else {
        "/dev/null".into()
    };
    let mut out = format!("--- {from}\n+++ b/{path}\n");
    let changed: Vec<usize> = (0..ops.len()).filter(|&n| ops[n].0 != Op::Same).collect();
    let mut n = 0;
    while n < changed.len() {
        let start = changed[n].saturating_sub(CONTEXT);
        let mut end = changed[n];
        while n < changed.len() && changed[n] <= end + 2 * CONTEXT {
            end = changed[n];
            n += 1;
        }
        let end = (end + CONTEXT + 1).min(ops.len());
        let hunk = &ops[start..end];
        let count = |skip: Op| hunk.iter().filter(|o| o.0 != skip).count();
        let (a0, b0) = (hunk[0].1, hunk[0].2);
        let (na, nb) = (count(Op::Add), count(Op::Del));
        out.push_str(&format!(
            "@@ -{},{na} +{},{nb} @@\n",
            if na == 0 { a0 } else { a0 + 1 },
            if nb == 0 { b0 } else { b0 + 1 }
        ));
        for &(op, i, j) in hunk {
            match op {
                Op::Same => out.push_str(&format!(" {}\n", a[i])),
                Op::Del => out.push_str(&format!("-{}\n", a[i])),
                Op::Add => out.push_str(&format!("+{}\n", b[j])),
            }
        }
    }
    out
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
        assert_eq!(unified("f", Some(&old), &new).matches("@@ -").count(), 2);
    }
}
