//! The stage contract: what a stage kind declares (name, version, params, ports, resources)
//! and what it receives when it runs ([`RunCtx`]). The engine sees stages only through this.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::inputs::ExternalInput;
use crate::params::{ParamSpec, ParamTable};

/// Which device the scheduler chose for a stage instance. Stages never pick a GPU themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Device {
    Cpu,
    /// CUDA device ordinal.
    Cuda(usize),
}

/// An input port of a stage kind.
#[derive(Debug, Clone)]
pub struct PortSpec {
    /// Port name; in a pipeline file `inputs = { <name> = "<stage>" }` (or `input = "<stage>"`
    /// for the first port).
    pub name: &'static str,
    /// Artifact type the port accepts (must equal the producing kind's `output()`).
    /// A list separated by `|` accepts any of them.
    pub kind: &'static str,
    pub optional: bool,
    /// A gather port receives the outputs of the named stage from *every* sweep point
    /// (e.g. `report`); the consuming stage then has a single instance.
    pub gather: bool,
}

impl PortSpec {
    /// A required, non-gather port `name` accepting artifact type `kind`.
    pub const fn new(name: &'static str, kind: &'static str) -> Self {
        PortSpec {
            name,
            kind,
            optional: false,
            gather: false,
        }
    }
    /// The port may be left unconnected.
    pub const fn optional(self) -> Self {
        PortSpec {
            optional: true,
            ..self
        }
    }
    /// The port receives the producer's outputs from every sweep point.
    pub const fn gather(self) -> Self {
        PortSpec {
            gather: true,
            ..self
        }
    }
}

/// What a stage instance needs from the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Resources {
    /// CPU threads the stage will keep busy (its rayon pool is sized to this).
    pub threads: usize,
    /// Whether the stage wants a GPU when one is available (it must still run on CPU).
    pub gpu: bool,
    /// Peak memory estimate in MiB.
    pub mem_mb: u64,
}

impl Resources {
    /// One thread, no GPU, 256 MiB.
    pub const DEFAULT: Resources = Resources {
        threads: 1,
        gpu: false,
        mem_mb: 256,
    };
    /// Every core the scheduler grants (`threads` is then capped by the budget).
    pub const ALL_CORES: usize = usize::MAX;
}

impl Default for Resources {
    fn default() -> Self {
        Resources::DEFAULT
    }
}

/// An input artifact together with where it came from.
#[derive(Debug, Clone)]
pub struct InputArtifact {
    /// Name of the producing stage in the pipeline file.
    pub stage: String,
    /// Sweep points (ids) the producing instance belongs to, and the axis values of the first.
    pub point_ids: Vec<String>,
    pub point: BTreeMap<String, toml::Value>,
    pub artifact: Artifact,
}

pub use crate::artifact::{Artifact, CheckpointStore, NoCheckpoints, StageError};
pub use crate::estimate::Facts;
pub use crate::params::ParamIssue;

/// Receives progress from a running stage (the scheduler forwards it to bars and the event log).
pub trait ProgressSink: Send + Sync {
    fn set_total(&self, total: u64, unit: &str);
    fn inc(&self, n: u64);
    fn set_message(&self, msg: &str);
}

/// A sink that ignores everything (tests, headless runs).
pub struct NoProgress;
impl ProgressSink for NoProgress {
    fn set_total(&self, _: u64, _: &str) {}
    fn inc(&self, _: u64) {}
    fn set_message(&self, _: &str) {}
}

/// Cooperative cancellation (Ctrl-C, fail-fast). Long stages poll it between steps.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);
impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst)
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// `Err(Cancelled)` once cancelled, for `?` in loops.
    pub fn check(&self) -> Result<(), StageError> {
        if self.is_cancelled() {
            Err(StageError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Everything a stage instance gets when it runs.
pub struct RunCtx<'a> {
    /// Stage name in the pipeline file.
    pub stage: &'a str,
    /// Resolved parameters (defaults filled, sweep references substituted).
    pub params: &'a ParamTable,
    /// Input artifacts by port name (one per port, or one per sweep point for gather ports).
    pub inputs: BTreeMap<String, Vec<InputArtifact>>,
    /// Seed for this instance (derived from the pipeline seed, stage name and replicate).
    pub seed: u64,
    pub device: Device,
    /// Threads granted by the scheduler; the engine runs `run` inside a rayon pool of this size.
    pub threads: usize,
    pub progress: &'a dyn ProgressSink,
    pub cancel: &'a CancelToken,
    pub checkpoints: &'a dyn CheckpointStore,
}

impl RunCtx<'_> {
    /// The parameters as the stage's typed struct.
    pub fn params<P: serde::de::DeserializeOwned>(&self) -> Result<P, StageError> {
        crate::params::decode(self.params).map_err(|m| StageError::param("", m))
    }
    /// The single artifact on `port`.
    pub fn input(&self, port: &str) -> Result<&Artifact, StageError> {
        match self.inputs.get(port).map(|v| v.as_slice()) {
            Some([one]) => Ok(&one.artifact),
            Some([]) | None => Err(StageError::Input(format!("no input on port `{port}`"))),
            Some(_) => Err(StageError::Input(format!(
                "port `{port}` has several inputs"
            ))),
        }
    }
    /// The artifact on an optional port, if connected.
    pub fn input_opt(&self, port: &str) -> Option<&Artifact> {
        self.inputs
            .get(port)
            .and_then(|v| v.first())
            .map(|a| &a.artifact)
    }
    /// All artifacts on a gather port.
    pub fn gathered(&self, port: &str) -> &[InputArtifact] {
        self.inputs.get(port).map(|v| v.as_slice()).unwrap_or(&[])
    }
    pub fn checkpoint_save(&self, step: u64, bytes: &[u8]) -> Result<(), StageError> {
        self.checkpoints.save(step, bytes)
    }
    pub fn checkpoint_load(&self) -> Result<Option<(u64, Vec<u8>)>, StageError> {
        self.checkpoints.load()
    }
}

/// A stage kind, as the planner and scheduler see it (object-safe, parameters as a table).
/// Kinds implement [`crate::typed::TypedStage`] instead, whose blanket impl provides this;
/// the shipped kinds live in `synface-stages`, one per file.
pub trait Stage: Send + Sync {
    /// `kind = "..."` in pipeline files.
    fn kind(&self) -> &'static str;
    /// Bump when the stage's semantics change: part of the cache key.
    fn version(&self) -> u32;
    /// One-line description for `--help`-style listings and did-you-mean.
    fn about(&self) -> &'static str {
        ""
    }
    /// Parameter schema (names, defaults, type checks); usually `P::specs()` from
    /// [`crate::stage_params!`].
    fn params(&self) -> Vec<ParamSpec>;
    fn inputs(&self) -> Vec<PortSpec>;
    /// Artifact type this kind produces.
    fn output(&self) -> &'static str;
    /// Plan-time cross-field checks on resolved params (no I/O beyond cheap `exists` checks).
    fn check(&self, _params: &ParamTable) -> Vec<ParamIssue> {
        Vec::new()
    }
    fn resources(&self, _params: &ParamTable) -> Resources {
        Resources::default()
    }
    /// What this instance's output is known to be at plan time (e.g. `image_size`), from its
    /// params and its inputs' facts (port, facts), so consumers can check cross-stage
    /// constraints before anything runs. Default: the first input's facts pass through.
    fn output_facts(&self, _params: &ParamTable, inputs: &[(&str, &Facts)]) -> Facts {
        crate::estimate::first_facts(inputs)
    }
    /// Plan-time checks of params against the inputs' facts (port, facts).
    fn check_inputs(&self, _params: &ParamTable, _inputs: &[(&str, &Facts)]) -> Vec<ParamIssue> {
        Vec::new()
    }
    /// The instance's expected work, peak memory and output size, from its params and its
    /// inputs' facts (`synface plan --estimate`). Default: unknown.
    fn estimate(
        &self,
        _params: &ParamTable,
        _inputs: &[(&str, &Facts)],
    ) -> crate::estimate::Estimate {
        crate::estimate::Estimate::default()
    }
    /// Files and folders outside the cache that `run` reads, by the parameter naming them.
    /// The engine hashes them by content into the cache key ([`crate::inputs`]), so a
    /// changed input folder is never served from the cache.
    fn external_inputs(&self, _params: &ParamTable) -> Vec<ExternalInput> {
        Vec::new()
    }
    fn run(&self, ctx: &RunCtx) -> Result<Artifact, StageError>;
}
