//! synface-engine: pipeline files -> plan -> DAG -> keys -> cache -> scheduler.
//! Knows nothing about faces; stages plug in through [`Stage`] and a [`Registry`].

pub mod params;
pub mod plan;
pub mod registry;
pub mod stage;

pub use params::{ParamSpec, ParamTable, ParamsSchema};
pub use plan::{Instance, InstanceId, Plan, Point};
pub use registry::Registry;
pub use stage::{
    Artifact, CancelToken, CheckpointStore, Device, InputArtifact, NoCheckpoints, NoProgress,
    ParamIssue, PortSpec, ProgressSink, Resources, RunCtx, Stage, StageError,
};
