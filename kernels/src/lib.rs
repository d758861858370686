//! synface-kernels: hot-path ops (the training batch op with domain mixup, L2 normalisation,
//! batched cosine similarity)
//! with CPU reference implementations and, behind a feature, CUDA implementations.
//!
//! - [`cpu`]: the reference, always available and deterministic.
//! - [`gpu`] (features `gpu` (default) or `cuda`): the `src/cu/*.cu` kernels compiled with
//!   NVRTC at run time; the crate builds without a CUDA toolkit.
//! - [`Backend`]: what callers use: picks the GPU for a CUDA ordinal when it can be loaded and
//!   otherwise the CPU (saying so in one `tracing::info!` line).
//! - [`BatchOp`]: the batch op as a candle CustomOp over u8 image tensors (CPU reference always;
//!   CUDA with the `cuda` feature), which CUDA training uses to keep its images on the device.

pub mod backend;
pub mod cpu;
pub mod error;
#[cfg(any(feature = "gpu", feature = "cuda"))]
pub mod gpu;
pub mod tensor_op;

pub use backend::Backend;
pub use cpu::{batch_input, cosine_all, cosine_pairs, l2_normalize};
pub use error::{GpuError, KernelError};
pub use tensor_op::BatchOp;

/// The CUDA sources, by file name (compiled with NVRTC at run time).
pub const SOURCES: &[(&str, &str)] = &[
    ("cosine.cu", include_str!("cu/cosine.cu")),
    ("batch.cu", include_str!("cu/batch.cu")),
    ("bn_act.cu", include_str!("cu/bn_act.cu")),
];
