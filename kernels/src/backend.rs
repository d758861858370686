//! [`Backend`]: one handle that runs every kernel on the GPU when one was asked for and can be
//! used, and on the CPU reference otherwise.

use crate::cpu;
use crate::error::{GpuError, KernelError};

/// Where kernels run.
#[derive(Debug, Clone)]
pub enum Backend {
    Cpu,
    #[cfg(any(feature = "gpu", feature = "cuda"))]
    Gpu(std::sync::Arc<crate::gpu::GpuKernels>),
}

impl Backend {
    /// The GPU kernels on CUDA device `ordinal`, or why they cannot be used.
    pub fn try_gpu(ordinal: usize) -> Result<Backend, GpuError> {
        #[cfg(any(feature = "gpu", feature = "cuda"))]
        {
            crate::gpu::GpuKernels::get(ordinal).map(Backend::Gpu)
        }
        #[cfg(not(any(feature = "gpu", feature = "cuda")))]
        {
            let _ = ordinal;
            Err(GpuError::NotBuilt)
        }
    }

    /// CPU for `None`; for `Some(ordinal)` the GPU if it can be loaded, else the CPU with one
    /// `tracing::info!` line giving the reason.
    pub fn select(cuda_ordinal: Option<usize>) -> Backend {
        match cuda_ordinal {
            None => Backend::Cpu,
            Some(o) => Self::try_gpu(o).unwrap_or_else(|e| {
                tracing::info!(
                    "synface-kernels: CUDA device {o} unavailable ({e}); using the CPU kernels"
                );
                Backend::Cpu
            }),
        }
    }

    /// CUDA devices usable by this build, as `(count, smallest memory in MiB)`; `(0, 0)` when
    /// the build has no GPU support or the machine has no driver or device.
    pub fn gpu_inventory() -> (usize, u64) {
        #[cfg(any(feature = "gpu", feature = "cuda"))]
        {
            crate::gpu::inventory()
        }
        #[cfg(not(any(feature = "gpu", feature = "cuda")))]
        {
            (0, 0)
        }
    }

    pub fn is_gpu(&self) -> bool {
        !matches!(self, Backend::Cpu)
    }

    /// Human-readable description (`"cpu"` or `"cuda:0 (NVIDIA H100 ...)"`).
    pub fn describe(&self) -> String {
        match self {
            Backend::Cpu => "cpu".into(),
            #[cfg(any(feature = "gpu", feature = "cuda"))]
            Backend::Gpu(k) => format!("cuda:{} ({})", k.ordinal, k.device_name()),
        }
    }

    /// The GPU's theoretical peak memory bandwidth in bytes/s (None on the CPU or when the
    /// driver does not report it).
    pub fn peak_bandwidth(&self) -> Option<f64> {
        match self {
            Backend::Cpu => None,
            #[cfg(any(feature = "gpu", feature = "cuda"))]
            Backend::Gpu(k) => k.peak_bandwidth(),
        }
    }

    /// See [`cpu::l2_normalize`].
    pub fn l2_normalize(&self, x: &mut [f32], dim: usize) -> Result<(), KernelError> {
        match self {
            Backend::Cpu => cpu::l2_normalize(x, dim),
            #[cfg(any(feature = "gpu", feature = "cuda"))]
            Backend::Gpu(k) => k.l2_normalize(x, dim),
        }
    }

    /// See [`cpu::cosine_pairs`].
    pub fn cosine_pairs(
        &self,
        emb: &[f32],
        dim: usize,
        pairs: &[(u32, u32)],
    ) -> Result<Vec<f32>, KernelError> {
        match self {
            Backend::Cpu => cpu::cosine_pairs(emb, dim, pairs),
            #[cfg(any(feature = "gpu", feature = "cuda"))]
            Backend::Gpu(k) => k.cosine_pairs(emb, dim, pairs),
        }
    }

    /// See [`cpu::cosine_all`].
    pub fn cosine_all(&self, a: &[f32], b: &[f32], dim: usize) -> Result<Vec<f32>, KernelError> {
        match self {
            Backend::Cpu => cpu::cosine_all(a, b, dim),
            #[cfg(any(feature = "gpu", feature = "cuda"))]
            Backend::Gpu(k) => k.cosine_all(a, b, dim),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_backend_runs_the_reference() {
        let b = Backend::select(None);
        assert!(!b.is_gpu());
        assert_eq!(b.describe(), "cpu");
        let e = [1.0, 0.0, 1.0, 1.0];
        assert_eq!(
            b.cosine_pairs(&e, 2, &[(0, 1)]).unwrap(),
            cpu::cosine_pairs(&e, 2, &[(0, 1)]).unwrap()
        );
    }

    #[test]
    fn missing_gpu_falls_back_to_cpu() {
        // On a machine without a usable device 99 this must not panic.
        let b = Backend::select(Some(99));
        assert!(!b.is_gpu() || Backend::try_gpu(99).is_ok());
    }
}
