//! Running one stage instance on a worker thread: load its inputs from the cache, run it in a
//! rayon pool of the granted size with a progress sink and the cancel token, commit the output.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::resources::Grant;
use crate::cache::{hex, ActionManifest, Cache, CacheError, Digest};
use crate::plan::{InstanceId, Plan};
use crate::registry::Registry;
use crate::stage::{CancelToken, InputArtifact, ProgressSink, RunCtx, StageError};

/// Everything a worker shares with the dispatcher.
pub(super) struct Env<'a> {
    pub plan: &'a Plan,
    pub registry: &'a Registry,
    pub cache: &'a Cache,
    /// Cancelled on Ctrl-C or fail-fast.
    pub stop: CancelToken,
}

/// One instance to run.
pub(super) struct Job {
    pub id: InstanceId,
    pub key: Digest,
    pub components: serde_json::Value,
    pub grant: Grant,
    /// Input manifests by port (one per producing instance).
    pub inputs: Vec<(String, Vec<(InstanceId, ActionManifest)>)>,
}

/// Why a job produced nothing.
#[derive(Debug)]
pub(super) enum JobError {
    Cancelled,
    Failed(String),
    /// A cache or I/O fault (exit code 3).
    Cache(CacheError),
}

/// Worker -> dispatcher.
pub(super) enum Msg {
    Progress {
        id: InstanceId,
        done: u64,
        total: u64,
        unit: String,
        message: String,
    },
    Done {
        id: InstanceId,
        result: Result<ActionManifest, JobError>,
    },
}

/// Forwards a stage's progress to the dispatcher, at most every 100 ms.
struct ChannelProgress {
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

/// Run one job to completion (called on a worker thread).
pub(super) fn execute(env: &Env, job: &Job, tx: &Sender<Msg>) -> Result<ActionManifest, JobError> {
    let inst = &env.plan.instances[job.id];
    let stage = env
        .registry
        .get(&inst.kind)
        .ok_or_else(|| JobError::Failed(format!("unknown stage kind `{}`", inst.kind)))?;
    let mut inputs = BTreeMap::new();
    for (port, producers) in &job.inputs {
        let mut list = Vec::with_capacity(producers.len());
        for (pid, m) in producers {
            let artifact = env.cache.load(m).map_err(JobError::Cache)?.ok_or_else(|| {
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
    let progress = ChannelProgress {
        id: job.id,
        tx: tx.clone(),
        state: Mutex::new(ProgressState {
            done: 0,
            total: 0,
            unit: String::new(),
            message: String::new(),
            last: None,
        }),
    };
    let checkpoints = env.cache.checkpoints(job.key);
    let ctx = RunCtx {
        stage: &inst.stage,
        params: &inst.params,
        inputs,
        seed: inst.seed,
        device: job.grant.device,
        threads: job.grant.threads,
        progress: &progress,
        cancel: &env.stop,
        checkpoints: &checkpoints,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(job.grant.threads)
        .thread_name(|i| format!("synface-stage-{i}"))
        .build()
        .map_err(|e| JobError::Failed(format!("could not start a thread pool: {e}")))?;
    env.cache
        .begin(&job.key, &inst.stage)
        .map_err(JobError::Cache)?;
    let start = Instant::now();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| pool.install(|| stage.run(&ctx))));
    let secs = start.elapsed().as_secs_f64();
    let artifact = match result {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            env.cache.end(&job.key).map_err(JobError::Cache)?;
            return Err(match e {
                StageError::Cancelled if env.stop.is_cancelled() => JobError::Cancelled,
                e => JobError::Failed(e.to_string()),
            });
        }
        Err(p) => {
            env.cache.end(&job.key).map_err(JobError::Cache)?;
            return Err(JobError::Failed(format!(
                "stage panicked: {}",
                panic_message(&*p)
            )));
        }
    };
    tracing::debug!(stage = %inst.stage, key = %hex(&job.key), secs, "committing");
    env.cache
        .commit(
            &job.key,
            &inst.stage,
            &inst.kind,
            job.components.clone(),
            &artifact,
            secs,
        )
        .map_err(JobError::Cache)
}
