//! Where browsers come from: the embedded local ChromeDriver, or any Selenium Grid / W3C endpoint.

pub mod capabilities;
pub mod cdp;
pub mod chromedriver;
pub mod grid;

use url::Url;

use crate::error::InfraError;
use crate::scenario::WebDriver;
use chromedriver::ChromeDriver;
use grid::Grid;

/// A WebDriver endpoint ready for sessions.
#[derive(Debug)]
pub enum Endpoint {
    /// A ChromeDriver the tool started.
    Local(ChromeDriver),
    /// A remote grid.
    Grid {
        /// WebDriver URL (trailing slash; `/wd/hub/` kept if given).
        url: Url,
        /// Its status/GraphQL client.
        grid: Grid,
    },
}

/// Normalise a WebDriver URL to end with `/` (fantoccini joins `session` onto it).
pub fn normalise(text: &str) -> Result<Url, url::ParseError> {
    let mut u = Url::parse(text)?;
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    Ok(u)
}

impl Endpoint {
    /// Start the local driver, or check the grid is up with `needed` free slots.
    pub async fn start(cfg: &WebDriver, needed: usize) -> Result<Endpoint, InfraError> {
        match &cfg.url {
            None => {
                if !cfg.browser.is_file() {
                    return Err(InfraError::new(
                        format!("browser {}", cfg.browser.display()),
                        "not found (install Debian's chromium, or set webdriver.browser)",
                    ));
                }
                Ok(Endpoint::Local(
                    ChromeDriver::start(&cfg.chromedriver).await?,
                ))
            }
            Some(text) => {
                let url =
                    normalise(text).map_err(|e| InfraError::new("webdriver.url", e.to_string()))?;
                let grid = Grid::new(&url);
                let status = grid.status().await?;
                let what = || format!("Selenium Grid at {}", crate::redact::url(url.as_str()));
                if !status.ready {
                    return Err(InfraError::new(
                        what(),
                        "is not ready (no node registered?)",
                    ));
                }
                let free = status.free_slots();
                if free < needed {
                    return Err(InfraError::new(
                        what(),
                        format!(
                            "has {free} free slots on {} nodes but the plan needs {needed} concurrent sessions (add nodes or raise max-sessions)",
                            status.nodes.len()
                        ),
                    ));
                }
                Ok(Endpoint::Grid { url, grid })
            }
        }
    }

    /// The WebDriver URL sessions are created at.
    pub fn url(&self) -> &Url {
        match self {
            Endpoint::Local(d) => d.url(),
            Endpoint::Grid { url, .. } => url,
        }
    }

    /// True for the embedded local driver.
    pub fn is_local(&self) -> bool {
        matches!(self, Endpoint::Local(_))
    }

    /// How results name it (credentials redacted).
    pub fn describe(&self) -> String {
        match self {
            Endpoint::Local(d) => format!("local chromedriver ({})", d.url()),
            Endpoint::Grid { url, .. } => crate::redact::url(url.as_str()),
        }
    }

    /// The grid client, when browsers come from a grid.
    pub fn grid(&self) -> Option<Grid> {
        match self {
            Endpoint::Local(_) => None,
            Endpoint::Grid { grid, .. } => Some(grid.clone()),
        }
    }

    /// Stop what the tool started.
    pub async fn stop(self) {
        if let Endpoint::Local(d) = self {
            d.stop().await;
        }
    }
}
