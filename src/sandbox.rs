//! `loadtest sandbox`: the local demo target — Janus from Debian's package, configured by the tool and
//! bound to loopback.
//!
//! libnice never offers loopback ICE candidates, so media would leave via the machine's real
//! interfaces. The sandbox therefore puts 127.0.0.2/32 on a veth (`ltv0`) and makes Janus gather ICE
//! only there; Chrome joins with `--allow-loopback-in-peer-connection`. Everything stays in 127.0.0.0/8.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::error::InfraError;

const JANUS_JCFG: &str = include_str!("../assets/sandbox/janus.jcfg");
const HTTP_JCFG: &str = include_str!("../assets/sandbox/janus.transport.http.jcfg");
const VIDEOROOM_JCFG: &str = include_str!("../assets/sandbox/janus.plugin.videoroom.jcfg");

/// The veth carrying the media address.
pub const ICE_IFACE: &str = "ltv0";
/// The loopback-range address Janus and Chrome exchange media on.
pub const MEDIA_IP: &str = "127.0.0.2";

/// Options of `loadtest sandbox`.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Janus HTTP API port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 8088)]
    pub http_port: u16,
    /// Janus admin API port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 7088)]
    pub admin_port: u16,
    /// UDP port range for media, `FROM-TO`.
    #[arg(long, default_value = "20000-20999")]
    pub rtp_ports: String,
    /// Directory for the generated configuration, log and admin secret.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// A running Janus; stopped (killed) when dropped.
#[derive(Debug)]
pub struct Sandbox {
    child: Child,
    /// Janus HTTP API, e.g. `http://127.0.0.1:8088/janus`.
    pub janus_url: String,
    /// Admin API, e.g. `http://127.0.0.1:7088/admin`.
    pub admin_url: String,
    /// Admin secret (also in `<dir>/admin_secret`, mode 0600; never printed).
    pub admin_secret: String,
    /// Configuration and log directory.
    pub dir: PathBuf,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn plugin_root() -> Option<PathBuf> {
    let fixed = Path::new("/usr/lib/x86_64-linux-gnu/janus");
    if fixed.join("plugins").is_dir() {
        return Some(fixed.to_path_buf());
    }
    std::fs::read_dir("/usr/lib")
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("janus"))
        .find(|p| p.join("plugins").is_dir())
}

async fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .await
        .map_err(|e| format!("cannot run `ip`: {e} (install iproute2)"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Make sure `ltv0` exists, is up and carries 127.0.0.2/32 (needs CAP_NET_ADMIN; idempotent).
pub async fn ensure_media_interface() -> Result<(), InfraError> {
    let what = || format!("media interface {ICE_IFACE} ({MEDIA_IP}/32)");
    let have = ip(&["-o", "addr", "show", "dev", ICE_IFACE])
        .await
        .unwrap_or_default();
    if have.contains(&format!("{MEDIA_IP}/32")) {
        return Ok(());
    }
    let steps: [&[&str]; 4] = [
        &[
            "link", "add", ICE_IFACE, "type", "veth", "peer", "name", "ltv1",
        ],
        &["addr", "add", "127.0.0.2/32", "dev", ICE_IFACE],
        &["link", "set", ICE_IFACE, "up"],
        &["link", "set", "ltv1", "up"],
    ];
    for step in steps {
        if let Err(e) = ip(step).await
            && !e.contains("File exists")
        {
            return Err(InfraError::new(
                what(),
                format!(
                    "`ip {}` failed: {e} (the sandbox needs root or CAP_NET_ADMIN to keep media on loopback)",
                    step.join(" ")
                ),
            ));
        }
    }
    Ok(())
}

impl Sandbox {
    /// Write the configuration and start Janus; returns when its API answers.
    pub async fn start(args: &SandboxArgs) -> Result<Sandbox, InfraError> {
        let what = "Janus sandbox";
        let janus = Path::new("/usr/bin/janus");
        if !janus.is_file() {
            return Err(InfraError::new(
                what,
                "/usr/bin/janus not found (apt-get install janus janus-demos)",
            ));
        }
        let libs = plugin_root().ok_or_else(|| {
            InfraError::new(what, "Janus plugins folder not found under /usr/lib")
        })?;
        ensure_media_interface().await?;
        let port = |p: u16| if p == 0 { free_port() } else { Ok(p) };
        let http_port = port(args.http_port).map_err(|e| InfraError::new(what, e.to_string()))?;
        let admin_port = port(args.admin_port).map_err(|e| InfraError::new(what, e.to_string()))?;
        for p in [http_port, admin_port] {
            if TcpListener::bind(("127.0.0.1", p)).is_err() {
                return Err(InfraError::new(
                    what,
                    format!("port {p} on 127.0.0.1 is in use (another sandbox?)"),
                ));
            }
        }
        let dir = match &args.dir {
            Some(d) => d.clone(),
            None => crate::media::cache_dir().join(format!("sandbox-{http_port}")),
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| InfraError::new(what, format!("{}: {e}", dir.display())))?;
        let dir = dir.canonicalize().unwrap_or(dir);
        let secret = random_hex(16);
        let log = dir.join("janus.log");
        let fill = |t: &str| {
            t.replace("{{CONFIG_DIR}}", &dir.display().to_string())
                .replace("{{LOG_FILE}}", &log.display().to_string())
                .replace("{{ADMIN_SECRET}}", &secret)
                .replace("{{RTP_PORT_RANGE}}", &args.rtp_ports)
                .replace("{{ICE_IFACE}}", ICE_IFACE)
                .replace("{{INTERFACE_IP}}", MEDIA_IP)
                .replace("{{HTTP_PORT}}", &http_port.to_string())
                .replace("{{ADMIN_PORT}}", &admin_port.to_string())
                .replace(
                    "/usr/lib/x86_64-linux-gnu/janus",
                    &libs.display().to_string(),
                )
        };
        let write = |name: &str, text: String| {
            std::fs::write(dir.join(name), text)
                .map_err(|e| InfraError::new(what, format!("writing {name}: {e}")))
        };
        write("janus.jcfg", fill(JANUS_JCFG))?;
        write("janus.transport.http.jcfg", fill(HTTP_JCFG))?;
        write("janus.plugin.videoroom.jcfg", fill(VIDEOROOM_JCFG))?;
        write("admin_secret", secret.clone())?;
        // Also where `[metrics.janus]` finds it by port when no secret is configured.
        let known = crate::metrics::janus::secret_file(admin_port);
        let _ = std::fs::write(&known, &secret);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in [dir.join("admin_secret"), known] {
                let _ = std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600));
            }
        }
        let mut child = Command::new(janus)
            .arg("-C")
            .arg(dir.join("janus.jcfg"))
            .arg("-F")
            .arg(&dir)
            .arg("-o")
            .arg("-N")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| InfraError::new(what, format!("cannot start janus: {e}")))?;
        let janus_url = format!("http://127.0.0.1:{http_port}/janus");
        let admin_url = format!("http://127.0.0.1:{admin_port}/admin");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(r) = http.get(format!("{janus_url}/info")).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(5).collect();
                return Err(InfraError::new(
                    what,
                    format!("janus exited ({status}): {}", tail.join(" | ")),
                ));
            }
            if Instant::now() > deadline {
                return Err(InfraError::new(
                    what,
                    format!(
                        "no answer from {janus_url}/info within 15 s; see {}",
                        log.display()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Sandbox {
            child,
            janus_url,
            admin_url,
            admin_secret: secret,
            dir,
        })
    }

    async fn admin(&self, body: Value) -> Result<Value, String> {
        let mut body = body;
        body["transaction"] = json!(random_hex(6));
        body["admin_secret"] = json!(self.admin_secret);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let r = http
            .post(&self.admin_url)
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        if v["janus"] != "success" {
            return Err(v.to_string());
        }
        Ok(v)
    }

    /// Participants in a room right now (admin API `listparticipants`); 0 when the room is gone.
    pub async fn participants(&self, room: &str) -> Result<usize, String> {
        let v = self
            .admin(
                json!({"janus": "message_plugin", "plugin": "janus.plugin.videoroom",
                           "request": {"request": "listparticipants", "room": room}}),
            )
            .await?;
        Ok(v["response"]["participants"].as_array().map_or(0, Vec::len))
    }

    /// Create a room holding at most `publishers` publishers (a room that is already full, for tests
    /// and rehearsals of "room full" failures).
    pub async fn create_room(&self, room: &str, publishers: u32) -> Result<(), String> {
        self.admin(json!({"janus": "message_plugin", "plugin": "janus.plugin.videoroom",
                          "request": {"request": "create", "room": room, "publishers": publishers, "permanent": false}}))
            .await
            .map(|_| ())
    }

    /// Janus sessions alive right now (admin API `list_sessions`).
    pub async fn sessions(&self) -> Result<usize, String> {
        let v = self.admin(json!({"janus": "list_sessions"})).await?;
        Ok(v["sessions"].as_array().map_or(0, Vec::len))
    }

    /// Stop Janus.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `loadtest sandbox`: run until Ctrl-C.
pub async fn exec(args: SandboxArgs) -> anyhow::Result<i32> {
    let sb = Sandbox::start(&args).await?;
    println!(
        "Janus sandbox running: API {}  admin {}",
        sb.janus_url, sb.admin_url
    );
    println!(
        "media on {MEDIA_IP} ({ICE_IFACE}); config and log in {}",
        sb.dir.display()
    );
    println!("admin secret in {}", sb.dir.join("admin_secret").display());
    println!("press Ctrl-C to stop");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    sb.stop().await;
    Ok(crate::error::EXIT_OK)
}
