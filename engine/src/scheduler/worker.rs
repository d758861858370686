//! Running one stage instance: load its inputs from the cache, run it in a rayon pool of the
//! granted size with a progress sink and the cancel token, commit the output. The same code runs
//! on a local worker thread (against the coordinator's [`Cache`]) and inside a Slurm job
//! (`synface exec`, against a [`SharedCache`]); [`Store`] is what differs.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::executor::{JobError, Msg, Task};
use super::resources::Grant;
use crate::cache::{hex, ActionManifest, Cache, CacheError, Digest, SharedCache};
use crate::plan::{InstanceId, Plan};
use crate::registry::Registry;
use crate::stage::{
    Artifact, CancelToken, CheckpointStore, InputArtifact, ProgressSink, RunCtx, StageError,
};

/// The cache operations a running instance needs.
pub trait Store: Sync {
    fn load(&self, m: &ActionManifest) -> Result<Option<Artifact>, CacheError>;
    fn checkpoints(&self, key: Digest) -> Box<dyn CheckpointStore + '_>;
    /// Record that `key` is being computed (the coordinator's in-flight record).
    fn begin(&self, key: &Digest, stage: &str) -> Result<(), CacheError>;
    fn end(&self, key: &Digest) -> Result<(), CacheError>;
    fn commit(
        &self,
        key: &Digest,
        inst: (&str, &str),
        components: serde_json::Value,
        artifact: &Artifact,
        secs: f64,
    ) -> Result<ActionManifest, CacheError>;
}

impl Store for Cache {
    fn load(&self, m: &ActionManifest) -> Result<Option<Artifact>, CacheError> {
        Cache::load(self, m)
    }
    fn checkpoints(&self, key: Digest) -> Box<dyn CheckpointStore + '_> {
        Box::new(Cache::checkpoints(self, key))
    }
    fn begin(&self, key: &Digest, stage: &str) -> Result<(), CacheError> {
        Cache::begin(self, key, stage)
    }
    fn end(&self, key: &Digest) -> Result<(), CacheError> {
        Cache::end(self, key)
    }
    fn commit(
        &self,
        key: &Digest,
        (stage, kind): (&str, &str),
        components: serde_json::Value,
        artifact: &Artifact,
        secs: f64,
    ) -> Result<ActionManifest, CacheError> {
        Cache::commit(self, key, stage, kind, components, artifact, secs)
    }
}

impl Store for SharedCache {
    fn load(&self, m: &ActionManifest) -> Result<Option<Artifact>, CacheError> {
        SharedCache::load(self, m)
    }
    fn checkpoints(&self, key: Digest) -> Box<dyn CheckpointStore + '_> {
        Box::new(SharedCache::checkpoints(self, key))
    }
    fn begin(&self, _: &Digest, _: &str) -> Result<(), CacheError> {
        Ok(())
    }
    fn end(&self, _: &Digest) -> Result<(), CacheError> {
        Ok(())
    }
    fn commit(
        &self,
        key: &Digest,
        (stage, kind): (&str, &str),
        components: serde_json::Value,
        artifact: &Artifact,
        secs: f64,
    ) -> Result<ActionManifest, CacheError> {
        SharedCache::commit(self, key, stage, kind, components, artifact, secs)
    }
}

/// Everything a running instance shares with whoever started it.
pub struct Env<'a> {
    pub plan: &'a Plan,
    pub registry: &'a Registry,
    pub store: &'a dyn Store,
    /// Cancelled on Ctrl-C or fail-fast (locally), or SIGTERM (in a Slurm job).
    pub stop: CancelToken,
}

/// Forwards a stage's progress to the dispatcher, at most every 100 ms.
pub(super) struct ChannelProgress {
    id: InstanceId,
    tx: Sender<Msg>,
    state: Mutex<ProgressState>,
}

struct ProgressState {
    done: u64,
    total: u64,
    unit: String,
    message: String,
    last: Option<Instant>,
}

impl ChannelProgress {
    pub(super) fn new(id: InstanceId, tx: Sender<Msg>) -> Self {
        ChannelProgress {
            id,
            tx,
            state: Mutex::new(ProgressState {
                done: 0,
                total: 0,
                unit: String::new(),
                message: String::new(),
                last: None,
            }),
        }
    }

    fn update(&self, f: impl FnOnce(&mut ProgressState), force: bool) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
        let due = s
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if force || due || s.done == s.total {
            s.last = Some(Instant::now());
            let _ = self.tx.send(Msg::Progress {
                id: self.id,
                done: s.done,
                total: s.total,
                unit: s.unit.clone(),
                message: s.message.clone(),
            });
        }
    }
}

impl ProgressSink for ChannelProgress {
    fn set_total(&self, total: u64, unit: &str) {
        self.update(
            |s| {
                s.total = total;
                s.unit = unit.to_string();
            },
            true,
        );
    }
    fn inc(&self, n: u64) {
        self.update(|s| s.done += n, false);
    }
    fn set_message(&self, msg: &str) {
        self.update(|s| s.message = msg.to_string(), true);
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Load the inputs of `task` (verified) as the stage receives them, by port.
fn load_inputs(env: &Env, task: &Task) -> Result<BTreeMap<String, Vec<InputArtifact>>, JobError> {
    let mut inputs = BTreeMap::new();
    for (port, producers) in &task.inputs {
        let mut list = Vec::with_capacity(producers.len());
        for (pid, m) in producers {
            let artifact = env.store.load(m).map_err(JobError::Cache)?.ok_or_else(|| {
                JobError::Failed(format!(
                    "input `{port}` ({}): cached artifact {} is missing or corrupt; rerun to recompute it",
                    m.stage,
                    &m.key[..12]
                ))
            })?;
            let producer = &env.plan.instances[*pid];
            let point = producer
                .points
                .first()
                .and_then(|id| env.plan.points.iter().find(|p| &p.id == id))
                .map(|p| p.values.clone())
                .unwrap_or_default();
            list.push(InputArtifact {
                stage: producer.stage.clone(),
                point_ids: producer.points.clone(),
                point,
                artifact,
            });
        }
        inputs.insert(port.clone(), list);
    }
    Ok(inputs)
}

/// Run one instance to completion with `grant`, reporting progress to `progress`.
pub fn execute(
    env: &Env,
    task: &Task,
    grant: Grant,
    progress: &dyn ProgressSink,
) -> Result<ActionManifest, JobError> {
    let inst = &env.plan.instances[task.id];
    let stage = env
        .registry
        .get(&inst.kind)
        .ok_or_else(|| JobError::Failed(format!("unknown stage kind `{}`", inst.kind)))?;
    let inputs = load_inputs(env, task)?;
    let job = task;
    let checkpoints = env.store.checkpoints(job.key);
    let ctx = RunCtx {
        stage: &inst.stage,
        params: &inst.params,
        inputs,
        seed: inst.seed,
        device: grant.device,
        threads: grant.threads,
        progress,
        cancel: &env.stop,
        checkpoints: &*checkpoints,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(grant.threads)
        .thread_name(|i| format!("synface-stage-{i}"))
        .build()
        .map_err(|e| JobError::Failed(format!("could not start a thread pool: {e}")))?;
    env.store
        .begin(&job.key, &inst.stage)
        .map_err(JobError::Cache)?;
    let start = Instant::now();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| pool.install(|| stage.run(&ctx))));
    let secs = start.elapsed().as_secs_f64();
    let artifact = match result {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            env.store.end(&job.key).map_err(JobError::Cache)?;
            return Err(match e {
                StageError::Cancelled if env.stop.is_cancelled() => JobError::Cancelled,
                e => JobError::Failed(e.to_string()),
            });
        }
        Err(p) => {
            env.store.end(&job.key).map_err(JobError::Cache)?;
            return Err(JobError::Failed(format!(
                "stage panicked: {}",
                panic_message(&*p)
            )));
        }
    };
    tracing::debug!(stage = %inst.stage, key = %hex(&job.key), secs, "committing");
    env.store
        .commit(
            &job.key,
            (&inst.stage, &inst.kind),
            job.components.clone(),
            &artifact,
            secs,
        )
        .map_err(JobError::Cache)
}
