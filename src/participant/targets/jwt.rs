//! Tokens for the Jitsi target: one static token from the environment, or one minted per participant
//! with that participant's room and display name, as the newest Malleus does: HS256 from a secret in
//! the environment (prosody `mod_auth_token` with `app_secret`), or RS256 from a PEM key file with a
//! `kid` header (JaaS: `kid = "<AppID>/<key id>"`, `sub = "<AppID>"`). Tokens and secrets are
//! registered with [`crate::redact`] and never printed.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};

use crate::scenario::JitsiOptions;
use crate::schedule::ScheduledParticipant;

/// How long a minted token outlives the participant's scheduled stay (reconnects reuse it).
pub const TOKEN_MARGIN: Duration = Duration::from_secs(600);
/// How far `nbf` lies in the past (clock skew between this machine and the server).
const SKEW_SECS: i64 = 30;

/// Where participants' tokens come from.
pub enum Tokens {
    /// No token.
    None,
    /// One token for everyone (`jwt_env`); it needs `room: "*"` to open every room.
    Static(String),
    /// One token per participant.
    Mint(Box<Minter>),
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tokens::None => "Tokens::None",
            Tokens::Static(_) => "Tokens::Static(***)",
            Tokens::Mint(_) => "Tokens::Mint(***)",
        })
    }
}

/// Signs one token per participant.
pub struct Minter {
    key: EncodingKey,
    header: Header,
    claims: Map<String, Value>,
}

impl Tokens {
    /// Read the token or the signing key the options name (from the environment or a file). The
    /// error names the key and what is wrong, never the secret.
    pub fn load(opts: &JitsiOptions) -> Result<Tokens, String> {
        let env = |var: &str, key: &str| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("target.jitsi.{key}: environment variable {var} is not set"))
        };
        let (key, alg) = if let Some(var) = &opts.jwt_env {
            let token = env(var, "jwt_env")?.trim().to_string();
            crate::redact::register(&token);
            return Ok(Tokens::Static(token));
        } else if let Some(var) = &opts.jwt_secret_env {
            let secret = env(var, "jwt_secret_env")?;
            crate::redact::register(&secret);
            let key = EncodingKey::from_secret(secret.as_bytes())
                .map_err(|e| format!("target.jitsi.jwt_secret_env: {var}: {e}"))?;
            (key, Algorithm::HS256)
        } else if let Some(file) = &opts.jwt_key_file {
            (rsa_key(file)?, Algorithm::RS256)
        } else {
            return Ok(Tokens::None);
        };
        let mut header = Header::new(alg);
        header.kid = opts.jwt_kid.clone();
        let claims = match serde_json::to_value(&opts.jwt_claims) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        Ok(Tokens::Mint(Box::new(Minter {
            key,
            header,
            claims,
        })))
    }

    /// The token a participant's URL carries; `now` is Unix seconds.
    pub fn for_participant(&self, plan: &ScheduledParticipant, now: i64) -> Option<String> {
        match self {
            Tokens::None => None,
            Tokens::Static(t) => Some(t.clone()),
            Tokens::Mint(m) => {
                let claims = claims(&m.claims, plan, now);
                jsonwebtoken::encode(&m.header, &claims, &m.key).ok()
            }
        }
    }
}

fn rsa_key(file: &Path) -> Result<EncodingKey, String> {
    let pem = std::fs::read(file).map_err(|e| {
        format!(
            "target.jitsi.jwt_key_file: {} cannot be read: {e}",
            file.display()
        )
    })?;
    EncodingKey::from_rsa_pem(&pem).map_err(|e| {
        format!(
            "target.jitsi.jwt_key_file: {} is not an RSA private key in PEM ({e}); expected e.g. the JaaS key file",
            file.display()
        )
    })
}

/// A participant's claims (pure): the room, its id as display name, a lifetime of its stay plus
/// [`TOKEN_MARGIN`], then `jwt_claims` on top (tables merged, other values replaced).
pub fn claims(extra: &Map<String, Value>, plan: &ScheduledParticipant, now: i64) -> Value {
    let stay = plan.leave_offset.saturating_sub(plan.join_offset) + TOKEN_MARGIN;
    let name = plan.id.to_string();
    let mut c = json!({
        "aud": "jitsi",
        "iss": "loadtest",
        "sub": "*",
        "room": plan.room,
        "iat": now,
        "nbf": now - SKEW_SECS,
        "exp": now + stay.as_secs() as i64,
        "context": { "user": { "id": name, "name": name, "moderator": "true" } },
    });
    merge(&mut c, &Value::Object(extra.clone()));
    c
}

fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// What a token says, read without verifying it (its claims are not secret; it is never printed).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Claims {
    /// `alg` of the header.
    pub alg: String,
    /// `room`.
    pub room: Option<String>,
    /// `exp`, Unix seconds.
    pub exp: Option<i64>,
}

/// Decode a JWT's header and payload (no signature check).
pub fn decode(token: &str) -> Result<Claims, String> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    if parts.len() != 3 {
        return Err(format!(
            "not a JWT ({} dot-separated parts, expected 3)",
            parts.len()
        ));
    }
    let json = |part: &str, what: &str| -> Result<Value, String> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| format!("its {what} is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| format!("its {what} is not JSON"))
    };
    let header = json(parts[0], "header")?;
    let payload = json(parts[1], "payload")?;
    Ok(Claims {
        alg: header["alg"].as_str().unwrap_or_default().to_string(),
        room: payload["room"].as_str().map(str::to_string),
        exp: payload["exp"].as_i64(),
    })
}

/// What would make the server refuse `claims` for `rooms` in a run ending at `run_end` (Unix
/// seconds): a room claim that does not cover every room, an expiry before the run ends.
pub fn problems(claims: &Claims, rooms: &[String], now: i64, run_end: i64) -> Vec<String> {
    let mut out = Vec::new();
    match claims.room.as_deref() {
        Some("*") => {}
        Some(r) => {
            let other: Vec<&String> = rooms
                .iter()
                .filter(|x| !x.eq_ignore_ascii_case(r))
                .collect();
            if !other.is_empty() {
                out.push(format!(
                    "its room claim is {r:?}, so the server refuses rooms {} (a shared token needs room: \"*\")",
                    other
                        .iter()
                        .take(3)
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        None => out.push(
            "it has no room claim (prosody token auth requires one; \"*\" for any room)".into(),
        ),
    }
    match claims.exp {
        Some(exp) if exp <= now => out.push(format!("it expired {} s ago", now - exp)),
        Some(exp) if exp < run_end => out.push(format!(
            "it expires {} s into the run, before the run ends ({} s)",
            exp - now,
            run_end - now
        )),
        Some(_) => {}
        None => out.push("it has no exp claim".into()),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Role;

    fn plan() -> ScheduledParticipant {
        ScheduledParticipant {
            id: "c1p2".parse().unwrap(),
            order: 0,
            conference: 1,
            room: "loadtest1".into(),
            index: 2,
            role: Role::Receiver,
            join_offset: Duration::from_secs(10),
            leave_offset: Duration::from_secs(70),
            step: None,
            cohort: None,
        }
    }

    #[test]
    fn minted_claims_carry_room_name_and_a_short_life() {
        let extra = serde_json::from_value::<Map<String, Value>>(json!({
            "iss": "chat", "sub": "vpaas-magic-cookie-x", "context": { "features": { "recording": "false" } }
        }))
        .unwrap();
        let c = claims(&extra, &plan(), 1_000_000);
        assert_eq!(c["room"], "loadtest1");
        assert_eq!(c["context"]["user"]["name"], "c1p2");
        assert_eq!(
            c["context"]["features"]["recording"], "false",
            "tables merge"
        );
        assert_eq!(c["iss"], "chat");
        assert_eq!(c["exp"], 1_000_000 + 60 + 600);
    }

    #[test]
    fn hs256_tokens_decode_and_are_judged() {
        let opts = JitsiOptions {
            jwt_secret_env: Some("LT_UNIT_JWT_SECRET".into()),
            ..Default::default()
        };
        // SAFETY: only this test reads this variable.
        unsafe { std::env::set_var("LT_UNIT_JWT_SECRET", "unit-test-secret") };
        let tokens = Tokens::load(&opts).unwrap();
        let t = tokens.for_participant(&plan(), 1_000_000).unwrap();
        let c = decode(&t).unwrap();
        assert_eq!(
            (c.alg.as_str(), c.room.as_deref()),
            ("HS256", Some("loadtest1"))
        );
        let key = jsonwebtoken::DecodingKey::from_secret(b"unit-test-secret").unwrap();
        let mut v = jsonwebtoken::Validation::new(Algorithm::HS256);
        v.validate_exp = false;
        v.set_audience(&["jitsi"]);
        assert!(jsonwebtoken::decode::<Value>(&t, &key, &v).is_ok());
        let rooms = vec!["loadtest0".to_string(), "loadtest1".to_string()];
        assert_eq!(
            problems(&c, &rooms[1..], 1_000_000, 1_000_100),
            Vec::<String>::new()
        );
        let p = problems(&c, &rooms, 1_000_000, 1_000_100);
        assert!(p[0].contains("refuses rooms loadtest0"), "{p:?}");
        let p = problems(&c, &rooms[1..], 1_100_000, 1_100_100);
        assert!(p[0].contains("expired"), "{p:?}");
        assert!(decode("abc.def").is_err());
        assert!(format!("{tokens:?}").contains("***"));
    }
}
