//! What would fail before anyone joins: the load-test client missing from the deployment, a token the
//! server will refuse. `run` checks both before it starts; `validate --check` reports them.

use url::Url;

use super::jitsi::MeetUrl;
use super::jwt::{self, Tokens};
use crate::scenario::{JitsiOptions, JitsiPage};
use crate::schedule::ScheduledParticipant;

/// The script the load-test page loads (jitsi-meet-load-test's webpack entry, served from
/// `/_load-test/libs/`; docker-jitsi-meet `meet.conf`).
const CLIENT_SCRIPT: &str = "load-test-participant";

/// How to install the client, for the error.
const INSTALL: &str = "stock deb and docker installs do not ship it (docker mounts an empty \
    /usr/share/jitsi-meet/load-test). Build jitsi/jitsi-meet-load-test (npm install && npm run build), \
    put its page and libs/load-test-participant.min.js in /usr/share/jitsi-meet/load-test on the web \
    server and route /_load-test/ to it (docker: ENABLE_LOAD_TEST_CLIENT=1; deb: the commented \
    _load-test locations of the nginx site); or use page = \"app\"";

/// The load-test page of the first room, as participants open it (without a token).
pub fn load_test_page(base: &Url, opts: &JitsiOptions, room: &str) -> Url {
    let tenant = opts
        .tenants
        .first()
        .map(String::as_str)
        .or(opts.tenant.as_deref());
    MeetUrl::new(base, tenant, JitsiPage::LoadTest, room).build()
}

/// Fetch the load-test page and the client script it loads; the script's URL when both are there.
pub async fn load_test_client(http: &reqwest::Client, page: &Url) -> Result<Url, String> {
    let shown = crate::redact::url(page.as_str());
    let missing =
        |what: String| format!("the load-test client is not installed ({what}): {INSTALL}");
    let resp = http
        .get(page.clone())
        .send()
        .await
        .map_err(|e| format!("{shown} unreachable: {}", e.without_url()))?;
    if !resp.status().is_success() {
        return Err(missing(format!("{shown} answered {}", resp.status())));
    }
    let body = resp.text().await.map_err(|e| missing(e.to_string()))?;
    let src = script_src(&body).ok_or_else(|| {
        missing(format!(
            "{shown} is not the load-test page: it loads no {CLIENT_SCRIPT} script"
        ))
    })?;
    let script = page
        .join(&src)
        .map_err(|e| missing(format!("script {src:?}: {e}")))?;
    let shown_script = crate::redact::url(script.as_str());
    let resp = http
        .get(script.clone())
        .send()
        .await
        .map_err(|e| missing(format!("{shown_script}: {}", e.without_url())))?;
    let html = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("html"));
    if !resp.status().is_success() || html {
        return Err(missing(format!(
            "{shown_script} answered {}{}",
            resp.status(),
            if html { " with an HTML page" } else { "" }
        )));
    }
    Ok(script)
}

/// The `src` of the page's client script, if it loads one.
fn script_src(html: &str) -> Option<String> {
    html.split("<script").skip(1).find_map(|tag| {
        let tag = &tag[..tag.find('>')?];
        let start = tag.find("src=")? + 4;
        let rest = &tag[start..];
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let value = &rest[1..rest[1..].find(quote)? + 1];
        value.contains(CLIENT_SCRIPT).then(|| value.to_string())
    })
}

/// What would make the server refuse the participants' tokens (never the token itself): a static
/// token's room claim or expiry, a minted token that does not decode to its room.
pub fn token_problems(tokens: &Tokens, plans: &[ScheduledParticipant], now: i64) -> Vec<String> {
    let mut rooms: Vec<String> = plans.iter().map(|p| p.room.clone()).collect();
    rooms.sort();
    rooms.dedup();
    let run_end = now + crate::schedule::run_length(plans).as_secs() as i64;
    match tokens {
        Tokens::None => Vec::new(),
        Tokens::Static(t) => match jwt::decode(t) {
            Ok(c) => jwt::problems(&c, &rooms, now, run_end)
                .into_iter()
                .map(|p| format!("the token of target.jitsi.jwt_env: {p}"))
                .collect(),
            Err(e) => vec![format!("the token of target.jitsi.jwt_env is {e}")],
        },
        Tokens::Mint(_) => {
            let Some(first) = plans.first() else {
                return Vec::new();
            };
            match tokens.for_participant(first, now).map(|t| jwt::decode(&t)) {
                Some(Ok(c)) if c.room.as_deref() == Some(first.room.as_str()) => Vec::new(),
                Some(Ok(_)) => vec![
                    "minted tokens carry another room claim (jwt_claims overrides room)".into(),
                ],
                _ => vec!["a token could not be minted with the configured key".into()],
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_client_script() {
        let page = "<html><script src='libs/app.js'></script><script src=\"libs/load-test-participant.min.js?v=1\"></script>";
        assert_eq!(
            super::script_src(page).as_deref(),
            Some("libs/load-test-participant.min.js?v=1")
        );
        assert_eq!(
            super::script_src("<script src=\"app.bundle.min.js\"></script>"),
            None
        );
    }
}
