//! `deploy add-shard`: the files of the next shard, computed from the environment's current files.

use std::path::Path;

use super::layout::{
    DeployError, EnvTree, FileChange, check_slots, hpa_bounds, indent_of, insert_before_end,
    layout, marker_lines, nodeport_slots, paths, port_base, rename_shard, render_nodeports,
    shard_name,
};

/// The outcome of [`add_shard`].
#[derive(Debug)]
pub struct NewShard {
    /// Index `k` of the new `shard-<k>`.
    pub index: u32,
    /// The shard it was copied from.
    pub template: u32,
    /// Pre-created bridge slots (NodePort Services).
    pub slots: u32,
    /// Files to create (the shard directory) and to update (the shard list, HAProxy's servers).
    pub changes: Vec<FileChange>,
}

/// Scaffold `shard-<k+1>` from the highest listed `shard-<k>`: its overlay (names, port base, NodePorts),
/// its entry in the environment's kustomization and its HAProxy server line.
pub fn add_shard(tree: &EnvTree) -> Result<NewShard, DeployError> {
    let env = tree.env.as_str();
    let template = tree.shards.last().ok_or_else(|| {
        layout(
            paths::kustomization(env),
            "at least one `- shard-<k>` between the markers, to copy from",
        )
    })?;
    let (j, k) = (template.index, template.index + 1);

    let tk_path = paths::shard_file(env, j, "kustomization.yaml");
    let prefix = format!("namePrefix: {}-", shard_name(j));
    if !template.kustomization.lines().any(|l| l.trim() == prefix) {
        return Err(layout(tk_path, format!("a line `{prefix}`")));
    }
    let base_line = format!("JVB_PORT_BASE={}", port_base(j));
    let kustomization = replace_port_base(&template.kustomization, j, k, &tk_path)?;
    debug_assert!(!kustomization.contains(&base_line));
    let kustomization = rename_shard(&kustomization, j, k);

    let sizing_path = paths::shard_file(env, j, "sizing.yaml");
    let (_, max) = hpa_bounds(&template.sizing, &sizing_path)?;
    let slots = max.max(nodeport_slots(
        &template.nodeports,
        j,
        &paths::shard_file(env, j, "jvb-nodeports.yaml"),
    )?);
    check_slots(k, slots)?;

    let env_k = paths::kustomization(env);
    let listing = insert_before_end(
        &tree.kustomization,
        &format!(
            "{}- {}",
            listing_indent(&tree.kustomization, &env_k)?,
            shard_name(k)
        ),
        &env_k,
    )?;
    let backends = add_server(&tree.backends, j, k, &paths::backends(env))?;

    let new = |file: &str, text: String| FileChange {
        path: paths::shard_file(env, k, file),
        old: None,
        new: text,
    };
    Ok(NewShard {
        index: k,
        template: j,
        slots,
        changes: vec![
            new("kustomization.yaml", kustomization),
            new("sizing.yaml", rename_shard(&template.sizing, j, k)),
            new("jvb-nodeports.yaml", render_nodeports(k, slots)),
            FileChange {
                path: env_k,
                old: Some(tree.kustomization.clone()),
                new: listing,
            },
            FileChange {
                path: paths::backends(env),
                old: Some(tree.backends.clone()),
                new: backends,
            },
        ],
    })
}

/// Replace shard `j`'s port base by shard `k`'s on the `JVB_PORT_BASE=` line (required) and on the
/// comment `UDP <base> + i` (optional); other numbers are left alone.
fn replace_port_base(text: &str, j: u32, k: u32, file: &Path) -> Result<String, DeployError> {
    let (from, to) = (port_base(j), port_base(k));
    let key = format!("JVB_PORT_BASE={from}");
    let hits = text
        .lines()
        .filter(|l| l.trim().trim_start_matches("- ") == key)
        .count();
    if hits != 1 {
        return Err(layout(
            file,
            format!("exactly one literal `- {key}` (found {hits})"),
        ));
    }
    Ok(text
        .replace(&key, &format!("JVB_PORT_BASE={to}"))
        .replace(&format!("UDP {from} + i"), &format!("UDP {to} + i")))
}

/// Indentation of the entries in the shard list (that of the `# END shards` line if none).
fn listing_indent(text: &str, file: &Path) -> Result<String, DeployError> {
    let (_, e) = marker_lines(text, file)?;
    let lines: Vec<&str> = text.lines().collect();
    let entry = lines[..e]
        .iter()
        .rev()
        .find(|l| l.trim().starts_with("- shard-"));
    Ok(indent_of(entry.copied().unwrap_or(lines[e])).to_string())
}

/// `backends.cfg` with a `server shard-<k> …` line derived from shard `j`'s, before `# END shards`.
fn add_server(text: &str, j: u32, k: u32, file: &Path) -> Result<String, DeployError> {
    let (b, e) = marker_lines(text, file)?;
    let block: Vec<&str> = text.lines().skip(b + 1).take(e - b - 1).collect();
    let server_of = |n: u32| {
        let name = shard_name(n);
        block.iter().copied().find(move |l| {
            let mut w = l.split_whitespace();
            w.next() == Some("server") && w.next() == Some(name.as_str())
        })
    };
    if server_of(k).is_some() {
        return Err(layout(
            file,
            format!("no `server {}` line yet", shard_name(k)),
        ));
    }
    let line = server_of(j).ok_or_else(|| {
        layout(
            file,
            format!(
                "a line `server {} <host>:<port> id <n>` between the markers",
                shard_name(j)
            ),
        )
    })?;
    let new_id = k + 1;
    let taken = block.iter().any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.windows(2)
            .any(|p| p[0] == "id" && p[1] == new_id.to_string())
    });
    if taken {
        return Err(layout(
            file,
            format!("server id {new_id} unused (it is shard-{k}'s fixed id)"),
        ));
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let id_at = words
        .iter()
        .position(|w| *w == "id")
        .filter(|&p| p + 1 < words.len());
    let Some(id_at) = id_at else {
        return Err(layout(
            file,
            format!("a fixed `id <n>` on the `server {}` line", shard_name(j)),
        ));
    };
    let mut words: Vec<String> = words.iter().map(|w| rename_shard(w, j, k)).collect();
    words[id_at + 1] = new_id.to_string();
    insert_before_end(
        text,
        &format!("{}{}", indent_of(line), words.join(" ")),
        file,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::layout::{ShardFiles, listed_shards};

    const SHARD_K: &str = "# shard-1 of production: replace \"shard-1\" by \"shard-<k>\"; 30300 + 100*k\nnamePrefix: shard-1-\nlabels:\n  - pairs:\n      loadtest.io/shard: shard-1\nconfigMapGenerator:\n  - name: shard-env\n    literals:\n      - DEPLOYMENTINFO_SHARD=shard-1\n      # port base: bridge i of this shard uses UDP 30400 + i\n      - JVB_PORT_BASE=30400\n      - XMPP_SERVER=shard-1-prosody\n";
    const SIZING: &str = "# Sizing of shard-1\nkind: HorizontalPodAutoscaler\nspec:\n  minReplicas: 2\n  maxReplicas: 6\n";
    const ENV_K: &str = "resources:\n  - ../../base/jitsi\n  # BEGIN shards\n  - shard-0\n  - shard-1\n  # END shards\n";
    const BACKENDS: &str = "backend shards\n    balance url_param room\n    # BEGIN shards\n    server shard-0 shard-0-web.jitsi.svc.cluster.local:80 id 1\n    server shard-1 shard-1-web.jitsi.svc.cluster.local:80 id 2\n    # END shards\n";

    fn tree() -> EnvTree {
        let shard = |k: u32| ShardFiles {
            index: k,
            kustomization: rename_shard(SHARD_K, 1, k).replace("30400", &port_base(k).to_string()),
            sizing: rename_shard(SIZING, 1, k),
            nodeports: render_nodeports(k, 6),
        };
        EnvTree {
            env: "production".into(),
            kustomization: ENV_K.into(),
            backends: BACKENDS.into(),
            shards: vec![shard(0), shard(1)],
        }
    }

    fn file<'a>(s: &'a NewShard, path: &str) -> &'a FileChange {
        s.changes
            .iter()
            .find(|c| c.path == Path::new(path))
            .expect(path)
    }

    #[test]
    fn scaffolds_shard_2() {
        let s = add_shard(&tree()).unwrap();
        assert_eq!((s.index, s.template, s.slots), (2, 1, 6));
        let k = &file(&s, "overlays/production/shard-2/kustomization.yaml").new;
        assert!(
            k.contains("namePrefix: shard-2-\n") && k.contains("- JVB_PORT_BASE=30500\n"),
            "{k}"
        );
        assert!(k.contains("UDP 30500 + i") && k.contains("XMPP_SERVER=shard-2-prosody"));
        assert!(!k.contains("shard-1") && !k.contains("30400"), "{k}");
        assert!(k.contains("30300 + 100*k"), "formula in comments stays");
        let n = &file(&s, "overlays/production/shard-2/jvb-nodeports.yaml").new;
        assert!(
            n.contains("nodePort: 30500") && n.contains("nodePort: 30505") && !n.contains("30506")
        );
        let sz = &file(&s, "overlays/production/shard-2/sizing.yaml");
        assert!(
            sz.old.is_none() && sz.new.contains("maxReplicas: 6") && !sz.new.contains("shard-1")
        );
        let env = file(&s, "overlays/production/kustomization.yaml");
        assert_eq!(env.old.as_deref(), Some(ENV_K));
        assert_eq!(
            listed_shards(&env.new, Path::new("k")).unwrap(),
            vec![0, 1, 2]
        );
        assert!(env.new.contains("  - shard-1\n  - shard-2\n  # END shards"));
        let b = &file(&s, "overlays/production/haproxy/backends.cfg").new;
        assert!(
            b.contains(
                "    server shard-2 shard-2-web.jitsi.svc.cluster.local:80 id 3\n    # END shards"
            ),
            "{b}"
        );
        assert!(b.contains("server shard-1 shard-1-web.jitsi.svc.cluster.local:80 id 2"));
    }

    #[test]
    fn twice_gives_shard_3() {
        let mut t = tree();
        let s = add_shard(&t).unwrap();
        let get = |p: &str| file(&s, p).new.clone();
        t.kustomization = get("overlays/production/kustomization.yaml");
        t.backends = get("overlays/production/haproxy/backends.cfg");
        t.shards.push(ShardFiles {
            index: 2,
            kustomization: get("overlays/production/shard-2/kustomization.yaml"),
            sizing: get("overlays/production/shard-2/sizing.yaml"),
            nodeports: get("overlays/production/shard-2/jvb-nodeports.yaml"),
        });
        let s3 = add_shard(&t).unwrap();
        assert_eq!(s3.index, 3);
        assert!(
            file(&s3, "overlays/production/shard-3/kustomization.yaml")
                .new
                .contains("JVB_PORT_BASE=30600")
        );
        assert!(
            file(&s3, "overlays/production/haproxy/backends.cfg")
                .new
                .contains("server shard-3 shard-3-web.jitsi.svc.cluster.local:80 id 4")
        );
    }

    #[test]
    fn refuses_unexpected_trees() {
        let mut t = tree();
        t.backends = BACKENDS.replace(
            "    server shard-1 shard-1-web.jitsi.svc.cluster.local:80 id 2\n",
            "",
        );
        let e = add_shard(&t).unwrap_err().to_string();
        assert!(
            e.starts_with("overlays/production/haproxy/backends.cfg: expected")
                && e.contains("server shard-1"),
            "{e}"
        );

        let mut t = tree();
        t.backends = BACKENDS.replace("id 1", "id 3");
        assert!(
            add_shard(&t)
                .unwrap_err()
                .to_string()
                .contains("server id 3")
        );

        let mut t = tree();
        t.shards[1].kustomization = t.shards[1]
            .kustomization
            .replace("JVB_PORT_BASE=30400", "JVB_PORT_BASE=31000");
        let e = add_shard(&t).unwrap_err().to_string();
        assert!(
            e.contains("shard-1/kustomization.yaml") && e.contains("JVB_PORT_BASE=30400"),
            "{e}"
        );

        let mut t = tree();
        t.shards[1].sizing = "kind: HorizontalPodAutoscaler\n".into();
        assert!(
            add_shard(&t)
                .unwrap_err()
                .to_string()
                .contains("shard-1/sizing.yaml")
        );

        let mut t = tree();
        t.shards.clear();
        assert!(add_shard(&t).is_err());
    }

    #[test]
    fn refuses_past_the_nodeport_range() {
        let mut t = tree();
        t.shards[1].index = 24;
        t.shards[1].kustomization =
            rename_shard(SHARD_K, 1, 24).replace("30400", &port_base(24).to_string());
        t.shards[1].nodeports = render_nodeports(24, 6);
        t.backends = BACKENDS
            .replace("shard-1", "shard-24")
            .replace("id 2", "id 25");
        let e = add_shard(&t).unwrap_err().to_string();
        assert!(e.contains("shard-25") && e.contains("32767"), "{e}");
    }
}
