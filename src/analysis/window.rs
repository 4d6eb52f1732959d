//! The steady in-call window: from the last participant's media start to the first hang-up. Browser
//! start-up and teardown load the generators but measure nothing, so client figures, the generator CPU
//! peak and the saturation guard all look at this window only.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::results::{self, Event, EventRow, ReadError};

/// A time window `[from, to]`, as RFC 3339 timestamps (they compare as text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Start (inclusive).
    pub from: String,
    /// End (inclusive); [`Window::OPEN`] when nobody hung up yet.
    pub to: String,
}

impl Window {
    /// The end of a window whose end was not recorded (a run killed in the call).
    pub const OPEN: &'static str = "9999";

    /// Whether a results timestamp falls inside.
    pub fn contains(&self, ts: &str) -> bool {
        ts >= self.from.as_str() && ts <= self.to.as_str()
    }

    /// The window without its first `warm_up`: unchanged when that would leave nothing, or when its
    /// start is not a results timestamp.
    pub fn after(&self, warm_up: std::time::Duration) -> Window {
        let from = results::parse_ts(&self.from)
            .and_then(|t| chrono::Duration::from_std(warm_up).ok().map(|d| t + d))
            .map(results::ts);
        match from {
            Some(from) if from < self.to => Window {
                from,
                to: self.to.clone(),
            },
            _ => self.clone(),
        }
    }
}

/// Whether `ts` is inside `window`, where no window means the whole run.
pub fn inside(window: Option<&Window>, ts: &str) -> bool {
    window.is_none_or(|w| w.contains(ts))
}

/// Tracks the window over a stream of events.
#[derive(Debug, Default)]
pub struct SteadyWindow {
    last_media: Option<String>,
    first_left: Option<String>,
}

impl SteadyWindow {
    /// Feed one event.
    pub fn event(&mut self, r: &EventRow) {
        match r.event {
            Event::Media if self.last_media.as_ref().is_none_or(|t| r.ts > *t) => {
                self.last_media = Some(r.ts.clone())
            }
            Event::Left if self.first_left.as_ref().is_none_or(|t| r.ts < *t) => {
                self.first_left = Some(r.ts.clone())
            }
            _ => {}
        }
    }

    /// The window; `None` when media start and hang-up do not overlap.
    pub fn window(self) -> Option<Window> {
        match (self.last_media, self.first_left) {
            (Some(from), Some(to)) if from < to => Some(Window { from, to }),
            (Some(from), None) => Some(Window {
                from,
                to: Window::OPEN.into(),
            }),
            _ => None,
        }
    }
}

/// The steady window of a results directory (from `events.csv`).
pub fn steady(dir: &Path) -> Result<Option<Window>, ReadError> {
    let mut w = SteadyWindow::default();
    results::rows(dir, "events.csv", |r: EventRow| w.event(&r))?;
    Ok(w.window())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: &str, event: Event) -> EventRow {
        EventRow {
            ts: ts.into(),
            participant: "c0p0".into(),
            event,
            detail: String::new(),
        }
    }

    #[test]
    fn last_media_to_first_hang_up() {
        let mut w = SteadyWindow::default();
        for e in [
            ev("2026-01-01T00:00:01.000Z", Event::Media),
            ev("2026-01-01T00:00:03.000Z", Event::Media),
            ev("2026-01-01T00:00:09.000Z", Event::Left),
            ev("2026-01-01T00:00:08.000Z", Event::Left),
        ] {
            w.event(&e);
        }
        let w = w.window().unwrap();
        assert_eq!(w.from, "2026-01-01T00:00:03.000Z");
        assert_eq!(w.to, "2026-01-01T00:00:08.000Z");
        assert!(w.contains("2026-01-01T00:00:05.000Z"));
        assert!(!w.contains("2026-01-01T00:00:02.000Z"));
        let mut open = SteadyWindow::default();
        open.event(&ev("2026-01-01T00:00:01.000Z", Event::Media));
        assert_eq!(open.window().unwrap().to, Window::OPEN);
        let mut none = SteadyWindow::default();
        none.event(&ev("2026-01-01T00:00:09.000Z", Event::Media));
        none.event(&ev("2026-01-01T00:00:08.000Z", Event::Left));
        assert!(none.window().is_none());
    }

    #[test]
    fn a_warm_up_moves_the_start_unless_nothing_would_be_left() {
        let w = Window {
            from: "2026-01-01T00:00:03.000Z".into(),
            to: "2026-01-01T00:00:30.000Z".into(),
        };
        let d = std::time::Duration::from_secs(5);
        assert_eq!(w.after(d).from, "2026-01-01T00:00:08.000Z");
        assert_eq!(w.after(d).to, w.to);
        let short = Window {
            from: "2026-01-01T00:00:03.000Z".into(),
            to: "2026-01-01T00:00:06.000Z".into(),
        };
        assert_eq!(short.after(d), short);
        let open = Window {
            from: "2026-01-01T00:00:03.000Z".into(),
            to: Window::OPEN.into(),
        };
        assert_eq!(open.after(d).from, "2026-01-01T00:00:08.000Z");
    }
}
