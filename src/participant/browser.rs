//! Browsers and the pages participants drive in them. With `[load] participants_per_browser` above 1,
//! one WebDriver session hosts several participants, each in its own window. WebDriver has one current
//! window per session, so every command goes through a [`Page`], which takes its browser's lock and
//! switches to its own window first. The last participant of a browser closes the session; a browser
//! that dies fails every participant in it with the same reason.
//!
//! With `[load] participants_per_page` above 1, several participants share one page (window): the
//! first to get there opens it and is the page's client 0, the others add their own client to it
//! (`window.__ltAddClient`), and every command of a participant selects its client first
//! (`window.__ltUse(i)`). The last participant of a page closes its window.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use fantoccini::Client;
use fantoccini::error::CmdError;
use fantoccini::wd::{TimeoutConfiguration, WindowHandle};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::scenario::Packing;
use crate::schedule::seat::{Seat, Seating};
use crate::schedule::{ParticipantId, ScheduledParticipant};
use crate::util::text::one_line;

/// One WebDriver session.
#[derive(Debug)]
pub(crate) struct Browser {
    client: Client,
    /// The session id (empty when the driver did not say).
    pub(crate) session: String,
    /// The window the session is switched to, and whether its first window was handed out.
    windows: tokio::sync::Mutex<Windows>,
    /// Why the browser is gone, once a command said so.
    lost: OnceLock<String>,
    /// Pages shared by several participants, by page number, while one of them uses it.
    shared_pages: Mutex<HashMap<usize, (Arc<PageSlot>, usize)>>,
}

/// A page several participants share: its window, and whether it was opened (and how that went).
#[derive(Debug, Default)]
pub(crate) struct PageSlot {
    window: OnceCell<Result<Option<WindowHandle>, String>>,
    /// Set by whichever member opened the page: `Err` holds why it could not be opened.
    pub(crate) opened: OnceCell<Result<(), String>>,
}

#[derive(Debug, Default)]
struct Windows {
    current: Option<WindowHandle>,
    first_taken: bool,
}

/// A command error that means the whole browser is gone, not only one page.
fn browser_gone(e: &CmdError) -> bool {
    if matches!(
        e,
        CmdError::Lost(_) | CmdError::Failed(_) | CmdError::FailedC(_)
    ) {
        return true;
    }
    let t = e.to_string();
    [
        "invalid session id",
        "chrome not reachable",
        "session deleted",
        "disconnected",
        "no such session",
    ]
    .iter()
    .any(|w| t.contains(w))
}

impl Browser {
    /// A session that was just created.
    pub(crate) async fn new(client: Client) -> Browser {
        let session = client.session_id().await.ok().flatten().unwrap_or_default();
        Browser {
            client,
            session,
            windows: tokio::sync::Mutex::new(Windows::default()),
            lost: OnceLock::new(),
            shared_pages: Mutex::new(HashMap::new()),
        }
    }

    /// Chromium's profile directory, from the session's capabilities (how a disruption finds the
    /// browser's processes).
    pub(crate) fn user_data_dir(&self) -> Option<String> {
        let chrome = self.client.capabilities()?.get("chrome")?;
        chrome["userDataDir"].as_str().map(str::to_string)
    }

    /// Why the browser is gone (`None`: it still answers).
    pub(crate) fn lost(&self) -> Option<&str> {
        self.lost.get().map(String::as_str)
    }

    fn note(&self, e: CmdError) -> CmdError {
        if browser_gone(&e) {
            let _ = self.lost.set(one_line(&e.to_string(), 200));
        }
        e
    }

    /// The participant's page: a window of its own (`shared`: several windows in this browser) or,
    /// with clients per page (`page: Some(n)`), page `n`'s window, which its first member creates.
    pub(crate) async fn page(
        self: &Arc<Self>,
        shared: bool,
        page: Option<usize>,
    ) -> Result<Page, CmdError> {
        let slot = page.map(|n| {
            let mut pages = self.shared_pages.lock().unwrap_or_else(|p| p.into_inner());
            let e = pages.entry(n).or_default();
            e.1 += 1;
            (n, e.0.clone())
        });
        let window = match &slot {
            None => self.window(shared).await,
            Some((_, s)) => s
                .window
                .get_or_init(|| async {
                    self.window(shared)
                        .await
                        .map_err(|e| one_line(&e.to_string(), 200))
                })
                .await
                .clone()
                .map_err(CmdError::NotJson),
        };
        let window = match window {
            Ok(w) => w,
            Err(e) => {
                if let Some((n, _)) = &slot {
                    self.leave_page(*n);
                }
                return Err(e);
            }
        };
        Ok(Page {
            browser: self.clone(),
            window,
            slot,
            client: OnceLock::new(),
        })
    }

    /// The session's first window for the first page, a new window for every other one; `None`
    /// when the browser has only one page.
    async fn window(&self, shared: bool) -> Result<Option<WindowHandle>, CmdError> {
        if !shared {
            return Ok(None);
        }
        let mut w = self.windows.lock().await;
        let handle = if w.first_taken {
            let h = self
                .client
                .new_window(false)
                .await
                .map_err(|e| self.note(e))?;
            h.handle
        } else {
            w.first_taken = true;
            self.client.window().await.map_err(|e| self.note(e))?
        };
        Ok(Some(handle))
    }

    /// One member less on shared page `n`; true when it was the last.
    fn leave_page(&self, n: usize) -> bool {
        let mut pages = self.shared_pages.lock().unwrap_or_else(|p| p.into_inner());
        let Some(e) = pages.get_mut(&n) else {
            return true;
        };
        e.1 = e.1.saturating_sub(1);
        if e.1 == 0 {
            pages.remove(&n);
            return true;
        }
        false
    }

    /// Delete the session.
    pub(crate) async fn close(&self) -> Result<(), CmdError> {
        self.client.clone().close().await
    }
}

/// One participant's page in a browser: its window, and with clients per page its client there.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) browser: Arc<Browser>,
    /// `None`: the browser's only page (no switching).
    window: Option<WindowHandle>,
    /// With clients per page: the page's number and what its members share.
    slot: Option<(usize, Arc<PageSlot>)>,
    /// This participant's client on a shared page (set once it joined the page).
    client: OnceLock<usize>,
}

impl Page {
    /// Run one command in this page's window, holding the browser's lock.
    async fn on<T>(
        &self,
        f: impl AsyncFnOnce(&Client) -> Result<T, CmdError>,
    ) -> Result<T, CmdError> {
        let b = &self.browser;
        let mut w = b.windows.lock().await;
        if let Some(mine) = &self.window
            && w.current.as_ref() != Some(mine)
        {
            b.client
                .switch_to_window(mine.clone())
                .await
                .map_err(|e| b.note(e))?;
            w.current = Some(mine.clone());
        }
        f(&b.client).await.map_err(|e| b.note(e))
    }

    /// The script as this participant runs it: on a shared page, its client selected first.
    fn script<'a>(&self, js: &'a str) -> Cow<'a, str> {
        match self.client.get() {
            Some(i) => Cow::Owned(format!(
                "if (window.__ltUse) {{ window.__ltUse({i}); }}\n{js}"
            )),
            None => Cow::Borrowed(js),
        }
    }

    pub(crate) async fn execute(&self, js: &str, args: Vec<Value>) -> Result<Value, CmdError> {
        let js = self.script(js);
        self.on(async |c| c.execute(&js, args).await).await
    }
    pub(crate) async fn execute_async(
        &self,
        js: &str,
        args: Vec<Value>,
    ) -> Result<Value, CmdError> {
        let js = self.script(js);
        self.on(async |c| c.execute_async(&js, args).await).await
    }

    /// The shared page this participant is on, if any (clients per page).
    pub(crate) fn slot(&self) -> Option<&PageSlot> {
        self.slot.as_ref().map(|(_, s)| s.as_ref())
    }

    /// Take client `i` of the shared page.
    pub(crate) fn set_client(&self, i: usize) {
        let _ = self.client.set(i);
    }

    /// Leave the shared page; true when this participant was its last (or it has none): then the
    /// page may be blanked and its window closed.
    pub(crate) fn leave_page(&self) -> bool {
        match &self.slot {
            None => true,
            Some((n, _)) => self.browser.leave_page(*n),
        }
    }
    /// Run `js` before the page's own scripts in every document this window loads from now on.
    pub(crate) async fn before_load(&self, js: &str) -> Result<(), CmdError> {
        self.on(async |c| crate::webdriver::cdp::before_every_load(c, js).await)
            .await
    }
    pub(crate) async fn goto(&self, url: &str) -> Result<(), CmdError> {
        self.on(async |c| c.goto(url).await).await
    }
    pub(crate) async fn screenshot(&self) -> Result<Vec<u8>, CmdError> {
        self.on(async |c| c.screenshot().await).await
    }
    pub(crate) async fn update_timeouts(&self, t: TimeoutConfiguration) -> Result<(), CmdError> {
        self.on(async |c| c.update_timeouts(t).await).await
    }
    /// Close this page's window (not the browser's only one: the session closes that).
    pub(crate) async fn close_window(&self) -> Result<(), CmdError> {
        if self.window.is_none() {
            return Ok(());
        }
        let r = self.on(async |c| c.close_window().await).await;
        self.browser.windows.lock().await.current = None;
        r
    }
}

/// The browsers of a run, by group: participant `order / (pages per browser × participants per
/// page)`, or, on pages that start all their clients from one URL, the group its [`Seat`] names. A
/// browser exists while one of its participants uses it; the last to let go closes it, and a later
/// participant of the same group gets a new one.
#[derive(Debug)]
pub struct Browsers {
    packing: Packing,
    groups: Mutex<HashMap<usize, Group>>,
    /// With pages that start their clients themselves (`seated`): where each participant sits.
    seats: Option<Mutex<(Seating, HashMap<ParticipantId, Seat>)>>,
}

type Cell = Arc<OnceCell<Result<Arc<Browser>, String>>>;

#[derive(Debug)]
struct Group {
    cell: Cell,
    users: usize,
}

impl Browsers {
    /// Browsers packed as `packing` says; `seated` (`scenario::packing::seated`): a page starts all
    /// its clients from one URL, so page-mates are seated by conference and role ([`Seating`]).
    pub fn new(packing: Packing, seated: bool) -> Browsers {
        Browsers {
            packing,
            groups: Mutex::new(HashMap::new()),
            seats: seated.then(Default::default),
        }
    }

    /// Seat a batch of participants before they start (a no-op unless seated).
    pub fn seat(&self, plans: &[ScheduledParticipant]) {
        if let Some(m) = &self.seats {
            let mut m = m.lock().unwrap_or_else(|p| p.into_inner());
            let placed = m.0.place(plans, self.packing);
            m.1.extend(placed);
        }
    }

    /// Where a participant sits on a page that starts its clients itself (`None`: not seated).
    pub(crate) fn seat_of(&self, plan: &ScheduledParticipant) -> Option<Seat> {
        let m = self.seats.as_ref()?;
        let m = m.lock().unwrap_or_else(|p| p.into_inner());
        m.1.get(&plan.id).copied()
    }

    /// More than one page (window) per browser.
    pub(crate) fn shared(&self) -> bool {
        self.packing.per_browser > 1
    }

    /// More than one participant per browser (then it gets both camera and microphone).
    pub(crate) fn packed(&self) -> bool {
        self.packing.per_slot() > 1
    }

    /// The shared page a participant belongs to (`None`: one participant per page).
    pub(crate) fn page_of(&self, plan: &ScheduledParticipant) -> Option<usize> {
        if let Some(seat) = self.seat_of(plan) {
            return Some(seat.page);
        }
        (self.packing.per_page > 1).then(|| self.packing.page_of(plan.order))
    }

    /// How often one participant polls its page while waiting (join, first media): `alone` for a
    /// browser of its own, stretched with the participants sharing one (their commands queue behind
    /// one lock), at most 3 s.
    pub(crate) fn poll(&self, alone: std::time::Duration) -> std::time::Duration {
        let shared = alone * self.packing.per_slot().div_ceil(2);
        shared.clamp(alone, std::time::Duration::from_secs(3).max(alone))
    }

    /// The browser group a participant belongs to.
    pub fn group_of(&self, plan: &ScheduledParticipant) -> usize {
        if let Some(seat) = self.seat_of(plan) {
            return seat.browser;
        }
        self.packing.browser_of(plan.order)
    }

    /// Join the participant's group: the cell its browser is (or will be) created in.
    pub(crate) fn enter(&self, plan: &ScheduledParticipant) -> Cell {
        let mut g = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let group = g.entry(self.group_of(plan)).or_insert_with(|| Group {
            cell: Arc::new(OnceCell::new()),
            users: 0,
        });
        group.users += 1;
        group.cell.clone()
    }

    /// Leave the group; true when this was its last user (then the caller closes the browser).
    pub(crate) fn leave(&self, plan: &ScheduledParticipant) -> bool {
        let mut g = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let key = self.group_of(plan);
        let Some(group) = g.get_mut(&key) else {
            return true;
        };
        group.users = group.users.saturating_sub(1);
        if group.users == 0 {
            g.remove(&key);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Role;
    use std::time::Duration;

    fn plan(order: usize) -> ScheduledParticipant {
        ScheduledParticipant {
            id: format!("c0p{order}").parse().unwrap(),
            order,
            conference: 0,
            room: "r".into(),
            index: order as u32,
            role: Role::Video,
            join_offset: Duration::ZERO,
            leave_offset: Duration::ZERO,
            step: None,
            cohort: None,
        }
    }

    #[test]
    fn participants_share_a_browser_by_join_order_and_the_last_one_closes_it() {
        let tabs = |n| {
            Browsers::new(
                Packing {
                    per_browser: n,
                    per_page: 1,
                },
                false,
            )
        };
        let b = tabs(3);
        assert!(b.shared());
        assert_eq!(
            (0..7).map(|i| b.group_of(&plan(i))).collect::<Vec<_>>(),
            [0, 0, 0, 1, 1, 1, 2]
        );
        let c0 = b.enter(&plan(0));
        let c1 = b.enter(&plan(1));
        assert!(Arc::ptr_eq(&c0, &c1), "one browser for the group");
        let other = b.enter(&plan(3));
        assert!(!Arc::ptr_eq(&c0, &other));
        assert!(!b.leave(&plan(0)), "plan 1 still uses it");
        assert!(b.leave(&plan(1)), "the last user closes it");
        let again = b.enter(&plan(2));
        assert!(
            !Arc::ptr_eq(&c0, &again),
            "a later member gets a new browser"
        );
        assert!(!tabs(1).shared());
        let ms = std::time::Duration::from_millis;
        assert_eq!(tabs(1).poll(ms(500)), ms(500));
        assert_eq!(tabs(6).poll(ms(500)), ms(1500));
        assert_eq!(tabs(20).poll(ms(500)), ms(3000));
        assert_eq!(tabs(0).group_of(&plan(5)), 5);
        assert_eq!(tabs(3).page_of(&plan(5)), None, "one participant per page");
        let pages = Browsers::new(
            Packing {
                per_browser: 2,
                per_page: 6,
            },
            false,
        );
        assert!(pages.shared() && pages.packed());
        assert_eq!(pages.page_of(&plan(7)), Some(1));
        assert_eq!(pages.group_of(&plan(11)), 0);
        assert_eq!(pages.group_of(&plan(12)), 1);
        assert_eq!(
            pages.poll(ms(500)),
            ms(3000),
            "12 participants share one lock"
        );
        let one_page = Browsers::new(
            Packing {
                per_browser: 1,
                per_page: 6,
            },
            false,
        );
        assert!(!one_page.shared() && one_page.packed());
    }

    #[test]
    fn only_errors_of_the_whole_session_mean_the_browser_is_gone() {
        let gone = CmdError::NotJson("invalid session id: session deleted".into());
        assert!(browser_gone(&gone));
        let page = CmdError::NotJson("javascript error: x is not defined".into());
        assert!(!browser_gone(&page));
    }
}
