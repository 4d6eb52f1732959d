//! `deploy scale`: the HPA's bridge range per shard, from flags or from `loadtest plan`'s `plan.json`.
//!
//! Only `minReplicas` / `maxReplicas` in `shard-<k>/sizing.yaml` change, plus NodePort Services appended to
//! `jvb-nodeports.yaml` when `maxReplicas` grows past the pre-created bridge slots (slots are never removed:
//! a bridge that is draining still needs its port).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::layout::{
    DeployError, EnvTree, FileChange, PORTS_PER_SHARD, append_nodeports, check_slots,
    nodeport_slots, paths, shard_name, single_u32,
};

/// The HPA range wanted for one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// `minReplicas`.
    pub min: u32,
    /// `maxReplicas`.
    pub max: u32,
}

/// The outcome of [`scale`].
#[derive(Debug)]
pub struct Scaled {
    /// Files to replace (only those that change).
    pub changes: Vec<FileChange>,
    /// One human-readable line per change.
    pub summary: Vec<String>,
}

/// Bounds for the selected shards (`shard`, or all) from `--jvb N [--jvb-max M]`.
pub fn bounds_from_flags(
    tree: &EnvTree,
    jvb: u32,
    jvb_max: Option<u32>,
    shard: Option<u32>,
) -> Result<BTreeMap<u32, Bounds>, DeployError> {
    let b = Bounds {
        min: jvb,
        max: jvb_max.unwrap_or(jvb),
    };
    Ok(selected(tree, shard)?.into_iter().map(|k| (k, b)).collect())
}

/// The shards to scale: `shard` if given (it must be listed), else every listed shard.
fn selected(tree: &EnvTree, shard: Option<u32>) -> Result<Vec<u32>, DeployError> {
    let listed: Vec<u32> = tree.shards.iter().map(|s| s.index).collect();
    match shard {
        Some(k) if listed.contains(&k) => Ok(vec![k]),
        Some(k) => Err(DeployError::Invalid(format!(
            "{} is not listed in {} (listed: {})",
            shard_name(k),
            paths::kustomization(&tree.env).display(),
            listed
                .iter()
                .map(|&k| shard_name(k))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        None => Ok(listed),
    }
}

/// First value found under `deploy.<deploy_key>`, else at the top level under one of `top_keys`.
fn lookup<'a>(plan: &'a Value, deploy_key: &str, top_keys: &[&str]) -> Option<&'a Value> {
    plan.get("deploy")
        .and_then(|d| d.get(deploy_key))
        .or_else(|| top_keys.iter().find_map(|k| plan.get(*k)))
        .filter(|v| !v.is_null())
}

/// A non-negative integer (JSON integer or integral float).
fn count(v: &Value, what: &str, file: &Path) -> Result<u32, DeployError> {
    let n = v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
            .map(|f| f as u64)
    });
    n.and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| DeployError::Plan {
            file: file.to_path_buf(),
            msg: format!("{what} must be a non-negative integer, found {v}"),
        })
}

/// Bounds for the selected shards from a `plan.json` (contract in docs/deploy.md):
/// `deploy.jvb_replicas` | `jvb_replicas` (number, array by shard index, or object by shard name) or
/// `jvbs` (total, split evenly over `shards`); `deploy.hpa_min_replicas` | `hpa_min`;
/// `deploy.hpa_max_replicas` | `hpa_max`; `deploy.shards` | `shards` must match the overlay.
pub fn bounds_from_plan(
    tree: &EnvTree,
    plan: &Value,
    file: &Path,
    shard: Option<u32>,
) -> Result<BTreeMap<u32, Bounds>, DeployError> {
    let err = |msg: String| DeployError::Plan {
        file: file.to_path_buf(),
        msg,
    };
    if !plan.is_object() {
        return Err(err("expected a JSON object".into()));
    }
    let have = tree.shards.len() as u32;
    let shards = lookup(plan, "shards", &["shards"])
        .map(|v| count(v, "shards", file))
        .transpose()?;
    if let Some(want) = shards {
        if want > have {
            return Err(err(format!(
                "plans {want} shards but overlays/{} has {have}: run `loadtest deploy add-shard --env {}` {} time(s) first",
                tree.env,
                tree.env,
                want - have
            )));
        }
        if want < have && shard.is_none() {
            return Err(err(format!(
                "plans {want} shards but overlays/{} has {have}: scale single shards with --shard",
                tree.env
            )));
        }
    }
    let min = lookup(plan, "hpa_min_replicas", &["hpa_min", "hpa_min_replicas"])
        .map(|v| count(v, "hpa_min", file))
        .transpose()?;
    let max = lookup(plan, "hpa_max_replicas", &["hpa_max", "hpa_max_replicas"])
        .map(|v| count(v, "hpa_max", file))
        .transpose()?;
    let per_shard = lookup(plan, "jvb_replicas", &["jvb_replicas"]);
    let total = lookup(plan, "jvbs", &["jvbs"])
        .map(|v| count(v, "jvbs", file))
        .transpose()?;

    let mut out = BTreeMap::new();
    for k in selected(tree, shard)? {
        let replicas = match per_shard {
            Some(Value::Array(a)) => Some(
                a.get(k as usize)
                    .ok_or_else(|| err(format!("jvb_replicas has no entry for shard index {k}")))
                    .and_then(|v| count(v, "jvb_replicas[k]", file))?,
            ),
            Some(Value::Object(o)) => Some(
                o.get(&shard_name(k))
                    .ok_or_else(|| err(format!("jvb_replicas has no key \"{}\"", shard_name(k))))
                    .and_then(|v| count(v, "jvb_replicas", file))?,
            ),
            Some(v) => Some(count(v, "jvb_replicas", file)?),
            None => total.map(|t| t.div_ceil(shards.unwrap_or(have).max(1))),
        };
        let b = match (replicas, min, max) {
            (None, None, None) => {
                return Err(err(
                    "no bridge count: expected deploy.jvb_replicas, jvb_replicas, jvbs, or hpa_min/hpa_max".into(),
                ));
            }
            (r, lo, hi) => {
                let lo = lo.or(r).or(hi).unwrap_or(1);
                let hi = hi.unwrap_or_else(|| r.unwrap_or(lo).max(lo));
                if let Some(r) = r.filter(|r| *r < lo || *r > hi) {
                    return Err(err(format!(
                        "jvb_replicas {r} for {} is outside hpa_min..hpa_max {lo}..{hi}",
                        shard_name(k)
                    )));
                }
                Bounds { min: lo, max: hi }
            }
        };
        out.insert(k, b);
    }
    Ok(out)
}

/// Set each shard's HPA range and add NodePort slots up to the new `maxReplicas`.
pub fn scale(tree: &EnvTree, bounds: &BTreeMap<u32, Bounds>) -> Result<Scaled, DeployError> {
    let mut changes = Vec::new();
    let mut summary = Vec::new();
    for (&k, &b) in bounds {
        let name = shard_name(k);
        if b.min < 1 || b.min > b.max {
            return Err(DeployError::Invalid(format!(
                "{name}: need 1 <= minReplicas ({}) <= maxReplicas ({})",
                b.min, b.max
            )));
        }
        if b.max > PORTS_PER_SHARD {
            return Err(DeployError::Invalid(format!(
                "{name}: maxReplicas {} exceeds the {PORTS_PER_SHARD} bridges per shard; add a shard instead",
                b.max
            )));
        }
        check_slots(k, b.max)?;
        let shard = tree
            .shards
            .iter()
            .find(|s| s.index == k)
            .ok_or_else(|| DeployError::Invalid(format!("{name} is not listed")))?;
        let sizing_path = paths::shard_file(&tree.env, k, "sizing.yaml");
        let mut sizing = shard.sizing.clone();
        let mut said = Vec::new();
        for (key, want) in [("minReplicas", b.min), ("maxReplicas", b.max)] {
            let (line, have) = single_u32(&sizing, key, &sizing_path)?;
            if have != want {
                sizing = set_line(&sizing, line, key, want);
                said.push(format!("{key} {have} -> {want}"));
            }
        }
        if !said.is_empty() {
            summary.push(format!("{name}: HPA {}", said.join(", ")));
            changes.push(FileChange {
                path: sizing_path,
                old: Some(shard.sizing.clone()),
                new: sizing,
            });
        }
        let np_path = paths::shard_file(&tree.env, k, "jvb-nodeports.yaml");
        let slots = nodeport_slots(&shard.nodeports, k, &np_path)?;
        if b.max > slots {
            let base = super::layout::port_base(k);
            summary.push(format!(
                "{name}: NodePort Services for bridges {slots}..{} (UDP {}-{})",
                b.max - 1,
                base + slots,
                base + b.max - 1
            ));
            changes.push(FileChange {
                path: np_path,
                old: Some(shard.nodeports.clone()),
                new: append_nodeports(&shard.nodeports, k, slots, b.max),
            });
        }
        if said.is_empty() && b.max <= slots {
            summary.push(format!(
                "{name}: unchanged (minReplicas {}, maxReplicas {})",
                b.min, b.max
            ));
        }
    }
    Ok(Scaled { changes, summary })
}

/// `text` with line `line` replaced by `<same indent><key>: <value>`.
fn set_line(text: &str, line: usize, key: &str, value: u32) -> String {
    let mut out: Vec<String> = text.lines().map(str::to_string).collect();
    let indent = super::layout::indent_of(&out[line]).to_string();
    out[line] = format!("{indent}{key}: {value}");
    let mut s = out.join("\n");
    if text.ends_with('\n') {
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::layout::{ShardFiles, render_nodeports};
    use serde_json::json;

    const SIZING: &str = "kind: StatefulSet\nspec:\n  template: {}\n---\nkind: HorizontalPodAutoscaler\nspec:\n  minReplicas: 2\n  maxReplicas: 6\n";

    fn tree(shards: u32) -> EnvTree {
        EnvTree {
            env: "production".into(),
            kustomization: String::new(),
            backends: String::new(),
            shards: (0..shards)
                .map(|k| ShardFiles {
                    index: k,
                    kustomization: String::new(),
                    sizing: SIZING.into(),
                    nodeports: render_nodeports(k, 6),
                })
                .collect(),
        }
    }

    fn diff_lines(a: &str, b: &str) -> Vec<(String, String)> {
        a.lines()
            .zip(b.lines())
            .filter(|(x, y)| x != y)
            .map(|(x, y)| (x.to_string(), y.to_string()))
            .collect()
    }

    #[test]
    fn scaling_changes_only_replica_lines() {
        let t = tree(2);
        let b = bounds_from_flags(&t, 3, Some(5), Some(1)).unwrap();
        let s = scale(&t, &b).unwrap();
        assert_eq!(s.changes.len(), 1, "{:?}", s.summary);
        let c = &s.changes[0];
        assert_eq!(c.path, Path::new("overlays/production/shard-1/sizing.yaml"));
        assert_eq!(
            diff_lines(SIZING, &c.new),
            vec![
                ("  minReplicas: 2".into(), "  minReplicas: 3".into()),
                ("  maxReplicas: 6".into(), "  maxReplicas: 5".into())
            ]
        );
        assert_eq!(
            s.summary,
            vec!["shard-1: HPA minReplicas 2 -> 3, maxReplicas 6 -> 5"]
        );
    }

    #[test]
    fn growing_past_the_slots_appends_nodeports() {
        let t = tree(1);
        let s = scale(&t, &bounds_from_flags(&t, 8, None, None).unwrap()).unwrap();
        let np = s
            .changes
            .iter()
            .find(|c| c.path.ends_with("jvb-nodeports.yaml"))
            .unwrap();
        assert!(
            np.new.starts_with(&t.shards[0].nodeports),
            "existing Services untouched"
        );
        assert!(np.new.contains("nodePort: 30307") && !np.new.contains("30308"));
        assert!(
            s.summary.iter().any(|l| l.contains("UDP 30306-30307")),
            "{:?}",
            s.summary
        );
    }

    #[test]
    fn no_op_writes_nothing_and_bad_bounds_fail() {
        let t = tree(2);
        let s = scale(&t, &bounds_from_flags(&t, 2, Some(6), None).unwrap()).unwrap();
        assert!(s.changes.is_empty());
        assert!(s.summary.iter().all(|l| l.contains("unchanged")));
        assert!(scale(&t, &bounds_from_flags(&t, 0, None, None).unwrap()).is_err());
        assert!(scale(&t, &bounds_from_flags(&t, 5, Some(4), None).unwrap()).is_err());
        assert!(scale(&t, &bounds_from_flags(&t, 1, Some(101), None).unwrap()).is_err());
        assert!(
            bounds_from_flags(&t, 1, None, Some(7))
                .unwrap_err()
                .to_string()
                .contains("shard-7")
        );
    }

    #[test]
    fn plan_keys_are_read_tolerantly() {
        let t = tree(2);
        let f = Path::new("plan.json");
        let b = |v: Value| bounds_from_plan(&t, &v, f, None);
        let all = |min, max| BTreeMap::from([(0, Bounds { min, max }), (1, Bounds { min, max })]);
        assert_eq!(b(json!({"jvbs": 7, "shards": 2})).unwrap(), all(4, 4));
        assert_eq!(
            b(json!({"jvb_replicas": 3, "hpa_min": 2, "hpa_max": 6})).unwrap(),
            all(2, 6)
        );
        assert_eq!(
            b(json!({"jvb_replicas": 1, "deploy": {"jvb_replicas": 4, "hpa_max_replicas": 9, "shards": 2}})).unwrap(),
            all(4, 9),
            "deploy.* wins"
        );
        assert_eq!(
            b(json!({"jvb_replicas": [2, 5]})).unwrap(),
            BTreeMap::from([
                (0, Bounds { min: 2, max: 2 }),
                (1, Bounds { min: 5, max: 5 })
            ])
        );
        assert_eq!(
            b(json!({"jvb_replicas": {"shard-0": 1, "shard-1": 3}})).unwrap()[&1],
            Bounds { min: 3, max: 3 }
        );
        assert_eq!(b(json!({"jvb_replicas": 3.0})).unwrap(), all(3, 3));
    }

    #[test]
    fn plan_errors_say_what_is_missing() {
        let t = tree(2);
        let f = Path::new("plan.json");
        let e = |v: Value| bounds_from_plan(&t, &v, f, None).unwrap_err().to_string();
        assert!(e(json!({"shards": 3, "jvbs": 6})).contains("add-shard --env production` 1 time"));
        assert!(e(json!({"shards": 1, "jvbs": 6})).contains("--shard"));
        assert!(e(json!({"latency": 3})).contains("jvb_replicas"));
        assert!(e(json!({"jvb_replicas": -1})).contains("non-negative"));
        assert!(e(json!({"jvb_replicas": 9, "hpa_max": 6})).contains("outside"));
        assert!(e(json!({"jvb_replicas": [2]})).contains("shard index 1"));
        assert!(e(json!([1, 2])).contains("JSON object"));
        assert!(e(json!({"jvbs": "two"})).starts_with("plan plan.json: jvbs"));
        let one =
            bounds_from_plan(&t, &json!({"shards": 1, "jvb_replicas": 3}), f, Some(1)).unwrap();
        assert_eq!(one, BTreeMap::from([(1, Bounds { min: 3, max: 3 })]));
    }
}
