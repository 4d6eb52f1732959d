//! The run's network timeline: cohorts' profile changes and `[[disruption]]`s, each applied at its
//! time and recorded as an event (`profile_changed`, `disruption_started`, `disruption_ended`,
//! `disruption_failed`). Whatever is still broken when the run ends (or is interrupted) is undone.
//!
//! Built-in mechanisms: `kill_browsers` SIGKILLs local browsers (found by their profile directory)
//! or deletes Grid sessions; `stop_grid_node` drains a node through the hub and deletes its
//! sessions; `black_hole` switches a cohort's emulated link, or asks the sandbox (control socket)
//! to black-hole its server link; `kill_media_server` asks the sandbox to kill Janus. A `command`
//! hook replaces the built-in mechanism (Kubernetes: a script that disrupts a JVB pod).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::live::Phase;
use crate::network::{LinkControl, Profile};
use crate::participant::Shared;
use crate::results::Event;
use crate::results::names::{cohort_key, disruption_key};
use crate::scenario::{Disruption, DisruptionKind, Scenario};
use crate::schedule::ParticipantId;
use crate::util::text::one_line;
use crate::webdriver::grid;

/// Who is in the run and in which cohort (filled as participants are scheduled).
pub type Roster = Arc<Mutex<Vec<(ParticipantId, Option<String>)>>>;

/// One timed action.
enum Action {
    Change(String, Profile),
    Start(usize),
    End(usize),
}

/// The running timeline; [`Timeline::stop`] undoes what is still broken (dropping it aborts it).
pub struct Timeline {
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Drop for Timeline {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Timeline {
    /// Start playing the scenario's changes and disruptions against `sh`'s run clock.
    pub fn start(
        s: &Scenario,
        sh: Arc<Shared>,
        links: BTreeMap<String, LinkControl>,
        roster: Roster,
        results: PathBuf,
    ) -> Timeline {
        let mut actions: Vec<(Duration, Action)> = Vec::new();
        for c in &s.cohort {
            for ch in &c.change {
                if let Ok(p) = ch.profile.resolve(&c.name) {
                    actions.push((ch.at.get(), Action::Change(c.name.clone(), p)));
                }
            }
        }
        for (i, d) in s.disruption.iter().enumerate() {
            actions.push((d.at.get(), Action::Start(i)));
            actions.push((d.end(), Action::End(i)));
        }
        // Stable: a disruption without duration ends right after it starts.
        actions.sort_by_key(|a| a.0);
        let stop = CancellationToken::new();
        let player = Player {
            disruptions: s.disruption.clone(),
            sandbox: url::Url::parse(&s.target.url)
                .ok()
                .and_then(|u| crate::sandbox::control::socket_for(&u)),
            sh,
            links,
            roster,
            results,
            active: Vec::new(),
        };
        let task = Some(tokio::spawn(player.play(actions, stop.clone())));
        Timeline { stop, task }
    }

    /// Stop: undo every disruption still on (run their end), record the ones never reached.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

struct Player {
    disruptions: Vec<Disruption>,
    sandbox: Option<PathBuf>,
    sh: Arc<Shared>,
    links: BTreeMap<String, LinkControl>,
    roster: Roster,
    results: PathBuf,
    /// Disruptions started and not ended.
    active: Vec<usize>,
}

impl Player {
    async fn play(mut self, actions: Vec<(Duration, Action)>, stop: CancellationToken) {
        let mut pending = actions.into_iter().peekable();
        while let Some((at, _)) = pending.peek() {
            let due = self.sh.start + *at;
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = stop.cancelled() => break,
                _ = self.sh.cancel.cancelled() => break,
            }
            let Some((_, action)) = pending.next() else {
                break;
            };
            match action {
                Action::Change(cohort, p) => self.change(&cohort, p).await,
                Action::Start(i) => self.start(i).await,
                Action::End(i) => self.end(i).await,
            }
        }
        for i in self.active.clone() {
            self.end(i).await;
        }
        let rec = &self.sh.recorder;
        for (_, action) in pending {
            if let Action::Start(i) = action {
                let d = &self.disruptions[i];
                let detail = format!(
                    "{} at +{} not applied: the run ended first",
                    d.kind.as_str(),
                    d.at
                );
                rec.event(disruption_key(i), Event::DisruptionFailed, detail)
                    .await;
            }
        }
    }

    async fn change(&self, cohort: &str, p: Profile) {
        let rec = &self.sh.recorder;
        let key = cohort_key(cohort);
        match self.links.get(cohort) {
            Some(link) => {
                let name = p.name.clone();
                match link.set_profile(p) {
                    Ok(()) => rec.event(key, Event::ProfileChanged, name).await,
                    Err(e) => rec.event(key, Event::DisruptionFailed, e.to_string()).await,
                }
            }
            None => {
                let why = "no emulated link of this run (profile changes need the local driver)";
                rec.event(key, Event::DisruptionFailed, why).await;
            }
        }
    }

    async fn start(&mut self, i: usize) {
        let d = self.disruptions[i].clone();
        let result = match &d.command {
            Some(cmd) => hook(cmd, &d, i, "start", &self.results).await,
            None => match d.kind {
                DisruptionKind::KillBrowsers => self.kill_browsers(&d, i).await,
                DisruptionKind::StopGridNode => self.stop_node(&d, i).await,
                DisruptionKind::BlackHole => self.black_hole(&d, true).await,
                DisruptionKind::KillMediaServer => self.sandbox("kill").await,
            },
        };
        if result.is_ok() {
            self.active.push(i);
        }
        self.record(i, Event::DisruptionStarted, result).await;
    }

    /// The event of disruption `i`: `done` on success, `disruption_failed` with the reason.
    async fn record(&self, i: usize, done: Event, result: Result<String, String>) {
        let (event, detail) = match result {
            Ok(what) => (done, what),
            Err(why) => (Event::DisruptionFailed, why),
        };
        let detail = format!("{}: {detail}", self.disruptions[i].kind.as_str());
        self.sh
            .recorder
            .event(disruption_key(i), event, detail)
            .await;
    }

    async fn end(&mut self, i: usize) {
        let Some(pos) = self.active.iter().position(|&a| a == i) else {
            return;
        };
        self.active.remove(pos);
        let d = self.disruptions[i].clone();
        let result = match (&d.end_command, &d.command, d.kind) {
            (Some(cmd), _, _) => hook(cmd, &d, i, "end", &self.results).await,
            (None, None, DisruptionKind::BlackHole) => self.black_hole(&d, false).await,
            _ => Ok("over".to_string()),
        };
        self.record(i, Event::DisruptionEnded, result).await;
    }

    async fn sandbox(&self, line: &str) -> Result<String, String> {
        let socket = self
            .sandbox
            .as_ref()
            .ok_or("target.url names no host and port of a sandbox")?;
        crate::sandbox::control::request(socket, line).await
    }

    async fn black_hole(&self, d: &Disruption, on: bool) -> Result<String, String> {
        match &d.cohort {
            Some(c) => {
                let link = self.links.get(c).ok_or_else(|| {
                    format!("cohort {c} has no emulated link in this run (a Grid network node's link belongs to the node)")
                })?;
                link.black_hole(on);
                Ok(format!(
                    "cohort {c}'s link {}",
                    if on { "black-holed" } else { "carries traffic" }
                ))
            }
            None if on => {
                // The sandbox lifts it by itself shortly after the duration, should this run die.
                let secs = d.duration.map_or(60.0, |x| x.get().as_secs_f64()) + 10.0;
                self.sandbox(&format!("black_hole {secs:.0}")).await
            }
            None => self.sandbox("black_hole off").await,
        }
    }

    /// The participants in the call (in `cohort`, if given), last scheduled first.
    fn in_call(&self, cohort: Option<&str>) -> Vec<ParticipantId> {
        let roster = self.roster.lock().map(|r| r.clone()).unwrap_or_default();
        roster
            .into_iter()
            .rev()
            .filter(|(id, c)| {
                (cohort.is_none() || c.as_deref() == cohort)
                    && self.sh.tally.phase(*id) == Some(Phase::InCall)
            })
            .map(|(id, _)| id)
            .collect()
    }

    async fn kill_browsers(&self, d: &Disruption, index: usize) -> Result<String, String> {
        let n = d.count.unwrap_or(1) as usize;
        let chosen: Vec<ParticipantId> = self
            .in_call(d.cohort.as_deref())
            .into_iter()
            .take(n)
            .collect();
        if chosen.is_empty() {
            return Err("no participant in the call to kill".into());
        }
        let mut done = Vec::new();
        for id in &chosen {
            let how = match &self.sh.grid {
                Some(_) => self.delete_session(*id).await,
                None => kill_local_browser(self.sh.sessions.browser_of(*id)),
            };
            let detail = format!("{}: {how}", disruption_key(index));
            self.sh
                .recorder
                .event(id, Event::BrowserKilled, detail)
                .await;
            done.push(id.to_string());
        }
        Ok(format!("killed {}", done.join(", ")))
    }

    async fn delete_session(&self, id: ParticipantId) -> String {
        let Some(sid) = self.sh.sessions.session_of(id) else {
            return "no open session".into();
        };
        let http = reqwest::Client::new();
        if grid::delete_session(&http, &self.sh.webdriver_url, &sid).await {
            format!("session {sid} deleted")
        } else {
            format!("session {sid} not deleted")
        }
    }

    async fn stop_node(&self, d: &Disruption, index: usize) -> Result<String, String> {
        let g = self.sh.grid.as_ref().ok_or("the run has no Grid")?;
        let status = g.status().await.map_err(|e| e.to_string())?;
        let open = self.sh.sessions.open();
        let ours: Vec<String> = open.iter().map(|x| x.1.clone()).collect();
        let node = match &d.node {
            Some(uri) => status
                .nodes
                .iter()
                .find(|n| n.uri.trim_end_matches('/') == uri.trim_end_matches('/'))
                .ok_or_else(|| format!("the Grid has no node {uri}"))?,
            None => status
                .nodes
                .iter()
                .max_by_key(|n| n.sessions.iter().filter(|s| ours.contains(s)).count())
                .ok_or("the Grid has no node")?,
        };
        let secret = std::env::var("LOADTEST_GRID_REGISTRATION_SECRET").unwrap_or_default();
        g.drain(&node.id, &secret).await?;
        let http = reqwest::Client::new();
        let mut ended = 0;
        for sid in &node.sessions {
            if grid::delete_session(&http, &self.sh.webdriver_url, sid).await {
                ended += 1;
            }
            if let Some((id, _)) = open.iter().find(|(_, s)| s == sid) {
                let detail = format!("{}: node {} stopped", disruption_key(index), node.uri);
                self.sh
                    .recorder
                    .event(id, Event::BrowserKilled, detail)
                    .await;
            }
        }
        Ok(format!(
            "node {} drained, {ended} of its {} sessions ended",
            node.uri,
            node.sessions.len()
        ))
    }
}

/// SIGKILL every process of the local browser whose profile directory is `dir`.
fn kill_local_browser(dir: Option<String>) -> String {
    let Some(dir) = dir.filter(|d| !d.is_empty()) else {
        return "its browser's profile directory is unknown".into();
    };
    let flag = format!("--user-data-dir={dir}");
    let mut killed = Vec::new();
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for p in procs.flatten() {
            let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            if cmdline.split(|b| *b == 0).any(|arg| arg == flag.as_bytes()) {
                // SAFETY: kill(2) of a browser process this run's driver started (its command line
                // carries the session's own profile directory).
                unsafe { libc::kill(pid, libc::SIGKILL) };
                killed.push(pid);
            }
        }
    }
    format!("{} browser processes killed", killed.len())
}

/// Run a hook with the disruption in its environment, bounded by its timeout.
async fn hook(
    cmd: &[String],
    d: &Disruption,
    index: usize,
    phase: &str,
    results: &std::path::Path,
) -> Result<String, String> {
    let (program, args) = cmd.split_first().ok_or("empty command")?;
    let t0 = Instant::now();
    let child = tokio::process::Command::new(program)
        .args(args)
        .env("LOADTEST_DISRUPTION", d.kind.as_str())
        .env("LOADTEST_DISRUPTION_INDEX", index.to_string())
        .env("LOADTEST_PHASE", phase)
        .env(
            "LOADTEST_DURATION",
            d.duration.map_or(String::new(), |x| x.to_string()),
        )
        .env("LOADTEST_RESULTS", results)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let out = tokio::time::timeout(d.timeout.get(), child.wait_with_output())
        .await
        .map_err(|_| format!("{program} still running after {}: killed", d.timeout))?
        .map_err(|e| format!("{program}: {e}"))?;
    let took = t0.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    let tail = last.map_or(String::new(), |l| {
        format!("; stderr: {}", one_line(&crate::redact::text(l), 200))
    });
    match out.status.code() {
        Some(0) => Ok(format!("{program} exited 0 after {took:.1} s{tail}")),
        Some(c) => Err(format!("{program} exited {c} after {took:.1} s{tail}")),
        None => Err(format!("{program} killed by a signal{tail}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disruption(text: &str) -> Disruption {
        toml::from_str(text).unwrap()
    }

    #[tokio::test]
    async fn hooks_report_their_exit_code_and_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let d = disruption("kind = \"black_hole\"\nat = \"1s\"\nduration = \"2s\"");
        let quick =
            disruption("kind = \"black_hole\"\nat = \"1s\"\nduration = \"2s\"\ntimeout = \"1s\"");
        let ok = hook(
            &["sh".into(), "-c".into(), "test \"$LOADTEST_PHASE\" = start && test \"$LOADTEST_DISRUPTION\" = black_hole && test \"$LOADTEST_DURATION\" = 2s".into()],
            &d,
            0,
            "start",
            dir.path(),
        )
        .await;
        assert!(ok.as_ref().is_ok_and(|s| s.contains("exited 0")), "{ok:?}");
        let bad = hook(
            &[
                "sh".into(),
                "-c".into(),
                "echo 'token=abc cannot reach pod' >&2; exit 3".into(),
            ],
            &d,
            0,
            "end",
            dir.path(),
        )
        .await
        .unwrap_err();
        assert!(
            bad.contains("exited 3") && bad.contains("cannot reach pod"),
            "{bad}"
        );
        let slow = hook(
            &["sleep".into(), "5".into()],
            &quick,
            0,
            "start",
            dir.path(),
        )
        .await
        .unwrap_err();
        assert!(slow.contains("still running after 1s"), "{slow}");
        let missing = hook(&["/nonexistent/hook".into()], &d, 0, "start", dir.path())
            .await
            .unwrap_err();
        assert!(missing.contains("cannot run"), "{missing}");
    }

    #[test]
    fn killing_an_unknown_browser_kills_nothing() {
        assert!(kill_local_browser(None).contains("unknown"));
        assert_eq!(
            kill_local_browser(Some("/nonexistent/profile-dir-of-no-browser".into())),
            "0 browser processes killed"
        );
    }
}
