//! The layering of the crate, checked: a module may use (`crate::x`) only modules of a lower layer,
//! never a sibling of its own layer or a module above it. `docs/architecture.md` explains the layers.
//!
//! The test reads every `src/**/*.rs` outside `main.rs` and `lib.rs`, ignores comments and everything
//! from a file's first `#[cfg(test)]` on (unit tests may reach anywhere), and collects the top-level
//! modules named by `crate::x` paths and `use crate::{x, y}` groups. An inverted import fails it, e.g.
//! adding `use crate::run::RunArgs;` to `src/results/mod.rs` reports
//! `results (layer 4) uses run (layer 9): a module may only use lower layers` —
//! [`tests::an_inverted_import_is_reported`] shows exactly that on a synthetic file.

/// The layers, bottom to top.
pub const LAYERS: &[&[&str]] = &[
    &["error", "redact", "stats", "chart", "util"],
    &["media"],
    &["scenario"],
    &["schedule"],
    &["results", "live", "network"],
    &["analysis", "export"],
    &["webdriver", "quality"],
    &["participant", "metrics"],
    &["report", "plan", "provision", "deploy", "sandbox"],
    &["run"],
    &["limit"],
    &["cli"],
];

/// The layer of a top-level module, when it has one.
pub fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level modules a source file uses (its non-test code).
pub fn uses(source: &str) -> Vec<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let code: String = code
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What is wrong with module `module`'s uses: one message per import of an equal or higher layer,
/// or of a module no layer lists.
pub fn violations(module: &str, used: &[String]) -> Vec<String> {
    let Some(own) = layer_of(module) else {
        return vec![format!(
            "{module} is in no layer: add it to architecture::LAYERS and docs/architecture.md"
        )];
    };
    used.iter()
        .filter(|u| u.as_str() != module)
        .filter_map(|u| match layer_of(u) {
            Some(l) if l < own => None,
            Some(l) => Some(format!(
                "{module} (layer {own}) uses {u} (layer {l}): a module may only use lower layers"
            )),
            None => Some(format!("{module} uses {u}, which is in no layer")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    #[test]
    fn every_module_uses_only_lower_layers() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        walk(&src, &mut files);
        let mut problems = Vec::new();
        for f in files {
            let rel = f.strip_prefix(&src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            if matches!(top.as_str(), "main" | "lib" | "architecture") {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            for v in violations(&top, &uses(&text)) {
                problems.push(format!("{}: {v}", rel.display()));
            }
        }
        assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    }

    /// The check fails on a deliberately inverted import: the results model using the run.
    #[test]
    fn an_inverted_import_is_reported() {
        let inverted = "use crate::schedule::ParticipantId;\nuse crate::run::RunArgs;\n\
                        #[cfg(test)]\nmod tests { use crate::cli::Cli; }\n";
        let used = uses(inverted);
        assert_eq!(used, ["run", "schedule"], "test code is not counted");
        assert_eq!(
            violations("results", &used),
            ["results (layer 4) uses run (layer 9): a module may only use lower layers"]
        );
        assert_eq!(
            violations("participant", &uses("use crate::{metrics, util::text};")),
            ["participant (layer 7) uses metrics (layer 7): a module may only use lower layers"],
            "siblings of one layer are independent"
        );
        assert!(
            violations("novel", &[]).len() == 1,
            "a new module must be placed"
        );
    }
}
