//! CUDA implementations: the `.cu` sources under `src/cu/` compiled at run time with NVRTC
//! (through cudarc, which loads the driver and NVRTC dynamically, so building needs no CUDA
//! toolkit), loaded once per device and cached ([`GpuKernels::get`]). The batch op's kernel is
//! launched through candle instead (`batch_op.rs`, feature `cuda`), where training's tensors are.
//!
//! With the `cuda` feature the cudarc re-exported by candle's CUDA backend is used instead of
//! the direct dependency (candle links CUDA dynamically; see `Cargo.toml`).

#[cfg(feature = "cuda")]
mod batch_op;
#[cfg(feature = "cuda")]
mod bn_act_op;
mod launch;
mod timing;

#[cfg(feature = "cuda")]
pub(crate) use batch_op::batch_op_cuda;
#[cfg(feature = "cuda")]
pub use bn_act_op::{bn_act_backward_cuda, bn_act_forward_cuda};
pub use timing::ResidentTimes;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

#[cfg(all(feature = "gpu", not(feature = "cuda")))]
pub use ::cudarc;
#[cfg(feature = "cuda")]
pub use candle_core::cuda_backend::cudarc;

use cudarc::driver::{CudaContext, CudaFunction, CudaStream};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileError, CompileOptions};

use crate::error::GpuError;
use crate::SOURCES;

/// Whether the NVRTC library can be loaded (always true when CUDA is linked, `cuda` feature).
pub fn nvrtc_available() -> bool {
    #[cfg(not(feature = "cuda"))]
    {
        // SAFETY: only tries to dlopen the library; no symbol is called.
        unsafe { cudarc::nvrtc::sys::is_culib_present() }
    }
    #[cfg(feature = "cuda")]
    {
        true
    }
}

/// Whether the CUDA driver library can be loaded (says nothing about devices).
pub fn driver_available() -> bool {
    #[cfg(not(feature = "cuda"))]
    {
        // SAFETY: only tries to dlopen the library; no symbol is called.
        unsafe { cudarc::driver::sys::is_culib_present() }
    }
    #[cfg(feature = "cuda")]
    {
        true
    }
}

/// The CUDA devices the driver reports, as `(count, smallest device memory in MiB)`;
/// `(0, 0)` when no driver can be loaded or it reports no device.
pub fn inventory() -> (usize, u64) {
    if !driver_available() {
        return (0, 0);
    }
    let count = match CudaContext::device_count() {
        Ok(n) if n > 0 => n as usize,
        _ => return (0, 0),
    };
    let mut mem_mb = u64::MAX;
    for o in 0..count {
        match CudaContext::new(o).and_then(|c| c.total_mem()) {
            Ok(bytes) => mem_mb = mem_mb.min(bytes as u64 >> 20),
            Err(_) => return (o, if o == 0 { 0 } else { mem_mb }),
        }
    }
    (count, mem_mb)
}

/// Compile one CUDA source to PTX text; a syntax error comes back with NVRTC's log.
pub fn compile(name: &str, src: &str) -> Result<String, GpuError> {
    if !nvrtc_available() {
        return Err(GpuError::NoNvrtc);
    }
    let opts = CompileOptions {
        name: Some(name.to_string()),
        ..Default::default()
    };
    match compile_ptx_with_opts(src, opts) {
        Ok(ptx) => Ok(ptx.to_src()),
        Err(CompileError::CompileError { log, .. }) => Err(GpuError::Compile {
            source_name: name.to_string(),
            log: log.to_string_lossy().into_owned(),
        }),
        Err(e) => Err(GpuError::Compile {
            source_name: name.to_string(),
            log: format!("{e:?}"),
        }),
    }
}

/// PTX of every source in [`SOURCES`], compiled once per process.
pub fn ptx_all() -> Result<&'static [(&'static str, String)], GpuError> {
    static PTX: OnceLock<Result<Vec<(&'static str, String)>, GpuError>> = OnceLock::new();
    PTX.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(n, s)| Ok((*n, compile(n, s)?)))
            .collect()
    })
    .as_ref()
    .map(|v| v.as_slice())
    .map_err(Clone::clone)
}

/// PTX of one source by file name (`"cosine.cu"`, `"batch.cu"`, `"bn_act.cu"`).
pub fn ptx(name: &str) -> Result<&'static str, GpuError> {
    ptx_all()?
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| p.as_str())
        .ok_or_else(|| GpuError::Compile {
            source_name: name.into(),
            log: "no such source".into(),
        })
}

fn driver<T, E: std::fmt::Debug>(r: Result<T, E>) -> Result<T, GpuError> {
    r.map_err(|e| GpuError::Driver(format!("{e:?}")))
}

/// Per-ordinal outcome of loading the kernels (failures are cached too).
type LoadCache = BTreeMap<usize, Result<Arc<GpuKernels>, GpuError>>;

/// The kernels loaded on one device, with that device's default stream.
pub struct GpuKernels {
    pub ordinal: usize,
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    pub(crate) f_pairs: CudaFunction,
    pub(crate) f_all: CudaFunction,
    pub(crate) f_norm: CudaFunction,
}

impl std::fmt::Debug for GpuKernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuKernels")
            .field("ordinal", &self.ordinal)
            .finish()
    }
}

impl GpuKernels {
    /// The kernels on CUDA device `ordinal`, compiled and loaded on first use and cached
    /// (also a failure is cached: a machine without a driver is asked once).
    pub fn get(ordinal: usize) -> Result<Arc<GpuKernels>, GpuError> {
        static CACHE: OnceLock<Mutex<LoadCache>> = OnceLock::new();
        let mut m = CACHE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        m.entry(ordinal)
            .or_insert_with(|| Self::load(ordinal).map(Arc::new))
            .clone()
    }

    fn load(ordinal: usize) -> Result<GpuKernels, GpuError> {
        if !driver_available() {
            return Err(GpuError::NoDriver);
        }
        let ctx = driver(CudaContext::new(ordinal))?;
        let stream = ctx.default_stream();
        let cos = driver(ctx.load_module(cudarc::nvrtc::Ptx::from_src(ptx("cosine.cu")?)))?;
        Ok(GpuKernels {
            ordinal,
            f_pairs: driver(cos.load_function("cosine_pairs_f32"))?,
            f_all: driver(cos.load_function("cosine_all_f32"))?,
            f_norm: driver(cos.load_function("l2_normalize_f32"))?,
            ctx,
            stream,
        })
    }

    /// The device's name as the driver reports it.
    pub fn device_name(&self) -> String {
        self.ctx
            .name()
            .unwrap_or_else(|e| format!("CUDA device {} ({e:?})", self.ordinal))
    }

    /// Theoretical peak memory bandwidth in bytes/s from the driver's clock and bus width
    /// (DDR: two transfers per clock), if the driver reports them.
    pub fn peak_bandwidth(&self) -> Option<f64> {
        use cudarc::driver::sys::CUdevice_attribute as A;
        let clock_khz = self
            .ctx
            .attribute(A::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE)
            .ok()?;
        let bus_bits = self
            .ctx
            .attribute(A::CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH)
            .ok()?;
        Some(2.0 * clock_khz as f64 * 1e3 * bus_bits as f64 / 8.0)
    }
}
