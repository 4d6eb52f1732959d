//! Chrome DevTools commands through WebDriver: ChromeDriver's `POST /session/{id}/goog/cdp/execute`,
//! which a Selenium Grid forwards to its node like any session command.

use fantoccini::Client;
use fantoccini::error::CmdError;
use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{Value, json};
use url::{ParseError, Url};

/// One DevTools command (`cmd`, e.g. `Page.addScriptToEvaluateOnNewDocument`) with its parameters.
#[derive(Debug)]
pub struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base: &Url, session: Option<&str>) -> Result<Url, ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Run `source` in every document the current window loads from now on, before the page's own
/// scripts (DevTools `Page.addScriptToEvaluateOnNewDocument`).
pub async fn before_every_load(client: &Client, source: &str) -> Result<(), CmdError> {
    let cmd = Cdp {
        cmd: "Page.addScriptToEvaluateOnNewDocument",
        params: json!({ "source": source }),
    };
    client.issue_cmd(cmd).await.map(|_| ())
}
