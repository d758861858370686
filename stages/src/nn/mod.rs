//! candle networks (IR-ResNet, MobileFaceNet), margin heads and training utilities.
//!
//! - [`backbone`]: the serde-able [`BackboneConfig`] and the [`Backbone`] it builds;
//! - [`iresnet`], [`mobilefacenet`]: the two architecture families;
//! - [`conv`]: im2col + GEMM convolution with a fast CPU backward;
//! - [`bn_act`]: training-mode batch norm (+ PReLU) fused into one CPU op;
//! - [`layers`]: shared building blocks (conv, BN, PReLU, dropout, seeded initialisation);
//! - [`margin`]: CosFace / ArcFace heads with mixed (label, weight) targets;
//! - [`optim`]: SGD with momentum and weight decay, learning-rate schedules;
//! - [`input`]: u8 NHWC images -> normalised NCHW tensors (resize, flip, domain blend);
//! - [`trainer`]: the training loop behind the `train` stage (checkpointable state);
//! - [`holdout`]: pair-verification accuracy on held-out identities (model selection);
//! - [`embedder`]: the inference API used by the verify stage;
//! - [`model_meta`]: the metadata `model.safetensors` carries (architecture, preprocessing).

pub mod backbone;
pub mod bn_act;
pub mod conv;
pub mod embedder;
pub mod holdout;
pub mod input;
pub mod iresnet;
pub mod layers;
pub mod margin;
pub mod mobilefacenet;
pub mod model_meta;
pub mod optim;
pub mod trainer;

pub use backbone::{Arch, Backbone, BackboneConfig};
pub use embedder::Embedder;
pub use margin::{MarginHead, MarginKind, Targets};
pub use optim::{Schedule, Sgd};

use synface_engine::StageError;

/// Errors of the network code.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("invalid network configuration: {0}")]
    Config(String),
    #[error("invalid input: {0}")]
    Input(String),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    #[error("cancelled")]
    Cancelled,
}

impl From<NnError> for StageError {
    fn from(e: NnError) -> Self {
        match e {
            NnError::Config(m) => StageError::param("", m),
            NnError::Input(m) => StageError::Input(m),
            NnError::Cancelled => StageError::Cancelled,
            other => StageError::Failed(other.to_string()),
        }
    }
}

/// Result alias of the network code.
pub type Result<T> = std::result::Result<T, NnError>;

/// The candle device for an engine device: CUDA when candle was built with it and the device
/// opens; otherwise the CPU, with a warning saying why (a CUDA build on a machine whose driver
/// is missing or broken still runs). Callers record the device that computed
/// (`kinds/train.rs`, `used_device`).
pub fn candle_device(d: synface_engine::Device) -> candle_core::Device {
    match d {
        synface_engine::Device::Cuda(i) if candle_core::utils::cuda_is_available() => {
            candle_core::Device::new_cuda(i).unwrap_or_else(|e| {
                let text = e.to_string();
                let why = text.lines().next().unwrap_or("");
                tracing::warn!("CUDA device {i} did not open ({why}); computing on the CPU");
                candle_core::Device::Cpu
            })
        }
        _ => candle_core::Device::Cpu,
    }
}

/// The largest absolute difference between two tensors' values (tests of the custom ops).
#[cfg(test)]
pub(crate) fn max_abs_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    (a - b)
        .and_then(|d| d.abs()?.flatten_all()?.max(0)?.to_scalar())
        .expect("comparable tensors")
}
