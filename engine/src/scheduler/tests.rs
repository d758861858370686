//! Scheduler tests on hand-built plans with the testkit kinds and a concurrency gauge.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;
use crate::events::Recorder;
use crate::params::{ParamSpec, ParamTable};
use crate::plan::Point;
use crate::stage::{Artifact, PortSpec, Resources, RunCtx, Stage, StageError};

fn keyer(inst: &Instance, inputs: &[(String, Vec<Digest>)]) -> (Digest, serde_json::Value) {
    let (k, c) = crate::keys::cache_key(inst, inputs);
    (k, serde_json::to_value(c).unwrap())
}

/// Counts concurrently running instances (weighted by granted threads).
struct Gauge {
    cur: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Stage for Gauge {
    fn kind(&self) -> &'static str {
        "gauge"
    }
    fn version(&self) -> u32 {
        1
    }
    fn params(&self) -> Vec<ParamSpec> {
        Vec::new()
    }
    fn inputs(&self) -> Vec<PortSpec> {
        Vec::new()
    }
    fn output(&self) -> &'static str {
        "toy"
    }
    fn resources(&self, p: &ParamTable) -> Resources {
        let threads = p.get("threads").and_then(|v| v.as_integer()).unwrap_or(1) as usize;
        Resources {
            threads,
            ..Resources::default()
        }
    }
    fn run(&self, ctx: &RunCtx) -> Result<Artifact, StageError> {
        let now = self.cur.fetch_add(ctx.threads, Ordering::SeqCst) + ctx.threads;
        self.peak.fetch_max(now, Ordering::SeqCst);
        assert_eq!(
            rayon::current_num_threads(),
            ctx.threads,
            "runs inside a pool of the granted size"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        self.cur.fetch_sub(ctx.threads, Ordering::SeqCst);
        let mut a = Artifact::new();
        a.add("data.bin", ctx.seed.to_le_bytes().to_vec());
        Ok(a)
    }
}

struct Builder {
    plan: Plan,
    reg: Registry,
}

impl Builder {
    fn new() -> Self {
        let mut reg = crate::testkit::registry();
        reg.register(Gauge {
            cur: Arc::default(),
            peak: Arc::default(),
        });
        let points = ["p1", "p2"]
            .iter()
            .map(|id| Point {
                id: id.to_string(),
                arm: None,
                values: Default::default(),
            })
            .collect();
        let plan = Plan {
            name: "t".into(),
            seed: 1,
            source: "t.toml".into(),
            bases: vec![],
            points,
            instances: vec![],
        };
        Builder { plan, reg }
    }

    fn add(
        &mut self,
        stage: &str,
        kind: &str,
        set: &[(&str, toml::Value)],
        inputs: &[(&str, &[usize])],
        seed: u64,
    ) -> usize {
        let spec = self.reg.get(kind).unwrap().clone();
        let mut params: ParamTable = spec
            .params()
            .into_iter()
            .filter_map(|s| s.default.map(|d| (s.name.to_string(), d)))
            .collect();
        for (k, v) in set {
            params.insert(k.to_string(), v.clone());
        }
        let inputs: Vec<(String, Vec<usize>)> = inputs
            .iter()
            .map(|(p, ids)| (p.to_string(), ids.to_vec()))
            .collect();
        let plan_key =
            *blake3::hash(format!("{stage}{kind}{params:?}{inputs:?}{seed}").as_bytes()).as_bytes();
        let resources = spec.resources(&params);
        self.plan.instances.push(Instance {
            stage: stage.into(),
            kind: kind.into(),
            version: spec.version(),
            params,
            seed,
            inputs,
            points: vec!["p1".into()],
            plan_key,
            resources,
            gpus: usize::from(resources.gpu),
            time_limit: None,
            external: Vec::new(),
            unkeyed: Vec::new(),
            gathered: None,
        });
        self.plan.instances.len() - 1
    }

    fn run(&self, cache: &Cache, opts: &SchedOptions) -> RunReport {
        run(
            &self.plan,
            &self.reg,
            cache,
            &keyer,
            opts,
            &crate::events::NoEvents,
            &CancelToken::new(),
        )
    }
}

fn int(n: i64) -> toml::Value {
    toml::Value::Integer(n)
}

fn open(dir: &tempfile::TempDir) -> Cache {
    Cache::open(dir.path(), Duration::ZERO).unwrap()
}

fn ran(r: &RunReport) -> Vec<usize> {
    (0..r.outcomes.len())
        .filter(|&i| matches!(r.outcomes[i], Outcome::Ran { .. }))
        .collect()
}

/// src -> map_a -> steps, src -> map_b, sum gathers (map_a, map_b).
fn diamond() -> Builder {
    let mut b = Builder::new();
    let src = b.add("src", "toy_source", &[("n", int(3))], &[], 1);
    let a = b.add(
        "map_a",
        "toy_map",
        &[("factor", toml::Value::Float(2.0))],
        &[("input", &[src])],
        2,
    );
    let bb = b.add(
        "map_b",
        "toy_map",
        &[("factor", toml::Value::Float(3.0))],
        &[("input", &[src])],
        3,
    );
    b.add(
        "steps",
        "toy_steps",
        &[("steps", int(3))],
        &[("input", &[a])],
        4,
    );
    b.add("sum", "toy_sum", &[], &[("runs", &[a, bb])], 5);
    b
}

#[test]
fn second_run_is_all_hits_and_param_change_reruns_its_cone() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(&dir);
    let mut b = diamond();
    let first = b.run(&cache, &SchedOptions::default());
    assert_eq!(ran(&first), vec![0, 1, 2, 3, 4]);
    let second = b.run(&cache, &SchedOptions::default());
    assert_eq!(second.stats.cached, 5);
    assert!(ran(&second).is_empty());
    b.plan.instances[2]
        .params
        .insert("factor".into(), toml::Value::Float(5.0));
    let third = b.run(&cache, &SchedOptions::default());
    assert_eq!(
        ran(&third),
        vec![2, 4],
        "map_b and its consumer sum rerun, nothing else"
    );
}

#[test]
fn identical_keys_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(&dir);
    let mut b = Builder::new();
    b.add(
        "a",
        "toy_source",
        &[("n", int(1)), ("sleep_ms", int(30))],
        &[],
        9,
    );
    b.add(
        "b",
        "toy_source",
        &[("n", int(1)), ("sleep_ms", int(30))],
        &[],
        9,
    );
    let r = b.run(
        &cache,
        &SchedOptions {
            jobs: 4,
            ..SchedOptions::default()
        },
    );
    assert_eq!(r.stats.ran, 1);
    assert_eq!(r.stats.cached, 1);
    assert_eq!(r.outcomes[0].key(), r.outcomes[1].key());
}

#[test]
fn failure_skips_only_dependents() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(&dir);
    let mut b = Builder::new();
    let src = b.add("src", "toy_source", &[("n", int(1))], &[], 1);
    let bad = b.add(
        "bad",
        "toy_map",
        &[("fail", toml::Value::Boolean(true))],
        &[("input", &[src])],
        2,
    );
    b.add(
        "after_bad",
        "toy_steps",
        &[("steps", int(1))],
        &[("input", &[bad])],
        3,
    );
    b.add("good", "toy_map", &[], &[("input", &[src])], 4);
    let rec = Recorder::default();
    let r = run(
        &b.plan,
        &b.reg,
        &cache,
        &keyer,
        &SchedOptions::default(),
        &rec,
        &CancelToken::new(),
    );
    assert!(matches!(r.outcomes[1], Outcome::Failed { .. }));
    assert!(matches!(&r.outcomes[2], Outcome::Skipped { reason } if reason.contains("bad")));
    assert!(matches!(r.outcomes[3], Outcome::Ran { .. }));
    assert_eq!((r.stats.failed, r.stats.skipped, r.stats.ran), (1, 1, 2));
    assert!(rec
        .events()
        .iter()
        .any(|e| matches!(e, Event::Skipped { id: 2, .. })));
    assert!(matches!(
        rec.events().last(),
        Some(Event::RunFinished { .. })
    ));
}

#[test]
fn concurrency_never_exceeds_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(&dir);
    let mut b = Builder::new();
    for (i, t) in [1, 2, 1, 1, 2, 1, 3].iter().enumerate() {
        b.add(
            &format!("g{i}"),
            "gauge",
            &[("threads", int(*t))],
            &[],
            i as u64,
        );
    }
    let gauge_peak = Arc::new(AtomicUsize::new(0));
    b.reg.register(Gauge {
        cur: Arc::default(),
        peak: gauge_peak.clone(),
    });
    let r = b.run(
        &cache,
        &SchedOptions {
            jobs: 2,
            ..SchedOptions::default()
        },
    );
    assert_eq!(r.stats.ran, 7);
    assert_eq!(r.stats.peak_threads, 2);
    let seen = gauge_peak.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&seen),
        "observed {seen} concurrent threads"
    );
}

#[test]
fn corrupt_blob_recomputes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(&dir);
    let b = diamond();
    let first = b.run(&cache, &SchedOptions::default());
    let m = first.outcomes[3].manifest().unwrap();
    let d = crate::cache::parse_hex(&m.outputs[0].digest).unwrap();
    std::fs::write(cache.blobs().path(&d), b"garbage").unwrap();
    let second = b.run(&cache, &SchedOptions::default());
    assert_eq!(ran(&second), vec![3]);
    let digest = |r: &RunReport| r.outcomes[3].manifest().unwrap().artifact_digest.clone();
    assert_eq!(
        digest(&second),
        digest(&first),
        "recomputed output is identical"
    );
    assert_eq!(second.stats.cache.corrupt, 1);
}

#[test]
fn force_reruns_a_stage_and_fail_fast_cancels() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(&dir);
    let b = diamond();
    b.run(&cache, &SchedOptions::default());
    let forced = b.run(
        &cache,
        &SchedOptions {
            force: ["map_a".to_string()].into(),
            ..SchedOptions::default()
        },
    );
    assert_eq!(
        ran(&forced),
        vec![1],
        "same output digest: consumers stay cached"
    );

    let mut f = Builder::new();
    let src = f.add("src", "toy_source", &[("n", int(1))], &[], 1);
    f.add(
        "bad",
        "toy_map",
        &[("fail", toml::Value::Boolean(true))],
        &[("input", &[src])],
        2,
    );
    f.add(
        "slow",
        "toy_map",
        &[("sleep_ms", int(5000))],
        &[("input", &[src])],
        3,
    );
    let r = f.run(
        &cache,
        &SchedOptions {
            jobs: 4,
            fail_fast: true,
            ..SchedOptions::default()
        },
    );
    assert!(matches!(r.outcomes[1], Outcome::Failed { .. }));
    assert_eq!(r.outcomes[2], Outcome::Cancelled);
}

#[test]
fn cancel_commits_nothing_partial_and_checkpoint_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(&dir);
    let mut b = Builder::new();
    let src = b.add("src", "toy_source", &[("n", int(1))], &[], 1);
    b.add(
        "steps",
        "toy_steps",
        &[("steps", int(40)), ("sleep_ms", int(10))],
        &[("input", &[src])],
        2,
    );
    let cancel = CancelToken::new();
    let rec = Recorder::default();
    let r = std::thread::scope(|s| {
        let c = cancel.clone();
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            c.cancel();
        });
        run(
            &b.plan,
            &b.reg,
            &cache,
            &keyer,
            &SchedOptions::default(),
            &rec,
            &cancel,
        )
    });
    assert!(r.interrupted);
    assert_eq!(r.outcomes[1], Outcome::Cancelled);
    let mut keys = Vec::new();
    for e in rec.events() {
        if let Event::Started { id: 1, key, .. } = e {
            keys.push(crate::cache::parse_hex(&key).unwrap());
        }
    }
    let key = keys[0];
    assert!(cache.manifest(&key).unwrap().is_none(), "no partial commit");
    let step = cache
        .checkpoint_step(&key)
        .unwrap()
        .expect("a checkpoint was saved");
    assert!(step > 0 && step < 40);
    let rec2 = Recorder::default();
    let resumed = run(
        &b.plan,
        &b.reg,
        &cache,
        &keyer,
        &SchedOptions::default(),
        &rec2,
        &CancelToken::new(),
    );
    assert_eq!(ran(&resumed), vec![1]);
    assert!(rec2
        .events()
        .iter()
        .any(|e| matches!(e, Event::Started { id: 1, resume_from: Some(s), .. } if *s == step)));
    assert!(
        cache.checkpoint_step(&key).unwrap().is_none(),
        "checkpoint dropped at commit"
    );
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = b.run(&open(&fresh_dir), &SchedOptions::default());
    assert_eq!(
        resumed.outcomes[1].manifest().unwrap().artifact_digest,
        fresh.outcomes[1].manifest().unwrap().artifact_digest,
        "resumed output equals an uninterrupted run's"
    );
}

#[test]
fn preview_knows_keys_only_behind_cached_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(&dir);
    let mut b = diamond();
    let before = preview(&b.plan, &cache, &keyer).unwrap();
    assert_eq!(before[0].status, PreviewStatus::Pending);
    assert_eq!(
        before[1].status,
        PreviewStatus::Blocked {
            upstream: "src".into()
        }
    );
    b.run(&cache, &SchedOptions::default());
    b.plan.instances[1]
        .params
        .insert("factor".into(), toml::Value::Float(7.0));
    let after = preview(&b.plan, &cache, &keyer).unwrap();
    let st: Vec<_> = after.iter().map(|r| r.status.clone()).collect();
    assert_eq!(st[0], PreviewStatus::Cached);
    assert_eq!(st[1], PreviewStatus::Pending);
    assert_eq!(st[2], PreviewStatus::Cached);
    assert_eq!(
        st[3],
        PreviewStatus::Blocked {
            upstream: "map_a".into()
        }
    );
}
