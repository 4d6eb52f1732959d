//! `loadtest provision` / `destroy` / `grid status` end to end.
//!
//! - Terraform: a STAND-IN `terraform` executable (tests/fixtures/terraform-standin; the real one
//!   cannot be used here and must never reach a cloud) comes first on PATH; the generated root
//!   configs are parsed by python-hcl2 (tests/terraform/check_root.py).
//! - Bootstrap: two real sshd on 127.0.0.11 and 127.0.0.12, a real Selenium Grid hub and two nodes
//!   installed and started over SSH, then `loadtest run --inventory` across both nodes.
//!
//! Run: `cargo test --test provision -- --test-threads=1`.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{janus, read_results, repo, selenium_jar, wait_until};
use loadtest::provision::inventory::{HostState, Inventory};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run the binary with extra environment; `path` replaces PATH.
fn lt(args: &[&str], env: &[(&str, &str)], path: Option<&str>) -> Output {
    let mut c = Command::new(common::bin());
    c.args(args)
        .env("LOADTEST_CACHE", repo().join(".cache/loadtest"))
        .env("LOADTEST_SELENIUM_JAR", selenium_jar())
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("HCLOUD_TOKEN");
    if let Some(p) = path {
        c.env("PATH", p);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// A terraform dir with the repository's modules and price table, outside the repository.
fn terraform_dir(tmp: &Path) -> PathBuf {
    let dir = tmp.join("terraform");
    let ok = Command::new("cp")
        .arg("-r")
        .arg(repo().join("terraform"))
        .arg(&dir)
        .status()
        .unwrap();
    assert!(ok.success());
    let _ = std::fs::remove_dir_all(dir.join("work"));
    dir
}

fn standin_path() -> String {
    format!(
        "{}:/usr/bin:/bin",
        repo().join("tests/fixtures/terraform-standin").display()
    )
}

fn keypair(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    if !key.exists() {
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(ok.success());
    }
    key
}

fn hcl2_check(work: &Path, provider: &str, servers: u32, server_type: &str, key: Option<&str>) {
    let py = repo().join(".cache/venv/bin/python");
    assert!(
        py.is_file(),
        "{} missing: run ./scripts/setup.sh",
        py.display()
    );
    let o = Command::new(py)
        .arg(repo().join("tests/terraform/check_root.py"))
        .arg(work)
        .args([provider, &servers.to_string(), server_type])
        .args(key)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "python-hcl2 check of {provider}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
}

#[test]
fn generated_roots_parse_with_hcl2_per_provider() {
    let tmp = tempfile::tempdir().unwrap();
    let tf = terraform_dir(tmp.path());
    let key = keypair(tmp.path(), "op");
    let log = tmp.path().join("standin.log");
    for (provider, servers, server_type, cloud_key) in [
        ("hetzner", 10, "ccx33", None),
        ("hetzner", 2, "cx33", Some("ops-laptop")),
        ("ionos", 4, "16c-16g", None),
        ("aws", 3, "c6i.4xlarge", None),
    ] {
        let name = format!("lt-{provider}-{servers}");
        let mut extra = vec![];
        if let Some(k) = cloud_key {
            extra = vec!["--existing-ssh-key", k];
        }
        let o = lt(
            &[
                &[
                    "provision",
                    "--provider",
                    provider,
                    "--servers",
                    &servers.to_string(),
                    "--server-type",
                    server_type,
                    "--name",
                    &name,
                    "--operator-cidr",
                    "203.0.113.7/32",
                    "--ssh-key",
                    key.to_str().unwrap(),
                    "--terraform-dir",
                    tf.to_str().unwrap(),
                    "--plan-only",
                ][..],
                &extra[..],
            ]
            .concat(),
            &[("STANDIN_LOG", log.to_str().unwrap())],
            Some(&standin_path()),
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stderr(&o).contains("cost: "), "{}", stderr(&o));
        let work = tf.join("work").join(&name);
        hcl2_check(&work, provider, servers, server_type, cloud_key);
        assert!(
            !work.join("terraform.tfstate.standin").exists(),
            "plan-only applied"
        );
    }
    let e = stderr(&lt(
        &[
            "provision",
            "--provider",
            "hetzner",
            "--servers",
            "2",
            "--server-type",
            "cx43",
            "--operator-cidr",
            "203.0.113.7/32",
            "--ssh-key",
            key.to_str().unwrap(),
            "--terraform-dir",
            tf.to_str().unwrap(),
            "--plan-only",
        ],
        &[],
        Some(&standin_path()),
    ));
    // 2 × cx43 at EUR 0.0256/h from prices.toml, with its date and source.
    assert!(
        e.contains("at EUR 0.0256/h = EUR 0.05/h") && e.contains("as of 2026-08-07, source: "),
        "{e}"
    );
    // Without credentials the stand-in is asked to init, never to plan or apply.
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.lines().all(|l| l.starts_with("init")), "{calls}");

    // terraform/examples/main.tf.example is exactly what the tool writes for its documented command.
    let example_key = tmp.path().join("example.pub");
    std::fs::write(
        &example_key,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExampl loadtest@operator\n",
    )
    .unwrap();
    let o = lt(
        &[
            "provision",
            "--provider",
            "hetzner",
            "--servers",
            "3",
            "--name",
            "lt-demo",
            "--operator-cidr",
            "203.0.113.7/32",
            "--ssh-public-key",
            example_key.to_str().unwrap(),
            "--terraform-dir",
            tf.to_str().unwrap(),
            "--plan-only",
        ],
        &[],
        Some(&standin_path()),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(tf.join("work/lt-demo/main.tf")).unwrap(),
        std::fs::read_to_string(repo().join("terraform/examples/main.tf.example")).unwrap(),
        "terraform/examples/main.tf.example is stale: regenerate it with the command above"
    );

    // Bad input: refused before anything is written.
    let o = lt(
        &[
            "provision",
            "--provider",
            "hetzner",
            "--operator-cidr",
            "0.0.0.0/0",
            "--ssh-key",
            key.to_str().unwrap(),
            "--terraform-dir",
            tf.to_str().unwrap(),
            "--name",
            "lt-bad",
        ],
        &[],
        Some(&standin_path()),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--operator-cidr"), "{}", stderr(&o));
    assert!(!tf.join("work/lt-bad").exists());
}

#[test]
fn terraform_flow_with_standin_apply_output_destroy_and_failed_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let tf = terraform_dir(tmp.path());
    let key = keypair(tmp.path(), "op");
    let log = tmp.path().join("standin.log");
    let token = "stand-in-token-5f1c2e";
    let base = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "provision",
            "--provider",
            "hetzner",
            "--servers",
            "3",
            "--name",
            "lt-flow",
            "--operator-cidr",
            "198.51.100.7/32",
            "--ssh-key",
            key.to_str().unwrap(),
            "--terraform-dir",
            tf.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |args: Vec<String>, env: &[(&str, &str)], path: &str| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut e = vec![("STANDIN_LOG", log.to_str().unwrap())];
        e.extend_from_slice(env);
        lt(&a, &e, Some(path))
    };
    let work = tf.join("work/lt-flow");
    let inventory = work.join("inventory.toml");

    // No binary at all: a clear message and the generated files.
    let o = run(
        base(&["--skip-bootstrap"]),
        &[("HCLOUD_TOKEN", token)],
        "/nonexistent",
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no terraform or tofu on PATH"),
        "{}",
        stderr(&o)
    );
    assert!(work.join("main.tf").is_file());

    // No credentials: refused before init, naming the variable.
    let o = run(base(&["--skip-bootstrap"]), &[], &standin_path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("HCLOUD_TOKEN"), "{}", stderr(&o));

    // A failed apply: exit 3 with the provider's message, no inventory.
    let o = run(
        base(&["--skip-bootstrap"]),
        &[("HCLOUD_TOKEN", token), ("STANDIN_FAIL_APPLY", "1")],
        &standin_path(),
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("apply") && e.contains("stand-in failure: server type not available"),
        "{e}"
    );
    assert!(!inventory.exists());

    // init, apply, output -json -> inventory.
    let o = run(
        base(&["--skip-bootstrap"]),
        &[("HCLOUD_TOKEN", token)],
        &standin_path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let inv = Inventory::load(&inventory).unwrap();
    assert_eq!(inv.provider, "hetzner");
    assert_eq!(inv.hosts.len(), 3);
    assert_eq!(inv.hosts[2].name, "lt-flow-2");
    assert_eq!(inv.hosts[2].address, "127.0.0.23");
    assert_eq!(inv.hosts[2].private_address.as_deref(), Some("10.42.1.12"));
    assert_eq!(
        inv.hub_grid_url().as_deref(),
        Some("http://10.42.1.10:4444")
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    let verbs: Vec<&str> = calls.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(
        verbs,
        ["init", "apply", "init", "apply", "output"],
        "{calls}"
    );
    assert!(
        calls
            .lines()
            .filter(|l| l.starts_with("apply"))
            .all(|l| l.ends_with("cred=env key=none"))
    );
    // The token reached terraform through the environment and was written nowhere.
    for entry in walk(&tf.join("work")) {
        let text = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&text).contains(token),
            "token in {}",
            entry.display()
        );
    }

    // Re-applied with a key already in the Hetzner project: the root hands it to the module (which
    // then uploads none; tests/terraform evaluates that choice with real Terraform).
    let o = run(
        base(&["--skip-bootstrap", "--existing-ssh-key", "ops-laptop"]),
        &[("HCLOUD_TOKEN", token)],
        &standin_path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let calls = std::fs::read_to_string(&log).unwrap();
    let last_apply = calls.lines().rfind(|l| l.starts_with("apply"));
    assert!(
        last_apply.is_some_and(|l| l.ends_with("cred=env key=ops-laptop")),
        "{calls}"
    );
    assert_eq!(Inventory::load(&inventory).unwrap().hosts.len(), 3);

    // destroy, twice: both run terraform destroy and succeed.
    for _ in 0..2 {
        let o = lt(
            &["destroy", "--inventory", inventory.to_str().unwrap()],
            &[
                ("STANDIN_LOG", log.to_str().unwrap()),
                ("HCLOUD_TOKEN", token),
            ],
            Some(&standin_path()),
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls.lines().filter(|l| l.starts_with("destroy")).count(),
        2
    );
    assert!(!work.join("terraform.tfstate.standin").exists());
    let inv = Inventory::load(&inventory).unwrap();
    assert!(inv.hosts.iter().all(|h| h.state == HostState::Stopped));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// SSH bootstrap against real sshd on loopback addresses
// ---------------------------------------------------------------------------------------------

fn free_port_on(addr: &str) -> u16 {
    TcpListener::bind((addr, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real sshd on one loopback address with its own host key.
struct Sshd {
    child: Child,
    port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sshd(dir: &Path, addr: &str, port: u16, host_key: &Path, authorized: &Path) -> Sshd {
    sshd_with(dir, addr, port, host_key, authorized, "")
}

/// [`sshd`] with extra `sshd_config` lines.
fn sshd_with(
    dir: &Path,
    addr: &str,
    port: u16,
    host_key: &Path,
    authorized: &Path,
    extra: &str,
) -> Sshd {
    std::fs::create_dir_all("/run/sshd").unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let cfg = dir.join("sshd_config");
    std::fs::write(
        &cfg,
        format!(
            "Port {port}\nListenAddress {addr}\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
             PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPrintMotd no\n\
             Subsystem sftp internal-sftp\n{extra}",
            host_key.display(),
            dir.join("sshd.pid").display(),
            authorized.display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("sshd.log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || std::net::TcpStream::connect((
            addr, port
        ))
        .is_ok()),
        "sshd on {addr}:{port} did not start; see {}",
        dir.join("sshd.log").display()
    );
    Sshd { child, port }
}

/// Kills the Grid processes the bootstrap started (by their pidfiles) if the test fails midway.
struct GridGuard(Vec<PathBuf>);

impl Drop for GridGuard {
    fn drop(&mut self) {
        for dir in &self.0 {
            for role in ["hub", "node"] {
                if let Ok(pid) = std::fs::read_to_string(dir.join(format!("{role}.pid"))) {
                    let _ = Command::new("kill").arg(pid.trim()).status();
                }
            }
        }
    }
}

fn pid_of(dir: &Path, role: &str) -> Option<u32> {
    std::fs::read_to_string(dir.join(format!("{role}.pid")))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_two_sshd_hosts_into_a_grid_and_run_across_both() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let user_key = keypair(t, "user");
    let authorized = t.join("authorized_keys");
    std::fs::copy(t.join("user.pub"), &authorized).unwrap();
    let hk11 = keypair(t, "host11");
    let hk12 = keypair(t, "host12");
    let hk12_new = keypair(t, "host12-rebuilt");
    let (p11, p12) = (free_port_on("127.0.0.11"), free_port_on("127.0.0.12"));
    let _s11 = sshd(&t.join("sshd11"), "127.0.0.11", p11, &hk11, &authorized);
    let mut s12 = sshd(&t.join("sshd12"), "127.0.0.12", p12, &hk12, &authorized);
    let unreachable_port = free_port_on("127.0.0.13");

    let remote = t.join("remote");
    let (d11, d12) = (remote.join("h11"), remote.join("h12"));
    let _guard = GridGuard(vec![d11.clone(), d12.clone()]);
    let ports: Vec<u16> = (0..4).map(|_| free_port_on("127.0.0.11")).collect();
    let node_port = free_port_on("127.0.0.12");
    let hosts = t.join("hosts.toml");
    let inventory_text = |with_13: bool| {
        format!(
            "provider = \"static\"\n[ssh]\nuser = \"root\"\nkey = \"{key}\"\n\
             [grid]\nhub_port = {h}\npublish_port = {p}\nsubscribe_port = {s}\nnode_port = {n}\n\
             media_dir = \"{media}\"\njava_heap = \"256m\"\n\n\
             [[host]]\nname = \"h11\"\naddress = \"127.0.0.11\"\nssh_port = {p11}\nremote_dir = \"{d11}\"\n\n\
             [[host]]\nname = \"h12\"\naddress = \"127.0.0.12\"\nssh_port = {p12}\nremote_dir = \"{d12}\"\n{h13}",
            key = user_key.display(),
            h = ports[0],
            p = ports[1],
            s = ports[2],
            n = node_port,
            media = remote.join("media").display(),
            d11 = d11.display(),
            d12 = d12.display(),
            h13 = if with_13 {
                format!(
                    "\n[[host]]\nname = \"h13\"\naddress = \"127.0.0.13\"\nssh_port = {unreachable_port}\nremote_dir = \"{}\"\n",
                    remote.join("h13").display()
                )
            } else {
                String::new()
            }
        )
    };
    std::fs::write(&hosts, inventory_text(true)).unwrap();
    let provision = |extra: &[&str]| {
        let mut a = vec![
            "provision",
            "--provider",
            "static",
            "--inventory",
            hosts.to_str().unwrap(),
            "--slots",
            "2",
            "--ssh-timeout",
            "10s",
        ];
        a.extend_from_slice(extra);
        let t0 = Instant::now();
        let o = lt(&a, &[], None);
        (o, t0.elapsed())
    };

    // 1. First provision: h11 (hub + node) and h12 (node) come up; h13 is unreachable.
    let (o, first) = provision(&[]);
    let e = stderr(&o);
    eprintln!("--- first provision ({:.1} s)\n{e}", first.as_secs_f64());
    assert_eq!(o.status.code(), Some(3), "{e}");
    assert!(e.contains("h13 (127.0.0.13): connect"), "{e}");
    let inv = Inventory::load(&hosts).unwrap();
    let [h11, h12, h13] = &inv.hosts[..] else {
        panic!("3 hosts")
    };
    assert_eq!(
        (h11.state, h12.state, h13.state),
        (HostState::Ready, HostState::Ready, HostState::Failed)
    );
    assert_eq!(h13.step.as_deref(), Some("connect"));
    assert!(
        h11.host_key
            .as_deref()
            .is_some_and(|k| k.starts_with("ssh-ed25519 SHA256:"))
    );
    assert_ne!(h11.host_key, h12.host_key);
    assert_eq!((h11.slots, h12.slots), (Some(2), Some(2)));
    let nproc = String::from_utf8(Command::new("nproc").output().unwrap().stdout).unwrap();
    assert_eq!(h11.cores, nproc.trim().parse().ok());
    let grid_url = inv.grid.url.clone().expect("grid url recorded");
    assert_eq!(grid_url, format!("http://127.0.0.11:{}", ports[0]));
    // The hub lists both nodes, bound to their own addresses, with 2 slots each (curl, not the tool).
    let status = common::grid_status(&grid_url).unwrap();
    let mut nodes: Vec<(String, usize)> = status["value"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["uri"].as_str().unwrap().to_string(),
                n["slots"].as_array().unwrap().len(),
            )
        })
        .collect();
    nodes.sort();
    let n11 = format!("http://127.0.0.11:{node_port}");
    let n12 = format!("http://127.0.0.12:{node_port}");
    assert_eq!(nodes, vec![(n11.clone(), 2), (n12.clone(), 2)]);
    // The fake media reached the media dir; configs and processes are per host.
    assert!(std::fs::read_dir(remote.join("media")).unwrap().count() >= 1);
    let hub_pid = pid_of(&d11, "hub").expect("hub pidfile");
    let node12_pid = pid_of(&d12, "node").expect("node pidfile");
    assert!(alive(hub_pid) && alive(node12_pid));
    assert!(pid_of(&d12, "hub").is_none(), "h12 runs no hub");

    // 2. Second provision without the unreachable host: converges with no changes.
    std::fs::write(&hosts, {
        let mut inv = Inventory::load(&hosts).unwrap();
        inv.hosts.retain(|h| h.name != "h13");
        toml::to_string(&inv).unwrap()
    })
    .unwrap();
    let (o, second) = provision(&[]);
    let e = stderr(&o);
    eprintln!("--- second provision ({:.1} s)\n{e}", second.as_secs_f64());
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(e.contains("provision: no changes"), "{e}");
    assert_eq!(pid_of(&d11, "hub"), Some(hub_pid), "hub restarted");
    assert_eq!(pid_of(&d12, "node"), Some(node12_pid), "node restarted");
    assert!(alive(hub_pid) && alive(node12_pid));

    // 3. grid status from the inventory.
    let o = lt(
        &["grid", "status", "--inventory", hosts.to_str().unwrap()],
        &[],
        None,
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}{}", out, stderr(&o));
    assert!(
        out.contains("2 node(s), 4 slot(s), 0 session(s) in use"),
        "{out}"
    );
    assert!(out.contains(&n11) && out.contains(&n12), "{out}");

    // 3b. The same through an SSH tunnel, as for a cloud hub whose port is closed to the operator.
    let direct = std::fs::read_to_string(&hosts).unwrap();
    let mut inv = Inventory::load(&hosts).unwrap();
    inv.grid.url = None;
    std::fs::write(&hosts, toml::to_string(&inv).unwrap()).unwrap();
    let o = lt(
        &["grid", "status", "--inventory", hosts.to_str().unwrap()],
        &[],
        None,
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}{}", out, stderr(&o));
    assert!(
        stderr(&o).contains("SSH tunnel 127.0.0.1:"),
        "{}",
        stderr(&o)
    );
    assert!(out.contains("2 node(s), 4 slot(s)"), "{out}");
    std::fs::write(&hosts, direct).unwrap();

    // 4. A run through the fleet: 2 conferences × 2 participants on 2 nodes × 2 slots.
    let sb = janus(t).await;
    let results = t.join("run");
    let o = lt(
        &[
            "run",
            "-s",
            "scenarios/local-janus.toml",
            "--inventory",
            hosts.to_str().unwrap(),
            "--set",
            &format!("target.url={}", sb.janus_url),
            "--set",
            "load.participants_per_conference=2",
            "--set",
            "load.video_senders=2",
            "--set",
            "load.duration=8s",
            "--set",
            "metrics.generator=false",
            "--set",
            &format!("metrics.janus.admin_url={}", sb.admin_url),
            "--set",
            &format!(
                "metrics.janus.admin_secret_file={}",
                sb.dir.join("admin_secret").display()
            ),
            "--out",
            results.to_str().unwrap(),
        ],
        &[],
        None,
    );
    let files = read_results(&results);
    let mut used: Vec<&str> = files.participants.iter().map(|p| p.node.as_str()).collect();
    used.sort();
    eprintln!("--- run: exit {:?}\n{}", o.status.code(), stderr(&o));
    assert_eq!(files.participants.len(), 4);
    assert!(
        files.participants.iter().all(|p| p.join_ms.is_some()),
        "every participant joined: {:?}\n{}",
        files.participants,
        stderr(&o)
    );
    assert_eq!(
        used,
        vec![n11.as_str(), n11.as_str(), n12.as_str(), n12.as_str()]
    );
    sb.stop().await;

    // 5. h12 rebuilt with a new host key: refused, naming both fingerprints; h11 still converges.
    let old_pin = Inventory::load(&hosts).unwrap().hosts[1]
        .host_key
        .clone()
        .unwrap();
    drop(s12);
    s12 = sshd(&t.join("sshd12"), "127.0.0.12", p12, &hk12_new, &authorized);
    let (o, _) = provision(&[]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{e}");
    assert!(e.contains("h12 (127.0.0.12): host key changed"), "{e}");
    assert!(e.contains(&old_pin), "{e}");
    let inv = Inventory::load(&hosts).unwrap();
    let offered = inv.hosts[1].error.clone().unwrap();
    assert!(
        offered.contains("the server offered ssh-ed25519 SHA256:"),
        "{offered}"
    );
    assert!(!offered.ends_with(&old_pin));
    assert_eq!(
        inv.hosts[1].host_key.as_deref(),
        Some(old_pin.as_str()),
        "the pin stays"
    );
    assert_eq!(inv.hosts[1].step.as_deref(), Some("host key"));
    assert_eq!(inv.hosts[0].state, HostState::Ready);

    // 6. destroy (with the original key back), twice: processes gone, second run is a no-op.
    drop(s12);
    let _s12 = sshd(&t.join("sshd12"), "127.0.0.12", p12, &hk12, &authorized);
    assert_eq!(_s12.port, p12);
    for round in 0..2 {
        let o = lt(
            &["destroy", "--inventory", hosts.to_str().unwrap()],
            &[],
            None,
        );
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{e}");
        if round == 0 {
            assert!(e.contains("stopped node stopped hub"), "{e}");
        } else {
            assert!(e.contains("absent node absent hub"), "{e}");
        }
    }
    assert!(
        wait_until(Duration::from_secs(10), || !alive(hub_pid)
            && !alive(node12_pid)),
        "grid processes still running after destroy"
    );
    let inv = Inventory::load(&hosts).unwrap();
    assert!(inv.hosts.iter().all(|h| h.state == HostState::Stopped));
    assert!(inv.grid.url.is_none());
}

/// Voluntary context switches of this process so far (every thread).
fn voluntary_switches() -> u64 {
    let mut n = 0;
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        n += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    n
}

/// The SSH tunnel: one session (pinned key) carries several connections at once, moves megabytes
/// both ways intact, and sleeps while they are idle instead of polling (a loop that slept 1-2 ms
/// between tries made hundreds of wake-ups per second per connection).
#[test]
fn ssh_tunnel_forwards_concurrent_connections_and_sleeps_when_idle() {
    use loadtest::provision::ssh::{Ssh, Target};
    use loadtest::provision::tunnel;
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let user_key = keypair(t, "user");
    let authorized = t.join("authorized_keys");
    std::fs::copy(t.join("user.pub"), &authorized).unwrap();
    let hk = keypair(t, "host14");
    let port = free_port_on("127.0.0.14");
    let _sshd = sshd(&t.join("sshd14"), "127.0.0.14", port, &hk, &authorized);
    // The destination: an echo server on the SSH host's side.
    let echo = TcpListener::bind("127.0.0.14:0").unwrap();
    let echo_port = echo.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in echo.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = c.try_clone().unwrap();
                let mut w = c;
                let _ = std::io::copy(&mut r, &mut w);
            });
        }
    });
    let via = Target {
        label: "h14".into(),
        address: "127.0.0.14".into(),
        port,
        user: "root".into(),
        key: Some(user_key),
        timeout: Duration::from_secs(10),
    };
    let pinned = Ssh::connect(&via, None).unwrap().host_key;
    // A wrong pin is refused before anything listens.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let wrong = tunnel::Forward {
        via: via.clone(),
        pinned: "ssh-ed25519 SHA256:not-the-key".into(),
        host: "127.0.0.14".into(),
        port: echo_port,
    };
    let e = tunnel::start(listener, wrong).unwrap_err().to_string();
    assert!(e.contains("host key changed"), "{e}");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let local = listener.local_addr().unwrap();
    let fwd = tunnel::Forward {
        via,
        pinned,
        host: "127.0.0.14".into(),
        port: echo_port,
    };
    tunnel::start(listener, fwd).unwrap();
    let mut conns: Vec<std::net::TcpStream> = (0..3)
        .map(|_| std::net::TcpStream::connect(local).unwrap())
        .collect();
    // 2 MiB each way on three connections at once, each with its own byte pattern.
    let size = 2 << 20;
    let workers: Vec<_> = conns
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let mut w = c.try_clone().unwrap();
            let mut r = c.try_clone().unwrap();
            let data: Vec<u8> = (0..size).map(|i| ((i * 7 + k * 13) % 251) as u8).collect();
            std::thread::spawn(move || {
                let expect = data.clone();
                let writer = std::thread::spawn(move || w.write_all(&data).unwrap());
                let mut got = vec![0u8; expect.len()];
                r.read_exact(&mut got).unwrap();
                writer.join().unwrap();
                got == expect
            })
        })
        .collect();
    for (k, w) in workers.into_iter().enumerate() {
        assert!(
            w.join().unwrap(),
            "connection {k}: bytes changed in the tunnel"
        );
    }
    // Idle with three open connections: the tunnel thread sleeps.
    std::thread::sleep(Duration::from_millis(300));
    let before = voluntary_switches();
    std::thread::sleep(Duration::from_secs(2));
    let wakeups = voluntary_switches() - before;
    eprintln!("tunnel idle: {wakeups} voluntary context switches in 2 s");
    assert!(
        wakeups < 20,
        "{wakeups} wake-ups in 2 s of idle: the tunnel spins"
    );
    // Still working after the idle period, and a closed destination closes the client.
    conns[0].write_all(b"ping").unwrap();
    let mut back = [0u8; 4];
    conns[0].read_exact(&mut back).unwrap();
    assert_eq!(&back, b"ping");
    conns[1].shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    conns[1]
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conns[1].read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

/// `--ssh-timeout` is a duration like every other one; a bare number still means seconds, with a
/// deprecation warning; anything else is refused before anything runs.
#[test]
fn ssh_timeout_is_a_duration_and_bare_seconds_warn() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("none.toml");
    let destroy = |timeout: &str| {
        lt(
            &[
                "destroy",
                "--inventory",
                missing.to_str().unwrap(),
                "--ssh-timeout",
                timeout,
            ],
            &[],
            None,
        )
    };
    let o = destroy("30s");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("deprecated"), "{}", stderr(&o));
    let o = destroy("30");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "--ssh-timeout 30: a bare number of seconds is deprecated; write --ssh-timeout 30s"
        ),
        "{}",
        stderr(&o)
    );
    let o = destroy("thirty");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("30s or 2m"), "{}", stderr(&o));
}

/// The documented one-liner: `loadtest provision --servers 10 --plan-only` run as written, from a
/// directory holding `terraform/`, with provider, region, server type, operator CIDR and SSH key
/// from the environment; then from `loadtest.toml`, with the environment and flags winning; and a
/// clear list of what is missing when nothing is configured. Terraform is the STAND-IN.
#[test]
fn the_one_liner_works_with_settings_from_the_environment_or_loadtest_toml() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().join("project");
    std::fs::create_dir_all(&cwd).unwrap();
    terraform_dir(&cwd);
    let key = keypair(tmp.path(), "op");
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(common::bin());
        c.current_dir(&cwd)
            .args(["provision", "--servers", "10", "--plan-only"])
            .args(extra)
            .env("PATH", standin_path())
            .env("XDG_CONFIG_HOME", tmp.path().join("no-user-config"));
        for v in [
            "LOADTEST_PROVIDER",
            "LOADTEST_REGION",
            "LOADTEST_SERVER_TYPE",
            "LOADTEST_OPERATOR_CIDR",
            "LOADTEST_SSH_KEY",
            "LOADTEST_SSH_PUBLIC_KEY",
            "LOADTEST_CONFIG",
            "HCLOUD_TOKEN",
        ] {
            c.env_remove(v);
        }
        c.envs(env.iter().copied()).output().unwrap()
    };
    let main_tf = cwd.join("terraform/work/lt-fleet/main.tf");
    // `key = value` of the module block, whatever the alignment.
    let arg = |key: &str| -> String {
        let hcl = std::fs::read_to_string(&main_tf).unwrap();
        hcl.lines()
            .filter_map(|l| l.trim().split_once(" = "))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().trim_matches('"').to_string())
            .unwrap_or_else(|| panic!("{key} not in\n{hcl}"))
    };

    // Nothing configured: one error listing everything missing, nothing written.
    let o = run(&[], &[]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    for what in [
        "LOADTEST_PROVIDER",
        "LOADTEST_OPERATOR_CIDR",
        "LOADTEST_SSH_KEY",
    ] {
        assert!(e.contains(what), "{what} not named: {e}");
    }
    assert!(!main_tf.exists());

    // Everything from the environment.
    let o = run(
        &[],
        &[
            ("LOADTEST_PROVIDER", "hetzner"),
            ("LOADTEST_REGION", "nbg1"),
            ("LOADTEST_SERVER_TYPE", "cx33"),
            ("LOADTEST_OPERATOR_CIDR", "198.51.100.7/32"),
            ("LOADTEST_SSH_KEY", key.to_str().unwrap()),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(arg("server_count"), "10");
    assert_eq!(arg("server_type"), "cx33");
    assert_eq!(arg("location"), "nbg1");
    assert_eq!(arg("operator_cidr"), "198.51.100.7/32");
    assert!(arg("ssh_public_key").starts_with("ssh-ed25519 "));
    assert!(
        stderr(&o).contains("cost: 10 × hetzner cx33"),
        "{}",
        stderr(&o)
    );

    // From loadtest.toml in the working directory; the environment wins over it, a flag over both.
    std::fs::write(
        cwd.join("loadtest.toml"),
        format!(
            "[provision]\nprovider = \"hetzner\"\nregion = \"hel1\"\nserver_type = \"cx43\"\n\
             operator_cidr = \"203.0.113.9/32\"\nssh_key = \"{}\"\n",
            key.display()
        ),
    )
    .unwrap();
    let o = run(&["--server-type", "ccx33"], &[("LOADTEST_REGION", "fsn1")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        arg("location"),
        "fsn1",
        "the environment wins over the file"
    );
    assert_eq!(arg("server_type"), "ccx33", "the flag wins over both");
    assert_eq!(arg("operator_cidr"), "203.0.113.9/32", "from the file");

    // A typo in the file is bad input naming the file and the key.
    std::fs::write(
        cwd.join("loadtest.toml"),
        "[provision]\nprovder = \"hetzner\"\n",
    )
    .unwrap();
    let o = run(&[], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("loadtest.toml") && stderr(&o).contains("provder"),
        "{}",
        stderr(&o)
    );
}

/// Removes the lo alias the private-address test may have added (also when it fails midway).
struct LoAlias(&'static str);

impl LoAlias {
    fn present(&self) -> bool {
        let out = Command::new("ip")
            .args(["-o", "-4", "addr", "show", "dev", "lo"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains(&format!(" {}/", self.0))
    }
}

impl Drop for LoAlias {
    fn drop(&mut self) {
        if self.present() {
            let _ = Command::new("ip")
                .args(["addr", "del", &format!("{}/32", self.0), "dev", "lo"])
                .status();
        }
    }
}

/// The bootstrap's private-address step (IONOS hot-adds the private NIC, which may come up without
/// an address) on a real sshd host on loopback: the host's "private" address is a 127.0.0.x that
/// must be configured on `lo`. A missing one is brought up by DHCP on the host's interface (the
/// DHCP answer is a FIXTURE, tests/fixtures/dhcp-standin, adding a lo alias removed afterwards);
/// a host whose DHCP does not yield its address fails at that step, saying why.
#[test]
fn the_private_address_step_brings_the_address_up_or_says_why() {
    use loadtest::provision::bootstrap::{self, Steps};
    use loadtest::provision::ssh::{Ssh, Target, shell_quote};
    let alias = LoAlias("127.0.0.16");
    drop(LoAlias("127.0.0.16")); // a leftover of an interrupted run
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let user_key = keypair(t, "user");
    let authorized = t.join("authorized_keys");
    std::fs::copy(t.join("user.pub"), &authorized).unwrap();
    let hk = keypair(t, "host15");
    let port = free_port_on("127.0.0.15");
    let standin = repo().join("tests/fixtures/dhcp-standin");
    let _sshd = sshd_with(
        &t.join("sshd15"),
        "127.0.0.15",
        port,
        &hk,
        &authorized,
        &format!(
            "SetEnv LT_DHCP_CLIENT={} DHCP_STANDIN_LEASE=127.0.0.16/32\n",
            standin.display()
        ),
    );

    // 1. Through `loadtest provision`: the host's DHCP leases 127.0.0.16, not its 127.0.0.17.
    let hosts = t.join("hosts.toml");
    std::fs::write(
        &hosts,
        format!(
            "provider = \"static\"\n[ssh]\nuser = \"root\"\nkey = \"{}\"\n\
             [grid]\nmedia_dir = \"{}\"\n\n\
             [[host]]\nname = \"h17\"\naddress = \"127.0.0.15\"\nssh_port = {port}\n\
             private_address = \"127.0.0.17\"\nprivate_interface = \"lo\"\nremote_dir = \"{}\"\n",
            user_key.display(),
            t.join("media").display(),
            t.join("h17").display()
        ),
    )
    .unwrap();
    let o = lt(
        &[
            "provision",
            "--provider",
            "static",
            "--inventory",
            hosts.to_str().unwrap(),
            "--slots",
            "1",
        ],
        &[],
        None,
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{e}");
    let inv = Inventory::load(&hosts).unwrap();
    let h = &inv.hosts[0];
    assert_eq!(h.state, HostState::Failed);
    assert_eq!(h.step.as_deref(), Some("private address"), "{e}");
    let why = h.error.clone().unwrap();
    assert!(
        why.contains(
            "private address 127.0.0.17 is not configured: DHCP on lo did not bring it up"
        ),
        "{why}"
    );
    assert!(
        why.contains("lo 127.0.0.1/8"),
        "says what is configured: {why}"
    );
    assert!(
        !t.join("h17/selenium-server-4.48.0.jar").exists(),
        "stopped at that step"
    );
    drop(alias); // the stand-in did add its lease (the wrong address)
    let alias = LoAlias("127.0.0.16");
    assert!(!alias.present());

    // 2. The step itself on a host whose private address is 127.0.0.16: missing, then brought up
    //    by DHCP on lo; a second run finds it present and changes nothing.
    let target = Target {
        label: "h16".into(),
        address: "127.0.0.15".into(),
        port,
        user: "root".into(),
        key: Some(user_key.clone()),
        timeout: Duration::from_secs(10),
    };
    let mut ssh = Ssh::connect(&target, None).unwrap();
    let dir = t.join("h16").display().to_string();
    let mut host = loadtest::provision::inventory::Host::new("h16", "127.0.0.15");
    host.private_address = Some("127.0.0.16".into());
    host.private_interface = Some("lo".into());
    let mut steps = Steps {
        remote: &mut ssh,
        label: host.label(),
        jar: format!("{dir}/selenium.jar"),
        dir: dir.clone(),
        heap: "256m".into(),
        sudo: false,
    };
    steps
        .sh(
            "prepare",
            &format!("mkdir -p {0} && cat > {0}/bootstrap.sh", shell_quote(&dir)),
            bootstrap::SCRIPT.as_bytes(),
        )
        .unwrap();
    assert!(!alias.present());
    let did = bootstrap::ensure_private_address(&mut steps, &host).unwrap();
    assert_eq!(
        did.as_deref(),
        Some("configured 127.0.0.16 on lo by DHCP on lo")
    );
    assert!(
        alias.present(),
        "the address is on lo now (ip addr, not the tool, says so)"
    );
    assert_eq!(
        bootstrap::ensure_private_address(&mut steps, &host).unwrap(),
        None,
        "present: nothing to do"
    );
}

/// The load generators on Kubernetes, with a STAND-IN kubectl (tests/fixtures/kubectl-standin: it
/// contacts no cluster, records its calls, and builds with the real kubectl) and a real Selenium
/// Grid on loopback standing in for the cluster's hub behind `kubectl port-forward`:
/// `--plan-only` prints the build (checked like deploy/loadgen: strict schemas, KEDA's CRD,
/// restricted profile, attested images) and applies nothing; the media chunks rebuild the exact
/// files; apply writes the inventory; `grid status --inventory` reaches the hub through the
/// port-forward, which ends with the process; `destroy` deletes the overlay.
#[test]
fn kubernetes_fleet_plan_apply_status_and_destroy() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let deploy = t.join("deploy");
    let ok = Command::new("cp")
        .arg("-r")
        .arg(repo().join("deploy"))
        .arg(&deploy)
        .status()
        .unwrap();
    assert!(ok.success());
    let _ = std::fs::remove_dir_all(deploy.join("work"));
    let loadgen = deploy.join("loadgen");
    let log = t.join("kubectl.log");
    let applied = t.join("applied.yaml");
    let path = format!(
        "{}:/usr/bin:/bin",
        repo().join("tests/fixtures/kubectl-standin").display()
    );
    let real = which("kubectl");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(common::bin());
        c.args(args)
            .env("PATH", &path)
            .env("LOADTEST_CACHE", repo().join(".cache/loadtest"))
            .env("STANDIN_LOG", &log)
            .env("STANDIN_APPLIED", &applied)
            .env("STANDIN_REAL_KUBECTL", &real)
            .env_remove("LOADTEST_PROVIDER")
            .env_remove("KUBECONFIG");
        c.envs(env.iter().copied()).output().unwrap()
    };
    let provision = |extra: &[&str]| {
        let mut a = vec![
            "provision",
            "--provider",
            "kubernetes",
            "--name",
            "lt-k8s",
            "--servers",
            "4",
            "--loadgen-dir",
            loadgen.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        run(&a, &[])
    };
    let calls = || std::fs::read_to_string(&log).unwrap_or_default();

    // 1. --plan-only: the real build on stdout, checked; nothing applied.
    let o = provision(&["--plan-only"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plan = t.join("plan.yaml");
    std::fs::write(&plan, &o.stdout).unwrap();
    let yaml = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(yaml.contains("maxReplicaCount: 4"), "{yaml}");
    assert!(
        yaml.contains("nodeMaxSessions: \"16\""),
        "small preset, 2 cores"
    );
    let check = Command::new(repo().join(".cache/venv/bin/python"))
        .arg(repo().join("tests/deploy/check_rendered.py"))
        .arg(&plan)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        stderr(&check)
    );
    assert!(
        calls().lines().all(|l| l.starts_with("kustomize ")),
        "{}",
        calls()
    );
    assert!(
        stderr(&o).contains("16 browser slots per 2-core node, 16 participants"),
        "{}",
        stderr(&o)
    );

    // 1b. The density mode sizes the slots: 4 participants per browser, received video discarded
    //     (8 × 12/12 per core): ⌊2 × 8.0 / 4⌋ = 4 browsers hosting 16 participants per pod.
    let o = provision(&[
        "--plan-only",
        "--receive-video",
        "discard",
        "--participants-per-browser",
        "4",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let yaml = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(yaml.contains("nodeMaxSessions: \"4\""), "{yaml}");
    let said = stderr(&o);
    assert!(
        said.contains("4 browser slots per 2-core node, 16 participants")
            && said.contains("receive_video = discard, 4 per browser"),
        "{said}"
    );

    // 2. The media chunks of the overlay rebuild the files the tool generated, byte for byte
    //    (with the init container's own script).
    let work = deploy.join("work/lt-k8s");
    let rebuilt = t.join("rebuilt");
    std::fs::create_dir_all(&rebuilt).unwrap();
    let o = Command::new("sh")
        .arg(loadgen.join("scripts/assemble-media.sh"))
        .env("MEDIA_SRC", work.join("media"))
        .env("MEDIA_DIR", &rebuilt)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let mut names: Vec<_> = std::fs::read_dir(&rebuilt)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "video and audio: {names:?}");
    for n in &names {
        let original = repo().join(".cache/loadtest/media").join(n);
        assert_eq!(
            std::fs::read(rebuilt.join(n)).unwrap(),
            std::fs::read(&original).unwrap(),
            "{n}"
        );
    }

    // 3. Apply to the current context, wait for the rollouts, write the inventory.
    let o = provision(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c = calls();
    let work_s = work.to_str().unwrap();
    assert!(
        c.contains(&format!("--context standin-context apply -k {work_s}")),
        "{c}"
    );
    for d in ["selenium-hub", "selenium-node"] {
        assert!(c.contains(&format!("rollout status deployment/{d}")), "{c}");
    }
    assert!(
        std::fs::read_to_string(&applied)
            .unwrap()
            .contains("kind: ScaledObject")
    );
    let inv_path = work.join("inventory.toml");
    let inv = Inventory::load(&inv_path).unwrap();
    assert_eq!(inv.provider, "kubernetes");
    assert!(inv.hosts.is_empty());
    let k = inv.kubernetes.clone().unwrap();
    assert_eq!(
        (
            k.context.as_deref(),
            k.namespace.as_str(),
            k.service.as_str()
        ),
        (Some("standin-context"), "loadgen", "selenium-hub")
    );
    assert_eq!(inv.grid.media_dir, "/opt/loadtest/media");

    // 4. grid status through kubectl port-forward (the stand-in names the port of a real Grid).
    let grid = common::start_grid(&t.join("grid"), 2);
    let hub_port = grid.url.rsplit(':').next().unwrap().to_string();
    let o = run(
        &["grid", "status", "--inventory", inv_path.to_str().unwrap()],
        &[("STANDIN_FORWARD_PORT", &hub_port)],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(out.contains("1 node(s), 2 slot(s)"), "{out}");
    assert!(
        calls()
            .contains("--context standin-context -n loadgen port-forward svc/selenium-hub :4444"),
        "{}",
        calls()
    );
    // The port-forward ended with the process that opened it.
    let pf: u32 = std::fs::read_to_string(format!("{}.port-forward", log.display()))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || !alive(pf)),
        "kubectl port-forward {pf} outlived loadtest"
    );
    drop(grid);

    // 5. destroy (found by fleet name under deploy/work) deletes what the overlay created.
    let o = run(
        &[
            "destroy",
            "--name",
            "lt-k8s",
            "--loadgen-dir",
            loadgen.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        calls().contains(&format!(
            "--context standin-context delete -k {work_s} --ignore-not-found"
        )),
        "{}",
        calls()
    );
}

fn which(name: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!p.is_empty(), "{name} not found: ./scripts/setup.sh");
    p
}
