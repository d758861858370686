//! `synface run --executor slurm ...` options and `synface exec TASK` (the worker a Slurm job
//! runs); docs/cluster.md is the user guide, docs/design.md §5 "Slurm" the protocol.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use synface_engine::slurm::{self, ExecCode, PipelineSource, SlurmOptions};

use crate::{CacheArgs, Failure};

/// Where stage instances run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ExecutorKind {
    /// Worker threads of this process
    #[default]
    Local,
    /// Slurm jobs over a shared cache (docs/cluster.md)
    Slurm,
}

/// The executor and the Slurm options of `run`.
#[derive(Args, Debug, Clone)]
pub struct SlurmArgs {
    /// Where stage instances run: `local` threads or `slurm` jobs (see docs/cluster.md)
    #[arg(long, value_enum, default_value_t = ExecutorKind::Local)]
    pub executor: ExecutorKind,
    /// Slurm partition (sbatch --partition)
    #[arg(long, value_name = "NAME")]
    pub partition: Option<String>,
    /// Slurm account (sbatch --account)
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// Slurm QOS (sbatch --qos)
    #[arg(long, value_name = "NAME")]
    pub qos: Option<String>,
    /// Time limit of stages without `resources.time`, e.g. 12:00:00 [default: the partition's]
    #[arg(long, value_name = "TIME")]
    pub time: Option<String>,
    /// Slurm jobs (array tasks) queued or running at once
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_jobs: usize,
    /// Instances per job array at most (1: one job per instance)
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub array_max: usize,
    /// Extra sbatch argument, passed as is (repeatable): --slurm-arg=--constraint=a100
    #[arg(long = "slurm-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub slurm_args: Vec<String>,
    /// Seconds between the run's one batched squeue call
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub poll: f64,
    /// Seconds a job may be gone without a result before its instance fails
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub grace: f64,
}

impl SlurmArgs {
    /// Whether any Slurm-only option was given.
    fn any_slurm_option(&self) -> bool {
        self.partition.is_some()
            || self.account.is_some()
            || self.qos.is_some()
            || self.time.is_some()
            || !self.slurm_args.is_empty()
            || self.max_jobs != 1000
            || self.array_max != 1000
            || self.poll != 10.0
            || self.grace != 60.0
    }
}

fn secs(v: f64, flag: &str) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Failure::Usage(format!(
                "error: {flag} {v}: expected a positive number of seconds"
            ))
        })
}

/// The Slurm options of a run (`None`: the local executor). Usage errors exit 2: Slurm options
/// without `--executor slurm`, a malformed `--time`, missing Slurm commands.
pub fn options(
    a: &SlurmArgs,
    plan: &synface_engine::Plan,
    file: &Path,
    set: &[String],
    cache_dir: &Path,
) -> Result<Option<(SlurmOptions, PathBuf)>, Failure> {
    if a.executor == ExecutorKind::Local {
        if a.any_slurm_option() {
            return Err(Failure::Usage(
                "error: Slurm options (--partition, --account, --qos, --time, --max-jobs, \
                 --array-max, --slurm-arg, --poll, --grace) need `--executor slurm`"
                    .into(),
            ));
        }
        return Ok(None);
    }
    if let Some(t) = a
        .time
        .as_deref()
        .filter(|t| !synface_engine::pipeline::is_slurm_time(t))
    {
        return Err(Failure::Usage(format!(
            "error: --time {t}: not a Slurm time limit (\"MM\", \"HH:MM:SS\", \"D-HH:MM:SS\", ...)"
        )));
    }
    slurm::preflight().map_err(|e| Failure::Usage(format!("error: {e}")))?;
    let source = synface_engine::pipeline::read_source(file)
        .map_err(|e| Failure::Usage(format!("error: {}: {e}", file.display())))?;
    let abs = |p: &Path| std::path::absolute(p).map_err(|e| Failure::Io(e.into()));
    let opts = SlurmOptions {
        partition: a.partition.clone(),
        account: a.account.clone(),
        qos: a.qos.clone(),
        time: a.time.clone(),
        max_jobs: a.max_jobs.max(1),
        array_max: a.array_max.max(1),
        extra_args: a.slurm_args.clone(),
        poll: secs(a.poll, "--poll")?,
        grace: secs(a.grace, "--grace")?,
        exe: std::env::current_exe().map_err(|e| Failure::Io(e.into()))?,
        workdir: abs(Path::new("."))?,
        pipeline: PipelineSource {
            path: abs(file)?,
            source,
            overrides: set.to_vec(),
            bases: plan
                .bases
                .iter()
                .map(|(p, text)| Ok((abs(p)?, text.clone())))
                .collect::<Result<_, Failure>>()?,
        },
    };
    Ok(Some((opts, abs(cache_dir)?)))
}

/// `synface exec TASK`: run one stage instance of a Slurm job; exits with [`ExecCode`].
pub fn cmd_exec(task: &Path, cache: &CacheArgs) -> Result<(), Failure> {
    let code = slurm::exec_task(task, &cache.dir(), &crate::registry());
    match code {
        ExecCode::Done => Ok(()),
        ExecCode::BadTask => Err(Failure::Code(2)),
        ExecCode::Fault => Err(Failure::Code(3)),
        c => Err(Failure::Code(c as u8)),
    }
}
