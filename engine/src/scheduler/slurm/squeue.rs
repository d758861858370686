//! Job states from one batched `squeue` call for all of a run's jobs (they share one job name,
//! `synface-<run-id>`), rate limited to one call per poll interval whatever the number of
//! jobs. Works without accounting (no `sacct`): a job missing from the output is gone.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// What `squeue` says of one job (array task).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Queued or running (or requeued): a result may still come.
    Active(String),
    /// Finished, failed, cancelled, timed out, out of memory, node failure...
    Ended(String),
}

/// States in which a job may still produce a result.
const ACTIVE: [&str; 11] = [
    "PENDING",
    "RUNNING",
    "CONFIGURING",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "RESIZING",
    "SUSPENDED",
    "SIGNALING",
    "STAGE_OUT",
    "RESV_DEL_HOLD",
];

/// Parse `squeue -h -r -o "%i %T"` output: job id (`123`, `123_4`, or a range of pending
/// array tasks `123_[4-7%2]`, expanded) to its state.
pub fn parse_squeue(out: &str) -> HashMap<String, JobState> {
    let mut jobs = HashMap::new();
    for line in out.lines() {
        let mut parts = line.split_whitespace();
        let (Some(id), Some(state)) = (parts.next(), parts.next()) else {
            continue;
        };
        let state = if ACTIVE.contains(&state) {
            JobState::Active(state.to_string())
        } else {
            JobState::Ended(state.to_string())
        };
        for id in expand(id) {
            jobs.insert(id, state.clone());
        }
    }
    jobs
}

/// `123_[1,3-5%2]` -> `123_1`, `123_3`, `123_4`, `123_5`; anything else as is.
fn expand(id: &str) -> Vec<String> {
    let Some((job, rest)) = id.split_once("_[") else {
        return vec![id.to_string()];
    };
    let list = rest.trim_end_matches(']');
    let list = list.split('%').next().unwrap_or_default();
    let mut out = Vec::new();
    for part in list.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>()) {
            out.extend((a..=b.min(a + 1_000_000)).map(|i| format!("{job}_{i}")));
        }
    }
    out
}

/// Calls `squeue` at most once per `interval`.
pub(crate) struct Poller {
    name: String,
    interval: Duration,
    last: Option<Instant>,
    pub calls: u64,
    pub failures: u64,
}

impl Poller {
    pub fn new(name: &str, interval: Duration) -> Poller {
        Poller {
            name: name.to_string(),
            interval,
            last: None,
            calls: 0,
            failures: 0,
        }
    }

    /// Whether a call is due now (or `force`d by a shorter interval, e.g. while stopping).
    pub fn due(&self, interval: Option<Duration>) -> bool {
        let every = interval.unwrap_or(self.interval);
        self.last.is_none_or(|t| t.elapsed() >= every)
    }

    /// The states of the run's jobs, or `None` when `squeue` failed (warned about).
    pub fn poll(&mut self) -> Option<HashMap<String, JobState>> {
        self.last = Some(Instant::now());
        self.calls += 1;
        let out = Command::new("squeue")
            .args(["--noheader", "--array", "--states=all", "--format=%i %T"])
            .arg(format!("--name={}", self.name))
            .output();
        match out {
            Ok(o) if o.status.success() => Some(parse_squeue(&String::from_utf8_lossy(&o.stdout))),
            Ok(o) => {
                self.failures += 1;
                let err = String::from_utf8_lossy(&o.stderr);
                tracing::warn!(error = %err.trim(), "squeue failed; will retry");
                None
            }
            Err(e) => {
                self.failures += 1;
                tracing::warn!(error = %e, "squeue could not be run; will retry");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_become_states_per_array_task() {
        let out = "12 RUNNING\n13_0 COMPLETED\n13_[1-3,5%2] PENDING\n14 NODE_FAIL\n\n";
        let m = parse_squeue(out);
        assert_eq!(m["12"], JobState::Active("RUNNING".into()));
        assert_eq!(m["13_0"], JobState::Ended("COMPLETED".into()));
        for t in ["13_1", "13_2", "13_3", "13_5"] {
            assert_eq!(m[t], JobState::Active("PENDING".into()), "{t}");
        }
        assert!(!m.contains_key("13_4"));
        assert_eq!(m["14"], JobState::Ended("NODE_FAIL".into()));
    }
}
