//! One `synface run`: open the cache, run the scheduler with the JSONL event log, record the
//! run (gc pins, last keys for `plan --explain`) and write the run layout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cache::{Cache, CacheError, Digest, RunRecord};
use crate::events::{EventSink, Fanout, JsonlLog};
use crate::inputs::{describe_change, Digester, ExternalInput};
use crate::keys::KeyComponents;
use crate::plan::{Instance, Plan};
use crate::registry::Registry;
use crate::run_folder::{self, LayoutError};
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
    /// The cause is part of the message (not a `source`), so it prints once.
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub report: RunReport,
    pub run_dir: PathBuf,
}

impl RunSummary {
    /// The process exit code (docs/design.md §6): 130 interrupted, 3 cache/I/O fault, 1 a stage
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

/// The production key function: [`crate::keys::cache_key`] over the instance's input
/// digests plus the content digests of its external inputs (files and folders it reads, as
/// `file:<param>` ports; see [`crate::inputs`]), components as JSON.
pub struct Keyer {
    digester: Digester,
}

impl Keyer {
    /// A keyer for the cache at `cache_dir`; `write` lets it store input snapshots there
    /// (a run does; a read-only `plan` does not).
    pub fn new(cache_dir: &Path, write: bool) -> Self {
        Keyer {
            digester: Digester::new(cache_dir, write),
        }
    }

    /// The key of `inst` given its inputs' content digests (port order).
    pub fn key(
        &self,
        inst: &Instance,
        inputs: &[(String, Vec<Digest>)],
    ) -> (Digest, serde_json::Value) {
        let mut all = inputs.to_vec();
        for ext in &inst.external {
            all.push((ext.port(), vec![self.digester.digest(ext)]));
        }
        let (key, comps) = crate::keys::cache_key(inst, &all);
        (
            key,
            serde_json::to_value(comps).expect("key components always serialise"),
        )
    }

    /// Why `new` differs from `old` for `inst`: [`crate::keys::explain`], plus a line per
    /// changed external input saying which files changed (when the old snapshot is stored).
    pub fn explain(
        &self,
        inst: &Instance,
        old: &KeyComponents,
        new: &KeyComponents,
    ) -> Vec<String> {
        let mut lines = crate::keys::explain(old, new);
        let digest_of = |c: &KeyComponents, port: &str| {
            c.inputs
                .iter()
                .find(|(p, _)| p == port)
                .and_then(|(_, d)| d.first().cloned())
        };
        for ext in &inst.external {
            let port = ext.port();
            let (before, after) = (digest_of(old, &port), digest_of(new, &port));
            if before == after {
                continue;
            }
            lines.push(self.describe_external(ext, before.as_deref()));
        }
        lines
    }

    fn describe_external(&self, ext: &ExternalInput, before: Option<&str>) -> String {
        let now = self.digester.snapshot(&ext.path);
        let what = match &now {
            Ok(s) if s.folder => "input folder",
            _ => "input file",
        };
        let detail = match (before.and_then(|d| self.digester.stored(d)), now) {
            (_, Err(e)) => format!("now unreadable ({e})"),
            (Some(old), Ok(new)) => describe_change(&old, &new),
            (None, Ok(_)) if before.is_none() => "newly hashed by content".into(),
            (None, Ok(_)) => "contents differ from the last run".into(),
        };
        format!(
            "{what} `{}` ({}) changed: {detail}",
            ext.param,
            ext.path.display()
        )
    }
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
    let run_dir = run_folder::run_dir(&opts.runs_dir, &plan.name);
    let log_path = run_dir.join("events.jsonl");
    let log = JsonlLog::create(&log_path).map_err(|cause| RunError::Io {
        path: log_path,
        cause,
    })?;
    let sinks = Fanout(vec![&log, sink]);
    let keyer = Keyer::new(&opts.cache_dir, true);
    let report = scheduler::run(
        plan,
        registry,
        &cache,
        &|inst, inputs| keyer.key(inst, inputs),
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
    let run_dir =
        run_folder::write_layout(&opts.runs_dir, plan, registry, &report.outcomes, &cache)?;
    Ok(RunSummary { report, run_dir })
}
