//! `loadtest provision --provider kubernetes`: the load generators of `deploy/loadgen/` (Selenium
//! Grid hub + Chromium nodes, KEDA autoscaling) applied to the current kubectl context through a
//! generated overlay in `deploy/work/<name>/` (slots and pod size from the scenario's media preset,
//! the fake media files as ConfigMap chunks), the inventory `run --inventory` uses, `destroy`, and
//! the `kubectl port-forward` that lets this machine reach the hub.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::inventory::{Inventory, KubeFleet};
use super::slots::Slots;
use super::{ProvisionArgs, ProvisionError, fleet, root, terraform, to_anyhow};
use crate::error::{EXIT_INFRA, EXIT_OK, InfraError, UsageError};

/// A ConfigMap holds at most 1 MiB; chunks this large stay below it once base64-encoded.
pub const CHUNK_BYTES: usize = 700 * 1024;
/// Node pod shape when `--server-type` is not given: `<cores>c-<RAM GiB>g`.
pub const DEFAULT_SHAPE: &str = "2c-4g";
/// Where the node pods hold the media files (`webdriver.media_dir` of runs).
pub const MEDIA_DIR: &str = "/opt/loadtest/media";
/// Namespace and hub Service of `deploy/loadgen/`.
pub const NAMESPACE: &str = "loadgen";
/// The hub's Service.
pub const HUB_SERVICE: &str = "selenium-hub";

const KUSTOMIZATION: &str = include_str!("../../assets/provision/kubernetes/kustomization.yaml");
const NODE_PATCH: &str = include_str!("../../assets/provision/kubernetes/node-patch.yaml");
const SCALER_PATCH: &str =
    include_str!("../../assets/provision/kubernetes/scaledobject-patch.yaml");

/// What the node pods look like.
#[derive(Debug, Clone, PartialEq)]
pub struct Sizing {
    /// CPU per node pod (requests = limits).
    pub cores: u32,
    /// Memory per node pod, GiB.
    pub ram_gb: u32,
    /// Browser slots per node pod (`SE_NODE_MAX_SESSIONS`, KEDA `nodeMaxSessions`).
    pub slots: u32,
    /// At most this many node pods (KEDA `maxReplicaCount`).
    pub max_nodes: u32,
    /// Participants per core of the media preset in the density mode (docs/benchmarks.md).
    pub per_core: f64,
    /// Participants one browser (one slot) hosts.
    pub per_browser: u32,
}

/// The node pods for `--server-type <c>c-<g>g`, `--servers` (the node limit) and the browsers a pod
/// holds in the scenario's density mode, or `--slots`.
pub fn sizing(server_type: Option<&str>, servers: u32, slots: &Slots) -> Result<Sizing, String> {
    let shape = server_type.unwrap_or(DEFAULT_SHAPE);
    let (cores, ram_mb) = root::shape(shape).ok_or_else(|| {
        format!("--server-type {shape:?}: Kubernetes node pods are <cores>c-<RAM GiB>g, e.g. 2c-4g")
    })?;
    if !(1..=100).contains(&servers) {
        return Err(format!("--servers {servers}: 1 to 100 node pods"));
    }
    Ok(Sizing {
        cores,
        ram_gb: ram_mb / 1024,
        slots: slots.per_node(cores),
        max_nodes: servers,
        per_core: slots.per_core,
        per_browser: slots.per_browser(),
    })
}

/// One file cut for ConfigMaps: `(key, bytes)` chunks of its gzip (whose CRC-32 and length let
/// `gunzip` on the node refuse a damaged or incomplete file).
#[derive(Debug, Clone)]
pub struct MediaFile {
    /// File name on the nodes.
    pub name: String,
    /// `<name>.gz.<nnn>` chunks.
    pub chunks: Vec<(String, Vec<u8>)>,
    /// CRC-32 of the file itself.
    pub crc32: u32,
}

/// Compress `bytes` (gzip) and cut it into chunks for ConfigMaps.
pub fn cut_media(name: &str, bytes: &[u8]) -> MediaFile {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).expect("writing to memory");
    let packed = gz.finish().expect("writing to memory");
    let chunks = packed
        .chunks(CHUNK_BYTES)
        .enumerate()
        .map(|(i, c)| (format!("{name}.gz.{i:03}"), c.to_vec()))
        .collect();
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    MediaFile {
        name: name.to_string(),
        chunks,
        crc32: crc.sum(),
    }
}

/// The overlay's files, `(path relative to the work dir, contents)`: kustomization, patches and
/// the media chunks (one ConfigMap per chunk, the digest file with the first).
pub fn overlay(
    name: &str,
    base: &str,
    preset: &str,
    s: &Sizing,
    media: &[MediaFile],
) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut generators = String::new();
    let mut sources = String::new();
    let mut k = 0;
    for m in media {
        for (key, bytes) in &m.chunks {
            files.push((format!("media/{key}"), bytes.clone()));
            let listed = format!("      - media/{key}\n");
            generators.push_str(&format!(
                "  - name: loadgen-media-{k}\n    files:\n{listed}"
            ));
            sources.push_str(&format!(
                "              - configMap:\n                  name: loadgen-media-{k}\n"
            ));
            k += 1;
        }
    }
    if k == 0 {
        // No files (Chrome's built-in devices): keep the base's optional source.
        sources.push_str("              - configMap:\n                  name: loadgen-media-0\n                  optional: true\n");
    }
    let digest = media
        .iter()
        .map(|m| format!("{}:{:08x}", m.name, m.crc32))
        .collect::<Vec<_>>()
        .join(",");
    let fill = |t: &str| {
        t.replace("${NAME}", name)
            .replace("${BASE}", base)
            .replace("${PRESET}", preset)
            .replace("${PER_CORE}", &format!("{:.1}", s.per_core))
            .replace("${PER_BROWSER}", &s.per_browser.to_string())
            .replace("${CORES}", &s.cores.to_string())
            .replace("${RAM_GB}", &s.ram_gb.to_string())
            .replace("${SLOTS}", &s.slots.to_string())
            .replace("${MAX_NODES}", &s.max_nodes.to_string())
            .replace(
                "${MEDIA_DIGEST}",
                if digest.is_empty() { "none" } else { &digest },
            )
            .replace(
                "${MEDIA_GENERATORS}\n",
                if generators.is_empty() {
                    "  []\n"
                } else {
                    &generators
                },
            )
            .replace("${MEDIA_SOURCES}\n", &sources)
    };
    files.push((
        "kustomization.yaml".into(),
        fill(KUSTOMIZATION).into_bytes(),
    ));
    files.push(("node-patch.yaml".into(), fill(NODE_PATCH).into_bytes()));
    files.push((
        "scaledobject-patch.yaml".into(),
        fill(SCALER_PATCH).into_bytes(),
    ));
    files
}

/// `kubectl` on `PATH`, run with a context when the fleet recorded one.
#[derive(Debug, Clone)]
pub struct Kubectl {
    /// The binary.
    pub bin: PathBuf,
    /// `--context`, when pinned.
    pub context: Option<String>,
}

impl Kubectl {
    /// The `kubectl` on `PATH`, if any.
    pub fn find(context: Option<String>) -> Option<Kubectl> {
        terraform::find_on_path(&["kubectl"]).map(|bin| Kubectl { bin, context })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        if let Some(ctx) = &self.context {
            c.args(["--context", ctx]);
        }
        c.args(args);
        c
    }

    /// Run one command; its stdout, or an error naming it with its stderr's tail.
    pub fn run(&self, args: &[&str]) -> Result<String, ProvisionError> {
        let what = format!("kubectl {}", args.join(" "));
        let out = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ProvisionError::Terraform {
                command: what.clone(),
                detail: format!("cannot start {}: {e}", self.bin.display()),
            })?;
        if !out.status.success() {
            return Err(ProvisionError::Terraform {
                command: what,
                detail: super::ssh::tail(&String::from_utf8_lossy(&out.stderr), 6),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Write the overlay into `work` (replacing an earlier one).
fn write_overlay(work: &Path, files: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    let io = |p: &Path, e: std::io::Error| {
        anyhow::Error::from(InfraError::new("overlay", format!("{}: {e}", p.display())))
    };
    let media = work.join("media");
    if media.is_dir() {
        std::fs::remove_dir_all(&media).map_err(|e| io(&media, e))?;
    }
    std::fs::create_dir_all(&media).map_err(|e| io(&media, e))?;
    for (rel, bytes) in files {
        let p = work.join(rel);
        crate::util::fs::write_atomic(&p, bytes).map_err(|e| io(&p, e))?;
    }
    Ok(())
}

/// The work dir of fleet `name`: `<loadgen dir>/../work/<name>`, and the base as seen from it.
pub fn work_dir(loadgen: &Path, name: &str) -> (PathBuf, String) {
    let deploy = loadgen.parent().unwrap_or(Path::new("."));
    let base = format!(
        "../../{}",
        loadgen
            .file_name()
            .map_or("loadgen".into(), |n| n.to_string_lossy())
    );
    (deploy.join("work").join(name), base)
}

/// Entry point for `--provider kubernetes`.
pub async fn provision(args: &ProvisionArgs) -> anyhow::Result<i32> {
    let usage = |m: String| anyhow::Error::from(UsageError(m));
    if !args.loadgen_dir.join("kustomization.yaml").is_file() {
        return Err(usage(format!(
            "no kustomization at {} (run from the repository root or pass --loadgen-dir)",
            args.loadgen_dir.display()
        )));
    }
    let (files, slots) = fleet::media_plan(args)?;
    let s = sizing(args.server_type.as_deref(), args.servers, &slots).map_err(usage)?;
    let mut media = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f)
            .map_err(|e| InfraError::new("fake media", format!("{}: {e}", f.display())))?;
        let name = f
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        media.push(cut_media(&name, &bytes));
    }
    let preset = args
        .scenario
        .as_deref()
        .and_then(|p| crate::scenario::load(p, &[]).ok())
        .map_or_else(
            || crate::scenario::Media::default().video,
            |l| l.scenario.media.video,
        );
    let (work, base) = work_dir(&args.loadgen_dir, &args.name);
    write_overlay(&work, &overlay(&args.name, &base, &preset, &s, &media))?;
    eprintln!(
        "generated {}: node pods of {} CPU / {} GiB, 1..{} of them, {} media file(s); {}",
        work.display(),
        s.cores,
        s.ram_gb,
        s.max_nodes,
        media.len(),
        slots.describe(s.cores)
    );
    let Some(kubectl) = Kubectl::find(None) else {
        eprintln!(
            "no kubectl on PATH: the overlay is in {} (`kubectl apply -k` it yourself)",
            work.display()
        );
        return Ok(if args.plan_only { EXIT_OK } else { EXIT_INFRA });
    };
    let dir = work.to_string_lossy().into_owned();
    if args.plan_only {
        print!("{}", kubectl.run(&["kustomize", &dir]).map_err(to_anyhow)?);
        return Ok(EXIT_OK);
    }
    apply(args, kubectl, &work, &dir)
}

fn apply(args: &ProvisionArgs, kubectl: Kubectl, work: &Path, dir: &str) -> anyhow::Result<i32> {
    let context = kubectl
        .run(&["config", "current-context"])
        .map_err(to_anyhow)?
        .trim()
        .to_string();
    let kubectl = Kubectl {
        context: Some(context.clone()),
        ..kubectl
    };
    eprintln!("kubectl apply -k {dir} (context {context})");
    kubectl.run(&["apply", "-k", dir]).map_err(to_anyhow)?;
    let timeout = format!("--timeout={}s", args.ready_timeout.at_least_1s().as_secs());
    for d in ["selenium-hub", "selenium-node"] {
        let target = format!("deployment/{d}");
        kubectl
            .run(&["-n", NAMESPACE, "rollout", "status", &target, &timeout])
            .map_err(to_anyhow)?;
    }
    let inv_path = args
        .inventory
        .clone()
        .unwrap_or_else(|| work.join("inventory.toml"));
    let mut inv = Inventory {
        provider: "kubernetes".into(),
        name: args.name.clone(),
        work_dir: Some(work.to_path_buf()),
        kubernetes: Some(KubeFleet {
            context: Some(context.clone()),
            namespace: NAMESPACE.into(),
            service: HUB_SERVICE.into(),
        }),
        ..Default::default()
    };
    inv.grid.media_dir = MEDIA_DIR.into();
    inv.save(&inv_path).map_err(to_anyhow)?;
    eprintln!(
        "grid: {HUB_SERVICE} in namespace {NAMESPACE} (context {context}); `loadtest run --inventory {}` reaches it through kubectl port-forward",
        inv_path.display()
    );
    println!("{}", inv_path.display());
    Ok(EXIT_OK)
}

/// `loadtest destroy` of a Kubernetes fleet: delete what the overlay created.
pub fn destroy(inv: &Inventory, path: &Path) -> anyhow::Result<()> {
    let work = inv.work_dir.clone().ok_or_else(|| {
        UsageError(format!(
            "{}: no work_dir for a kubernetes fleet",
            path.display()
        ))
    })?;
    let context = inv.kubernetes.as_ref().and_then(|k| k.context.clone());
    let kubectl = Kubectl::find(context).ok_or_else(|| {
        InfraError::new(
            "kubectl",
            "not on PATH: cannot delete the load generators; install it and re-run",
        )
    })?;
    let dir = work.to_string_lossy().into_owned();
    eprintln!("kubectl delete -k {dir}");
    kubectl
        .run(&["delete", "-k", &dir, "--ignore-not-found"])
        .map_err(to_anyhow)?;
    Ok(())
}

/// The hub through `kubectl port-forward` on a free local port, alive until this process exits
/// (a shell holds it and kills it when its stdin, this process's pipe, closes). The local URL.
pub fn port_forward(k: &KubeFleet, hub_port: u16) -> anyhow::Result<String> {
    let kubectl = Kubectl::find(k.context.clone()).ok_or_else(|| {
        InfraError::new(
            "kubectl",
            "not on PATH: cannot reach the hub of a kubernetes fleet",
        )
    })?;
    let service = format!("svc/{}", k.service);
    let ports = format!(":{hub_port}");
    let mut inner = kubectl.command(&["-n", &k.namespace, "port-forward", &service, &ports]);
    let mut argv: Vec<String> = vec![inner.get_program().to_string_lossy().into_owned()];
    argv.extend(inner.get_args().map(|a| a.to_string_lossy().into_owned()));
    inner.stdin(Stdio::null());
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("\"$@\" & pid=$!; read _; kill $pid")
        .arg("sh")
        .args(&argv)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| InfraError::new("kubectl port-forward", e.to_string()))?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let Some(url) = forwarded_url(&first) else {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let _ = child.kill();
        return Err(InfraError::new(
            format!("kubectl port-forward {service}"),
            format!("{} {}", first.trim(), super::ssh::tail(&err, 3)),
        )
        .into());
    };
    // Keep reading (kubectl logs every connection) and keep the stdin pipe open for good.
    std::thread::spawn(move || for _ in lines {});
    std::mem::forget(child);
    eprintln!("grid: kubectl port-forward {service} -> {url}");
    Ok(url)
}

/// `Forwarding from 127.0.0.1:43215 -> 4444` -> `http://127.0.0.1:43215`.
pub fn forwarded_url(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix("Forwarding from ")?;
    let (local, _) = rest.split_once(" -> ")?;
    let port: u16 = local.rsplit_once(':')?.1.parse().ok()?;
    Some(format!("http://127.0.0.1:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slots of a mode without audio (what the density table measured).
    fn slots(video: &str, per_browser: u32, discard: bool, fixed: Option<u32>) -> Slots {
        use crate::scenario::ReceiveVideo;
        use crate::scenario::density::{Fidelity, Mode, Packing};
        let f = Fidelity {
            video: video.into(),
            audio: false,
            receive_audio: false,
            mode: Mode {
                packing: Packing::tabs(per_browser),
                receive_video: if discard {
                    ReceiveVideo::Discard
                } else {
                    ReceiveVideo::Decode
                },
            },
        };
        Slots::for_mode(&f, fixed)
    }

    #[test]
    fn slots_follow_the_preset_and_the_pod_shape() {
        let s = sizing(None, 10, &slots("small", 1, false, None)).unwrap();
        assert_eq!((s.cores, s.ram_gb, s.slots, s.max_nodes), (2, 4, 16, 10));
        let vga = slots("vga", 1, false, None);
        assert_eq!(sizing(Some("4c-8g"), 3, &vga).unwrap().slots, 16);
        assert_eq!(
            sizing(Some("4c-8g"), 3, &slots("vga", 1, false, Some(6)))
                .unwrap()
                .slots,
            6
        );
        // 4 tabs per browser, discarding received video: a pod's browsers host 4 participants each.
        let dense = sizing(Some("4c-8g"), 3, &slots("small", 4, true, None)).unwrap();
        assert_eq!((dense.slots, dense.per_browser), (8, 4), "⌊4 × 8.0 / 4⌋");
        assert!(sizing(Some("cx43"), 3, &vga).unwrap_err().contains("2c-4g"));
        assert!(sizing(None, 0, &vga).is_err());
    }

    #[test]
    fn media_chunks_reassemble_to_the_file() {
        // xorshift noise: gzip cannot shrink it, so it spans several chunks.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let data: Vec<u8> = (0..3_000_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let m = cut_media("video.y4m", &data);
        assert!(
            m.chunks.len() > 1,
            "incompressible 3 MB needs several chunks"
        );
        assert!(m.chunks.iter().all(|(_, c)| c.len() <= CHUNK_BYTES));
        assert_eq!(m.chunks[1].0, "video.y4m.gz.001");
        let packed: Vec<u8> = m.chunks.iter().flat_map(|(_, c)| c.clone()).collect();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        let mut crc = flate2::Crc::new();
        crc.update(&data);
        assert_eq!(m.crc32, crc.sum());
    }

    #[test]
    fn the_overlay_sets_slots_size_and_media_sources() {
        let s = sizing(Some("4c-8g"), 5, &slots("vga", 1, false, None)).unwrap();
        let m = cut_media("audio.wav", &[7u8; 10]);
        let files = overlay("lt-k8s", "../../loadgen", "vga", &s, &[m]);
        let get = |p: &str| {
            String::from_utf8(files.iter().find(|(n, _)| n == p).unwrap().1.clone()).unwrap()
        };
        let k = get("kustomization.yaml");
        assert!(
            k.contains("  - ../../loadgen\n") && k.contains("name: loadgen-media-0"),
            "{k}"
        );
        assert!(k.contains("- media/audio.wav.gz.000"), "{k}");
        let node = get("node-patch.yaml");
        assert!(
            node.contains("value: \"16\"")
                && node.contains("cpu: \"4\"")
                && node.contains("memory: 8Gi"),
            "{node}"
        );
        assert!(node.contains("name: loadgen-media-0\n"), "{node}");
        let so = get("scaledobject-patch.yaml");
        assert!(
            so.contains("maxReplicaCount: 5") && so.contains("nodeMaxSessions: \"16\""),
            "{so}"
        );
        assert!(
            !files
                .iter()
                .any(|(_, b)| String::from_utf8_lossy(b).contains("${"))
        );
        // No media: the base's optional source stays, no generator.
        let files = overlay("lt-k8s", "../../loadgen", "chrome", &s, &[]);
        let k = String::from_utf8(
            files
                .iter()
                .find(|(n, _)| n == "kustomization.yaml")
                .unwrap()
                .1
                .clone(),
        )
        .unwrap();
        assert!(k.contains("configMapGenerator:\n  []\n"), "{k}");
    }

    #[test]
    fn port_forward_lines() {
        assert_eq!(
            forwarded_url("Forwarding from 127.0.0.1:43215 -> 4444\n").as_deref(),
            Some("http://127.0.0.1:43215")
        );
        assert_eq!(forwarded_url("error: unable to forward"), None);
    }
}
