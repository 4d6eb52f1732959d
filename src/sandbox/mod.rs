//! `loadtest sandbox`: the local demo target — Janus from Debian's package, configured by the tool and
//! bound to loopback.
//!
//! libnice never offers loopback ICE candidates, so media would leave via the machine's real
//! interfaces. The sandbox therefore puts 127.0.0.2/32 on a veth (`ltv0`) and makes Janus gather ICE
//! only there; Chrome joins with `--allow-loopback-in-peer-connection`. Everything stays in 127.0.0.0/8.
//!
//! That address is local, though: media to it crosses `lo`, not the veth, so nothing can shape it.
//! `--isolated` instead runs Janus in a network namespace of its own behind a real link (the lab's
//! star topology, see [`crate::network::star`]): the HTTP API, the admin API and all media cross
//! the server link, which `--link-rate` caps with htb and which can be black-holed.

pub mod control;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::error::InfraError;
use crate::network::{Rate, Server, Star, registry};

const JANUS_JCFG: &str = include_str!("../../assets/sandbox/janus.jcfg");
const HTTP_JCFG: &str = include_str!("../../assets/sandbox/janus.transport.http.jcfg");
const WS_JCFG: &str = include_str!("../../assets/sandbox/janus.transport.websockets.jcfg");
const VIDEOROOM_JCFG: &str = include_str!("../../assets/sandbox/janus.plugin.videoroom.jcfg");

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
    /// Janus WebSocket API port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 8188)]
    pub ws_port: u16,
    /// UDP port range for media, `FROM-TO`.
    #[arg(long, default_value = "20000-20999")]
    pub rtp_ports: String,
    /// Directory for the generated configuration, log and admin secret.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Run Janus in its own network namespace behind a real link (root needed); the URLs to use are
    /// printed.
    #[arg(long)]
    pub isolated: bool,
    /// Cap the isolated sandbox's link at this rate in both directions, e.g. `4mbit`.
    #[arg(long, value_name = "RATE", requires = "isolated")]
    pub link_rate: Option<Rate>,
    /// Remove what crashed earlier runs left of the network lab (namespaces, veths, routes) and exit.
    #[arg(long, conflicts_with = "isolated")]
    pub cleanup: bool,
}

/// How a sandbox is started (the library's view of [`SandboxArgs`]).
#[derive(Debug, Clone)]
pub struct Options {
    /// Janus HTTP API port (0: any free port).
    pub http_port: u16,
    /// Janus admin API port (0: any free port).
    pub admin_port: u16,
    /// Janus WebSocket API port (0: any free port).
    pub ws_port: u16,
    /// UDP port range for media, `FROM-TO`.
    pub rtp_ports: String,
    /// Directory for the configuration, log and admin secret (default: in the cache).
    pub dir: Option<PathBuf>,
    /// Janus in its own network namespace behind a real link.
    pub isolated: bool,
    /// A rate cap on that link, both directions.
    pub link_rate: Option<Rate>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            http_port: 8088,
            admin_port: 7088,
            ws_port: 8188,
            rtp_ports: "20000-20999".into(),
            dir: None,
            isolated: false,
            link_rate: None,
        }
    }
}

impl From<&SandboxArgs> for Options {
    fn from(a: &SandboxArgs) -> Options {
        Options {
            http_port: a.http_port,
            admin_port: a.admin_port,
            ws_port: a.ws_port,
            rtp_ports: a.rtp_ports.clone(),
            dir: a.dir.clone(),
            isolated: a.isolated,
            link_rate: a.link_rate,
        }
    }
}

/// The isolated sandbox's network: the lab and Janus's place in it.
#[derive(Debug)]
pub struct Isolated {
    /// The star (router namespace; cohorts attach here).
    pub star: Star,
    /// Janus's namespace and link.
    pub server: Server,
}

/// Queue of the link cap, as time at the capped rate.
const LINK_QUEUE: Duration = Duration::from_millis(200);

fn isolated_network(rate: Option<Rate>) -> Result<Isolated, crate::network::NetworkError> {
    registry::cleanup_leftovers()?;
    let star = Star::create()?;
    let server = star.add_server("janus")?;
    if let Some(r) = rate {
        star.cap(&server, r, LINK_QUEUE)?;
    }
    Ok(Isolated { star, server })
}

/// A running Janus; stopped (killed) when dropped, and its network (if isolated) removed after.
#[derive(Debug)]
pub struct Sandbox {
    child: Child,
    /// The isolated network, when `--isolated`.
    pub network: Option<Arc<Isolated>>,
    /// The control socket a run's disruptions use (`None` when it could not listen).
    pub control: Option<control::Control>,
    /// The address Janus exchanges media on.
    pub media_ip: String,
    /// Janus HTTP API, e.g. `http://127.0.0.1:8088/janus`.
    pub janus_url: String,
    /// Janus WebSocket API, e.g. `ws://127.0.0.1:8188` (`[target.janus] websocket`).
    pub ws_url: String,
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

impl Drop for Sandbox {
    fn drop(&mut self) {
        // The control socket's tasks may still hold the network: remove it now, not when they go.
        self.control.take();
        if let Some(n) = self.network.take()
            && let Err(e) = n.star.remove()
        {
            tracing::warn!("sandbox network: {e}");
        }
    }
}

impl Sandbox {
    /// Write the configuration and start Janus; returns when its API answers.
    pub async fn start(args: &Options) -> Result<Sandbox, InfraError> {
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
        let network = if args.isolated {
            let rate = args.link_rate;
            let net = tokio::task::spawn_blocking(move || isolated_network(rate))
                .await
                .map_err(|e| InfraError::new("network lab", e.to_string()))?
                .map_err(|e| InfraError::new("network lab", e.to_string()))?;
            Some(Arc::new(net))
        } else {
            ensure_media_interface().await?;
            None
        };
        let (bind_ip, ice_iface) = match &network {
            Some(n) => (n.server.addr.to_string(), n.server.iface().to_string()),
            None => ("127.0.0.1".to_string(), ICE_IFACE.to_string()),
        };
        let media_ip = match &network {
            Some(_) => bind_ip.clone(),
            None => MEDIA_IP.to_string(),
        };
        // Inside its own namespace every port is free; the defaults apply to 0.
        let port = |p: u16, dflt: u16| match (p, &network) {
            (0, Some(_)) => Ok(dflt),
            (0, None) => free_port(),
            _ => Ok(p),
        };
        let http_port =
            port(args.http_port, 8088).map_err(|e| InfraError::new(what, e.to_string()))?;
        let admin_port =
            port(args.admin_port, 7088).map_err(|e| InfraError::new(what, e.to_string()))?;
        let ws_port = port(args.ws_port, 8188).map_err(|e| InfraError::new(what, e.to_string()))?;
        for p in [http_port, admin_port, ws_port] {
            if network.is_none() && TcpListener::bind(("127.0.0.1", p)).is_err() {
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
                .replace("{{ICE_IFACE}}", &ice_iface)
                .replace("{{INTERFACE_IP}}", &media_ip)
                .replace("{{BIND_IP}}", &bind_ip)
                .replace("{{HTTP_PORT}}", &http_port.to_string())
                .replace("{{ADMIN_PORT}}", &admin_port.to_string())
                .replace("{{WS_PORT}}", &ws_port.to_string())
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
        write("janus.transport.websockets.jcfg", fill(WS_JCFG))?;
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
        let mut command = match &network {
            Some(n) => Command::from(n.server.ns.command(janus)),
            None => Command::new(janus),
        };
        let mut child = command
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
        let janus_url = format!("http://{bind_ip}:{http_port}/janus");
        let admin_url = format!("http://{bind_ip}:{admin_port}/admin");
        let ws_url = format!("ws://{bind_ip}:{ws_port}");
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
        let socket = control::socket_path(&bind_ip, http_port);
        let control = match control::Control::serve(socket, network.clone(), child.id()) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(
                    "sandbox control socket: {e}; disruptions cannot reach this sandbox"
                );
                None
            }
        };
        Ok(Sandbox {
            child,
            network,
            control,
            media_ip,
            janus_url,
            ws_url,
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

    /// Stop Janus, then remove its network (if isolated).
    pub async fn stop(mut self) {
        self.control.take();
        let _ = self.child.kill().await;
        if let Some(n) = self.network.take() {
            let _ = tokio::task::spawn_blocking(move || {
                if let Err(e) = n.star.remove() {
                    tracing::warn!("sandbox network: {e}");
                }
            })
            .await;
        }
    }
}

fn cleanup() -> anyhow::Result<i32> {
    let c = registry::cleanup_leftovers()?;
    if c.is_empty() {
        println!("nothing left over");
    } else {
        println!(
            "removed leftovers of lab(s) {}: namespaces [{}], interfaces [{}], routes [{}]",
            c.labs.join(", "),
            c.namespaces.join(", "),
            c.ifaces.join(", "),
            c.routes.join(", ")
        );
    }
    Ok(crate::error::EXIT_OK)
}

/// `loadtest sandbox`: run until Ctrl-C (or remove leftovers with `--cleanup`).
pub async fn exec(args: SandboxArgs) -> anyhow::Result<i32> {
    if args.cleanup {
        return tokio::task::spawn_blocking(cleanup).await?;
    }
    let sb = Sandbox::start(&Options::from(&args)).await?;
    println!(
        "Janus sandbox running: API {}  WebSocket API {}  admin {}",
        sb.janus_url, sb.ws_url, sb.admin_url
    );
    match &sb.network {
        Some(n) => {
            let cap = args
                .link_rate
                .map_or("not capped".to_string(), |r| format!("capped at {r}"));
            println!(
                "isolated: Janus in namespace {} at {}; media on {} ({}), link {} <-> {} {cap}",
                n.server.ns.name(),
                n.server.addr,
                sb.media_ip,
                n.server.iface(),
                n.server.link.a.name,
                n.server.link.b.name,
            );
            println!(
                "router namespace (cohorts attach here): {}",
                n.star.router().name()
            );
        }
        None => println!("media on {MEDIA_IP} ({ICE_IFACE})"),
    }
    if let Some(c) = &sb.control {
        println!(
            "control socket (disruptions of a run): {}",
            c.path().display()
        );
    }
    println!("config and log in {}", sb.dir.display());
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
