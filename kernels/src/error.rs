//! Typed errors of the kernels: shape and index problems (reported, never panicked on) and
//! GPU availability/compile/launch failures.

/// Why a kernel call was rejected or failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KernelError {
    /// `dim` (or `sample_len`) was zero.
    #[error("{what} must be positive")]
    ZeroDim { what: &'static str },
    /// A flat buffer is not a whole number of rows.
    #[error("{what}: length {len} is not a multiple of {dim}")]
    NotMultiple {
        what: &'static str,
        len: usize,
        dim: usize,
    },
    /// Two buffers that must have equal length do not.
    #[error("{what}: expected length {expected}, got {got}")]
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// An index refers past the end of its buffer.
    #[error("{what}[{at}] = {index} is out of range for {rows} rows")]
    Index {
        what: &'static str,
        at: usize,
        index: u32,
        rows: usize,
    },
    /// A mixup weight is NaN or outside [0, 1].
    #[error("coef[{at}] = {value} is not in [0, 1]")]
    Coef { at: usize, value: f32 },
    /// The GPU path is unavailable or failed.
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

/// Why the GPU path cannot be used (callers fall back to the CPU reference).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GpuError {
    /// The crate was built without the `gpu` and `cuda` features.
    #[error("built without GPU support (features `gpu`/`cuda` off)")]
    NotBuilt,
    /// `libcuda` could not be loaded (no driver on this machine).
    #[error("CUDA driver library not found")]
    NoDriver,
    /// `libnvrtc` could not be loaded.
    #[error("NVRTC library not found (put its lib directory on LD_LIBRARY_PATH)")]
    NoNvrtc,
    /// The driver loaded but reported an error (no device, bad ordinal, launch failure, ...).
    #[error("CUDA driver: {0}")]
    Driver(String),
    /// NVRTC rejected a kernel source; `log` is the compiler's log.
    #[error("NVRTC failed to compile {source_name}: {log}")]
    Compile { source_name: String, log: String },
}

/// Reject `dim == 0` and buffers that are not whole rows; returns the row count.
pub(crate) fn rows(what: &'static str, len: usize, dim: usize) -> Result<usize, KernelError> {
    if dim == 0 {
        return Err(KernelError::ZeroDim { what: "dim" });
    }
    if !len.is_multiple_of(dim) {
        return Err(KernelError::NotMultiple { what, len, dim });
    }
    Ok(len / dim)
}

/// Check that every index of `idx` is `< rows`.
pub(crate) fn check_indices(
    what: &'static str,
    idx: impl IntoIterator<Item = u32>,
    rows: usize,
) -> Result<(), KernelError> {
    for (at, index) in idx.into_iter().enumerate() {
        if index as usize >= rows {
            return Err(KernelError::Index {
                what,
                at,
                index,
                rows,
            });
        }
    }
    Ok(())
}
