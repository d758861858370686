//! The plan: a pipeline expanded over its sweep into deduplicated stage instances.
//! Produced by `pipeline` + `sweep` (file -> plan), consumed by the scheduler and the CLI.

use std::collections::BTreeMap;

use crate::inputs::ExternalInput;
use crate::params::ParamTable;
use crate::stage::Resources;

/// Index of an instance in [`Plan::instances`].
pub type InstanceId = usize;

/// One point of the sweep grid (a product cell or a named arm, with its replicate).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Point {
    /// Stable id: a short hash of the point's axis values (never an index).
    pub id: String,
    /// Arm name, when the point comes from a `[[sweep.arm]]`.
    pub arm: Option<String>,
    /// Axis values, sorted by axis name (the replicate axis included).
    pub values: BTreeMap<String, toml::Value>,
}

/// One stage instance: a stage of the file bound to the sweep values it depends on.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Stage name in the pipeline file.
    pub stage: String,
    pub kind: String,
    pub version: u32,
    /// Resolved parameters: defaults filled, `${axis}` substituted, canonical order.
    pub params: ParamTable,
    pub seed: u64,
    /// Inputs by port, in port declaration order; a gather port lists one instance per point.
    pub inputs: Vec<(String, Vec<InstanceId>)>,
    /// Ids of the sweep points this instance serves.
    pub points: Vec<String>,
    /// Structural identity (kind, version, params, seed, input plan keys): equal => same work.
    pub plan_key: [u8; 32],
    /// What the instance needs: its kind's declaration with the stage's `resources = { .. }`
    /// overrides applied (docs/design.md §5).
    pub resources: Resources,
    /// GPUs a Slurm job requests (`--gres=gpu:N`); locally, > 0 means "use one if free".
    pub gpus: usize,
    /// The stage's Slurm time limit (`resources.time`), if set.
    pub time_limit: Option<String>,
    /// Files and folders outside the cache that the instance reads (hashed into its key).
    pub external: Vec<ExternalInput>,
    /// Parameters left out of the plan and cache keys (declared `not_in_key`: they change
    /// no output, e.g. `train`'s `checkpoint_every`).
    pub unkeyed: Vec<String>,
    /// For a gather instance: the digest of what it is told about each result it gathers
    /// (producing stage, point ids, their axis values; `keys::gathered_digest`). A report
    /// prints these, so they are part of its cache key; other instances are never told.
    pub gathered: Option<[u8; 32]>,
}

impl Instance {
    /// The parameters that enter the keys: all but [`Instance::unkeyed`].
    pub fn keyed_params(&self) -> ParamTable {
        keyed(&self.params, &self.unkeyed)
    }
}

/// `params` without the names in `unkeyed`.
pub fn keyed(params: &ParamTable, unkeyed: &[String]) -> ParamTable {
    params
        .iter()
        .filter(|(k, _)| !unkeyed.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A validated, expanded pipeline.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub seed: u64,
    /// Path of the pipeline file (for messages and the run layout).
    pub source: std::path::PathBuf,
    /// The files the pipeline extends (`[pipeline] extends`), nearest first, with the text
    /// planned: a Slurm task file carries them so a worker plans the same.
    pub bases: Vec<(std::path::PathBuf, String)>,
    pub points: Vec<Point>,
    /// Instances in a topological order (inputs before consumers).
    pub instances: Vec<Instance>,
}

impl Plan {
    /// Names of the sweep axes (sorted; the replicate axis [`REPLICATE_AXIS`] included when
    /// the file sets `seeds`).
    pub fn axes(&self) -> Vec<String> {
        self.points
            .first()
            .map(|p| p.values.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The point with id `id`.
    pub fn point(&self, id: &str) -> Option<&Point> {
        self.points.iter().find(|p| p.id == id)
    }

    /// Instances of the stage named `stage`, in plan order.
    pub fn instances_of<'a>(
        &'a self,
        stage: &'a str,
    ) -> impl Iterator<Item = (InstanceId, &'a Instance)> + 'a {
        self.instances
            .iter()
            .enumerate()
            .filter(move |(_, i)| i.stage == stage)
    }
}

/// Name of the replicate axis that `seeds = N` in `[sweep]` creates (values `0..N`).
pub const REPLICATE_AXIS: &str = "seed";
