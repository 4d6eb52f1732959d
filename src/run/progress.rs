//! Live progress: participants scheduled / joining / in call / failed, elapsed and remaining.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::live::{Phase, Tally};

fn mmss(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}", s / 60, s % 60)
}

/// Draw progress until `stop` fires: a bar on a terminal, a line every 10 s otherwise. `length` is the
/// planned run length, when known (a growing load has none).
pub async fn show(
    tally: Arc<Tally>,
    length: Option<Duration>,
    start: Instant,
    stop: CancellationToken,
) {
    let tty = std::io::stderr().is_terminal();
    let bar = if tty {
        let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Some(b)
    } else {
        None
    };
    let mut last_line = Instant::now() - Duration::from_secs(10);
    loop {
        let elapsed = start.elapsed();
        let remaining = length
            .map(|l| format!(" · remaining {}", mmss(l.saturating_sub(elapsed))))
            .unwrap_or_default();
        let msg = format!("{} · elapsed {}{remaining}", tally.line(), mmss(elapsed));
        match &bar {
            Some(b) => {
                b.set_position((tally.get(Phase::Done) + tally.get(Phase::Failed)) as u64);
                b.set_message(msg);
                b.tick();
            }
            None if last_line.elapsed() >= Duration::from_secs(10) => {
                eprintln!("{msg}");
                last_line = Instant::now();
            }
            None => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.cancelled() => break,
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    eprintln!("{} · elapsed {}", tally.line(), mmss(start.elapsed()));
}
