//! `loadtest deploy`: scaffold shards and scale bridges in the vendored kustomize tree (`deploy/`).
//!
//! The new file contents are computed from the old ones by pure functions ([`shard`], [`scale`]); this
//! module reads the tree, checks that nothing changed meanwhile, and writes all files or none.

/// `println!` that ignores a closed stdout (e.g. `--dry-run | head`) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod check;
mod diff;
pub mod layout;
pub mod scale;
pub mod shard;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::error::UsageError;
use layout::{DeployError, EnvTree, FileChange, ShardFiles, listed_shards, paths};

/// Options of `loadtest deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// What to change.
    #[command(subcommand)]
    pub action: DeployAction,
    /// The kustomize tree to edit.
    #[arg(long, global = true, value_name = "DIR", default_value = "deploy")]
    pub deploy_dir: PathBuf,
    /// Print the diff of the files that would be written; write nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,
}

/// Subcommands of `loadtest deploy`.
#[derive(Debug, Subcommand)]
pub enum DeployAction {
    /// Scaffold the next shard of an environment: overlay, UDP port range, kustomization and HAProxy entries.
    AddShard {
        /// Environment overlay (`overlays/<ENV>`), e.g. `production`.
        #[arg(long, value_name = "ENV")]
        env: String,
    },
    /// Check an environment: it builds offline; with a kubeconfig, the cluster has what it needs
    /// (PodMonitor CRD, metrics-server, Kubernetes >= 1.27). Exit 1 when something is missing.
    Check {
        /// Environment overlay (`overlays/<ENV>`), e.g. `production`.
        #[arg(long, value_name = "ENV")]
        env: String,
        /// Also ask this cluster (read-only `kubectl get`); without it only the offline build runs.
        #[arg(long, value_name = "FILE", env = "KUBECONFIG")]
        kubeconfig: Option<PathBuf>,
    },
    /// Set the bridges' autoscaler range (minReplicas/maxReplicas) of every shard or of one.
    Scale {
        /// Environment overlay (`overlays/<ENV>`), e.g. `production`.
        #[arg(long, value_name = "ENV")]
        env: String,
        /// Bridges per shard: minReplicas (and maxReplicas unless --jvb-max is given).
        #[arg(
            long,
            value_name = "N",
            required_unless_present = "from_plan",
            conflicts_with = "from_plan"
        )]
        jvb: Option<u32>,
        /// maxReplicas per shard, for an autoscaling range N..M.
        #[arg(long, value_name = "M", requires = "jvb", conflicts_with = "from_plan")]
        jvb_max: Option<u32>,
        /// Only this shard (`shard-<k>`).
        #[arg(long, value_name = "shard-K")]
        shard: Option<String>,
        /// Take the numbers from `loadtest plan`'s plan.json (see docs/deploy.md).
        #[arg(long, value_name = "PLAN_JSON")]
        from_plan: Option<PathBuf>,
    },
}

/// Entry point of `loadtest deploy`.
pub fn exec(args: DeployArgs) -> anyhow::Result<i32> {
    if let DeployAction::Check { env, kubeconfig } = &args.action {
        load_env(&args.deploy_dir, env).map_err(to_anyhow)?;
        return check::run(&args.deploy_dir, env, kubeconfig.as_deref());
    }
    run(&args).map_err(to_anyhow)?;
    Ok(crate::error::EXIT_OK)
}

/// Bad input exits 2 ([`UsageError`]); I/O failures and conflicts exit 1.
fn to_anyhow(e: DeployError) -> anyhow::Error {
    if e.is_bad_input() {
        UsageError(format!("{e}; nothing was written")).into()
    } else {
        e.into()
    }
}

fn run(args: &DeployArgs) -> Result<(), DeployError> {
    let dir = &args.deploy_dir;
    match &args.action {
        DeployAction::AddShard { env } => {
            let tree = load_env(dir, env)?;
            let s = shard::add_shard(&tree)?;
            let base = layout::port_base(s.index);
            say!(
                "{}: shard-{} (copied from shard-{}), {} bridge slots on UDP {}-{} (range reserved up to {})",
                env,
                s.index,
                s.template,
                s.slots,
                base,
                base + s.slots - 1,
                base + layout::PORTS_PER_SHARD - 1
            );
            apply(dir, &s.changes, args.dry_run)?;
            if !args.dry_run {
                say!(
                    "next: open UDP {base}-{} on the nodes, then `kubectl apply -k {}`",
                    base + s.slots - 1,
                    dir.join(paths::env_dir(env)).display()
                );
            }
        }
        DeployAction::Scale {
            env,
            jvb,
            jvb_max,
            shard,
            from_plan,
        } => {
            let tree = load_env(dir, env)?;
            let shard = shard.as_deref().map(parse_shard).transpose()?;
            let bounds = match (from_plan, jvb) {
                (Some(plan), _) => {
                    let text = fs::read_to_string(plan).map_err(|source| match source.kind() {
                        // Naming a file that is not there is bad input, not an I/O failure.
                        std::io::ErrorKind::NotFound => DeployError::Plan {
                            file: plan.clone(),
                            msg: "no such file".into(),
                        },
                        _ => DeployError::Io {
                            path: plan.clone(),
                            source,
                        },
                    })?;
                    let value: serde_json::Value =
                        serde_json::from_str(&text).map_err(|e| DeployError::Plan {
                            file: plan.clone(),
                            msg: format!("not JSON: {e}"),
                        })?;
                    scale::bounds_from_plan(&tree, &value, plan, shard)?
                }
                (None, Some(n)) => scale::bounds_from_flags(&tree, *n, *jvb_max, shard)?,
                (None, None) => BTreeMap::new(),
            };
            let s = scale::scale(&tree, &bounds)?;
            for line in &s.summary {
                say!("{env}: {line}");
            }
            apply(dir, &s.changes, args.dry_run)?;
        }
        // Handled by `exec` (it has exit codes of its own).
        DeployAction::Check { .. } => {}
    }
    Ok(())
}

/// `shard-<k>` → `k`.
fn parse_shard(s: &str) -> Result<u32, DeployError> {
    s.strip_prefix("shard-")
        .and_then(|k| k.parse().ok())
        .ok_or_else(|| DeployError::Invalid(format!("--shard expects shard-<k>, got `{s}`")))
}

fn read(dir: &Path, rel: &Path) -> Result<String, DeployError> {
    let path = dir.join(rel);
    match fs::read_to_string(&path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(layout::layout(rel, "this file to exist"))
        }
        Err(source) => Err(DeployError::Io { path, source }),
    }
}

/// Read the files of `overlays/<env>` that `add-shard` and `scale` look at.
pub fn load_env(dir: &Path, env: &str) -> Result<EnvTree, DeployError> {
    let env_dir = dir.join(paths::env_dir(env));
    if env.is_empty() || env.contains(['/', '\\']) || env.starts_with('.') || !env_dir.is_dir() {
        let known: Vec<String> = fs::read_dir(dir.join("overlays"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        return Err(DeployError::Invalid(format!(
            "no environment `{env}` in {} (found: {})",
            dir.join("overlays").display(),
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        )));
    }
    let kustomization = read(dir, &paths::kustomization(env))?;
    let backends = read(dir, &paths::backends(env))?;
    let mut shards = Vec::new();
    for k in listed_shards(&kustomization, &paths::kustomization(env))? {
        shards.push(ShardFiles {
            index: k,
            kustomization: read(dir, &paths::shard_file(env, k, "kustomization.yaml"))?,
            sizing: read(dir, &paths::shard_file(env, k, "sizing.yaml"))?,
            nodeports: read(dir, &paths::shard_file(env, k, "jvb-nodeports.yaml"))?,
        });
    }
    Ok(EnvTree {
        env: env.to_string(),
        kustomization,
        backends,
        shards,
    })
}

/// Write `changes` under `dir`, or print their diff when `dry_run`. Every file is first checked (new
/// files must not exist, changed files must still hold their old content) and staged next to its
/// target; then new directories and files are renamed into place. On any error before that, the
/// staged files are removed and nothing is written.
fn apply(dir: &Path, changes: &[FileChange], dry_run: bool) -> Result<(), DeployError> {
    if dry_run {
        for c in changes {
            let d = diff::unified(&c.path.to_string_lossy(), c.old.as_deref(), &c.new);
            if !d.is_empty() {
                say!("{}", d.trim_end_matches('\n'));
            }
        }
        if !changes.is_empty() {
            say!("(dry run: nothing written)");
        }
        return Ok(());
    }
    for c in changes {
        let target = dir.join(&c.path);
        match &c.old {
            None if target.exists() => {
                return Err(layout::layout(
                    &c.path,
                    "no such file yet (it would be overwritten)",
                ));
            }
            Some(old) => match fs::read_to_string(&target) {
                Ok(now) if now == *old => {}
                Ok(_) => {
                    return Err(DeployError::Conflict {
                        file: c.path.clone(),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(DeployError::Conflict {
                        file: c.path.clone(),
                    });
                }
                Err(source) => {
                    return Err(DeployError::Io {
                        path: target,
                        source,
                    });
                }
            },
            _ => {}
        }
    }
    stage(dir, changes)?.commit()?;
    for c in changes {
        say!("wrote {}", dir.join(&c.path).display());
    }
    Ok(())
}

/// The new files of [`apply`], written but not in place yet: temporary files next to their targets
/// (`tempfile`, renamed over the target by `persist`) and new directories built under a temporary
/// name. Dropped without [`Staging::commit`], they delete themselves: nothing is written.
#[derive(Default)]
struct Staging {
    dirs: Vec<(tempfile::TempDir, PathBuf)>,
    files: Vec<(tempfile::NamedTempFile, PathBuf)>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DeployError + '_ {
    move |source| DeployError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Mode of a replaced file (kept), or 0644 for a new one.
fn mode_for(target: &Path) -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(target).map_or_else(|_| fs::Permissions::from_mode(0o644), |m| m.permissions())
}

fn stage(dir: &Path, changes: &[FileChange]) -> Result<Staging, DeployError> {
    use std::os::unix::fs::PermissionsExt;
    let mut st = Staging::default();
    for c in changes {
        let target = dir.join(&c.path);
        let parent = target.parent().unwrap_or(dir).to_path_buf();
        let name = target.file_name().unwrap_or_default();
        if let Some((new_dir, _)) = st.dirs.iter().find(|(_, t)| *t == parent) {
            let staged = new_dir.path().join(name);
            fs::write(&staged, &c.new).map_err(io(&staged))?;
        } else if parent.exists() {
            let mut f = tempfile::Builder::new()
                .prefix(".loadtest-")
                .suffix(".tmp")
                .permissions(mode_for(&target))
                .tempfile_in(&parent)
                .map_err(io(&parent))?;
            f.write_all(c.new.as_bytes())
                .and_then(|()| f.as_file().sync_all())
                .map_err(io(f.path()))?;
            st.files.push((f, target));
        } else {
            // A new directory (the new shard): built under a temporary name, renamed as a whole.
            let grand = parent.parent().unwrap_or(dir);
            let new_dir = tempfile::Builder::new()
                .prefix(".loadtest-")
                .tempdir_in(grand)
                .map_err(io(grand))?;
            fs::set_permissions(new_dir.path(), fs::Permissions::from_mode(0o755))
                .map_err(io(new_dir.path()))?;
            let staged = new_dir.path().join(name);
            fs::write(&staged, &c.new).map_err(io(&staged))?;
            st.dirs.push((new_dir, parent));
        }
    }
    Ok(st)
}

impl Staging {
    /// Move everything into place: new directories first, then the files.
    fn commit(self) -> Result<(), DeployError> {
        for (new_dir, target) in self.dirs {
            let path = new_dir.keep();
            if let Err(e) = fs::rename(&path, &target) {
                let _ = fs::remove_dir_all(&path);
                return Err(io(&target)(e));
            }
        }
        for (f, target) in self.files {
            f.persist(&target).map_err(|e| io(&target)(e.error))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy_tree(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for e in fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let dst = to.join(e.file_name());
            if e.path().is_dir() {
                copy_tree(&e.path(), &dst);
            } else {
                fs::copy(e.path(), dst).unwrap();
            }
        }
    }

    fn snapshot(dir: &Path) -> Vec<(PathBuf, String)> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(snapshot(&p));
            } else {
                out.push((p.clone(), fs::read_to_string(&p).unwrap()));
            }
        }
        out.sort();
        out
    }

    fn args(dir: &Path, action: DeployAction, dry_run: bool) -> DeployArgs {
        DeployArgs {
            action,
            deploy_dir: dir.to_path_buf(),
            dry_run,
        }
    }

    #[test]
    fn command_line() {
        use crate::cli::{Cli, Command};
        use clap::{CommandFactory, Parser};
        Cli::command().debug_assert();
        let parse = |args: &[&str]| Cli::try_parse_from([&["loadtest", "deploy"], args].concat());
        let Ok(Cli {
            command: Command::Deploy(a),
        }) = parse(&["scale", "--env", "production", "--jvb", "3", "--dry-run"])
        else {
            panic!("scale --jvb does not parse");
        };
        assert!(a.dry_run && a.deploy_dir == Path::new("deploy"));
        assert!(matches!(
            a.action,
            DeployAction::Scale {
                jvb: Some(3),
                jvb_max: None,
                ..
            }
        ));
        assert!(
            parse(&["scale", "--env", "production"]).is_err(),
            "needs --jvb or --from-plan"
        );
        assert!(
            parse(&[
                "scale",
                "--env",
                "p",
                "--jvb",
                "3",
                "--from-plan",
                "plan.json"
            ])
            .is_err()
        );
        assert!(
            parse(&[
                "scale",
                "--env",
                "p",
                "--jvb-max",
                "3",
                "--from-plan",
                "plan.json"
            ])
            .is_err()
        );
        assert!(parse(&["add-shard"]).is_err(), "needs --env");
        assert!(parse(&["add-shard", "--env", "production", "--deploy-dir", "/tmp/x"]).is_ok());
        assert!(parse_shard("shard-2").is_ok_and(|k| k == 2) && parse_shard("2").is_err());
    }

    #[test]
    fn add_shard_writes_the_real_tree_copy_and_dry_run_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("deploy");
        copy_tree(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("deploy")
                .as_path(),
            &dir,
        );
        let before = snapshot(&dir);
        let add = || DeployAction::AddShard {
            env: "production".into(),
        };
        run(&args(&dir, add(), true)).unwrap();
        assert_eq!(snapshot(&dir), before, "dry run wrote something");
        run(&args(&dir, add(), false)).unwrap();
        let tree = load_env(&dir, "production").unwrap();
        assert_eq!(
            tree.shards.iter().map(|s| s.index).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert!(tree.shards[2].kustomization.contains("JVB_PORT_BASE=30500"));
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: PathBuf| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.join(paths::shard_dir("production", 2))), 0o755);
        assert_eq!(
            mode(dir.join(paths::shard_file("production", 2, "sizing.yaml"))),
            0o644
        );
        assert_eq!(mode(dir.join(paths::kustomization("production"))), 0o644);
        let leftovers: Vec<_> = snapshot(&dir)
            .into_iter()
            .filter(|(p, _)| p.to_string_lossy().contains(".loadtest-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn broken_tree_is_refused_without_writing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("deploy");
        copy_tree(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("deploy")
                .as_path(),
            &dir,
        );
        let backends = dir.join(paths::backends("production"));
        let text = fs::read_to_string(&backends)
            .unwrap()
            .replace("# END shards", "# END");
        fs::write(&backends, text).unwrap();
        let before = snapshot(&dir);
        let e = run(&args(
            &dir,
            DeployAction::AddShard {
                env: "production".into(),
            },
            false,
        ))
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("haproxy/backends.cfg: expected exactly one line `# END shards`"),
            "{e}"
        );
        assert_eq!(snapshot(&dir), before);
        let e = load_env(&dir, "staging").unwrap_err().to_string();
        assert!(e.contains("development") && e.contains("production"), "{e}");
        // A stale read is refused too.
        let tree = load_env(&dir, "development").unwrap();
        let s = shard::add_shard(&tree).unwrap();
        fs::write(dir.join(paths::kustomization("development")), "changed").unwrap();
        assert!(
            apply(&dir, &s.changes, false)
                .unwrap_err()
                .to_string()
                .contains("changed or removed since it was read")
        );
        assert!(!dir.join(paths::shard_dir("development", 2)).exists());
    }

    /// Only bad input exits 2; a file that cannot be read and a file changed between reading and
    /// writing are failures (exit 1), each said once.
    #[test]
    fn io_failures_and_conflicts_exit_1_and_bad_input_exits_2() {
        use crate::cli::exit_code;
        use crate::error::{EXIT_BAD_INPUT, EXIT_FAILED};
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("deploy");
        copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy"), &dir);
        let scale = |from_plan: Option<PathBuf>| DeployAction::Scale {
            env: "production".into(),
            jvb: from_plan.is_none().then_some(3),
            jvb_max: None,
            shard: None,
            from_plan,
        };
        let code = |e: DeployError| {
            let e = to_anyhow(e);
            (exit_code(&e), format!("{e:#}"))
        };

        // An unreadable file (a directory where sizing.yaml should be): I/O failure, said once.
        let sizing = dir.join(paths::shard_file("production", 1, "sizing.yaml"));
        let saved = fs::read_to_string(&sizing).unwrap();
        fs::remove_file(&sizing).unwrap();
        fs::create_dir(&sizing).unwrap();
        let (c, msg) = code(run(&args(&dir, scale(None), false)).unwrap_err());
        assert_eq!(c, EXIT_FAILED, "{msg}");
        assert_eq!(msg.matches("Is a directory").count(), 1, "{msg}");
        fs::remove_dir(&sizing).unwrap();
        fs::write(&sizing, saved).unwrap();

        // A file changed between reading and writing: a conflict, not bad input.
        let tree = load_env(&dir, "production").unwrap();
        let s = scale::scale(
            &tree,
            &scale::bounds_from_flags(&tree, 3, None, None).unwrap(),
        )
        .unwrap();
        let first = dir.join(&s.changes[0].path);
        fs::write(&first, "edited by someone else\n").unwrap();
        let (c, msg) = code(apply(&dir, &s.changes, false).unwrap_err());
        assert_eq!(c, EXIT_FAILED, "{msg}");
        assert!(
            msg.contains("changed or removed since it was read"),
            "{msg}"
        );

        // Bad input: a plan file that is not there, an unknown environment.
        let (c, msg) = code(
            run(&args(
                &dir,
                scale(Some(tmp.path().join("no-plan.json"))),
                false,
            ))
            .unwrap_err(),
        );
        assert_eq!(c, EXIT_BAD_INPUT, "{msg}");
        assert!(msg.contains("no-plan.json: no such file"), "{msg}");
        let bad_env = DeployAction::AddShard {
            env: "staging".into(),
        };
        let (c, _) = code(run(&args(&dir, bad_env, false)).unwrap_err());
        assert_eq!(c, EXIT_BAD_INPUT);
    }
}
