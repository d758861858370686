//! The Slurm executor against a real one-machine Slurm cluster (`scripts/slurm-local-cluster.sh`:
//! munged, slurmctld and slurmd on 127.0.0.1, accounting disabled, two fake GPUs): results
//! byte-identical to the local executor, resume after `scancel`, a lost node, racing workers on
//! one key, status without accounting, an extending pipeline planned from the bases its task
//! files carry. The cluster tests take one lock (one cluster at a time)
//! and skip with a message when not root or Slurm is not installed, unless
//! `SYNFACE_REQUIRE_SLURM=1` (CI), which makes that a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cli::{code, text, tree, Sandbox};
use crate::crash::assert_cache_dir_whole;

const TINY: &str = include_str!("tiny_faces.toml");
const TRAIN: &str = include_str!("slurm_train.toml");

/// One cluster at a time on this machine.
static CLUSTER: Mutex<()> = Mutex::new(());

/// A running test cluster; stopped (daemons by their pid files) when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    _lock: std::sync::MutexGuard<'static, ()>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-local-cluster.sh")
}

fn skip(why: &str) -> Option<Cluster> {
    assert!(
        std::env::var("SYNFACE_REQUIRE_SLURM").as_deref() != Ok("1"),
        "SYNFACE_REQUIRE_SLURM=1 but the Slurm test cluster is unavailable: {why}"
    );
    eprintln!("skipping a Slurm test: {why} (install slurm-wlm and munge and run as root)");
    None
}

impl Cluster {
    /// Start a cluster, or `None` (test skipped) when not root or Slurm is missing.
    fn start() -> Option<Cluster> {
        let lock = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(dir.path())
            .output()
            .expect("bash");
        match code(&out) {
            0 => Some(Cluster { dir, _lock: lock }),
            77 => skip(text(&out).trim()),
            _ => panic!(
                "the test cluster did not start: {}\n{}",
                text(&out),
                logs(dir.path())
            ),
        }
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    fn script(&self, action: &str) {
        let out = Command::new("bash")
            .arg(script())
            .arg(action)
            .arg(self.dir.path())
            .output()
            .expect("bash");
        assert_eq!(
            code(&out),
            0,
            "{action}: {}\n{}",
            text(&out),
            logs(self.dir.path())
        );
    }

    /// A Slurm client command against this cluster.
    fn client(&self, cmd: &str, args: &[&str]) -> Output {
        Command::new(cmd)
            .args(args)
            .env("SLURM_CONF", self.conf())
            .output()
            .expect("slurm client")
    }

    /// Start `synface ARGS --executor slurm` in `sb`, polling fast; its output goes to files
    /// in the sandbox (read back by [`wait_for`]).
    fn spawn(&self, sb: &Sandbox, args: &[&str]) -> Running {
        let out = sb.path().join("coordinator.out");
        let err = sb.path().join("coordinator.err");
        let child = sb
            .cmd(args)
            .args(["--executor", "slurm", "--poll", "1", "--grace", "3"])
            .env("SLURM_CONF", self.conf())
            .stdout(std::fs::File::create(&out).expect("out"))
            .stderr(std::fs::File::create(&err).expect("err"))
            .spawn()
            .expect("spawn");
        Running { child, out, err }
    }

    /// Run `synface ARGS --executor slurm` in `sb` to completion (at most `limit`).
    fn run(&self, sb: &Sandbox, args: &[&str], limit: Duration) -> Output {
        wait_for(self.spawn(sb, args), limit)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

fn logs(dir: &Path) -> String {
    ["slurmctld.log", "slurmd.log"]
        .iter()
        .map(|f| std::fs::read_to_string(dir.join(f)).unwrap_or_default())
        .map(|t| t.lines().rev().take(15).collect::<Vec<_>>().join("\n"))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// A coordinator running in the background.
struct Running {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

/// Wait for `r` at most `limit`; a hang is a test failure (the coordinator is killed).
fn wait_for(mut r: Running, limit: Duration) -> Output {
    let start = Instant::now();
    let status = loop {
        if let Some(s) = r.child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            let _ = r.child.kill();
            panic!("the coordinator did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: std::fs::read(&r.out).unwrap_or_default(),
        stderr: std::fs::read(&r.err).unwrap_or_default(),
    }
}

/// Poll `cond` every 20 ms for at most `limit`.
fn until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn has_checkpoint(sb: &Sandbox) -> bool {
    std::fs::read_dir(sb.cache_dir().join("checkpoints"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().join("ckpt").is_file())
}

/// The latest run's `summary.json` of the Slurm executor.
fn summary(sb: &Sandbox) -> serde_json::Value {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(sb.cache_dir().join("slurm"))
        .expect("slurm/")
        .flatten()
        .map(|e| e.path().join("summary.json"))
        .filter(|p| p.is_file())
        .collect();
    runs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    let last = runs.last().expect("a summary");
    serde_json::from_slice(&std::fs::read(last).expect("read")).expect("json")
}

/// A local run of `pipeline` in a fresh sandbox: the reference outputs.
fn local_reference(pipeline: &str, name: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let sb = Sandbox::new(pipeline);
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    tree(&sb.path().join("runs").join(name))
}

#[test]
fn slurm_executor_gives_local_bytes_on_a_face_pipeline() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let expected = local_reference(TINY, "tiny");
    let sb = Sandbox::new(TINY);
    let out = cluster.run(&sb, &["run", "p.toml"], Duration::from_secs(300));
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("ran 13, cached 0, failed 0"),
        "{}",
        text(&out)
    );
    assert_eq!(tree(&sb.path().join("runs/tiny")), expected);
    assert_cache_dir_whole(&sb.cache_dir());
    // Instances that became ready together went out as job arrays; squeue was batched.
    let s = summary(&sb);
    assert!(s["submissions"].as_u64() < s["jobs"].as_u64(), "{s}");
    // The coordinator indexed what the workers committed: a rerun is all hits.
    let again = cluster.run(&sb, &["run", "p.toml"], Duration::from_secs(60));
    assert!(
        text(&again).contains("ran 0, cached 13"),
        "{}",
        text(&again)
    );
}

#[test]
fn scancel_of_a_running_training_job_then_rerun_resumes_from_its_checkpoint() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let expected = local_reference(TRAIN, "resume");
    let sb = Sandbox::new(TRAIN);
    let child = cluster.spawn(&sb, &["run", "p.toml"]);
    until(Duration::from_secs(120), "a training checkpoint", || {
        has_checkpoint(&sb)
    });
    let q = cluster.client("squeue", &["--noheader", "--format=%i %k"]);
    let job = text(&q)
        .lines()
        .find(|l| l.ends_with(" train"))
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no running train job in {}", text(&q)));
    assert_eq!(code(&cluster.client("scancel", &[&job])), 0);
    let out = wait_for(child, Duration::from_secs(120));
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("resume from its last checkpoint"),
        "{}",
        text(&out)
    );
    assert!(has_checkpoint(&sb), "the checkpoint is kept");

    let again = cluster.run(&sb, &["run", "p.toml"], Duration::from_secs(120));
    assert_eq!(code(&again), 0, "{}", text(&again));
    let resumed = sb.events("resume").iter().any(|e| {
        e["event"] == "started" && e["stage"] == "train" && e["resume_from"].as_u64() > Some(0)
    });
    assert!(resumed, "train resumed from its checkpoint");
    assert_eq!(tree(&sb.path().join("runs/resume")), expected);
}

/// A long toy pipeline: a source, a slow checkpointing loop per point, a gather.
const SLOW: &str = r#"
[pipeline]
name = "lost"
seed = 5

[sweep]
factor = [2.0, 3.0]

[stages.src]
kind = "toy_source"
n = 3
size = 256

[stages.map]
kind = "toy_map"
input = "src"
factor = "${factor}"

[stages.steps]
kind = "toy_steps"
input = "map"
steps = 60
sleep_ms = 100

[stages.sum]
kind = "toy_sum"
input = "steps"
"#;

/// Pids of processes whose command line mentions `needle` (a sandbox's unique path).
fn pids_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn lost_node_fails_its_instances_within_the_grace_period_and_a_rerun_completes() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let expected = local_reference(SLOW, "lost");
    let sb = Sandbox::new(SLOW);
    let child = cluster.spawn(&sb, &["run", "p.toml"]);
    until(Duration::from_secs(120), "a running loop", || {
        has_checkpoint(&sb)
    });
    // The node goes away with its jobs: slurmd stops, the workers die with it.
    cluster.script("stop-slurmd");
    let tasks = sb.cache_dir().join("slurm");
    let workers: Vec<String> = pids_mentioning(&format!("{}/", tasks.display()))
        .into_iter()
        .filter(|p| *p != child.child.id().to_string())
        .collect();
    assert!(!workers.is_empty(), "no worker process found");
    for pid in &workers {
        let _ = Command::new("kill").args(["-9", pid]).status();
    }
    let out = wait_for(child, Duration::from_secs(90));
    assert_eq!(code(&out), 1, "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("without a result") && t.contains(".out"), "{t}");
    assert!(
        t.contains("skipped 1"),
        "only the gather depends on the lost loops: {t}"
    );

    cluster.script("start-slurmd");
    let again = cluster.run(&sb, &["run", "p.toml"], Duration::from_secs(120));
    assert_eq!(code(&again), 0, "{}", text(&again));
    assert_eq!(tree(&sb.path().join("runs/lost")), expected);
    assert_cache_dir_whole(&sb.cache_dir());
}

#[test]
fn failures_are_reported_without_accounting_and_skip_only_dependents() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    // The test cluster stores no accounting: sacct cannot answer.
    let sacct = cluster.client("sacct", &["--noheader"]);
    assert!(
        code(&sacct) != 0 || text(&sacct).contains("disabled"),
        "accounting is disabled: {}",
        text(&sacct)
    );
    let failing = crate::cli::TOY.replace(
        "factor = \"${factor}\"",
        "factor = \"${factor}\"\nfail = true",
    );
    let sb = Sandbox::new(&failing);
    let out = cluster.run(&sb, &["run", "p.toml"], Duration::from_secs(120));
    assert_eq!(code(&out), 1, "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("asked to fail") && t.contains("log "), "{t}");
    assert!(t.contains("ran 2, cached 0, failed 2, skipped 3"), "{t}");
    assert!(summary(&sb)["squeue_calls"].as_u64() >= Some(1));
}

/// A source stage slow enough that two workers overlap.
const RACE: &str = r#"
[pipeline]
name = "race"
seed = 1

[stages.src]
kind = "toy_source"
n = 4
size = 100000
sleep_ms = 300
"#;

#[test]
fn two_workers_on_one_key_commit_one_valid_entry() {
    let sb = Sandbox::new(RACE);
    assert_eq!(
        code(&sb.synface(&["cache", "rebuild"])),
        0,
        "creates the cache"
    );
    let reg = synface_engine::testkit::registry();
    let plan = synface_engine::load_plan(&sb.path().join("p.toml"), &[], &reg).expect("plan");
    let task = write_task(&sb, &plan, RACE, vec![]);
    let tasks = task.parent().expect("tasks/");
    let workers: Vec<Child> = (0..2)
        .map(|i| {
            let path = tasks.join(format!("a-{i}.json"));
            std::fs::copy(&task, &path).expect("task");
            sb.cmd(&["exec", path.to_str().expect("utf-8")])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for w in workers {
        let out = w.wait_with_output().expect("wait");
        assert_eq!(code(&out), 0, "{}", text(&out));
    }
    let done = sb.cache_dir().join("slurm/manual/done");
    for i in 0..2 {
        let rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(done.join(format!("a-{i}.json"))).expect("done"))
                .expect("json");
        assert_eq!(rec["status"], "ok", "{rec}");
    }
    let actions = crate::cli::files(&sb.cache_dir().join("actions"));
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_cache_dir_whole(&sb.cache_dir());
    // The coordinator indexes the entry at open and serves it.
    let run = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&run), 0, "{}", text(&run));
    assert!(text(&run).contains("ran 0, cached 1"), "{}", text(&run));
}

/// Write a task file for instance 0 of `plan` (of `sb`'s p.toml, text `source`) that ships
/// `bases`; its path.
fn write_task(
    sb: &Sandbox,
    plan: &synface_engine::Plan,
    source: &str,
    bases: Vec<(PathBuf, String)>,
) -> PathBuf {
    let keyer = synface_engine::run::Keyer::new(&sb.cache_dir(), false);
    let (key, components) = keyer.key(&plan.instances[0], &[]);
    let tasks = sb.cache_dir().join("slurm/manual/tasks");
    std::fs::create_dir_all(&tasks).expect("tasks/");
    let file = synface_engine::slurm::TaskFile {
        format: 1,
        run_id: "manual".into(),
        pipeline: synface_engine::slurm::PipelineSource {
            path: sb.path().join("p.toml"),
            source: source.into(),
            overrides: vec![],
            bases,
        },
        plan_key: synface_engine::cache::hex(&plan.instances[0].plan_key),
        task: synface_engine::scheduler::Task {
            id: 0,
            key,
            components,
            inputs: vec![],
        },
        threads: 1,
    };
    let path = tasks.join("x-0.json");
    std::fs::write(&path, serde_json::to_vec(&file).expect("json")).expect("task");
    path
}

/// [`write_task`], then `synface exec` on it.
fn exec_first_instance(
    sb: &Sandbox,
    plan: &synface_engine::Plan,
    source: &str,
    bases: Vec<(PathBuf, String)>,
) -> Output {
    let task = write_task(sb, plan, source, bases);
    sb.cmd(&["exec", task.to_str().expect("utf-8")])
        .output()
        .expect("exec")
}

#[test]
fn a_worker_plans_an_extending_pipeline_from_the_bases_its_task_file_ships() {
    let child = "[pipeline]\nname = \"child\"\nextends = \"base.toml\"\n";
    let sb = Sandbox::new(child);
    let base = sb.path().join("base.toml");
    std::fs::write(&base, RACE).expect("base");
    assert_eq!(code(&sb.synface(&["cache", "rebuild"])), 0);
    let reg = synface_engine::testkit::registry();
    let plan = synface_engine::load_plan(&sb.path().join("p.toml"), &[], &reg).expect("plan");
    assert_eq!(plan.bases, vec![(base.clone(), RACE.to_string())]);
    // The base changes on the shared disk after the coordinator planned. A task file without
    // the copies (as written before `extends` existed) reads the disk, which no longer plans
    // the submitted instance: an unusable task, exit 2.
    std::fs::write(&base, RACE.replace("sleep_ms = 300", "sleep_ms = 301")).expect("edit");
    let out = exec_first_instance(&sb, &plan, child, vec![]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("not in the plan"), "{}", text(&out));
    // With the copies the worker plans what was submitted and commits it.
    let out = exec_first_instance(&sb, &plan, child, plan.bases.clone());
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(!text(&out).contains("already committed"), "{}", text(&out));
}

#[test]
fn an_extending_pipeline_runs_on_slurm_from_the_shipped_base() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let child = "[pipeline]\nname = \"child\"\nextends = \"./sub/../base.toml\"\n\
                 [stages.src]\nsleep_ms = 0\n";
    let sb = Sandbox::new(child);
    std::fs::write(sb.path().join("base.toml"), RACE).expect("base");
    std::fs::create_dir_all(sb.path().join("sub")).expect("sub/");
    let out = cluster.run(&sb, &["run", "p.toml"], Duration::from_secs(120));
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("ran 1, cached 0, failed 0"),
        "{}",
        text(&out)
    );
    let task = std::fs::read_dir(sb.cache_dir().join("slurm"))
        .expect("slurm/")
        .flatten()
        .map(|run| run.path().join("tasks"))
        .find(|t| t.is_dir())
        .expect("a run with tasks");
    let first = std::fs::read_dir(&task)
        .expect("tasks")
        .flatten()
        .next()
        .expect("a task");
    let tf: serde_json::Value =
        serde_json::from_slice(&std::fs::read(first.path()).expect("read")).expect("json");
    let bases = tf["pipeline"]["bases"].as_array().expect("bases").clone();
    assert_eq!(bases.len(), 1, "{tf}");
    assert_eq!(bases[0][1], RACE, "the base's text travels with the task");
}

#[test]
fn slurm_options_need_the_slurm_executor_and_slurm_commands() {
    let sb = Sandbox::new(crate::cli::TOY);
    let o = sb.synface(&["run", "p.toml", "--partition", "gpu"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("need `--executor slurm`"), "{}", text(&o));
    let empty = tempfile::tempdir().expect("tempdir");
    let o = sb
        .cmd(&["run", "p.toml", "--executor", "slurm"])
        .env("PATH", empty.path())
        .output()
        .expect("run");
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        text(&o).contains("`sbatch` could not be run"),
        "{}",
        text(&o)
    );
    let o = sb.synface(&["run", "p.toml", "--executor", "slurm", "--time", "soon"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(!sb.cache_dir().exists(), "nothing was created");
}

#[test]
fn resources_override_is_honoured_by_the_local_scheduler() {
    let pipeline = crate::cli::TOY.replace(
        "factor = 9.0",
        "factor = 9.0\nresources = { threads = 3, mem_mib = 700, gpus = 0, time = \"1:00:00\" }",
    );
    let sb = Sandbox::new(&pipeline);
    let r = sb.synface(&["run", "p.toml", "--jobs", "4"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    let started = sb
        .events("toy")
        .into_iter()
        .find(|e| e["event"] == "started" && e["stage"] == "other")
        .expect("other started");
    assert_eq!(started["threads"], 3, "{started}");
    // Resources are not part of the experiment: the outputs and keys are those without them.
    let plain = Sandbox::new(crate::cli::TOY);
    assert_eq!(code(&plain.synface(&["run", "p.toml"])), 0);
    assert_eq!(
        tree(&sb.path().join("runs/toy")),
        tree(&plain.path().join("runs/toy"))
    );
}
