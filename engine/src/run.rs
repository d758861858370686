//! One `synface run`: open the cache, run the scheduler with the JSONL event log, record the
//! run (gc pins, last keys for `plan --explain`) and write the run layout.

use std::path::PathBuf;
use std::time::Duration;

use crate::cache::{Cache, CacheError, Digest, RunRecord};
use crate::events::{EventSink, Fanout, JsonlLog};
use crate::layout::{self, LayoutError};
use crate::plan::{Instance, Plan};
use crate::registry::Registry;
use crate::scheduler::{self, RunReport, SchedOptions};
use crate::stage::CancelToken;

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub cache_dir: PathBuf,
    pub runs_dir: PathBuf,
    /// How long to wait for another process holding the cache.
    pub wait: Duration,
    pub sched: SchedOptions,
}

/// Errors that stop a run before or after scheduling (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub report: RunReport,
    pub run_dir: PathBuf,
}

impl RunSummary {
    /// The process exit code (DESIGN.md §6): 130 interrupted, 3 cache/I/O fault, 1 a stage
    /// failed, 0 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.report.interrupted {
            130
        } else if self.report.io_fault.is_some() {
            3
        } else if self.report.stats.failed > 0 {
            1
        } else {
            0
        }
    }
}

/// The production key function: [`crate::keys::cache_key`], components as JSON.
pub fn cache_key(inst: &Instance, inputs: &[(String, Vec<Digest>)]) -> (Digest, serde_json::Value) {
    let (key, comps) = crate::keys::cache_key(inst, inputs);
    (
        key,
        serde_json::to_value(comps).expect("key components always serialise"),
    )
}

/// Run `plan` end to end. `sink` receives every event (the terminal reporter), besides the
/// `events.jsonl` log.
pub fn run_plan(
    plan: &Plan,
    registry: &Registry,
    opts: &RunOptions,
    sink: &dyn EventSink,
    cancel: &CancelToken,
) -> Result<RunSummary, RunError> {
    let cache = Cache::open(&opts.cache_dir, opts.wait)?;
    let run_dir = layout::run_dir(&opts.runs_dir, &plan.name);
    let log_path = run_dir.join("events.jsonl");
    let log = JsonlLog::create(&log_path).map_err(|source| RunError::Io {
        path: log_path,
        source,
    })?;
    let sinks = Fanout(vec![&log, sink]);
    let report = scheduler::run(
        plan,
        registry,
        &cache,
        &cache_key,
        &opts.sched,
        &sinks,
        cancel,
    );
    let mut keys = Vec::new();
    let mut last = Vec::new();
    for (inst, o) in plan.instances.iter().zip(&report.outcomes) {
        if let Some(k) = o.key() {
            keys.push(crate::cache::hex(k));
            for p in &inst.points {
                last.push((inst.stage.clone(), p.clone(), *k));
            }
        }
    }
    let record = RunRecord {
        pipeline: plan.name.clone(),
        time_ns: crate::cache::now_ns(),
        keys,
    };
    cache.record_run(&record, &last)?;
    let run_dir = layout::write_layout(&opts.runs_dir, plan, registry, &report.outcomes, &cache)?;
    Ok(RunSummary { report, run_dir })
}
