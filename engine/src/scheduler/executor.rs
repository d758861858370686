//! The executor seam (docs/design.md §5): the dispatcher decides *what* is ready (keys, hits,
//! failures, skips); an [`Executor`] decides *where* a runnable instance runs and reports back.
//! `local` runs instances on worker threads of this process (`local.rs`); `slurm` submits them
//! as Slurm jobs over a shared cache ([`super::slurm`]). Executors see instances only as a
//! key, inputs and the declared resources of [`crate::plan::Instance`].

use std::time::Duration;

use crate::cache::{ActionManifest, CacheError, Digest};
use crate::plan::InstanceId;
use crate::stage::Device;

/// One runnable instance, its key decided and its inputs complete. Serialised into a Slurm
/// job's task file (`synface exec`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Task {
    pub id: InstanceId,
    #[serde(with = "hex_key")]
    pub key: Digest,
    pub components: serde_json::Value,
    /// Input manifests by port (one per producing instance), in port order.
    pub inputs: Vec<(String, Vec<(InstanceId, ActionManifest)>)>,
}

/// Where a started task runs, for the `started` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub device: Device,
    pub threads: usize,
}

/// Why a task produced nothing.
#[derive(Debug)]
pub enum JobError {
    Cancelled,
    Failed(String),
    /// A cache or I/O fault (exit code 3).
    Cache(CacheError),
}

/// Executor -> dispatcher.
pub enum Msg {
    Progress {
        id: InstanceId,
        done: u64,
        total: u64,
        unit: String,
        message: String,
    },
    Done {
        id: InstanceId,
        result: Result<ActionManifest, JobError>,
    },
}

/// Peak use of resources, for the run summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Peaks {
    pub threads: usize,
    pub gpus: usize,
    pub mem_mb: u64,
}

/// Where runnable instances run.
pub trait Executor {
    /// Start `task` now, or give it back when there is no room yet (it is offered again).
    fn start(&mut self, task: Task) -> Result<Placement, Task>;
    /// Called after each round of [`Executor::start`] calls: the Slurm executor submits the
    /// round's tasks of one stage together, as one job array.
    fn flush(&mut self) {}
    /// The next message, waiting at most `timeout`.
    fn next(&mut self, timeout: Duration) -> Option<Msg>;
    /// Stop everything started (Ctrl-C, `--fail-fast`): every started task still reports
    /// `Done`, as cancelled if it did not finish.
    fn stop(&mut self);
    fn peaks(&self) -> Peaks;
}

/// Keys as hex in task files.
mod hex_key {
    use crate::cache::{hex, parse_hex, Digest};

    pub fn serialize<S: serde::Serializer>(k: &Digest, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex(k))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        parse_hex(&text).ok_or_else(|| serde::de::Error::custom("a key is 64 hex digits"))
    }
}
