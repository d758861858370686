//! The `synface` binary end to end on testkit pipelines: caching across runs, cones of
//! reruns, sharing, budgets, failures, exit codes, `plan`, `show` and `gc`.
//! Also the helpers the cache and crash tests share.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A toy pipeline: a source shared by two sweep points, a map per point, a checkpointing
/// stage per point, a gather.
pub const TOY: &str = r#"
[pipeline]
name = "toy"
seed = 7

[sweep]
factor = [2.0, 3.0]

[stages.src]
kind = "toy_source"
n = 5
size = 64

[stages.map]
kind = "toy_map"
input = "src"
factor = "${factor}"

[stages.other]
kind = "toy_map"
input = "src"
factor = 9.0

[stages.steps]
kind = "toy_steps"
input = "map"
steps = 4

[stages.sum]
kind = "toy_sum"
input = "steps"
"#;

/// A scratch directory holding a pipeline file, with `.synface/` and `runs/` inside it.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new(pipeline: &str) -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("p.toml"), pipeline).expect("write pipeline");
        Sandbox { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_synface"));
        c.current_dir(self.path())
            .env("SYNFACE_TESTKIT", "1")
            .env_remove("SYNFACE_CACHE")
            .args(args);
        c
    }

    pub fn synface(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run synface")
    }

    /// Events of the last run of pipeline `toy`.
    pub fn events(&self, name: &str) -> Vec<Value> {
        let text =
            std::fs::read_to_string(self.path().join("runs").join(name).join("events.jsonl"))
                .expect("log");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.path().join(".synface")
    }
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Stage names (sorted, with repeats) of the events of one type.
pub fn stages_with(events: &[Value], kind: &str) -> Vec<String> {
    let mut v: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == kind)
        .map(|e| e["stage"].as_str().unwrap_or_default().to_string())
        .collect();
    v.sort();
    v
}

pub fn stats(events: &[Value]) -> Value {
    events
        .iter()
        .rev()
        .find(|e| e["event"] == "run_finished")
        .expect("run_finished")["stats"]
        .clone()
}

/// Every file under `dir`, as relative paths, sorted (none when `dir` does not exist).
pub fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(
                    p.strip_prefix(root)
                        .expect("prefix")
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Every file under `dir` (relative path -> bytes), except the event log and the run history
/// (`history/`: entries carry times and count runs).
pub fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    assert!(dir.is_dir(), "{} is not a directory", dir.display());
    files(dir)
        .into_iter()
        .filter(|rel| {
            Path::new(rel)
                .file_name()
                .is_some_and(|n| n != "events.jsonl")
                && !rel.starts_with("history/")
        })
        .map(|rel| {
            let bytes = std::fs::read(dir.join(&rel)).expect("read");
            (rel, bytes)
        })
        .collect()
}

#[test]
fn second_run_is_all_hits_and_shared_upstream_runs_once() {
    let sb = Sandbox::new(TOY);
    let first = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&first), 0, "{}", text(&first));
    let ev = sb.events("toy");
    assert_eq!(
        stages_with(&ev, "started"),
        ["map", "map", "other", "src", "steps", "steps", "sum"]
    );
    let out1 = tree(&sb.path().join("runs/toy"));
    assert!(out1.contains_key("results.json"));
    assert!(out1
        .keys()
        .any(|k| k.starts_with("points/") && k.ends_with("steps/metrics.json")));
    assert!(
        out1.contains_key("metrics.json"),
        "the gather stage publishes into the run directory"
    );

    let second = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&second), 0);
    let ev = sb.events("toy");
    assert!(stages_with(&ev, "started").is_empty());
    assert_eq!(stats(&ev)["cached"], 7);
    assert_eq!(
        tree(&sb.path().join("runs/toy")),
        out1,
        "cached run reproduces the layout"
    );
}

#[test]
fn changing_one_param_reruns_exactly_its_cone() {
    let sb = Sandbox::new(TOY);
    assert_eq!(code(&sb.synface(&["run", "p.toml"])), 0);
    let plan = sb.synface(&["plan", "p.toml", "--set", "other.factor=4.0", "--explain"]);
    assert_eq!(code(&plan), 0, "{}", text(&plan));
    let plan_text = text(&plan);
    assert!(
        plan_text.contains("param factor: 9.0 -> 4.0"),
        "{plan_text}"
    );
    assert!(plan_text.contains("6 cached, 1 pending"), "{plan_text}");

    let r = sb.synface(&["run", "p.toml", "--set", "other.factor=4.0"]);
    assert_eq!(code(&r), 0);
    assert_eq!(stages_with(&sb.events("toy"), "started"), ["other"]);

    let r = sb.synface(&["run", "p.toml", "--set", "src.n=6"]);
    assert_eq!(code(&r), 0);
    assert_eq!(
        stages_with(&sb.events("toy"), "started"),
        ["map", "map", "other", "src", "steps", "steps", "sum"]
    );
}

#[test]
fn failing_stage_skips_only_its_dependents_and_exits_1() {
    let sb = Sandbox::new(TOY);
    let r = sb.synface(&["run", "p.toml", "--set", "map.fail=true"]);
    assert_eq!(code(&r), 1, "{}", text(&r));
    let ev = sb.events("toy");
    assert_eq!(stages_with(&ev, "failed"), ["map", "map"]);
    assert_eq!(stages_with(&ev, "skipped"), ["steps", "steps", "sum"]);
    assert_eq!(stages_with(&ev, "finished"), ["other", "src"]);
    let results: Value =
        serde_json::from_slice(&std::fs::read(sb.path().join("runs/toy/results.json")).unwrap())
            .unwrap();
    assert_eq!(
        results[0]["incomplete"],
        serde_json::json!(["map", "steps"])
    );
}

#[test]
fn thread_budget_is_never_exceeded() {
    let src = TOY.replace(
        "factor = \"${factor}\"",
        "factor = \"${factor}\"\nthreads = 2\nsleep_ms = 30",
    );
    let sb = Sandbox::new(&src);
    let r = sb.synface(&["run", "p.toml", "--jobs", "2"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    let ev = sb.events("toy");
    assert_eq!(stats(&ev)["peak_threads"], 2);
    let mut cur = 0i64;
    for e in &ev {
        match e["event"].as_str() {
            Some("started") => {
                cur += e["threads"].as_i64().unwrap();
                assert!(cur <= 2, "{cur} threads in use");
            }
            Some("finished") | Some("failed") | Some("cancelled") if e.get("id").is_some() => {
                let id = &e["id"];
                let t = ev
                    .iter()
                    .find(|s| s["event"] == "started" && &s["id"] == id)
                    .map(|s| s["threads"].as_i64().unwrap());
                cur -= t.unwrap_or(0);
            }
            _ => {}
        }
    }
}

#[test]
fn invalid_pipeline_and_usage_exit_2() {
    let sb = Sandbox::new("[pipeline]\nname = \"bad\"\n[stages.a]\nkind = \"toy_sourse\"\n");
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 2);
    assert!(
        text(&r).contains("toy_source"),
        "did-you-mean: {}",
        text(&r)
    );
    assert_eq!(code(&sb.synface(&["run"])), 2);
    let sb = Sandbox::new(TOY);
    assert_eq!(code(&sb.synface(&["run", "p.toml", "--force", "nope"])), 2);
}

#[test]
fn show_formats_and_force() {
    let sb = Sandbox::new(TOY);
    assert_eq!(code(&sb.synface(&["show", "p.toml"])), 3, "no results yet");
    assert_eq!(code(&sb.synface(&["run", "p.toml"])), 0);
    let table = String::from_utf8(sb.synface(&["show", "p.toml"]).stdout).unwrap();
    assert!(table.starts_with("point"), "{table}");
    assert!(table.contains("steps.steps"), "{table}");
    assert_eq!(table.lines().count(), 3);
    let csv = String::from_utf8(sb.synface(&["show", "p.toml", "--format", "csv"]).stdout).unwrap();
    assert_eq!(csv.lines().count(), 3);
    let json: Value =
        serde_json::from_slice(&sb.synface(&["show", "p.toml", "--format", "json"]).stdout)
            .unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);

    assert_eq!(code(&sb.synface(&["run", "p.toml", "--force", "map"])), 0);
    let ev = sb.events("toy");
    assert_eq!(
        stages_with(&ev, "started"),
        ["map", "map"],
        "same outputs: downstream stays cached"
    );
}

#[test]
fn gc_dry_run_then_collect() {
    let sb = Sandbox::new(TOY);
    assert_eq!(code(&sb.synface(&["run", "p.toml"])), 0);
    assert_eq!(code(&sb.synface(&["run", "p.toml", "--set", "src.n=8"])), 0);
    let dry = sb.synface(&["gc", "--dry-run"]);
    assert_eq!(code(&dry), 0);
    assert!(text(&dry).contains("would free"), "{}", text(&dry));
    let actions = || {
        std::fs::read_dir(sb.cache_dir().join("actions"))
            .unwrap()
            .count()
    };
    assert_eq!(actions(), 14);
    assert_eq!(code(&sb.synface(&["gc"])), 0);
    assert_eq!(actions(), 7, "only the last run's actions are kept");
    let r = sb.synface(&["run", "p.toml", "--set", "src.n=8"]);
    assert_eq!(code(&r), 0);
    assert_eq!(stats(&sb.events("toy"))["cached"], 7);
}

#[test]
fn interrupt_exits_130_and_next_run_resumes() {
    let src = TOY.replace("steps = 4", "steps = 200\nsleep_ms = 10");
    let sb = Sandbox::new(&src);
    let mut child = sb
        .cmd(&["run", "p.toml"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let ev = sb.events("toy");
    assert!(stages_with(&ev, "cancelled").contains(&"steps".to_string()));
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    let ev = sb.events("toy");
    assert!(ev.iter().any(|e| e["event"] == "started"
        && e["stage"] == "steps"
        && e["resume_from"].as_u64() > Some(0)));
}

#[test]
fn run_directory_drops_points_no_longer_in_the_sweep() {
    let sb = Sandbox::new(TOY);
    assert_eq!(code(&sb.synface(&["run", "p.toml"])), 0);
    let points = |sb: &Sandbox| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(sb.path().join("runs/toy/points"))
            .expect("points/")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = points(&sb);
    assert_eq!(before.len(), 2);
    std::fs::write(
        sb.path().join("p.toml"),
        TOY.replace("factor = [2.0, 3.0]", "factor = [2.0, 5.0]"),
    )
    .expect("rewrite");
    assert_eq!(code(&sb.synface(&["run", "p.toml"])), 0);
    let after = points(&sb);
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(
        before.iter().filter(|p| after.contains(p)).count(),
        1,
        "the factor=2.0 point keeps its id, the 3.0 one is gone: {before:?} -> {after:?}"
    );
}
