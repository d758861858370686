//! The Slurm executor (docs/design.md §5 "Slurm", docs/cluster.md): runnable instances become
//! Slurm jobs (one job array per stage and round of instances that became ready together) that
//! run `synface exec` against the shared cache; the coordinator learns completion from files
//! the workers write there (`done/`), and uses one batched, rate-limited `squeue` per poll
//! interval only to notice jobs that ended without a result. Knows nothing of stages beyond
//! their declared resources.
//!
//! Files of one run under the cache: `slurm/<run-id>/tasks/<batch>-<i>.json` (what a worker
//! runs), `jobs/<batch>.sh` (the batch script), `logs/<batch>-<i>.out` (the job's output),
//! `done/<batch>-<i>.json` (the worker's result), `summary.json` (jobs, `squeue` calls).

mod executor;
mod files;
mod sbatch;
pub mod signals;
mod squeue;
mod worker;

use std::path::PathBuf;
use std::time::Duration;

pub use executor::SlurmExecutor;
pub use files::{DoneRecord, DoneStatus, PipelineSource, TaskFile};
pub use squeue::{parse_squeue, JobState};
pub use worker::{exec_task, ExecCode};

/// How to submit (from `synface run --executor slurm ...`).
#[derive(Debug, Clone)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// Time limit of stages without `resources.time`.
    pub time: Option<String>,
    /// Jobs (array tasks) queued or running at once.
    pub max_jobs: usize,
    /// Instances per job array at most (1: one job per instance).
    pub array_max: usize,
    /// Passed to `sbatch` as is (`--slurm-arg=...`).
    pub extra_args: Vec<String>,
    /// Seconds between `squeue` calls.
    pub poll: Duration,
    /// How long a job may be gone (or ended) without a result before its instance fails.
    pub grace: Duration,
    /// The `synface` binary the jobs run (on a shared filesystem).
    pub exe: PathBuf,
    /// The jobs' working directory (the coordinator's).
    pub workdir: PathBuf,
    /// The pipeline as planned, so workers plan exactly the same instances.
    pub pipeline: PipelineSource,
}

/// Why the Slurm executor cannot be used at all (checked before a run starts; exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error(
        "--executor slurm: `{command}` could not be run ({cause}); install the Slurm client \
         commands (sbatch, squeue, scancel) or run on a Slurm login node"
    )]
    Missing { command: String, cause: String },
    #[error("--executor slurm: {0}")]
    Usage(String),
}

/// Check that the Slurm client commands run (`sbatch --version`, `squeue --version`,
/// `scancel --version`).
pub fn preflight() -> Result<(), SlurmError> {
    for command in ["sbatch", "squeue", "scancel"] {
        let out = std::process::Command::new(command)
            .arg("--version")
            .output()
            .map_err(|e| SlurmError::Missing {
                command: command.into(),
                cause: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(SlurmError::Missing {
                command: command.into(),
                cause: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
    }
    Ok(())
}
