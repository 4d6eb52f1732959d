//! Keep secrets out of results, logs and reports.
//!
//! Three nets, applied to every event detail, failure reason and saved console log: the literal
//! secrets the run was given ([`register`]: a static JWT, a signing secret), anything shaped like a JWT
//! (`eyJ….eyJ….sig`, which also catches every minted token), and the value after `jwt=` or `token=`
//! wherever it stands (a URL, a quoted or JSON string in a console line, lib-jitsi-meet's XMPP URL).

use std::sync::RwLock;

/// What replaces a secret.
const MASK: &str = "***";
/// Shorter literals are not registered (they would mask ordinary words).
const MIN_SECRET: usize = 8;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remember a secret of this run (a static token, a signing secret): it is masked wherever it shows.
pub fn register(secret: &str) {
    let s = secret.trim();
    if s.len() < MIN_SECRET {
        return;
    }
    if let Ok(mut v) = SECRETS.write()
        && !v.iter().any(|x| x == s)
    {
        v.push(s.to_string());
    }
}

/// A URL with any `user:password@` and `jwt`/`token` values replaced by `***`.
pub fn url(text: &str) -> String {
    let Ok(mut u) = url::Url::parse(text) else {
        return self::text(text);
    };
    if !u.username().is_empty() {
        let _ = u.set_username(MASK);
    }
    if u.password().is_some() {
        let _ = u.set_password(Some(MASK));
    }
    self::text(u.as_str())
}

/// Mask every secret in free text (console lines, error messages, event details).
pub fn text(text: &str) -> String {
    let mut s = text.to_string();
    if let Ok(v) = SECRETS.read() {
        for secret in v.iter() {
            if s.contains(secret.as_str()) {
                s = s.replace(secret.as_str(), MASK);
            }
        }
    }
    let s = mask_jwts(&s);
    mask_params(&s)
}

/// Characters of base64url, the alphabet of a JWT's three parts.
fn b64url(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// `eyJ<b64url>.eyJ<b64url>.<b64url>` (a JSON header and payload) becomes `***`.
fn mask_jwts(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("eyJ") {
        let (before, from) = rest.split_at(i);
        out.push_str(before);
        match jwt_len(from) {
            Some(n) => {
                out.push_str(MASK);
                rest = &from[n..];
            }
            None => {
                out.push_str("eyJ");
                rest = &from[3..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The length of the JWT `s` starts with, if it starts with one.
fn jwt_len(s: &str) -> Option<usize> {
    let part = |t: &str| t.find(|c: char| !b64url(c)).unwrap_or(t.len());
    let header = part(s);
    let after = s[header..].strip_prefix('.')?;
    if !after.starts_with("eyJ") {
        return None;
    }
    let payload = part(after);
    let sig = after[payload..]
        .strip_prefix('.')
        .map_or(0, |t| part(t) + 1);
    Some(header + 1 + payload + sig)
}

/// The value after `jwt=` / `token=` (a key starting a word), up to a delimiter, becomes `***`.
fn mask_params(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let bytes = s.as_bytes();
    'scan: while i < s.len() {
        for key in ["jwt=", "token="] {
            let starts_word = i == 0 || !(bytes[i - 1] as char).is_ascii_alphanumeric();
            if starts_word && s[i..].starts_with(key) {
                out.push_str(key);
                let from = i + key.len();
                let end = s[from..]
                    .find([
                        '&', '#', '"', '\'', ' ', '\t', '\n', ',', ';', ')', '}', ']', '<', '>',
                    ])
                    .map_or(s.len(), |e| from + e);
                if end > from {
                    out.push_str(MASK);
                }
                i = end;
                continue 'scan;
            }
        }
        let c = s[i..].chars().next().unwrap_or_default();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoiKiJ9.c2lnbmF0dXJl";

    #[test]
    fn console_logs_lose_tokens() {
        assert_eq!(
            super::text("GET https://m/x?jwt=abc done"),
            "GET https://m/x?jwt=*** done"
        );
        // Quoted and JSON URLs (console lines), lib-jitsi-meet's token= on the XMPP URL.
        let line = format!(
            "connecting {{\"serviceUrl\":\"wss://m/xmpp-websocket?room=r&token={JWT}\"}} '{JWT}'"
        );
        let out = super::text(&line);
        assert!(!out.contains("eyJ"), "{out}");
        assert!(out.contains("token=***\""), "{out}");
        assert_eq!(super::text(&format!("\"{JWT}\"")), "\"***\"");
    }

    #[test]
    fn registered_literals_are_masked_anywhere() {
        super::register("s3cret-signing-key");
        super::register("short");
        assert_eq!(
            super::text("key=s3cret-signing-key;x"),
            "key=***;x",
            "a registered secret"
        );
        assert_eq!(super::text("short words stay"), "short words stay");
    }

    #[test]
    fn credentials_and_tokens_are_hidden() {
        assert_eq!(
            super::url("http://u:p@h:4444/wd/hub"),
            "http://***:***@h:4444/wd/hub"
        );
        assert_eq!(
            super::url("https://m.example/room?jwt=abc.def&x=1#jwt=%22abc%22&config.a=1"),
            "https://m.example/room?jwt=***&x=1#jwt=***&config.a=1"
        );
        assert_eq!(
            super::url("https://m.example/myjwt=1"),
            "https://m.example/myjwt=1"
        );
        assert_eq!(super::text("not a jwt: eyJ alone"), "not a jwt: eyJ alone");
    }
}
