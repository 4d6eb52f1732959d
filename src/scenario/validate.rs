//! Semantic checks: impossible shapes, malformed URLs, missing files, unset secrets.

use std::path::Path;
use std::time::Duration;

use super::error::Invalid;
use super::{Grow, Increment, Scenario, TargetKind};
use crate::media::{AudioSource, VideoSource};

/// The most participants one run may hold (conferences × participants per conference). One controller
/// carries this many (docs/benchmarks.md); a larger test is several runs.
pub const MAX_PARTICIPANTS: u64 = 100_000;

/// The first problem found, with its key; `base` is the scenario file (relative media paths resolve
/// against its directory).
pub(crate) fn validate(s: &Scenario, file: &Path) -> Result<(), Invalid> {
    load(s)?;
    target(s)?;
    browsers_and_media(s, file)?;
    metrics(s)?;
    judgement(s)?;
    if let Some(e) = &s.export {
        super::export::validate(e)?;
        if let Some(u) = &e.push_url {
            check_url("export.push_url", u)?;
        }
    }
    limit(s)?;
    super::validate_cohorts::cohorts(s)?;
    super::validate_cohorts::disruptions(s)
}

pub(super) fn ratio(key: &str, v: Option<f64>) -> Result<(), Invalid> {
    match v {
        Some(v) if !(0.0..=1.0).contains(&v) => Err(Invalid::new(
            key,
            format!("{v} is out of range (expected a ratio from 0 to 1)"),
        )),
        _ => Ok(()),
    }
}

pub(super) fn fps(key: &str, v: Option<f64>) -> Result<(), Invalid> {
    match v {
        Some(v) if v.is_nan() || v < 0.0 => Err(Invalid::new(
            key,
            format!("{v} is negative (expected frames per second >= 0)"),
        )),
        _ => Ok(()),
    }
}

/// `[limit]`: a search that can grow and holds long enough to be judged.
fn limit(s: &Scenario) -> Result<(), Invalid> {
    let Some(l) = &s.limit else {
        return Ok(());
    };
    if l.start == 0 {
        return Err(Invalid::new("limit.start", "must be at least 1"));
    }
    if l.max < l.start {
        return Err(Invalid::new(
            "limit.max",
            format!(
                "{} is below limit.start {} (expected max >= start)",
                l.max, l.start
            ),
        ));
    }
    match l.step {
        Increment::Add(0) => return Err(Invalid::new("limit.step", "must add at least 1")),
        Increment::Factor(f) if !(f > 1.0 && f.is_finite()) => {
            return Err(Invalid::new(
                "limit.step",
                format!("factor {f} does not grow (expected e.g. \"x1.5\")"),
            ));
        }
        _ => {}
    }
    let per = u64::from(match l.grow {
        Grow::Conferences => s.load.participants_per_conference,
        Grow::ParticipantsPerConference => s.load.conferences,
    });
    if u64::from(l.max) * per > MAX_PARTICIPANTS {
        return Err(Invalid::new(
            "limit.max",
            format!(
                "{} × {per} participants is more than one run holds (expected at most {MAX_PARTICIPANTS})",
                l.max
            ),
        ));
    }
    if let Some(r) = l.min_recv_bitrate_ratio
        && !(r > 0.0 && r <= 1.0)
    {
        return Err(Invalid::new(
            "limit.min_recv_bitrate_ratio",
            format!("{r} is not a share of the first step's bitrate (expected 0 < ratio <= 1)"),
        ));
    }
    let samples = s.stats.interval.get() * 2;
    if l.hold.get() < samples {
        return Err(Invalid::new(
            "limit.hold",
            format!(
                "{} holds fewer than two stats samples (expected at least {}, twice stats.interval)",
                l.hold,
                humantime::format_duration(samples)
            ),
        ));
    }
    Ok(())
}

/// `[load]`: the shape is possible and fits one run.
fn load(s: &Scenario) -> Result<(), Invalid> {
    let load = &s.load;
    if load.conferences == 0 {
        return Err(Invalid::new("load.conferences", "must be at least 1"));
    }
    let per = load.participants_per_conference;
    if per == 0 {
        return Err(Invalid::new(
            "load.participants_per_conference",
            "must be at least 1",
        ));
    }
    if load.participants_total() > MAX_PARTICIPANTS {
        return Err(Invalid::new(
            "load.participants_per_conference",
            format!(
                "{} conferences × {per} participants = {} participants, more than one run holds (expected at most {MAX_PARTICIPANTS})",
                load.conferences,
                load.participants_total()
            ),
        ));
    }
    for (key, n) in [
        ("load.video_senders", load.video_senders),
        ("load.audio_senders", load.audio_senders),
    ] {
        if let Some(n) = n
            && n > per
        {
            return Err(Invalid::new(
                key,
                format!(
                    "{n} senders but only {per} participants per conference (expected at most participants_per_conference)"
                ),
            ));
        }
    }
    if load.participants_per_browser == 0 {
        return Err(Invalid::new(
            "load.participants_per_browser",
            "must be at least 1 (1: one browser per participant)",
        ));
    }
    if load.duration.get().is_zero() {
        return Err(Invalid::new(
            "load.duration",
            "must be longer than zero (expected e.g. \"30s\" or \"10m\")",
        ));
    }
    if load.join_delay.is_some() && load.ramp.is_some() {
        return Err(Invalid::new(
            "load.ramp",
            "give either join_delay (per participant within a conference) or ramp (the whole run), not both",
        ));
    }
    for sfx in &load.room_suffixes {
        if sfx.is_empty()
            || !sfx
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Invalid::new(
                "load.room_suffixes",
                format!(
                    "{sfx:?} is not a usable room name suffix (expected letters, digits, '-' or '_')"
                ),
            ));
        }
    }
    if load.room_prefix.is_empty()
        || !load
            .room_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Invalid::new(
            "load.room_prefix",
            format!(
                "{:?} is not a usable room name prefix (expected letters, digits, '-' or '_')",
                load.room_prefix
            ),
        ));
    }

    Ok(())
}

/// `[target]`: a URL, and what the target kind needs.
fn target(s: &Scenario) -> Result<(), Invalid> {
    check_url("target.url", &s.target.url)?;
    super::packing::check(s)?;
    match s.target.kind {
        TargetKind::Jitsi => {
            let j = &s.target.jitsi;
            tokens(j)?;
            for (key, t) in j
                .tenant
                .iter()
                .map(|t| ("target.jitsi.tenant", t))
                .chain(j.tenants.iter().map(|t| ("target.jitsi.tenants", t)))
            {
                if t.is_empty() || t.contains('/') || t.contains('#') || t.contains('?') {
                    return Err(Invalid::new(
                        key,
                        format!("{t:?} is not a tenant name (expected one path segment)"),
                    ));
                }
            }
            if j.tenant.is_some() && !j.tenants.is_empty() {
                return Err(Invalid::new(
                    "target.jitsi.tenants",
                    "give either tenant (one) or tenants (spread over conferences), not both",
                ));
            }
        }
        TargetKind::Janus => {
            let j = &s.target.janus;
            for (key, path) in [
                ("target.janus.janus_js", &j.janus_js),
                ("target.janus.adapter_js", &j.adapter_js),
            ] {
                if !path.is_file() {
                    return Err(Invalid::new(
                        key,
                        format!(
                            "{} does not exist (install Debian's janus-demos, or give the path)",
                            path.display()
                        ),
                    ));
                }
            }
            if j.page_host.parse::<std::net::IpAddr>().is_err() {
                return Err(Invalid::new(
                    "target.janus.page_host",
                    format!(
                        "{:?} is not an IP address (expected e.g. \"127.0.0.1\")",
                        j.page_host
                    ),
                ));
            }
        }
    }

    Ok(())
}

/// At most one token source, its variable set, its key file there; `jwt_kid`/`jwt_claims` only
/// for minted tokens.
fn tokens(j: &super::JitsiOptions) -> Result<(), Invalid> {
    let given: Vec<&str> = [
        ("jwt_env", j.jwt_env.is_some()),
        ("jwt_secret_env", j.jwt_secret_env.is_some()),
        ("jwt_key_file", j.jwt_key_file.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, on)| on.then_some(k))
    .collect();
    if given.len() > 1 {
        return Err(Invalid::new(
            format!("target.jitsi.{}", given[1]),
            format!(
                "give one token source, not {} (jwt_env: one static token; jwt_secret_env or jwt_key_file: one minted per participant)",
                given.join(" and ")
            ),
        ));
    }
    for (key, var) in [
        ("target.jitsi.jwt_env", &j.jwt_env),
        ("target.jitsi.jwt_secret_env", &j.jwt_secret_env),
    ] {
        if let Some(var) = var
            && std::env::var(var).map_or(true, |v| v.trim().is_empty())
        {
            return Err(Invalid::new(
                key,
                format!(
                    "environment variable {var} is not set (expected it to hold the token or secret)"
                ),
            ));
        }
    }
    if let Some(f) = &j.jwt_key_file
        && !f.is_file()
    {
        return Err(Invalid::new(
            "target.jitsi.jwt_key_file",
            format!(
                "{} does not exist (expected an RSA private key in PEM)",
                f.display()
            ),
        ));
    }
    let minted = j.jwt_secret_env.is_some() || j.jwt_key_file.is_some();
    if !minted && (j.jwt_kid.is_some() || !j.jwt_claims.is_empty()) {
        return Err(Invalid::new(
            if j.jwt_kid.is_some() {
                "target.jitsi.jwt_kid"
            } else {
                "target.jitsi.jwt_claims"
            },
            "only minted tokens take a kid or claims (set jwt_secret_env or jwt_key_file)",
        ));
    }
    Ok(())
}

/// `[webdriver]`, `[media]`, `[stats]`, `[timeouts]`.
fn browsers_and_media(s: &Scenario, file: &Path) -> Result<(), Invalid> {
    if let Some(url) = &s.webdriver.url {
        check_url("webdriver.url", url)?;
    }

    let base = file.parent().unwrap_or(Path::new("."));
    VideoSource::parse(&s.media.video, base).map_err(|m| Invalid::new("media.video", m))?;
    AudioSource::parse(&s.media.audio, base).map_err(|m| Invalid::new("media.audio", m))?;

    if s.stats.interval.get() < Duration::from_millis(500) {
        return Err(Invalid::new("stats.interval", "must be at least 500ms"));
    }
    let t = &s.timeouts;
    for (key, d) in [
        ("timeouts.session", t.session),
        ("timeouts.page", t.page),
        ("timeouts.join", t.join),
        ("timeouts.media", t.media),
        ("timeouts.unhealthy", t.unhealthy),
        ("timeouts.hangup", t.hangup),
    ] {
        if d.get().is_zero() {
            return Err(Invalid::new(key, "must be longer than zero"));
        }
    }

    Ok(())
}

/// `[metrics]`: reachable-looking sources and their secrets.
fn metrics(s: &Scenario) -> Result<(), Invalid> {
    let m = &s.metrics;
    if let Some(p) = &m.prometheus {
        check_url("metrics.prometheus.url", &p.url)?;
        for b in &p.builtins {
            if !matches!(b.as_str(), "jvb" | "generator") {
                return Err(Invalid::new(
                    "metrics.prometheus.builtins",
                    format!("unknown built-in {b:?} (expected \"jvb\" or \"generator\")"),
                ));
            }
        }
        for (key, var) in [
            ("metrics.prometheus.bearer_token_env", &p.bearer_token_env),
            ("metrics.prometheus.basic_user_env", &p.basic_user_env),
            (
                "metrics.prometheus.basic_password_env",
                &p.basic_password_env,
            ),
        ] {
            if let Some(v) = var
                && std::env::var(v).is_err()
            {
                return Err(Invalid::new(
                    key,
                    format!("environment variable {v} is not set"),
                ));
            }
        }
    }
    for (i, j) in m.jvb.iter().enumerate() {
        check_url(&format!("metrics.jvb.{i}.url"), &j.url)?;
    }
    if let Some(j) = &m.janus {
        check_url("metrics.janus.admin_url", &j.admin_url)?;
        if let Some(v) = &j.admin_secret_env
            && std::env::var(v).is_err()
        {
            return Err(Invalid::new(
                "metrics.janus.admin_secret_env",
                format!("environment variable {v} is not set"),
            ));
        }
        if let Some(f) = &j.admin_secret_file
            && !f.is_file()
        {
            return Err(Invalid::new(
                "metrics.janus.admin_secret_file",
                format!("{} does not exist", f.display()),
            ));
        }
    }
    for (i, p) in m.process.iter().enumerate() {
        // The kernel keeps 15 bytes of a command name; a longer one could never match.
        if p.command.is_empty() || p.command.len() > 15 || p.command.contains('/') {
            return Err(Invalid::new(
                format!("metrics.process.{i}.command"),
                format!(
                    "{:?} is not a command name as in /proc/<pid>/comm (1 to 15 characters, no '/', e.g. \"janus\")",
                    p.command
                ),
            ));
        }
        if m.process[..i].iter().any(|q| q.name == p.name) {
            return Err(Invalid::new(
                format!("metrics.process.{i}.name"),
                format!("{:?} names another [[metrics.process]] too", p.name),
            ));
        }
    }
    if let Some(d) = m.interval
        && d.get() < Duration::from_millis(500)
    {
        return Err(Invalid::new("metrics.interval", "must be at least 500ms"));
    }
    Ok(())
}

/// `[guard]` and `[thresholds]`: ratios in range.
fn judgement(s: &Scenario) -> Result<(), Invalid> {
    let g = &s.guard;
    ratio("guard.max_generator_cpu", Some(g.max_generator_cpu))?;
    ratio("guard.max_saturated_share", Some(g.max_saturated_share))?;
    ratio("guard.max_cpu_limited_share", Some(g.max_cpu_limited_share))?;
    ratio("guard.min_sender_fps_ratio", Some(g.min_sender_fps_ratio))?;
    let th = &s.thresholds;
    ratio("thresholds.min_join_ratio", th.min_join_ratio)?;
    ratio("thresholds.max_loss_p95", th.max_loss_p95)?;
    ratio("thresholds.max_generator_cpu", th.max_generator_cpu)?;
    ratio("thresholds.max_freeze_share", th.max_freeze_share)?;
    if let Some(v) = th.min_video_psnr_p5
        && !(0.0..=99.0).contains(&v)
    {
        return Err(Invalid::new(
            "thresholds.min_video_psnr_p5",
            format!("{v} is out of range (expected dB from 0 to 99)"),
        ));
    }
    if !s.media.receive_video.decodes() {
        let quality = [
            (
                "media.measure_quality",
                s.media.measure_quality == Some(true),
            ),
            (
                "thresholds.max_video_delay_p95",
                th.max_video_delay_p95.is_some(),
            ),
            ("thresholds.max_freeze_share", th.max_freeze_share.is_some()),
            (
                "thresholds.min_video_psnr_p5",
                th.min_video_psnr_p5.is_some(),
            ),
        ];
        if let Some((key, _)) = quality.into_iter().find(|(_, set)| *set) {
            return Err(Invalid::new(
                key,
                "what people see is not measured with media.receive_video = \"discard\" (received frames are dropped before the decoder); remove it or set receive_video = \"decode\"",
            ));
        }
    }
    for (key, v) in [
        ("thresholds.min_recv_fps_p50", th.min_recv_fps_p50),
        ("thresholds.min_recv_fps_p5", th.min_recv_fps_p5),
    ] {
        fps(key, v)?;
        if v.is_some() && !s.media.receive_video.decodes() {
            return Err(Invalid::new(
                key,
                "received fps is not measured with media.receive_video = \"discard\" (frames are dropped before the decoder); remove this threshold or set receive_video = \"decode\"",
            ));
        }
    }
    Ok(())
}

fn check_url(key: &str, text: &str) -> Result<(), Invalid> {
    check_url_of(
        key,
        text,
        ["http", "https"],
        "an http:// or https:// URL with a host",
        "https://meet.example.com",
    )
}

/// `text` is a URL with a host and one of `schemes`; the error says `expected` and an `example`.
pub(super) fn check_url_of(
    key: &str,
    text: &str,
    schemes: [&str; 2],
    expected: &str,
    example: &str,
) -> Result<(), Invalid> {
    match url::Url::parse(text) {
        Ok(u) if schemes.contains(&u.scheme()) && u.host_str().is_some_and(|h| !h.is_empty()) => {
            Ok(())
        }
        Ok(u) => Err(Invalid::new(
            key,
            format!("{text:?} has scheme {:?} (expected {expected})", u.scheme()),
        )),
        Err(e) => Err(Invalid::new(
            key,
            format!("{text:?} is not a URL: {e} (expected e.g. \"{example}\")"),
        )),
    }
}
