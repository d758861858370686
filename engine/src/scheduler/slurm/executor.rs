//! [`SlurmExecutor`]: the dispatcher's runnable instances as Slurm jobs. Tasks offered in one
//! round are grouped by stage and resources and submitted as one job array each (at most
//! `--array-max` tasks per array; `--max-jobs` bounds the tasks queued or running). A task is
//! done when its worker's result appears under `done/`; a job that `squeue` shows ended or no
//! longer lists is given `grace` for its result to appear (a slow shared filesystem), then its
//! instance fails with the job's state and log path. Ctrl-C or `--fail-fast` cancels the run's
//! jobs with one `scancel`.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::files::{DoneRecord, DoneStatus, RunDir, TaskFile};
use super::sbatch::{self, Batch};
use super::squeue::{JobState, Poller};
use super::SlurmOptions;
use crate::cache::{hex, ActionManifest, Cache, CacheError, Digest};
use crate::plan::{InstanceId, Plan};
use crate::scheduler::{Executor, JobError, Msg, Peaks, Placement, Task};
use crate::stage::Device;

/// After Ctrl-C, how long to wait for cancelled jobs to report before giving up on them.
const STOP_WAIT: Duration = Duration::from_secs(30);
/// How often the `done/` folder is listed.
const SCAN_EVERY: Duration = Duration::from_millis(200);

/// A submitted task.
struct Outstanding {
    key: Digest,
    name: String,
    job: String,
    log: PathBuf,
    state: String,
    ended_since: Option<Instant>,
}

/// Runs instances as Slurm jobs over the shared cache.
pub struct SlurmExecutor<'a> {
    opts: &'a SlurmOptions,
    plan: &'a Plan,
    cache: &'a Cache,
    run_id: String,
    job_name: String,
    run: RunDir,
    setup_error: Option<String>,
    pending: Vec<Task>,
    outstanding: HashMap<InstanceId, Outstanding>,
    by_name: HashMap<String, InstanceId>,
    msgs: VecDeque<Msg>,
    poller: Poller,
    last_scan: Option<Instant>,
    batches: usize,
    jobs: usize,
    stopping: Option<Instant>,
    peaks: Peaks,
    /// CPUs per job at most (`--jobs`): a kind asking for "all threads" gets this many.
    max_threads: usize,
}

impl<'a> SlurmExecutor<'a> {
    /// `max_threads` caps `--cpus-per-task` (kinds such as `train` ask for every thread).
    pub fn new(
        opts: &'a SlurmOptions,
        plan: &'a Plan,
        cache: &'a Cache,
        max_threads: usize,
    ) -> Self {
        let run_id = format!(
            "{:x}-{}",
            crate::cache::now_ns() / 1_000_000,
            std::process::id()
        );
        let job_name = format!("synface-{run_id}");
        let run = RunDir::new(cache.dir(), &run_id);
        let setup_error = run.create().err().map(|e| e.to_string());
        tracing::info!(run = %run.root.display(), job_name, "slurm executor");
        SlurmExecutor {
            poller: Poller::new(&job_name, opts.poll),
            opts,
            plan,
            cache,
            run_id,
            job_name,
            run,
            setup_error,
            pending: Vec::new(),
            outstanding: HashMap::new(),
            by_name: HashMap::new(),
            msgs: VecDeque::new(),
            last_scan: None,
            batches: 0,
            jobs: 0,
            stopping: None,
            peaks: Peaks::default(),
            max_threads: max_threads.max(1),
        }
    }

    fn fail_all(&mut self, tasks: &[Task], error: &str) {
        for t in tasks {
            let stage = &self.plan.instances[t.id].stage;
            self.msgs.push_back(Msg::Done {
                id: t.id,
                result: Err(JobError::Failed(format!("stage `{stage}`: {error}"))),
            });
        }
    }

    /// Write the task files and the script of one batch and submit it.
    fn submit_batch(&mut self, tasks: Vec<Task>) {
        if let Some(e) = self.setup_error.clone() {
            return self.fail_all(&tasks, &e);
        }
        let batch = format!("b{}", self.batches);
        self.batches += 1;
        let inst = &self.plan.instances[tasks[0].id];
        for (i, t) in tasks.iter().enumerate() {
            let file = TaskFile {
                format: 1,
                run_id: self.run_id.clone(),
                pipeline: self.opts.pipeline.clone(),
                plan_key: hex(&self.plan.instances[t.id].plan_key),
                task: t.clone(),
                threads: self.threads(t.id),
            };
            let path = self.run.task(&format!("{batch}-{i}"));
            if let Err(e) = self.run.write_json(&path, &file) {
                return self.fail_all(&tasks, &e.to_string());
            }
        }
        let b = Batch {
            name: &batch,
            stage: &inst.stage,
            size: tasks.len(),
            threads: self.threads(tasks[0].id),
            mem_mb: inst.resources.mem_mb,
            gpus: inst.gpus,
            time: inst.time_limit.as_deref(),
        };
        let script = self.run.script(&batch);
        let text = sbatch::script(&self.opts.exe, self.cache.dir(), &self.run, &b);
        if let Err(e) =
            crate::cache::write_atomic(&self.run.root.join("tmp"), &script, text.as_bytes())
        {
            return self.fail_all(&tasks, &format!("{}: {e}", script.display()));
        }
        let args = sbatch::args(self.opts, &self.run, &self.job_name, &b);
        match sbatch::submit(&args, &script) {
            Ok(id) => self.submitted(&batch, &id, tasks),
            Err(e) => self.fail_all(&tasks, &e),
        }
    }

    fn submitted(&mut self, batch: &str, id: &str, tasks: Vec<Task>) {
        let array = tasks.len() > 1;
        tracing::info!(job = id, tasks = tasks.len(), batch, "submitted");
        for (i, t) in tasks.into_iter().enumerate() {
            let name = format!("{batch}-{i}");
            let job = if array {
                format!("{id}_{i}")
            } else {
                id.to_string()
            };
            let stage = &self.plan.instances[t.id].stage;
            let _ = self.cache.begin(&t.key, stage);
            self.jobs += 1;
            self.by_name.insert(name.clone(), t.id);
            self.outstanding.insert(
                t.id,
                Outstanding {
                    key: t.key,
                    log: self.run.log(&name),
                    name,
                    job,
                    state: "PENDING".into(),
                    ended_since: None,
                },
            );
        }
        self.note_peaks();
    }

    /// The CPUs a job of instance `id` requests.
    fn threads(&self, id: InstanceId) -> usize {
        self.plan.instances[id]
            .resources
            .threads
            .clamp(1, self.max_threads)
    }

    fn note_peaks(&mut self) {
        let (mut threads, mut gpus, mut mem) = (0, 0, 0);
        for id in self.outstanding.keys() {
            let inst = &self.plan.instances[*id];
            threads += self.threads(*id);
            gpus += inst.gpus;
            mem += inst.resources.mem_mb;
        }
        self.peaks.threads = self.peaks.threads.max(threads);
        self.peaks.gpus = self.peaks.gpus.max(gpus);
        self.peaks.mem_mb = self.peaks.mem_mb.max(mem);
    }

    /// Index the committed entry of `key`, if whole.
    fn adopt(&self, key: &Digest) -> Result<Option<ActionManifest>, JobError> {
        self.cache.adopt(key).map_err(JobError::Cache)
    }

    /// The outcome of a task whose worker wrote `rec`.
    fn result(&self, o: &Outstanding, rec: &DoneRecord) -> Result<ActionManifest, JobError> {
        let job = rec.job.as_deref().unwrap_or(&o.job);
        let err = rec.error.as_deref().unwrap_or("no detail");
        let log = o.log.display();
        match rec.status {
            DoneStatus::Ok => self.adopt(&o.key)?.ok_or_else(|| {
                JobError::Failed(format!(
                    "slurm job {job} reported success but its cache entry is missing or not whole (log {log})"
                ))
            }),
            DoneStatus::Failed => Err(JobError::Failed(format!("{err} (slurm job {job}, log {log})"))),
            DoneStatus::Fault => Err(JobError::Cache(CacheError::io(
                &o.log,
                std::io::Error::other(format!("slurm job {job}: {err}")),
            ))),
            DoneStatus::Cancelled if self.stopping.is_some() => Err(JobError::Cancelled),
            DoneStatus::Cancelled => match self.adopt(&o.key)? {
                Some(m) => Ok(m),
                None => Err(JobError::Failed(format!(
                    "slurm job {job} was stopped (scancel, time limit or preemption) before it \
                     finished; rerun to resume from its last checkpoint (log {log})"
                ))),
            },
        }
    }

    fn finish(&mut self, id: InstanceId, result: Result<ActionManifest, JobError>) {
        if let Some(o) = self.outstanding.remove(&id) {
            self.by_name.remove(&o.name);
            if result.is_err() {
                let _ = self.cache.end(&o.key);
            }
        }
        self.msgs.push_back(Msg::Done { id, result });
    }

    /// Collect the results workers wrote under `done/` since the last look.
    fn scan_done(&mut self) {
        if self.last_scan.is_some_and(|t| t.elapsed() < SCAN_EVERY) || self.outstanding.is_empty() {
            return;
        }
        self.last_scan = Some(Instant::now());
        let Ok(entries) = std::fs::read_dir(self.run.done_dir()) else {
            return;
        };
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let Some(&id) = file.strip_suffix(".json").and_then(|n| self.by_name.get(n)) else {
                continue;
            };
            let Some(rec) = std::fs::read(e.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<DoneRecord>(&b).ok())
            else {
                continue;
            };
            let result = self.result(&self.outstanding[&id], &rec);
            self.finish(id, result);
        }
    }

    /// One `squeue` when due: note which jobs ended or vanished.
    fn poll_jobs(&mut self) {
        let every = self
            .stopping
            .map(|_| Duration::from_secs(1).min(self.opts.poll));
        if self.outstanding.is_empty() || !self.poller.due(every) {
            return;
        }
        let Some(states) = self.poller.poll() else {
            return;
        };
        let now = Instant::now();
        for o in self.outstanding.values_mut() {
            match states.get(&o.job) {
                Some(JobState::Active(s)) => {
                    o.state = s.clone();
                    o.ended_since = None;
                }
                Some(JobState::Ended(s)) => {
                    o.state = s.clone();
                    o.ended_since.get_or_insert(now);
                }
                None => {
                    o.state = "no longer listed by squeue".into();
                    o.ended_since.get_or_insert(now);
                }
            }
        }
    }

    /// Fail (or, while stopping, cancel) tasks whose job ended without a result `grace` ago.
    fn expire(&mut self) {
        let stopping = self.stopping;
        let grace = match stopping {
            Some(_) => self.opts.grace.min(Duration::from_secs(2)),
            None => self.opts.grace,
        };
        let give_up = stopping.is_some_and(|t| t.elapsed() >= STOP_WAIT);
        let expired: Vec<InstanceId> = self
            .outstanding
            .iter()
            .filter(|(_, o)| give_up || o.ended_since.is_some_and(|t| t.elapsed() >= grace))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let o = &self.outstanding[&id];
            let result = match self.adopt(&o.key) {
                Ok(Some(m)) => Ok(m),
                Err(e) => Err(e),
                Ok(None) if stopping.is_some() => Err(JobError::Cancelled),
                Ok(None) => Err(JobError::Failed(format!(
                    "slurm job {} ended ({}) without a result; failed after a {}s grace period \
                     (log {})",
                    o.job,
                    o.state,
                    self.opts.grace.as_secs(),
                    o.log.display()
                ))),
            };
            self.finish(id, result);
        }
    }

    fn write_summary(&self) {
        let summary = serde_json::json!({
            "run_id": self.run_id,
            "job_name": self.job_name,
            "submissions": self.batches,
            "jobs": self.jobs,
            "squeue_calls": self.poller.calls,
            "squeue_failures": self.poller.failures,
        });
        let path = self.run.root.join("summary.json");
        if self.run.write_json(&path, &summary).is_ok() {
            tracing::info!(%summary, "slurm executor finished");
        }
    }
}

impl Executor for SlurmExecutor<'_> {
    fn start(&mut self, task: Task) -> Result<Placement, Task> {
        if self.outstanding.len() + self.pending.len() >= self.opts.max_jobs.max(1) {
            return Err(task);
        }
        let inst = &self.plan.instances[task.id];
        let device = if inst.gpus > 0 {
            Device::Cuda(0)
        } else {
            Device::Cpu
        };
        let threads = self.threads(task.id);
        self.pending.push(task);
        Ok(Placement { device, threads })
    }

    fn flush(&mut self) {
        let mut groups: Vec<Vec<Task>> = Vec::new();
        for t in std::mem::take(&mut self.pending) {
            let same = |g: &Vec<Task>| {
                let (a, b) = (&self.plan.instances[g[0].id], &self.plan.instances[t.id]);
                a.stage == b.stage
                    && a.resources == b.resources
                    && a.gpus == b.gpus
                    && a.time_limit == b.time_limit
                    && g.len() < self.opts.array_max.max(1)
            };
            match groups.iter_mut().find(|g| same(g)) {
                Some(g) => g.push(t),
                None => groups.push(vec![t]),
            }
        }
        for g in groups {
            self.submit_batch(g);
        }
    }

    fn next(&mut self, timeout: Duration) -> Option<Msg> {
        if self.msgs.is_empty() {
            self.scan_done();
            self.poll_jobs();
            self.expire();
        }
        if let Some(m) = self.msgs.pop_front() {
            return Some(m);
        }
        std::thread::sleep(timeout);
        None
    }

    fn stop(&mut self) {
        self.stopping = Some(Instant::now());
        if self.jobs > 0 {
            sbatch::scancel(&self.job_name);
        }
        for t in std::mem::take(&mut self.pending) {
            self.msgs.push_back(Msg::Done {
                id: t.id,
                result: Err(JobError::Cancelled),
            });
        }
    }

    fn peaks(&self) -> Peaks {
        self.peaks
    }
}

impl Drop for SlurmExecutor<'_> {
    fn drop(&mut self) {
        self.write_summary();
    }
}
