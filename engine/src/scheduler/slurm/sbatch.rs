//! Submitting a batch of instances of one stage as one `sbatch` call: a job array when there
//! are several (array task `i` runs task file `<batch>-<i>.json`), a plain job for one. A
//! stage's resources map to `--cpus-per-task`, `--mem`, `--gres=gpu:N` and `--time`; the run's
//! jobs share the job name `synface-<run-id>` (what `squeue` and `scancel` select on) and carry
//! the stage name as their comment. Also `scancel` of the whole run.

use std::path::Path;
use std::process::Command;

use super::files::RunDir;
use super::SlurmOptions;

/// One submission: `size` instances of `stage` with the same resources.
pub(crate) struct Batch<'a> {
    pub name: &'a str,
    pub stage: &'a str,
    pub size: usize,
    pub threads: usize,
    pub mem_mb: u64,
    pub gpus: usize,
    pub time: Option<&'a str>,
}

/// `s` quoted for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The batch script: run `synface exec` on this array task's task file.
pub(crate) fn script(exe: &Path, cache: &Path, run: &RunDir, b: &Batch) -> String {
    let tasks = run.root.join("tasks").join(format!("{}-", b.name));
    format!(
        "#!/bin/sh\n# synface: stage `{}`, {} instance(s); see docs/cluster.md\nexec {} --cache {} exec {}\"${{SLURM_ARRAY_TASK_ID:-0}}\".json\n",
        b.stage,
        b.size,
        quote(&exe.display().to_string()),
        quote(&cache.display().to_string()),
        quote(&tasks.display().to_string()),
    )
}

/// The `sbatch` arguments of a batch (before the script path).
pub(crate) fn args(opts: &SlurmOptions, run: &RunDir, job_name: &str, b: &Batch) -> Vec<String> {
    let log = if b.size > 1 {
        run.root.join("logs").join(format!("{}-%a.out", b.name))
    } else {
        run.log(&format!("{}-0", b.name))
    };
    let mut a = vec![
        "--parsable".to_string(),
        format!("--job-name={job_name}"),
        format!("--comment={}", b.stage),
        format!("--output={}", log.display()),
        "--open-mode=append".into(),
        format!("--chdir={}", opts.workdir.display()),
        "--nodes=1".into(),
        "--ntasks=1".into(),
        format!("--cpus-per-task={}", b.threads.max(1)),
        format!("--mem={}M", b.mem_mb.max(1)),
        "--no-requeue".into(),
    ];
    if b.size > 1 {
        a.push(format!("--array=0-{}", b.size - 1));
    }
    if b.gpus > 0 {
        a.push(format!("--gres=gpu:{}", b.gpus));
    }
    let named = [
        ("--time", b.time.or(opts.time.as_deref())),
        ("--partition", opts.partition.as_deref()),
        ("--account", opts.account.as_deref()),
        ("--qos", opts.qos.as_deref()),
    ];
    for (flag, v) in named {
        if let Some(v) = v {
            a.push(format!("{flag}={v}"));
        }
    }
    a.extend(opts.extra_args.iter().cloned());
    a
}

/// Submit; returns the job id, or `sbatch`'s error.
pub(crate) fn submit(args: &[String], script: &Path) -> Result<String, String> {
    let out = Command::new("sbatch")
        .args(args)
        .arg(script)
        .output()
        .map_err(|e| format!("sbatch could not be run: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("sbatch failed: {}", err.trim()));
    }
    let id = stdout
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("sbatch printed no job id: `{}`", stdout.trim()));
    }
    Ok(id)
}

/// Cancel every queued and running job of the run.
pub(crate) fn scancel(job_name: &str) {
    let out = Command::new("scancel")
        .arg(format!("--name={job_name}"))
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            tracing::warn!(error = %String::from_utf8_lossy(&o.stderr).trim(), "scancel failed")
        }
        Err(e) => tracing::warn!(error = %e, "scancel could not be run"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::slurm::PipelineSource;

    fn opts() -> SlurmOptions {
        SlurmOptions {
            partition: Some("gpu".into()),
            account: None,
            qos: None,
            time: Some("1:00:00".into()),
            max_jobs: 10,
            array_max: 100,
            extra_args: vec!["--constraint=a100".into()],
            poll: Duration::from_secs(10),
            grace: Duration::from_secs(60),
            exe: PathBuf::from("/opt/synface"),
            workdir: PathBuf::from("/work"),
            pipeline: PipelineSource {
                path: "p.toml".into(),
                source: String::new(),
                overrides: vec![],
                bases: vec![],
            },
        }
    }

    #[test]
    fn resources_map_to_sbatch_flags() {
        let run = RunDir::new(Path::new("/c"), "r1");
        let b = Batch {
            name: "b0",
            stage: "train",
            size: 3,
            threads: 8,
            mem_mb: 64000,
            gpus: 1,
            time: Some("12:00:00"),
        };
        let a = args(&opts(), &run, "synface-r1", &b);
        for want in [
            "--cpus-per-task=8",
            "--mem=64000M",
            "--gres=gpu:1",
            "--array=0-2",
            "--time=12:00:00",
            "--partition=gpu",
            "--job-name=synface-r1",
            "--output=/c/slurm/r1/logs/b0-%a.out",
        ] {
            assert!(a.iter().any(|x| x == want), "{want} in {a:?}");
        }
        assert_eq!(a.last().map(String::as_str), Some("--constraint=a100"));
        let s = script(Path::new("/opt/it's"), Path::new("/c"), &run, &b);
        assert!(
            s.contains(r"'/opt/it'\''s' --cache '/c' exec '/c/slurm/r1/tasks/b0-'"),
            "{s}"
        );
    }
}
