//! Fake stage kinds for tests of the engine, the CLI and the cache: cheap, deterministic and
//! instrumented (a global run counter per kind). Public (not `cfg(test)`) because the root
//! integration tests and the `synface` binary (with `SYNFACE_TESTKIT=1`) use them too.
//!
//! Every kind but `toy_note` produces the artifact type `"toy"`: a file `data.bin` plus
//! `metrics.json`. `toy_note` produces `"note"`, to exercise port type mismatches.
//!
//! | kind         | inputs              | params                                                 |
//! |--------------|---------------------|--------------------------------------------------------|
//! | `toy_source` | none                | `n: u64`, `size: u64 = 16`, `sleep_ms: u64 = 0`        |
//! | `toy_map`    | `input: toy`        | `factor: f64 = 1.0`, `sleep_ms`, `fail: bool`, `threads` |
//! | `toy_sum`    | `runs: toy` (gather)| `label: String = ""`                                   |
//! | `toy_steps`  | `input: toy`        | `steps: u64 = 10`, `sleep_ms` (checkpoints every step) |
//! | `toy_file`   | none                | `path: String` (plan-time check: the file exists)      |
//! | `toy_note`   | none                | `text: String = ""`; produces type `"note"`, not `toy` |

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::registry::Registry;
use crate::stage::{Artifact, ParamIssue, PortSpec, Resources, RunCtx, StageError};
use crate::typed::TypedStage;

/// The artifact type every testkit kind produces.
pub const TOY: &str = "toy";

static RUNS: Mutex<BTreeMap<&'static str, usize>> = Mutex::new(BTreeMap::new());
static RESUMES: AtomicUsize = AtomicUsize::new(0);

fn count_run(kind: &'static str) {
    let mut m = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    *m.entry(kind).or_insert(0) += 1;
}

/// How many times `kind`'s `run` was entered in this process (failed runs included).
pub fn runs(kind: &str) -> usize {
    let m = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    m.get(kind).copied().unwrap_or(0)
}

/// How many times `toy_steps` resumed from a checkpoint in this process.
pub fn resumes() -> usize {
    RESUMES.load(Ordering::SeqCst)
}

/// Register every testkit kind.
pub fn register(r: &mut Registry) {
    r.register(ToySource);
    r.register(ToyMap);
    r.register(ToySum);
    r.register(ToySteps);
    r.register(ToyFile);
    r.register(ToyNote);
}

/// A registry holding only the testkit kinds.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    register(&mut r);
    r
}

/// Sleep `ms` milliseconds in small slices, stopping early (with `Cancelled`) when cancelled.
fn nap(ctx: &RunCtx, ms: u64) -> Result<(), StageError> {
    let mut left = ms;
    while left > 0 {
        ctx.cancel.check()?;
        let step = left.min(10);
        std::thread::sleep(Duration::from_millis(step));
        left -= step;
    }
    ctx.cancel.check()
}

fn toy_artifact(data: Vec<u8>, extra: serde_json::Value) -> Artifact {
    let sum: u64 = data.iter().map(|&b| u64::from(b)).sum();
    let mut metrics = serde_json::json!({ "len": data.len(), "sum": sum });
    if let (Some(m), serde_json::Value::Object(e)) = (metrics.as_object_mut(), extra) {
        m.extend(e);
    }
    let mut a = Artifact::new();
    a.add("data.bin", data);
    a.set_metrics(&metrics);
    a
}

crate::stage_params! {
    /// Parameters of `toy_source`.
    pub struct ToySourceParams {
        /// a number mixed into the blob
        n: u64,
        /// blob length in bytes
        size: u64 = 16u64,
        /// sleep before finishing (to test cancellation and parallelism)
        sleep_ms: u64 = 0u64,
    }
}

/// Writes a deterministic blob derived from the seed and its params.
pub struct ToySource;

impl TypedStage for ToySource {
    type Params = ToySourceParams;
    const KIND: &'static str = "toy_source";
    const VERSION: u32 = 1;
    const ABOUT: &'static str = "test kind: a deterministic blob from seed and params";
    const INPUTS: &'static [PortSpec] = &[];
    const OUTPUT: &'static str = TOY;

    fn run(&self, p: ToySourceParams, ctx: &RunCtx) -> Result<Artifact, StageError> {
        count_run(Self::KIND);
        nap(ctx, p.sleep_ms)?;
        let size = usize::try_from(p.size)
            .ok()
            .filter(|&s| s <= 1 << 26)
            .ok_or_else(|| StageError::param("size", format!("size {} is too large", p.size)))?;
        let mut h = blake3::Hasher::new();
        h.update(&ctx.seed.to_le_bytes());
        h.update(&p.n.to_le_bytes());
        let mut data = vec![0u8; size];
        h.finalize_xof().fill(&mut data);
        Ok(toy_artifact(
            data,
            serde_json::json!({ "n": p.n, "seed": ctx.seed }),
        ))
    }
}

crate::stage_params! {
    /// Parameters of `toy_map`.
    pub struct ToyMapParams {
        /// every byte is multiplied by this (then rounded, modulo 256)
        factor: f64 = 1.0,
        /// sleep before finishing
        sleep_ms: u64 = 0u64,
        /// return an error instead of an output
        fail: bool = false,
        /// threads declared to the scheduler
        threads: u64 = 1u64,
    }
}

/// Transforms its input byte by byte.
pub struct ToyMap;

impl TypedStage for ToyMap {
    type Params = ToyMapParams;
    const KIND: &'static str = "toy_map";
    const VERSION: u32 = 1;
    const ABOUT: &'static str = "test kind: scales every byte of its input";
    const INPUTS: &'static [PortSpec] = &[PortSpec::new("input", TOY)];
    const OUTPUT: &'static str = TOY;

    fn resources(&self, p: &ToyMapParams) -> Resources {
        Resources {
            threads: usize::try_from(p.threads).unwrap_or(1).max(1),
            ..Resources::DEFAULT
        }
    }
    fn run(&self, p: ToyMapParams, ctx: &RunCtx) -> Result<Artifact, StageError> {
        count_run(Self::KIND);
        nap(ctx, p.sleep_ms)?;
        if p.fail {
            return Err(StageError::msg("toy_map was asked to fail (fail = true)"));
        }
        let input = ctx.input("input")?.get("data.bin")?;
        let salt = ctx.seed.to_le_bytes()[0];
        let data = input
            .iter()
            .map(|&b| ((f64::from(b) * p.factor).round() as i64).rem_euclid(256) as u8 ^ salt)
            .collect();
        Ok(toy_artifact(
            data,
            serde_json::json!({ "factor": p.factor }),
        ))
    }
}

crate::stage_params! {
    /// Parameters of `toy_sum`.
    pub struct ToySumParams {
        /// copied into the metrics (must not vary over the sweep: this is a gather stage)
        label: String = "",
    }
}

/// Concatenates every gathered input in point order.
pub struct ToySum;

impl TypedStage for ToySum {
    type Params = ToySumParams;
    const KIND: &'static str = "toy_sum";
    const VERSION: u32 = 1;
    const ABOUT: &'static str =
        "test kind: gathers one input per sweep point and concatenates them";
    const INPUTS: &'static [PortSpec] = &[PortSpec::new("runs", TOY).gather()];
    const OUTPUT: &'static str = TOY;

    fn run(&self, p: ToySumParams, ctx: &RunCtx) -> Result<Artifact, StageError> {
        count_run(Self::KIND);
        let mut data = Vec::new();
        let mut points = Vec::new();
        for g in ctx.gathered("runs") {
            data.extend_from_slice(g.artifact.get("data.bin")?);
            points.push(g.point_ids.join("+"));
        }
        let count = points.len();
        Ok(toy_artifact(
            data,
            serde_json::json!({ "count": count, "points": points, "label": p.label }),
        ))
    }
}

crate::stage_params! {
    /// Parameters of `toy_steps`.
    pub struct ToyStepsParams {
        /// number of steps (one checkpoint per step)
        steps: u64 = 10u64,
        /// sleep per step
        sleep_ms: u64 = 0u64,
    }
}

/// A long stage in miniature: iterates a state, checkpointing every step; resumable.
pub struct ToySteps;

impl TypedStage for ToySteps {
    type Params = ToyStepsParams;
    const KIND: &'static str = "toy_steps";
    const VERSION: u32 = 1;
    const ABOUT: &'static str = "test kind: a resumable loop that checkpoints every step";
    const INPUTS: &'static [PortSpec] = &[PortSpec::new("input", TOY)];
    const OUTPUT: &'static str = TOY;

    fn run(&self, p: ToyStepsParams, ctx: &RunCtx) -> Result<Artifact, StageError> {
        count_run(Self::KIND);
        let input = ctx.input("input")?.get("data.bin")?;
        let (mut step, mut state) = match ctx.checkpoint_load()? {
            Some((step, bytes)) => {
                let arr: [u8; 8] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| StageError::Input("toy_steps checkpoint is not 8 bytes".into()))?;
                RESUMES.fetch_add(1, Ordering::SeqCst);
                (step, u64::from_le_bytes(arr))
            }
            None => {
                let h = blake3::hash(input);
                let mut first = [0u8; 8];
                first.copy_from_slice(&h.as_bytes()[..8]);
                (0, u64::from_le_bytes(first) ^ ctx.seed)
            }
        };
        ctx.progress.set_total(p.steps, "steps");
        ctx.progress.inc(step.min(p.steps));
        while step < p.steps {
            nap(ctx, p.sleep_ms)?;
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(step + 1);
            step += 1;
            ctx.checkpoint_save(step, &state.to_le_bytes())?;
            ctx.progress.inc(1);
        }
        Ok(toy_artifact(
            state.to_le_bytes().to_vec(),
            serde_json::json!({ "steps": p.steps, "state": state.to_string() }),
        ))
    }
}

crate::stage_params! {
    /// Parameters of `toy_file`.
    pub struct ToyFileParams {
        /// file to read (must exist at plan time)
        path: String,
    }
}

/// Reads a file; its plan-time check reports a missing file.
pub struct ToyFile;

impl TypedStage for ToyFile {
    type Params = ToyFileParams;
    const KIND: &'static str = "toy_file";
    const VERSION: u32 = 1;
    const ABOUT: &'static str = "test kind: reads a file that must exist at plan time";
    const INPUTS: &'static [PortSpec] = &[];
    const OUTPUT: &'static str = TOY;

    fn check(&self, p: &ToyFileParams) -> Vec<ParamIssue> {
        match std::path::Path::new(&p.path).exists() {
            true => Vec::new(),
            false => vec![ParamIssue::new(
                "path",
                format!("file `{}` does not exist", p.path),
            )],
        }
    }
    fn run(&self, p: ToyFileParams, _ctx: &RunCtx) -> Result<Artifact, StageError> {
        count_run(Self::KIND);
        let data = std::fs::read(&p.path)?;
        Ok(toy_artifact(data, serde_json::json!({ "path": p.path })))
    }
}

crate::stage_params! {
    /// Parameters of `toy_note`.
    pub struct ToyNoteParams {
        /// the note's text
        text: String = "",
    }
}

/// Produces a `"note"` artifact (not `"toy"`): for port type mismatch tests.
pub struct ToyNote;

impl TypedStage for ToyNote {
    type Params = ToyNoteParams;
    const KIND: &'static str = "toy_note";
    const VERSION: u32 = 1;
    const ABOUT: &'static str = "test kind: a text note, of artifact type `note`";
    const INPUTS: &'static [PortSpec] = &[];
    const OUTPUT: &'static str = "note";

    fn run(&self, p: ToyNoteParams, _ctx: &RunCtx) -> Result<Artifact, StageError> {
        count_run(Self::KIND);
        let mut a = Artifact::new();
        a.publish("note.txt", p.text.into_bytes());
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ParamTable;
    use crate::stage::Stage;
    use crate::stage::{
        CancelToken, CheckpointStore, Device, InputArtifact, NoCheckpoints, NoProgress,
    };

    fn params_of(stage: &dyn Stage, set: &[(&str, toml::Value)]) -> ParamTable {
        let mut t: ParamTable = stage
            .params()
            .into_iter()
            .filter_map(|s| s.default.map(|d| (s.name.to_string(), d)))
            .collect();
        for (k, v) in set {
            t.insert((*k).to_string(), v.clone());
        }
        t
    }

    fn run_with(
        stage: &dyn Stage,
        params: &ParamTable,
        seed: u64,
        inputs: BTreeMap<String, Vec<InputArtifact>>,
        ckpt: &dyn CheckpointStore,
    ) -> Result<Artifact, StageError> {
        let cancel = CancelToken::new();
        let ctx = RunCtx {
            stage: "s",
            params,
            inputs,
            seed,
            device: Device::Cpu,
            threads: 1,
            progress: &NoProgress,
            cancel: &cancel,
            checkpoints: ckpt,
        };
        stage.run(&ctx)
    }

    fn one_input(port: &str, a: Artifact) -> BTreeMap<String, Vec<InputArtifact>> {
        let ia = InputArtifact {
            stage: "src".into(),
            point_ids: vec!["p".into()],
            point: BTreeMap::new(),
            artifact: a,
        };
        BTreeMap::from([(port.to_string(), vec![ia])])
    }

    #[test]
    fn source_is_deterministic_and_seeded() {
        let p = params_of(&ToySource, &[("n", toml::Value::Integer(3))]);
        let a = run_with(&ToySource, &p, 1, BTreeMap::new(), &NoCheckpoints).unwrap();
        let b = run_with(&ToySource, &p, 1, BTreeMap::new(), &NoCheckpoints).unwrap();
        let c = run_with(&ToySource, &p, 2, BTreeMap::new(), &NoCheckpoints).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.get("data.bin").unwrap(), c.get("data.bin").unwrap());
        assert_eq!(a.get("data.bin").unwrap().len(), 16);
        assert!(runs("toy_source") >= 3);
    }

    #[test]
    fn map_fails_on_request_and_declares_threads() {
        let src = run_with(
            &ToySource,
            &params_of(&ToySource, &[("n", toml::Value::Integer(1))]),
            0,
            BTreeMap::new(),
            &NoCheckpoints,
        )
        .unwrap();
        let p = params_of(&ToyMap, &[("fail", toml::Value::Boolean(true))]);
        let err = run_with(
            &ToyMap,
            &p,
            0,
            one_input("input", src.clone()),
            &NoCheckpoints,
        );
        assert!(err.is_err());
        let p = params_of(&ToyMap, &[("threads", toml::Value::Integer(3))]);
        assert_eq!(Stage::resources(&ToyMap, &p).threads, 3);
        let out = run_with(
            &ToyMap,
            &p,
            0,
            one_input("input", src.clone()),
            &NoCheckpoints,
        )
        .unwrap();
        // factor 1.0 and seed 0: identity.
        assert_eq!(out.get("data.bin").unwrap(), src.get("data.bin").unwrap());
    }

    /// Keeps the last checkpoint in memory; fails the stage after `stop_after` saves.
    struct MemCkpt {
        slot: Mutex<Option<(u64, Vec<u8>)>>,
        stop_after: Option<u64>,
    }
    impl CheckpointStore for MemCkpt {
        fn save(&self, step: u64, bytes: &[u8]) -> Result<(), StageError> {
            *self.slot.lock().unwrap() = Some((step, bytes.to_vec()));
            match self.stop_after {
                Some(n) if step >= n => Err(StageError::msg("interrupted")),
                _ => Ok(()),
            }
        }
        fn load(&self) -> Result<Option<(u64, Vec<u8>)>, StageError> {
            Ok(self.slot.lock().unwrap().clone())
        }
    }

    #[test]
    fn steps_resume_gives_identical_result() {
        let src = run_with(
            &ToySource,
            &params_of(&ToySource, &[("n", toml::Value::Integer(9))]),
            0,
            BTreeMap::new(),
            &NoCheckpoints,
        )
        .unwrap();
        let p = params_of(&ToySteps, &[("steps", toml::Value::Integer(7))]);
        let straight = run_with(
            &ToySteps,
            &p,
            5,
            one_input("input", src.clone()),
            &NoCheckpoints,
        )
        .unwrap();
        let mut ck = MemCkpt {
            slot: Mutex::new(None),
            stop_after: Some(3),
        };
        assert!(run_with(&ToySteps, &p, 5, one_input("input", src.clone()), &ck).is_err());
        ck.stop_after = None;
        let before = resumes();
        let resumed = run_with(&ToySteps, &p, 5, one_input("input", src), &ck).unwrap();
        assert!(resumes() > before);
        assert_eq!(straight, resumed);
    }

    #[test]
    fn sum_concatenates_in_given_order() {
        let mk = |n: i64| {
            run_with(
                &ToySource,
                &params_of(
                    &ToySource,
                    &[
                        ("n", toml::Value::Integer(n)),
                        ("size", toml::Value::Integer(2)),
                    ],
                ),
                0,
                BTreeMap::new(),
                &NoCheckpoints,
            )
            .unwrap()
        };
        let (a, b) = (mk(1), mk(2));
        let ia = |id: &str, art: &Artifact| InputArtifact {
            stage: "src".into(),
            point_ids: vec![id.into()],
            point: BTreeMap::new(),
            artifact: art.clone(),
        };
        let inputs = BTreeMap::from([("runs".to_string(), vec![ia("p1", &a), ia("p2", &b)])]);
        let out = run_with(&ToySum, &params_of(&ToySum, &[]), 0, inputs, &NoCheckpoints).unwrap();
        let mut want = a.get("data.bin").unwrap().to_vec();
        want.extend_from_slice(b.get("data.bin").unwrap());
        assert_eq!(out.get("data.bin").unwrap(), want.as_slice());
        assert_eq!(
            out.metrics().unwrap()["points"],
            serde_json::json!(["p1", "p2"])
        );
    }

    #[test]
    fn file_check_reports_missing_file() {
        let p = params_of(
            &ToyFile,
            &[("path", toml::Value::String("/no/such/file.bin".into()))],
        );
        let issues = Stage::check(&ToyFile, &p);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].param, "path");
        let here = params_of(
            &ToyFile,
            &[("path", toml::Value::String("Cargo.toml".into()))],
        );
        assert!(Stage::check(&ToyFile, &here).is_empty());
    }
}
