//! How participants are packed onto pages and browsers: `[load] participants_per_page` clients share
//! one page, `[load] participants_per_browser` pages share one browser. Consecutive participants in
//! join order share both. Checked here: what a target can host per page and per browser.

use super::density::Packing;
use super::error::Invalid;
use super::{JitsiPage, Scenario, Speakers, TargetKind};

/// Participants one browser can host on the Janus page over the HTTP API: every participant's Janus
/// session holds one HTTP long poll open, and Chrome opens at most 6 connections per host, so with 5
/// or more the pages' requests queue behind the polls (measured: the 5th and 6th windows stalled in
/// subscriber negotiation for 15 s and more). The WebSocket API (`[target.janus] websocket`) has no
/// such limit: a WebSocket is not one of the 6.
pub const JANUS_HTTP_PER_BROWSER: u32 = 4;

/// True when page-mates must share a conference and a role: on the Jitsi load-test page, which starts
/// all its clients (`numClients`) from one URL. They are then seated before the run
/// (`schedule::seat`).
pub fn seated(s: &Scenario) -> bool {
    s.load.participants_per_page > 1
        && s.target.kind == TargetKind::Jitsi
        && s.target.jitsi.page == JitsiPage::LoadTest
}

/// `[load] participants_per_page` and `participants_per_browser` against the target.
pub(crate) fn check(s: &Scenario) -> Result<(), Invalid> {
    let load = &s.load;
    if load.participants_per_page == 0 {
        return Err(Invalid::new(
            "load.participants_per_page",
            "must be at least 1 (1: one participant per page)",
        ));
    }
    let per_page = load.participants_per_page;
    if per_page > 1 && load.speakers == Speakers::P59 {
        return Err(Invalid::new(
            "load.participants_per_page",
            format!(
                "{per_page} clients per page with speakers = \"p59\" (expected participants_per_page = 1: the talk meter measures one participant per page)"
            ),
        ));
    }
    match s.target.kind {
        TargetKind::Janus => janus(s),
        TargetKind::Jitsi if per_page > 1 && s.target.jitsi.page == JitsiPage::App => {
            Err(Invalid::new(
                "load.participants_per_page",
                format!(
                    "{per_page} clients per page on the full Jitsi app (expected 1: the app is one participant per page; clients per page need target.jitsi.page = \"load-test\", whose numClients runs several)"
                ),
            ))
        }
        // The load-test page's numClients: page-mates are seated by conference and role
        // (schedule::seat), and the driver reaches every client through its pre-load hook.
        TargetKind::Jitsi => Ok(()),
    }
}

fn janus(s: &Scenario) -> Result<(), Invalid> {
    let p = Packing::of(s);
    if let Some(ws) = &s.target.janus.websocket {
        return websocket_url(ws);
    }
    let n = p.per_slot();
    if n <= JANUS_HTTP_PER_BROWSER {
        return Ok(());
    }
    let fix = "or set [target.janus] websocket = \"ws://<janus host>:8188\", Janus's WebSocket transport, which has no such limit";
    if p.per_page == 1 {
        return Err(Invalid::new(
            "load.participants_per_browser",
            format!(
                "{n} is more than a browser hosts on the Janus HTTP API (expected at most {JANUS_HTTP_PER_BROWSER}: each participant holds one long poll open and Chrome opens at most 6 connections per host; {fix})"
            ),
        ));
    }
    Err(Invalid::new(
        "load.participants_per_page",
        format!(
            "{n} participants per browser ({} per page × {} pages) is more than a browser hosts on the Janus HTTP API (expected at most {JANUS_HTTP_PER_BROWSER}: each participant holds one long poll open and Chrome opens at most 6 connections per host; {fix})",
            p.per_page, p.per_browser
        ),
    ))
}

fn websocket_url(text: &str) -> Result<(), Invalid> {
    super::validate::check_url_of(
        "target.janus.websocket",
        text,
        ["ws", "wss"],
        "a ws:// or wss:// URL of Janus's WebSocket API, e.g. \"ws://127.0.0.1:8188\"",
        "ws://127.0.0.1:8188",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Result<Scenario, String> {
        let src = format!(
            "[target]\nkind = \"janus\"\nurl = \"http://127.0.0.1:8088/janus\"\n[load]\nconferences = 1\nparticipants_per_conference = 12\nduration = \"10s\"\n{extra}"
        );
        crate::scenario::parse(&src, std::path::Path::new("t.toml"), &[])
            .map(|p| p.scenario)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn pages_and_browsers_group_consecutive_participants() {
        let p = Packing {
            per_browser: 2,
            per_page: 3,
        };
        assert_eq!(p.per_slot(), 6);
        let pages: Vec<_> = (0..13).map(|o| p.page_of(o)).collect();
        assert_eq!(pages, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4]);
        let browsers: Vec<_> = (0..13).map(|o| p.browser_of(o)).collect();
        assert_eq!(browsers, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2]);
        let one = Packing {
            per_browser: 0,
            per_page: 0,
        };
        assert_eq!((one.page_of(5), one.browser_of(5)), (5, 5));
    }

    #[test]
    fn janus_over_http_holds_four_per_browser_and_websocket_lifts_it() {
        let e = parse("participants_per_page = 6\n").unwrap_err();
        assert!(e.contains("load.participants_per_page"), "{e}");
        assert!(
            e.contains("6 participants per browser (6 per page × 1 pages)"),
            "{e}"
        );
        assert!(e.contains("websocket"), "{e}");
        let e = parse("participants_per_page = 2\nparticipants_per_browser = 3\n").unwrap_err();
        assert!(e.contains("(2 per page × 3 pages)"), "{e}");
        assert!(parse("participants_per_page = 4\n").is_ok());
        let ws = "participants_per_page = 6\nparticipants_per_browser = 2\n[target.janus]\nwebsocket = \"ws://127.0.0.1:8188\"\n";
        assert_eq!(Packing::of(&parse(ws).unwrap()).per_slot(), 12);
        let bad = "[target.janus]\nwebsocket = \"http://127.0.0.1:8188\"\n";
        let e = parse(bad).unwrap_err();
        assert!(
            e.contains("target.janus.websocket") && e.contains("ws://"),
            "{e}"
        );
        let e = parse("participants_per_page = 0\n").unwrap_err();
        assert!(e.contains("must be at least 1"), "{e}");
    }

    #[test]
    fn the_full_jitsi_app_and_the_speaker_model_refuse_clients_per_page() {
        let jitsi = |page: &str| {
            let src = format!(
                "[target]\nkind = \"jitsi\"\nurl = \"https://meet.example\"\n[target.jitsi]\npage = \"{page}\"\n[load]\nconferences = 1\nparticipants_per_conference = 4\nparticipants_per_page = 2\nduration = \"10s\"\n"
            );
            crate::scenario::parse(&src, std::path::Path::new("t.toml"), &[])
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let app = jitsi("app").unwrap_err();
        assert!(
            app.contains("load.participants_per_page") && app.contains("full Jitsi app"),
            "{app}"
        );
        assert_eq!(
            jitsi("load-test"),
            Ok(()),
            "the load-test page's numClients"
        );

        let e = parse("participants_per_page = 2\nspeakers = \"p59\"\n").unwrap_err();
        assert!(e.contains("p59"), "{e}");
    }
}
