//! Progress as plain lines, for when stderr is not a terminal (nohup, CI, batch schedulers):
//! a start and a finish line per stage instance, and while it runs, at most one line per
//! instance every `SYNFACE_PROGRESS_SECS` seconds (default 10; 0 = every progress update)
//! with its steps, rate and remaining time. Points are named by their values.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use synface_engine::events::Event;
use synface_engine::{InstanceId, Plan};

/// Seconds between two progress lines of one instance, unless `SYNFACE_PROGRESS_SECS` says.
const DEFAULT_INTERVAL_SECS: u64 = 10;

/// One running instance.
struct Running {
    name: String,
    /// The first progress seen (time, done): the rate is measured from there, so a resumed
    /// run's earlier steps do not inflate it.
    first: Option<(Instant, u64)>,
    last_line: Option<Instant>,
}

pub struct Lines {
    interval: Duration,
    /// Point id -> its values in words.
    labels: HashMap<String, String>,
    running: Mutex<HashMap<InstanceId, Running>>,
}

/// The interval from `SYNFACE_PROGRESS_SECS`, or the default.
fn interval_from_env() -> Duration {
    let secs = std::env::var("SYNFACE_PROGRESS_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_INTERVAL_SECS);
    Duration::from_secs(secs)
}

/// `1h02m`, `3m05s`, `42s`.
fn duration_words(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

impl Lines {
    pub fn new(plan: &Plan) -> Lines {
        Lines {
            interval: interval_from_env(),
            labels: plan
                .points
                .iter()
                .map(|p| (p.id.clone(), p.label()))
                .collect(),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// `stage [values]`, or `stage [N points]` for an instance serving several points.
    fn name(&self, stage: &str, points: &[String]) -> String {
        let label = match points {
            [one] => self.labels.get(one).cloned().unwrap_or_else(|| one.clone()),
            [] => String::new(),
            many => format!("{} points", many.len()),
        };
        if label.is_empty() {
            stage.to_string()
        } else {
            format!("{stage} [{label}]")
        }
    }

    /// The line to print for `e`, if any.
    pub fn line(&self, e: &Event) -> Option<String> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::Started {
                id,
                stage,
                points,
                device,
                threads,
                resume_from,
                ..
            } => {
                let name = self.name(stage, points);
                let resume = resume_from.map_or(String::new(), |s| format!(", resuming at {s}"));
                let line = format!("start {name} on {device:?} x{threads}{resume}");
                let r = Running {
                    name,
                    first: None,
                    last_line: None,
                };
                running.insert(*id, r);
                Some(line)
            }
            Event::Progress {
                id,
                done,
                total,
                unit,
                ..
            } => {
                let r = running.get_mut(id)?;
                self.progress(r, *done, *total, unit, Instant::now())
            }
            Event::Finished { id, secs, .. } => {
                let r = running.remove(id)?;
                Some(format!("done  {} in {}", r.name, duration_words(*secs)))
            }
            Event::Cancelled { id, .. } => {
                let r = running.remove(id)?;
                Some(format!("cancelled {}", r.name))
            }
            Event::Failed { id, .. } => {
                running.remove(id);
                None
            }
            _ => None,
        }
    }

    /// A progress line when the interval has passed since the instance's last one.
    fn progress(
        &self,
        r: &mut Running,
        done: u64,
        total: u64,
        unit: &str,
        now: Instant,
    ) -> Option<String> {
        let (t0, done0) = *r.first.get_or_insert((now, done));
        if r.last_line
            .is_some_and(|t| now.duration_since(t) < self.interval)
        {
            return None;
        }
        r.last_line = Some(now);
        let secs = now.duration_since(t0).as_secs_f64();
        let rate = (secs > 0.0).then(|| done.saturating_sub(done0) as f64 / secs);
        let speed = match rate {
            Some(x) if x > 0.0 => format!(", {x:.1} {unit}/s"),
            _ => String::new(),
        };
        let eta = match rate {
            Some(x) if x > 0.0 && total >= done => {
                format!(", ETA {}", duration_words((total - done) as f64 / x))
            }
            _ => String::new(),
        };
        Some(format!(
            "      {}: {done}/{total} {unit}{speed}{eta}",
            r.name
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration_words(42.4), "42s");
        assert_eq!(duration_words(185.0), "3m05s");
        assert_eq!(duration_words(3720.0), "1h02m");
    }

    #[test]
    fn progress_lines_respect_the_interval() {
        let lines = Lines {
            interval: Duration::from_secs(10),
            labels: HashMap::new(),
            running: Mutex::new(HashMap::new()),
        };
        let mut r = Running {
            name: "train".into(),
            first: None,
            last_line: None,
        };
        let t0 = Instant::now();
        let first = lines.progress(&mut r, 0, 100, "steps", t0);
        assert_eq!(first.as_deref(), Some("      train: 0/100 steps"));
        let soon = lines.progress(&mut r, 10, 100, "steps", t0 + Duration::from_secs(5));
        assert_eq!(soon, None, "within the interval");
        let later = lines.progress(&mut r, 20, 100, "steps", t0 + Duration::from_secs(10));
        assert_eq!(
            later.as_deref(),
            Some("      train: 20/100 steps, 2.0 steps/s, ETA 40s")
        );
    }
}
