//! The scheduler (docs/design.md §5): a dispatcher (the calling thread) owns the ready queue;
//! an [`Executor`] runs stage instances and reports back: the local one on worker threads under
//! resource accounts, the Slurm one as jobs ([`slurm`]). Before running an instance its
//! cache key is computed from its inputs' content digests; a verified hit is used instead of
//! running. A failure skips only its dependents.

mod executor;
mod local;
mod preview;
mod resources;
pub mod slurm;
mod worker;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

pub use executor::{Executor, JobError, Msg, Peaks, Placement, Task};
pub use preview::{preview, PreviewRow, PreviewStatus};
pub use resources::{Accounts, Grant};
pub use worker::{execute, Env, Store};

use crate::cache::{hex, ActionManifest, Cache, Digest};
use crate::events::{Event, EventSink, RunStats};
use crate::gpu::GpuInfo;
use crate::plan::{Instance, InstanceId, Plan};
use crate::registry::Registry;
use crate::stage::CancelToken;
use slurm::{SlurmExecutor, SlurmOptions};

/// Computes an instance's cache key and its components (as JSON, stored in the manifest)
/// from the content digests of its inputs, by port. In production: `keys::cache_key`.
pub type KeyFn<'a> =
    dyn Fn(&Instance, &[(String, Vec<Digest>)]) -> (Digest, serde_json::Value) + Sync + 'a;

/// How to run.
#[derive(Debug, Clone)]
pub struct SchedOptions {
    /// CPU threads shared by running stages.
    pub jobs: usize,
    pub gpus: GpuInfo,
    /// Memory budget in MiB over the running stages' estimates (0 = unlimited).
    pub mem_mb: u64,
    /// Cancel everything at the first failure.
    pub fail_fast: bool,
    /// Stage names whose instances rerun even when cached.
    pub force: BTreeSet<String>,
    /// Run instances as Slurm jobs over the shared cache instead of on local threads.
    pub slurm: Option<SlurmOptions>,
}

impl Default for SchedOptions {
    fn default() -> Self {
        SchedOptions {
            jobs: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            gpus: GpuInfo::none(),
            mem_mb: 0,
            fail_fast: false,
            force: BTreeSet::new(),
            slurm: None,
        }
    }
}

/// What happened to one instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Never reached (only while running, or after an interruption).
    Pending,
    Ran {
        key: Digest,
        manifest: ActionManifest,
    },
    Cached {
        key: Digest,
        manifest: ActionManifest,
    },
    Failed {
        error: String,
    },
    Skipped {
        reason: String,
    },
    Cancelled,
}

impl Outcome {
    /// The manifest of a completed instance.
    pub fn manifest(&self) -> Option<&ActionManifest> {
        match self {
            Outcome::Ran { manifest, .. } | Outcome::Cached { manifest, .. } => Some(manifest),
            _ => None,
        }
    }
    pub fn key(&self) -> Option<&Digest> {
        match self {
            Outcome::Ran { key, .. } | Outcome::Cached { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// The result of [`run`].
#[derive(Debug, Clone)]
pub struct RunReport {
    /// One per plan instance, same order.
    pub outcomes: Vec<Outcome>,
    pub stats: RunStats,
    /// Ctrl-C (the external cancel token) stopped the run.
    pub interrupted: bool,
    /// The first cache or I/O fault, if any (exit code 3).
    pub io_fault: Option<String>,
}

struct Dispatcher<'a> {
    plan: &'a Plan,
    cache: &'a Cache,
    keyer: &'a KeyFn<'a>,
    opts: &'a SchedOptions,
    events: &'a dyn EventSink,
    outcomes: Vec<Outcome>,
    waiting: Vec<usize>,
    consumers: Vec<Vec<InstanceId>>,
    /// Instances whose key is known and that must run, in plan (topological) order.
    runnable: BTreeMap<InstanceId, (Digest, serde_json::Value)>,
    /// The instance that owns each key in this run; others with the same key wait for it.
    owner: HashMap<Digest, InstanceId>,
    key_waiters: HashMap<Digest, Vec<InstanceId>>,
    running: HashMap<InstanceId, Digest>,
    io_fault: Option<String>,
    /// `--fail-fast` saw a failure: stop the executor.
    stop_requested: bool,
}

impl<'a> Dispatcher<'a> {
    fn inst(&self, i: InstanceId) -> &'a Instance {
        &self.plan.instances[i]
    }

    fn hit(
        &mut self,
        i: InstanceId,
        key: Digest,
        manifest: ActionManifest,
        ready: &mut VecDeque<InstanceId>,
    ) {
        let inst = self.inst(i);
        self.events.event(&Event::CacheHit {
            id: i,
            stage: inst.stage.clone(),
            points: inst.points.clone(),
            key: hex(&key),
        });
        self.outcomes[i] = Outcome::Cached { key, manifest };
        self.completed(i, ready);
    }

    /// `i` has an output: release instances waiting on its key, and consumers whose inputs
    /// are now all available.
    fn completed(&mut self, i: InstanceId, ready: &mut VecDeque<InstanceId>) {
        let (key, manifest) = match &self.outcomes[i] {
            Outcome::Ran { key, manifest } | Outcome::Cached { key, manifest } => {
                (*key, manifest.clone())
            }
            _ => return,
        };
        for w in self.key_waiters.remove(&key).unwrap_or_default() {
            self.hit(w, key, manifest.clone(), ready);
        }
        for c in self.consumers[i].clone() {
            self.waiting[c] -= 1;
            if self.waiting[c] == 0 && self.outcomes[c] == Outcome::Pending {
                ready.push_back(c);
            }
        }
    }

    /// Compute the key of a ready instance and decide: hit, wait for a twin, or run.
    fn resolve(&mut self, i: InstanceId, ready: &mut VecDeque<InstanceId>) {
        let inst = self.inst(i);
        let mut digests = Vec::with_capacity(inst.inputs.len());
        for (port, ids) in &inst.inputs {
            let ds = ids
                .iter()
                .map(|j| {
                    self.outcomes[*j]
                        .manifest()
                        .and_then(|m| m.artifact_digest())
                        .unwrap_or([0; 32])
                })
                .collect();
            digests.push((port.clone(), ds));
        }
        let (key, components) = (self.keyer)(inst, &digests);
        if let Some(&o) = self.owner.get(&key) {
            match &self.outcomes[o] {
                Outcome::Ran { manifest, .. } | Outcome::Cached { manifest, .. } => {
                    let m = manifest.clone();
                    self.hit(i, key, m, ready);
                }
                Outcome::Failed { .. } => {
                    let error = format!("same work as failed instance of `{}`", self.inst(o).stage);
                    self.fail(i, error);
                }
                _ => self.key_waiters.entry(key).or_default().push(i),
            }
            return;
        }
        self.owner.insert(key, i);
        if !self.opts.force.contains(&inst.stage) {
            match self.cache.lookup(&key) {
                Ok(Some(m)) => return self.hit(i, key, m, ready),
                Ok(None) => {}
                Err(e) => {
                    self.io_fault.get_or_insert_with(|| e.to_string());
                    return self.fail(i, format!("cache: {e}"));
                }
            }
        }
        self.runnable.insert(i, (key, components));
    }

    /// Mark `i` failed and every transitive dependent (and key twin) skipped.
    fn fail(&mut self, i: InstanceId, error: String) {
        let inst = self.inst(i);
        self.events.event(&Event::Failed {
            id: i,
            stage: inst.stage.clone(),
            error: error.clone(),
        });
        self.outcomes[i] = Outcome::Failed { error };
        let twins = self.owner.iter().find(|(_, &o)| o == i).map(|(k, _)| *k);
        if let Some(k) = twins {
            for w in self.key_waiters.remove(&k).unwrap_or_default() {
                self.fail(
                    w,
                    format!("same work as failed instance of `{}`", inst.stage),
                );
            }
        }
        let mut stack = self.consumers[i].clone();
        while let Some(c) = stack.pop() {
            if self.outcomes[c] != Outcome::Pending {
                continue;
            }
            let reason = format!("upstream `{}` failed", inst.stage);
            self.events.event(&Event::Skipped {
                id: c,
                stage: self.inst(c).stage.clone(),
                reason: reason.clone(),
            });
            self.outcomes[c] = Outcome::Skipped { reason };
            stack.extend(self.consumers[c].iter().copied());
        }
    }

    fn drain_ready(&mut self, ready: &mut VecDeque<InstanceId>) {
        while let Some(i) = ready.pop_front() {
            if self.outcomes[i] == Outcome::Pending {
                self.resolve(i, ready);
            }
        }
    }
}

impl Dispatcher<'_> {
    /// Offer every runnable instance to the executor, in plan order.
    fn start_runnable(&mut self, ex: &mut dyn Executor) {
        let candidates: Vec<InstanceId> = self.runnable.keys().copied().collect();
        for i in candidates {
            let (key, components) = self.runnable.remove(&i).expect("candidate is runnable");
            let inst = self.inst(i);
            let inputs = inst
                .inputs
                .iter()
                .map(|(port, ids)| {
                    let ms = ids
                        .iter()
                        .map(|j| {
                            let m = self.outcomes[*j].manifest().cloned();
                            (*j, m.expect("inputs are complete"))
                        })
                        .collect();
                    (port.clone(), ms)
                })
                .collect();
            let task = Task {
                id: i,
                key,
                components,
                inputs,
            };
            match ex.start(task) {
                Ok(place) => {
                    self.events.event(&Event::Started {
                        id: i,
                        stage: inst.stage.clone(),
                        points: inst.points.clone(),
                        key: hex(&key),
                        device: place.device,
                        threads: place.threads,
                        resume_from: self.cache.checkpoint_step(&key).ok().flatten(),
                    });
                    self.running.insert(i, key);
                }
                Err(task) => {
                    self.runnable.insert(i, (task.key, task.components));
                }
            }
        }
        ex.flush();
    }

    /// Handle one message of the executor.
    fn on_msg(&mut self, msg: Msg, ready: &mut VecDeque<InstanceId>) {
        match msg {
            Msg::Progress {
                id,
                done,
                total,
                unit,
                message,
            } => self.events.event(&Event::Progress {
                id,
                stage: self.inst(id).stage.clone(),
                done,
                total,
                unit,
                message,
            }),
            Msg::Done { id, result } => self.done(id, result, ready),
        }
    }

    fn done(
        &mut self,
        id: InstanceId,
        result: Result<ActionManifest, JobError>,
        ready: &mut VecDeque<InstanceId>,
    ) {
        let Some(key) = self.running.remove(&id) else {
            return;
        };
        let stage = self.inst(id).stage.clone();
        match result {
            Ok(manifest) => {
                self.events.event(&Event::Finished {
                    id,
                    stage,
                    key: hex(&key),
                    secs: manifest.timings.run_secs,
                });
                self.outcomes[id] = Outcome::Ran { key, manifest };
                self.completed(id, ready);
                self.drain_ready(ready);
            }
            Err(JobError::Cancelled) => {
                self.events.event(&Event::Cancelled { id, stage });
                self.outcomes[id] = Outcome::Cancelled;
            }
            Err(e) => {
                let error = match e {
                    JobError::Cache(e) => {
                        self.io_fault.get_or_insert_with(|| e.to_string());
                        format!("cache: {e}")
                    }
                    JobError::Failed(m) => m,
                    JobError::Cancelled => unreachable!("handled above"),
                };
                self.fail(id, error);
                self.stop_requested |= self.opts.fail_fast;
            }
        }
    }

    /// Run until nothing is running and nothing more can start.
    fn drive(&mut self, ex: &mut dyn Executor, cancel: &CancelToken) {
        let mut ready = VecDeque::new();
        let mut stopped = false;
        loop {
            if !stopped && (cancel.is_cancelled() || self.stop_requested) {
                ex.stop();
                stopped = true;
            }
            if !stopped {
                self.start_runnable(ex);
            }
            if self.running.is_empty() {
                break;
            }
            if let Some(msg) = ex.next(Duration::from_millis(50)) {
                self.on_msg(msg, &mut ready);
            }
        }
    }

    /// Count the outcomes (and mark what never ran cancelled).
    fn finish(&mut self, start: Instant, peaks: Peaks) -> RunStats {
        for i in 0..self.outcomes.len() {
            if self.outcomes[i] == Outcome::Pending {
                self.events.event(&Event::Cancelled {
                    id: i,
                    stage: self.inst(i).stage.clone(),
                });
                self.outcomes[i] = Outcome::Cancelled;
            }
        }
        let mut stats = RunStats {
            secs: start.elapsed().as_secs_f64(),
            peak_threads: peaks.threads,
            peak_gpus: peaks.gpus,
            peak_mem_mb: peaks.mem_mb,
            cache: self.cache.stats(),
            ..RunStats::default()
        };
        for o in &self.outcomes {
            match o {
                Outcome::Ran { .. } => stats.ran += 1,
                Outcome::Cached { .. } => stats.cached += 1,
                Outcome::Failed { .. } => stats.failed += 1,
                Outcome::Skipped { .. } => stats.skipped += 1,
                Outcome::Cancelled | Outcome::Pending => stats.cancelled += 1,
            }
        }
        stats
    }
}

/// Consumers and producer counts of every instance.
fn graph(plan: &Plan) -> (Vec<Vec<InstanceId>>, Vec<usize>) {
    let n = plan.instances.len();
    let mut consumers = vec![Vec::new(); n];
    let mut waiting = vec![0; n];
    for (i, inst) in plan.instances.iter().enumerate() {
        let deps: BTreeSet<InstanceId> = inst
            .inputs
            .iter()
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect();
        waiting[i] = deps.len();
        for d in deps {
            consumers[d].push(i);
        }
    }
    (consumers, waiting)
}

/// Run `plan`: every instance is either a verified cache hit, run and committed, failed,
/// skipped (an upstream failed) or cancelled. `cancel` is the external (Ctrl-C) token.
/// Instances run on local threads, or as Slurm jobs when `opts.slurm` is set.
pub fn run(
    plan: &Plan,
    registry: &Registry,
    cache: &Cache,
    keyer: &KeyFn,
    opts: &SchedOptions,
    events: &dyn EventSink,
    cancel: &CancelToken,
) -> RunReport {
    let start = Instant::now();
    let n = plan.instances.len();
    let (consumers, waiting) = graph(plan);
    events.event(&Event::Planned {
        pipeline: plan.name.clone(),
        instances: n,
        points: plan.points.len(),
    });
    let mut d = Dispatcher {
        plan,
        cache,
        keyer,
        opts,
        events,
        outcomes: vec![Outcome::Pending; n],
        waiting,
        consumers,
        runnable: BTreeMap::new(),
        owner: HashMap::new(),
        key_waiters: HashMap::new(),
        running: HashMap::new(),
        io_fault: None,
        stop_requested: false,
    };
    let mut ready: VecDeque<InstanceId> = (0..n).filter(|&i| d.waiting[i] == 0).collect();
    d.drain_ready(&mut ready);
    let peaks = match &opts.slurm {
        Some(so) => {
            let mut ex = SlurmExecutor::new(so, plan, cache, opts.jobs);
            d.drive(&mut ex, cancel);
            ex.peaks()
        }
        None => {
            let env = Env {
                plan,
                registry,
                store: cache,
                stop: CancelToken::new(),
            };
            std::thread::scope(|scope| {
                let mut ex = local::LocalExecutor::new(scope, &env, opts);
                d.drive(&mut ex, cancel);
                ex.peaks()
            })
        }
    };
    let stats = d.finish(start, peaks);
    events.event(&Event::RunFinished {
        stats: stats.clone(),
    });
    RunReport {
        outcomes: d.outcomes,
        stats,
        interrupted: cancel.is_cancelled(),
        io_fault: d.io_fault,
    }
}

#[cfg(test)]
mod tests;
