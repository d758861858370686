//! Scheduler events: every state change of a run, consumed by the terminal reporter (in the
//! binary) and by the JSONL event log (`runs/<name>/events.jsonl`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use crate::plan::InstanceId;
use crate::stage::Device;

/// Totals of a run (also the payload of [`Event::RunFinished`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunStats {
    pub ran: usize,
    pub cached: usize,
    pub failed: usize,
    pub skipped: usize,
    pub cancelled: usize,
    pub secs: f64,
    /// Peak concurrent CPU threads granted to running stages.
    pub peak_threads: usize,
    /// Peak concurrent GPUs in use.
    pub peak_gpus: usize,
    /// Peak sum of memory estimates of running stages, MiB.
    pub peak_mem_mb: u64,
    pub cache: crate::cache::CacheStatsSnapshot,
}

/// One state change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Planned {
        pipeline: String,
        instances: usize,
        points: usize,
    },
    CacheHit {
        id: InstanceId,
        stage: String,
        points: Vec<String>,
        key: String,
    },
    Started {
        id: InstanceId,
        stage: String,
        points: Vec<String>,
        key: String,
        device: Device,
        threads: usize,
        /// The checkpoint step the instance resumes from, if it has one.
        resume_from: Option<u64>,
    },
    Progress {
        id: InstanceId,
        stage: String,
        done: u64,
        total: u64,
        unit: String,
        message: String,
    },
    Finished {
        id: InstanceId,
        stage: String,
        key: String,
        secs: f64,
    },
    Failed {
        id: InstanceId,
        stage: String,
        error: String,
    },
    Skipped {
        id: InstanceId,
        stage: String,
        reason: String,
    },
    Cancelled {
        id: InstanceId,
        stage: String,
    },
    RunFinished {
        stats: RunStats,
    },
}

/// Something that consumes events (called from the dispatcher thread, in order).
pub trait EventSink: Send + Sync {
    fn event(&self, e: &Event);
}

/// Drops every event.
pub struct NoEvents;
impl EventSink for NoEvents {
    fn event(&self, _: &Event) {}
}

/// Forwards each event to several sinks.
pub struct Fanout<'a>(pub Vec<&'a dyn EventSink>);
impl EventSink for Fanout<'_> {
    fn event(&self, e: &Event) {
        for s in &self.0 {
            s.event(e);
        }
    }
}

/// Collects events in memory (tests).
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<Event>>);
impl Recorder {
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
impl EventSink for Recorder {
    fn event(&self, e: &Event) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(e.clone());
    }
}

#[derive(Serialize)]
struct Line<'a> {
    /// Seconds since the log was opened.
    t: f64,
    #[serde(flatten)]
    event: &'a Event,
}

/// Appends one JSON object per event to a file (`{"t": secs, "event": "...", ...}`);
/// flushed after every non-progress event so a killed run leaves a readable log.
pub struct JsonlLog {
    out: Mutex<BufWriter<File>>,
    start: Instant,
}

impl JsonlLog {
    /// Create (truncate) the log at `path`.
    pub fn create(path: &Path) -> std::io::Result<JsonlLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(JsonlLog {
            out: Mutex::new(BufWriter::new(File::create(path)?)),
            start: Instant::now(),
        })
    }
}

impl EventSink for JsonlLog {
    fn event(&self, e: &Event) {
        let line = Line {
            t: self.start.elapsed().as_secs_f64(),
            event: e,
        };
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let written = serde_json::to_writer(&mut *out, &line)
            .map_err(std::io::Error::other)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| {
                if matches!(e, Event::Progress { .. }) {
                    Ok(())
                } else {
                    out.flush()
                }
            });
        if let Err(err) = written {
            tracing::warn!(error = %err, "could not write the event log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_lines_are_tagged_objects() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e/events.jsonl");
        let log = JsonlLog::create(&p).unwrap();
        log.event(&Event::Skipped {
            id: 3,
            stage: "s".into(),
            reason: "upstream failed".into(),
        });
        log.event(&Event::RunFinished {
            stats: RunStats {
                ran: 2,
                ..RunStats::default()
            },
        });
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "skipped");
        assert_eq!(lines[0]["id"], 3);
        assert_eq!(lines[1]["stats"]["ran"], 2);
        assert!(lines[1]["t"].as_f64().unwrap() >= 0.0);
    }
}
