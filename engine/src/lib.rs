//! synface-engine: pipeline files -> plan -> DAG -> keys -> cache -> scheduler.
//! Knows nothing about faces; stages plug in through [`Stage`] and a [`Registry`].

pub mod artifact;
pub mod cache;
pub mod diag;
pub mod estimate;
pub mod events;
pub mod gpu;
pub mod history;
pub mod inputs;
pub mod keys;
pub mod params;
pub mod pipeline;
pub mod plan;
pub mod point_name;
pub mod registry;
pub mod run;
pub mod run_folder;
pub mod scheduler;
pub use scheduler::slurm;
pub mod stage;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod typed;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use params::rule::ParamRule;
pub use params::{ParamSpec, ParamTable, ParamsSchema};
pub use pipeline::{load_plan, plan_from_str};
pub use plan::{Instance, InstanceId, Plan, Point, REPLICATE_AXIS};
pub use registry::Registry;
pub use stage::{
    Artifact, CancelToken, CheckpointStore, Device, Facts, InputArtifact, NoCheckpoints,
    NoProgress, ParamIssue, PortSpec, ProgressSink, Resources, RunCtx, Stage, StageError,
};
pub use typed::TypedStage;

/// Add the toy kinds of `testkit` to `r` when the engine is built with its `testkit` feature
/// (tests); returns whether it was.
pub fn register_testkit(r: &mut Registry) -> bool {
    #[cfg(any(test, feature = "testkit"))]
    {
        testkit::register(r);
        true
    }
    #[cfg(not(any(test, feature = "testkit")))]
    {
        let _ = r;
        false
    }
}
