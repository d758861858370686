//! synface-engine: pipeline files -> plan -> DAG -> keys -> cache -> scheduler.
//! Knows nothing about faces; stages plug in through [`Stage`] and a [`Registry`].

pub mod cache;
pub mod diag;
pub mod estimate;
pub mod events;
pub mod gpu;
pub mod history;
pub mod inputs;
pub mod keys;
pub mod layout;
pub mod param_rule;
pub mod params;
pub mod pipeline;
pub mod plan;
pub mod point_name;
pub mod registry;
pub mod run;
pub mod scheduler;
pub mod slurm;
pub mod stage;
pub mod testkit;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use param_rule::ParamRule;
pub use params::{ParamSpec, ParamTable, ParamsSchema};
pub use pipeline::{load_plan, plan_from_str};
pub use plan::{Instance, InstanceId, Plan, Point, REPLICATE_AXIS};
pub use registry::Registry;
pub use stage::{
    Artifact, CancelToken, CheckpointStore, Device, Facts, InputArtifact, NoCheckpoints,
    NoProgress, ParamIssue, PortSpec, ProgressSink, Resources, RunCtx, Stage, StageError,
};
