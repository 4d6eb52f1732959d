//! The shape of `deploy/` that `add-shard` and `scale` rely on, as pure functions over file contents.
//!
//! An environment `overlays/<env>/` lists its shards in `kustomization.yaml` and HAProxy's servers in
//! `haproxy/backends.cfg`, both between `# BEGIN shards` and `# END shards`. Shard `k` lives in
//! `overlays/<env>/shard-<k>/` (`kustomization.yaml`, `sizing.yaml`, `jvb-nodeports.yaml`); bridge `i` of
//! shard `k` uses UDP port `30300 + 100·k + i`.

use std::path::PathBuf;

/// First line of a marked block.
pub const BEGIN: &str = "# BEGIN shards";
/// Last line of a marked block.
pub const END: &str = "# END shards";
/// UDP port of bridge 0 of shard 0.
pub const FIRST_PORT: u32 = 30300;
/// Ports reserved per shard (bridges per shard at most).
pub const PORTS_PER_SHARD: u32 = 100;
/// Highest port of Kubernetes' default NodePort range.
pub const LAST_NODE_PORT: u32 = 32767;

const NODEPORTS_HEADER: &str = include_str!("../../assets/deploy/jvb-nodeports.header.yaml");
const NODEPORT_SERVICE: &str = include_str!("../../assets/deploy/jvb-nodeport.yaml");

/// Why `deploy` refused to change anything.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A file of `deploy/` does not look as expected.
    #[error("{}: expected {expected}", file.display())]
    Layout {
        /// The file (relative to the deploy directory).
        file: PathBuf,
        /// What was expected there.
        expected: String,
    },
    /// The plan file lacks or contradicts what scaling needs.
    #[error("plan {}: {msg}", file.display())]
    Plan {
        /// The plan file.
        file: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The request cannot be met (e.g. more bridges than ports).
    #[error("{0}")]
    Invalid(String),
    /// A file changed or vanished between reading it and writing its replacement (exit 1).
    #[error("{}: changed or removed since it was read a moment ago; run the command again", file.display())]
    Conflict {
        /// The file (relative to the deploy directory).
        file: PathBuf,
    },
    /// Reading or writing a file failed (exit 1). The cause is the error's source.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl DeployError {
    /// The user's input is wrong (the tree, the plan file, the request): exit 2. I/O failures and
    /// conflicts are not (exit 1).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            DeployError::Layout { .. } | DeployError::Plan { .. } | DeployError::Invalid(_)
        )
    }
}

/// A layout error for `file`.
pub fn layout(file: impl Into<PathBuf>, expected: impl Into<String>) -> DeployError {
    DeployError::Layout {
        file: file.into(),
        expected: expected.into(),
    }
}

/// The files of one shard overlay.
#[derive(Debug, Clone)]
pub struct ShardFiles {
    /// Shard index `k` of `shard-<k>`.
    pub index: u32,
    /// `shard-<k>/kustomization.yaml`.
    pub kustomization: String,
    /// `shard-<k>/sizing.yaml`.
    pub sizing: String,
    /// `shard-<k>/jvb-nodeports.yaml`.
    pub nodeports: String,
}

/// The files of one environment overlay, read from disk.
#[derive(Debug, Clone)]
pub struct EnvTree {
    /// Environment name (`production`).
    pub env: String,
    /// `overlays/<env>/kustomization.yaml`.
    pub kustomization: String,
    /// `overlays/<env>/haproxy/backends.cfg`.
    pub backends: String,
    /// The listed shards, by ascending index.
    pub shards: Vec<ShardFiles>,
}

/// One file to create (`old` is `None`) or replace.
#[derive(Debug, Clone, PartialEq)]
pub struct FileChange {
    /// Path relative to the deploy directory.
    pub path: PathBuf,
    /// Expected current content; `None` for a new file.
    pub old: Option<String>,
    /// New content.
    pub new: String,
}

/// `shard-<k>`.
pub fn shard_name(k: u32) -> String {
    format!("shard-{k}")
}

/// UDP port of bridge 0 of shard `k`.
pub fn port_base(k: u32) -> u32 {
    FIRST_PORT + PORTS_PER_SHARD * k
}

/// Paths of an environment's files, relative to the deploy directory.
pub mod paths {
    use std::path::PathBuf;

    /// `overlays/<env>`.
    pub fn env_dir(env: &str) -> PathBuf {
        PathBuf::from("overlays").join(env)
    }
    /// `overlays/<env>/kustomization.yaml`.
    pub fn kustomization(env: &str) -> PathBuf {
        env_dir(env).join("kustomization.yaml")
    }
    /// `overlays/<env>/haproxy/backends.cfg`.
    pub fn backends(env: &str) -> PathBuf {
        env_dir(env).join("haproxy").join("backends.cfg")
    }
    /// `overlays/<env>/shard-<k>`.
    pub fn shard_dir(env: &str, k: u32) -> PathBuf {
        env_dir(env).join(super::shard_name(k))
    }
    /// `overlays/<env>/shard-<k>/<file>`.
    pub fn shard_file(env: &str, k: u32, file: &str) -> PathBuf {
        shard_dir(env, k).join(file)
    }
}

/// Line indices of the `# BEGIN shards` and `# END shards` lines (each exactly once, in that order).
pub fn marker_lines(text: &str, file: &std::path::Path) -> Result<(usize, usize), DeployError> {
    let find = |marker: &str| -> Result<usize, DeployError> {
        let hits: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim() == marker)
            .map(|(i, _)| i)
            .collect();
        match hits.as_slice() {
            [one] => Ok(*one),
            _ => Err(layout(
                file,
                format!("exactly one line `{marker}` (found {})", hits.len()),
            )),
        }
    };
    let (b, e) = (find(BEGIN)?, find(END)?);
    if b >= e {
        return Err(layout(file, format!("`{BEGIN}` before `{END}`")));
    }
    Ok((b, e))
}

/// The shard indices listed (`- shard-<k>`) between the markers of an environment's kustomization.
pub fn listed_shards(text: &str, file: &std::path::Path) -> Result<Vec<u32>, DeployError> {
    let (b, e) = marker_lines(text, file)?;
    let mut out = Vec::new();
    for line in text.lines().skip(b + 1).take(e - b - 1) {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let k = t
            .strip_prefix("- shard-")
            .and_then(|n| n.trim().parse::<u32>().ok())
            .ok_or_else(|| {
                layout(
                    file,
                    format!("only `- shard-<k>` entries between the markers, found `{t}`"),
                )
            })?;
        if out.contains(&k) {
            return Err(layout(file, format!("shard-{k} listed once")));
        }
        out.push(k);
    }
    out.sort_unstable();
    Ok(out)
}

/// Insert `line` just before the `# END shards` line.
pub fn insert_before_end(
    text: &str,
    line: &str,
    file: &std::path::Path,
) -> Result<String, DeployError> {
    let (_, e) = marker_lines(text, file)?;
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(e, line);
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// The leading whitespace of `line`.
pub fn indent_of(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// Replace every `shard-<from>` that is not followed by another digit with `shard-<to>`.
pub fn rename_shard(text: &str, from: u32, to: u32) -> String {
    let needle = shard_name(from);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(&needle) {
        let after = &rest[pos + needle.len()..];
        out.push_str(&rest[..pos]);
        if after.starts_with(|c: char| c.is_ascii_digit()) {
            out.push_str(&needle);
        } else {
            out.push_str(&shard_name(to));
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// One NodePort Service document of the asset template (no `---`).
fn nodeport_service(k: u32, i: u32) -> String {
    NODEPORT_SERVICE
        .replace("${SHARD}", &shard_name(k))
        .replace("${INDEX}", &i.to_string())
        .replace("${PORT}", &(port_base(k) + i).to_string())
}

/// A whole `jvb-nodeports.yaml` for bridge slots `0..slots` of shard `k`.
pub fn render_nodeports(k: u32, slots: u32) -> String {
    let header = NODEPORTS_HEADER
        .replace("${SHARD}", &shard_name(k))
        .replace("${PORT_BASE}", &port_base(k).to_string());
    let docs: Vec<String> = (0..slots).map(|i| nodeport_service(k, i)).collect();
    header + &docs.join("---\n")
}

/// `existing` with Services for slots `from..to` of shard `k` appended.
pub fn append_nodeports(existing: &str, k: u32, from: u32, to: u32) -> String {
    let mut out = existing.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    for i in from..to {
        out.push_str("---\n");
        out.push_str(&nodeport_service(k, i));
    }
    out
}

/// How many bridge slots `jvb-nodeports.yaml` of shard `k` has; they must be `0..n` without gaps.
pub fn nodeport_slots(text: &str, k: u32, file: &std::path::Path) -> Result<u32, DeployError> {
    let key = "statefulset.kubernetes.io/pod-name:";
    let prefix = format!("{}-jvb-", shard_name(k));
    let mut seen = Vec::new();
    for line in text.lines() {
        let Some(v) = line.trim().strip_prefix(key) else {
            continue;
        };
        let i = v
            .trim()
            .strip_prefix(&prefix)
            .and_then(|i| i.parse::<u32>().ok())
            .ok_or_else(|| {
                layout(
                    file,
                    format!("pod names `{prefix}<i>`, found `{}`", v.trim()),
                )
            })?;
        seen.push(i);
    }
    seen.sort_unstable();
    if seen.is_empty() || seen.iter().enumerate().any(|(n, &i)| n as u32 != i) {
        return Err(layout(
            file,
            format!(
                "one NodePort Service per bridge slot {prefix}0..n without gaps, found {seen:?}"
            ),
        ));
    }
    Ok(seen.len() as u32)
}

/// The value of the single line `<key>: <u32>` in `text`, with its line index.
pub fn single_u32(
    text: &str,
    key: &str,
    file: &std::path::Path,
) -> Result<(usize, u32), DeployError> {
    let hits: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter_map(|(n, l)| {
            l.trim()
                .strip_prefix(key)
                .and_then(|r| r.strip_prefix(':'))
                .map(|v| (n, v))
        })
        .collect();
    match hits.as_slice() {
        [(n, v)] => {
            let v = v.split('#').next().unwrap_or("").trim();
            v.parse::<u32>()
                .map(|v| (*n, v))
                .map_err(|_| layout(file, format!("`{key}: <number>`, found `{key}: {v}`")))
        }
        _ => Err(layout(
            file,
            format!("exactly one `{key}:` line (found {})", hits.len()),
        )),
    }
}

/// The HPA's `(minReplicas, maxReplicas)` in a shard's `sizing.yaml`.
pub fn hpa_bounds(sizing: &str, file: &std::path::Path) -> Result<(u32, u32), DeployError> {
    Ok((
        single_u32(sizing, "minReplicas", file)?.1,
        single_u32(sizing, "maxReplicas", file)?.1,
    ))
}

/// Check that shard `k` can hold `slots` bridges inside its port range and the NodePort range.
pub fn check_slots(k: u32, slots: u32) -> Result<(), DeployError> {
    if slots > PORTS_PER_SHARD {
        return Err(DeployError::Invalid(format!(
            "{}: {slots} bridges exceed the {PORTS_PER_SHARD} ports reserved per shard",
            shard_name(k)
        )));
    }
    let last = port_base(k) + slots.saturating_sub(1);
    if last > LAST_NODE_PORT {
        return Err(DeployError::Invalid(format!(
            "{}: bridge port {last} is outside the default NodePort range (<= {LAST_NODE_PORT})",
            shard_name(k)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const K: &str = "resources:\n  - ../../base/jitsi\n  # BEGIN shards\n  - shard-0\n  - shard-1\n  # END shards\n";

    #[test]
    fn lists_and_inserts_between_markers() {
        let f = Path::new("k.yaml");
        assert_eq!(listed_shards(K, f).unwrap(), vec![0, 1]);
        let out = insert_before_end(K, "  - shard-2", f).unwrap();
        assert_eq!(listed_shards(&out, f).unwrap(), vec![0, 1, 2]);
        assert!(out.ends_with("  - shard-2\n  # END shards\n"));
    }

    #[test]
    fn marker_errors_name_the_file() {
        let f = Path::new("overlays/x/kustomization.yaml");
        let e = listed_shards("resources: []\n", f).unwrap_err().to_string();
        assert!(
            e.contains("overlays/x/kustomization.yaml") && e.contains("# BEGIN shards"),
            "{e}"
        );
        let twice = format!("{K}{BEGIN}\n");
        assert!(listed_shards(&twice, f).is_err());
        let junk = K.replace("  - shard-1", "  - other");
        assert!(
            listed_shards(&junk, f)
                .unwrap_err()
                .to_string()
                .contains("other")
        );
    }

    #[test]
    fn rename_respects_digit_boundaries() {
        assert_eq!(
            rename_shard("shard-1 shard-10 shard-1-jvb x-shard-1", 1, 2),
            "shard-2 shard-10 shard-2-jvb x-shard-2"
        );
    }

    #[test]
    fn nodeports_render_and_count() {
        let f = Path::new("n.yaml");
        let text = render_nodeports(2, 3);
        assert_eq!(nodeport_slots(&text, 2, f).unwrap(), 3);
        assert!(text.contains("nodePort: 30502") && !text.contains("30503"));
        assert!(!text.contains("${"));
        let more = append_nodeports(&text, 2, 3, 5);
        assert_eq!(nodeport_slots(&more, 2, f).unwrap(), 5);
        assert!(more.starts_with(&text) && more.contains("nodePort: 30504"));
        assert!(nodeport_slots(&text, 1, f).is_err(), "wrong shard");
        let gap = text.replace("shard-2-jvb-1", "shard-2-jvb-7");
        assert!(nodeport_slots(&gap, 2, f).is_err());
    }

    #[test]
    fn hpa_bounds_and_port_limits() {
        let f = Path::new("s.yaml");
        assert_eq!(
            hpa_bounds("spec:\n  minReplicas: 2\n  maxReplicas: 6\n", f).unwrap(),
            (2, 6)
        );
        assert!(hpa_bounds("spec:\n  minReplicas: 2\n", f).is_err());
        assert!(hpa_bounds("minReplicas: two\nmaxReplicas: 3\n", f).is_err());
        assert!(check_slots(0, 100).is_ok());
        assert!(check_slots(0, 101).is_err());
        assert!(check_slots(24, 68).is_ok());
        assert!(check_slots(24, 69).is_err());
    }
}
