//! GPU inventory as the scheduler sees it. Detection happens outside the engine (the binary
//! asks the kernels crate); the engine only receives a [`GpuInfo`].

/// GPUs available to a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GpuInfo {
    /// Number of devices (ordinals `0..count`).
    pub count: usize,
    /// Memory per device in MiB (0 when unknown).
    pub mem_mb: u64,
}

impl GpuInfo {
    /// No GPU: every stage runs on the CPU.
    pub fn none() -> Self {
        GpuInfo::default()
    }

    /// `count` devices, memory unknown (`--gpus N`).
    pub fn with_count(count: usize) -> Self {
        GpuInfo { count, mem_mb: 0 }
    }
}
