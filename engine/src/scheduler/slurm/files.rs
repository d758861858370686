//! The files of the worker protocol (docs/design.md §5 "Slurm"): a run's directory under the
//! cache, the task file a job runs (`synface exec TASK`) and the result record the worker
//! writes next to it (`done/`), each written atomically (temporary file, fsync, rename).

use std::path::{Path, PathBuf};

use crate::cache::{write_atomic, CacheError};
use crate::scheduler::Task;

/// The pipeline text and `--set` overrides the coordinator planned.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PipelineSource {
    pub path: PathBuf,
    pub source: String,
    pub overrides: Vec<String>,
    /// The files the pipeline extends, by absolute path, with the texts the coordinator
    /// planned (`Plan::bases`); absent in task files written before `extends` existed.
    #[serde(default)]
    pub bases: Vec<(PathBuf, String)>,
}

/// What one Slurm job (array task) runs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TaskFile {
    /// Format of this file (1).
    pub format: u32,
    pub run_id: String,
    pub pipeline: PipelineSource,
    /// The instance's plan key (hex): the worker checks it plans the same instance.
    pub plan_key: String,
    pub task: Task,
    /// Threads requested (`--cpus-per-task`), used when Slurm does not say.
    pub threads: usize,
}

/// How a worker's attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoneStatus {
    /// Committed (or found committed by another worker).
    Ok,
    /// The stage failed.
    Failed,
    /// SIGTERM (scancel, time limit, preemption) stopped it; its checkpoint stays.
    Cancelled,
    /// A cache or I/O fault.
    Fault,
}

/// A worker's result (`done/<name>.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DoneRecord {
    pub status: DoneStatus,
    pub error: Option<String>,
    pub host: String,
    /// `SLURM_JOB_ID` (and array task) of the attempt.
    pub job: Option<String>,
    pub secs: f64,
}

/// `<cache>/slurm/<run-id>/` and its parts.
#[derive(Debug, Clone)]
pub(crate) struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    pub fn new(cache: &Path, run_id: &str) -> RunDir {
        RunDir {
            root: cache.join("slurm").join(run_id),
        }
    }
    pub fn create(&self) -> Result<(), CacheError> {
        for sub in ["tasks", "jobs", "logs", "done", "tmp"] {
            let p = self.root.join(sub);
            std::fs::create_dir_all(&p).map_err(|e| CacheError::io(&p, e))?;
        }
        Ok(())
    }
    pub fn task(&self, name: &str) -> PathBuf {
        self.root.join("tasks").join(format!("{name}.json"))
    }
    pub fn log(&self, name: &str) -> PathBuf {
        self.root.join("logs").join(format!("{name}.out"))
    }
    pub fn done_dir(&self) -> PathBuf {
        self.root.join("done")
    }
    pub fn script(&self, batch: &str) -> PathBuf {
        self.root.join("jobs").join(format!("{batch}.sh"))
    }
    /// Write `value` as JSON to `path` atomically.
    pub fn write_json<T: serde::Serialize>(
        &self,
        path: &Path,
        value: &T,
    ) -> Result<(), CacheError> {
        let json = serde_json::to_vec_pretty(value).expect("protocol files always serialise");
        write_atomic(&self.root.join("tmp"), path, &json).map_err(|e| CacheError::io(path, e))
    }
}

/// Where the worker of `task_file` (`.../tasks/<name>.json`) writes its result:
/// `.../done/<name>.json`.
pub fn done_path(task_file: &Path) -> Option<PathBuf> {
    let name = task_file.file_name()?;
    let run = task_file.parent()?.parent()?;
    Some(run.join("done").join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_file_sits_beside_the_task_folder() {
        let d = done_path(Path::new("/c/slurm/r1/tasks/b3-7.json")).unwrap();
        assert_eq!(d, Path::new("/c/slurm/r1/done/b3-7.json"));
    }
}
