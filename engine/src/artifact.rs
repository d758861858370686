//! What a stage and the engine exchange as data: artifacts (named blobs, some published into
//! the run folder), mid-stage checkpoints, and the error a stage returns. Below the stage
//! contract ([`crate::stage`]) and the cache ([`crate::cache`]), which both build on it.

use std::collections::BTreeMap;
use std::sync::Arc;

/// One output (or input) artifact of a stage instance: a set of named blobs.
///
/// Files added with [`Artifact::publish`] are also copied into the run layout
/// (`runs/<name>/points/<id>/<stage>/`); `metrics.json`, when present, feeds `results.json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Artifact {
    pub files: BTreeMap<String, Arc<Vec<u8>>>,
    pub published: std::collections::BTreeSet<String>,
}

impl Artifact {
    pub fn new() -> Self {
        Self::default()
    }
    /// Add an internal file (cached, not copied into the run layout).
    pub fn add(&mut self, name: impl Into<String>, bytes: Vec<u8>) -> &mut Self {
        self.files.insert(name.into(), Arc::new(bytes));
        self
    }
    /// Add a human-facing file (cached and copied into the run layout).
    pub fn publish(&mut self, name: impl Into<String>, bytes: Vec<u8>) -> &mut Self {
        let name = name.into();
        self.published.insert(name.clone());
        self.files.insert(name, Arc::new(bytes));
        self
    }
    /// Set `metrics.json` (published).
    pub fn set_metrics(&mut self, metrics: &serde_json::Value) -> &mut Self {
        let bytes = serde_json::to_vec_pretty(metrics).expect("json values always serialise");
        self.publish("metrics.json", bytes)
    }
    pub fn get(&self, name: &str) -> Result<&[u8], StageError> {
        self.files
            .get(name)
            .map(|b| b.as_slice())
            .ok_or_else(|| StageError::Input(format!("artifact has no file `{name}`")))
    }
    pub fn metrics(&self) -> Option<serde_json::Value> {
        self.files
            .get("metrics.json")
            .and_then(|b| serde_json::from_slice(b).ok())
    }
}

/// Errors a stage returns from `run`.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("bad input: {0}")]
    Input(String),
    /// A parameter value the stage cannot use; `param` names it (empty: the parameters as a
    /// whole), so a caller can point at its position in the pipeline file.
    #[error("bad parameter{}: {message}", param_label(param))]
    Param { param: String, message: String },
    #[error("cancelled")]
    Cancelled,
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Failed(String),
}

impl StageError {
    pub fn msg(m: impl std::fmt::Display) -> Self {
        StageError::Failed(m.to_string())
    }
    /// The value of parameter `param` ("" for the parameters as a whole) is unusable.
    pub fn param(param: &str, message: impl std::fmt::Display) -> Self {
        StageError::Param {
            param: param.to_string(),
            message: message.to_string(),
        }
    }
}

fn param_label(param: &str) -> String {
    match param {
        "" => String::new(),
        p => format!(" `{p}`"),
    }
}

/// Durable mid-stage state for one stage instance (keyed by its cache key).
pub trait CheckpointStore: Send + Sync {
    /// Atomically replace the checkpoint with `bytes` taken at `step`.
    fn save(&self, step: u64, bytes: &[u8]) -> Result<(), StageError>;
    /// The latest checkpoint, if any.
    fn load(&self) -> Result<Option<(u64, Vec<u8>)>, StageError>;
}

/// A checkpoint store that keeps nothing (tests of stages outside the engine).
pub struct NoCheckpoints;
impl CheckpointStore for NoCheckpoints {
    fn save(&self, _: u64, _: &[u8]) -> Result<(), StageError> {
        Ok(())
    }
    fn load(&self) -> Result<Option<(u64, Vec<u8>)>, StageError> {
        Ok(None)
    }
}
