//! `synface exec TASK`: the worker entry point a Slurm job runs (docs/design.md §5 "Slurm").
//! It runs exactly one stage instance of the plan against the shared cache, without the lock
//! and without sled ([`SharedCache`]): it replans the pipeline text of the task file, checks
//! the instance's plan key, loads the inputs, runs the stage with the CPUs and GPUs Slurm
//! granted (`SLURM_CPUS_PER_TASK`; `CUDA_VISIBLE_DEVICES`/`SLURM_JOB_GPUS`, as device 0 of
//! those), commits, and writes its result to `done/` beside the task folder. An instance
//! already committed (by a racing or earlier worker) is reported done without running.

use std::path::Path;
use std::time::Instant;

use super::files::{done_path, DoneRecord, DoneStatus, TaskFile};
use crate::cache::{hex, hostname, SharedCache};
use crate::registry::Registry;
use crate::scheduler::{execute, Env, Grant, JobError};
use crate::stage::{CancelToken, Device, NoProgress};

/// How `synface exec` ended (its exit code, docs/design.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecCode {
    /// 0: committed (or already committed).
    Done = 0,
    /// 1: the stage failed.
    Failed = 1,
    /// 2: the task file is unusable or no longer matches the pipeline.
    BadTask = 2,
    /// 3: a cache or I/O fault.
    Fault = 3,
    /// 130: SIGTERM/SIGINT stopped the stage (checkpoint kept).
    Cancelled = 130,
}

/// The Slurm job (and array task) this process runs in.
fn slurm_job() -> Option<String> {
    let job = std::env::var("SLURM_JOB_ID").ok()?;
    Some(match std::env::var("SLURM_ARRAY_TASK_ID") {
        Ok(t) => format!("{}_{t}", std::env::var("SLURM_ARRAY_JOB_ID").unwrap_or(job)),
        Err(_) => job,
    })
}

/// The GPUs Slurm granted this job, as it exported them (empty: none).
fn granted_gpus() -> String {
    let v = |k: &str| std::env::var(k).unwrap_or_default();
    let (cvd, job) = (v("CUDA_VISIBLE_DEVICES"), v("SLURM_JOB_GPUS"));
    if !job.is_empty() {
        job
    } else if cvd != "NoDevFiles" {
        cvd
    } else {
        String::new()
    }
}

/// Run the task in `task_file` against the cache at `cache_dir`. Messages go to stderr (the
/// job's log); the result goes to `done/`.
pub fn exec_task(task_file: &Path, cache_dir: &Path, registry: &Registry) -> ExecCode {
    let start = Instant::now();
    let (code, error) = run_task(task_file, cache_dir, registry);
    if let Some(e) = &error {
        eprintln!("synface exec: {e}");
    }
    let status = match code {
        ExecCode::Done => DoneStatus::Ok,
        ExecCode::Failed | ExecCode::BadTask => DoneStatus::Failed,
        ExecCode::Fault => DoneStatus::Fault,
        ExecCode::Cancelled => DoneStatus::Cancelled,
    };
    let rec = DoneRecord {
        status,
        error,
        host: hostname(),
        job: slurm_job(),
        secs: start.elapsed().as_secs_f64(),
    };
    let Some(done) = done_path(task_file) else {
        eprintln!(
            "synface exec: {} is not under a run's tasks/ folder",
            task_file.display()
        );
        return code;
    };
    if let Err(e) = write_done(&done, &rec) {
        eprintln!("synface exec: writing {}: {e}", done.display());
        return ExecCode::Fault;
    }
    code
}

/// Write the result atomically through a temporary file beside it named after this host and
/// process (never a `.json` name, so the coordinator ignores it until the rename).
fn write_done(done: &Path, rec: &DoneRecord) -> std::io::Result<()> {
    use std::io::Write;
    let json = serde_json::to_vec_pretty(rec).expect("done records serialise");
    let host: String = hostname()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let tmp = done.with_extension(format!("{host}.{}.tmp", std::process::id()));
    std::fs::create_dir_all(done.parent().unwrap_or(Path::new(".")))?;
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&json)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, done)?;
    crate::cache::fsync_dir(done.parent().unwrap_or(Path::new(".")))
}

fn run_task(task_file: &Path, cache_dir: &Path, registry: &Registry) -> (ExecCode, Option<String>) {
    let tf: TaskFile = match std::fs::read(task_file)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(e) => {
            return (
                ExecCode::BadTask,
                Some(format!("task file {}: {e}", task_file.display())),
            )
        }
    };
    let cache = match SharedCache::open(cache_dir) {
        Ok(c) => c,
        Err(e) => return (ExecCode::Fault, Some(e.to_string())),
    };
    match cache.committed(&tf.task.key) {
        Ok(Some(_)) => {
            eprintln!("synface exec: {} is already committed", hex(&tf.task.key));
            return (ExecCode::Done, None);
        }
        Ok(None) => {}
        Err(e) => return (ExecCode::Fault, Some(e.to_string())),
    }
    let p = &tf.pipeline;
    // The bases the coordinator read travel in the task file; one without them (written
    // before `extends` existed) reads the disk.
    let shipped = crate::pipeline::ShippedSources(&p.bases);
    let loader: &dyn crate::pipeline::SourceLoader = if p.bases.is_empty() {
        &crate::pipeline::DiskSources
    } else {
        &shipped
    };
    let plan = match crate::pipeline::plan_with_sources(
        &p.source,
        &p.path,
        &p.overrides,
        registry,
        loader,
    ) {
        Ok(plan) => plan,
        Err(d) => {
            return (
                ExecCode::BadTask,
                Some(format!("the pipeline no longer plans:\n{d}")),
            )
        }
    };
    let Some(inst) = plan
        .instances
        .get(tf.task.id)
        .filter(|i| hex(&i.plan_key) == tf.plan_key)
    else {
        return (ExecCode::BadTask, Some("the task's instance is not in the plan (different synface version or stage kinds?)".into()));
    };
    let threads = std::env::var("SLURM_CPUS_PER_TASK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(tf.threads)
        .max(1);
    let gpus = granted_gpus();
    let device = if inst.gpus > 0 && !gpus.is_empty() {
        Device::Cuda(0)
    } else {
        Device::Cpu
    };
    eprintln!(
        "synface exec: stage `{}` key {} on {}: {threads} threads, device {device:?} (CUDA_VISIBLE_DEVICES={}, SLURM_JOB_GPUS={})",
        inst.stage,
        &hex(&tf.task.key)[..12],
        hostname(),
        std::env::var("CUDA_VISIBLE_DEVICES").unwrap_or_default(),
        std::env::var("SLURM_JOB_GPUS").unwrap_or_default(),
    );
    let stop = CancelToken::new();
    super::signals::cancel_on_term(stop.clone());
    let env = Env {
        plan: &plan,
        registry,
        store: &cache,
        stop,
    };
    let grant = Grant {
        threads,
        device,
        mem_mb: inst.resources.mem_mb,
    };
    match execute(&env, &tf.task, grant, &NoProgress) {
        Ok(_) => (ExecCode::Done, None),
        // Another worker may have committed the same key meanwhile: that is success.
        Err(_) if matches!(cache.committed(&tf.task.key), Ok(Some(_))) => (ExecCode::Done, None),
        Err(JobError::Cancelled) => (ExecCode::Cancelled, Some("stopped by a signal".into())),
        Err(JobError::Failed(m)) => (ExecCode::Failed, Some(m)),
        Err(JobError::Cache(e)) => (ExecCode::Fault, Some(e.to_string())),
    }
}
