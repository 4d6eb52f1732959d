//! Process limits a large run needs: one controller holds a connection per browser session.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Open files a run of `sessions` browser sessions needs: one WebDriver connection each, with room
/// for the results files, metrics sources and the runtime.
pub fn files_needed(sessions: usize) -> u64 {
    sessions as u64 + 256
}

/// Raise the soft open-files limit to what `sessions` need (at most the hard limit). Returns the
/// soft limit in force and, when it is still too low, a warning in words.
pub fn raise_open_files(sessions: usize) -> (u64, Option<String>) {
    let need = files_needed(sessions);
    let l = getrlimit(Resource::Nofile);
    let (cur, max) = (l.current.unwrap_or(u64::MAX), l.maximum.unwrap_or(u64::MAX));
    if cur >= need {
        return (cur, None);
    }
    let want = need.min(max);
    let raised = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(want),
            maximum: l.maximum,
        },
    )
    .map_or(cur, |()| want);
    let warning = (raised < need).then(|| {
        format!(
            "the open-files limit is {raised} (hard limit {max}) but {sessions} sessions need about \
             {need}: raise it (ulimit -Hn) or sessions will fail to connect"
        )
    });
    (raised, warning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raises_the_soft_limit_up_to_what_is_needed() {
        let before = getrlimit(Resource::Nofile);
        let (now, warning) = raise_open_files(100);
        assert!(now >= files_needed(100) || warning.is_some());
        // Never lowers a limit.
        assert!(now >= before.current.unwrap_or(0).min(files_needed(100)));
    }
}
