//! The batch op's CUDA launch (`cu/batch.cu`) behind [`crate::BatchOp`]'s `cuda_fwd`: the
//! images are candle tensors already on the device, the kernel runs on candle's own stream and
//! writes into a buffer that candle then owns (feature `cuda` only: without candle's CUDA
//! backend there is no device tensor to train on).

use cudarc::driver::{CudaFunction, CudaStream, CudaView, CudaViewMut, PushKernelArg};

use super::launch::{grid_stride, i32_arg};
use super::{cudarc, driver};
use crate::error::GpuError;
use crate::tensor_op::span;

/// Device buffers of one batch-op call (validated with `BatchOp::check` by the caller).
struct BatchArgs<'a, 'b> {
    pub syn: &'a CudaView<'b, u8>,
    /// The real images; any non-empty buffer when `mix` is false.
    pub real: &'a CudaView<'b, u8>,
    pub rows: &'a CudaView<'b, u32>,
    pub partners: &'a CudaView<'b, u32>,
    pub flips: &'a CudaView<'b, u8>,
    pub psi: f32,
    pub mix: bool,
    pub h: usize,
    pub w: usize,
    pub size: usize,
    pub n: usize,
}

/// Launch `batch_input_f32` into `out` (`n * 3 * size * size` floats).
fn launch_batch_input(
    stream: &CudaStream,
    func: &CudaFunction,
    a: &BatchArgs<'_, '_>,
    out: &mut CudaViewMut<'_, f32>,
) -> Result<(), GpuError> {
    if a.n == 0 {
        return Ok(());
    }
    let (h, w) = (i32_arg("height", a.h)?, i32_arg("width", a.w)?);
    let (size, n) = (i32_arg("size", a.size)?, i32_arg("samples", a.n)?);
    let mix = i32::from(a.mix);
    let total = a.n * 3 * a.size * a.size;
    let cfg = grid_stride(total);
    let mut l = stream.launch_builder(func);
    l.arg(a.syn)
        .arg(a.real)
        .arg(a.rows)
        .arg(a.partners)
        .arg(a.flips);
    l.arg(&a.psi)
        .arg(&mix)
        .arg(&h)
        .arg(&w)
        .arg(&size)
        .arg(&n)
        .arg(out);
    // SAFETY: argument types and order match `batch_input_f32` in batch.cu; `BatchOp::check`
    // bounded every row and partner index and the image buffers, and `out` holds `total`.
    driver(unsafe { l.launch(cfg) }).map(|_| ())
}

/// [`crate::BatchOp`] on candle's CUDA storage: checks the selection, uploads the batch's
/// indices and flips (the images are already on the device), and runs `batch_input_f32` on
/// candle's own stream, so that candle's next ops on the output are ordered after it with no
/// cross-stream synchronisation, into a buffer that candle then owns.
pub(crate) fn batch_op_cuda(
    op: &crate::BatchOp,
    (s1, l1): (&candle_core::CudaStorage, &candle_core::Layout),
    (s2, l2): (&candle_core::CudaStorage, &candle_core::Layout),
) -> candle_core::Result<candle_core::CudaStorage> {
    use candle_core::Error;
    let ((a1, b1), (a2, b2)) = (span("synthetic", l1)?, span("real", l2)?);
    let n = op.check(b1 - a1, b2 - a2).map_err(Error::wrap)?;
    let dev = s1.device.clone();
    let ptx = super::ptx("batch.cu").map_err(Error::wrap)?;
    let func = dev.get_or_load_custom_func("batch_input_f32", "synface_batch", ptx)?;
    let stream = dev.cuda_stream();
    let syn = s1.as_cuda_slice::<u8>()?.slice(a1..b1);
    // Without mixup the kernel never reads `real`; any device buffer stands in.
    let real = match op.mix {
        Some(_) => s2.as_cuda_slice::<u8>()?.slice(a2..b2),
        None => s1.as_cuda_slice::<u8>()?.slice(a1..b1),
    };
    let flips: Vec<u8> = (0..n)
        .map(|i| u8::from(op.flips.get(i).copied().unwrap_or(false)))
        .collect();
    let (partners, psi) = match &op.mix {
        Some((p, psi)) => (p.as_slice(), *psi),
        None => (op.rows.as_slice(), 1.0),
    };
    let up = |x: &[u32]| stream.clone_htod(x).map_err(Error::wrap);
    let (rows, partners) = (up(&op.rows)?, up(partners)?);
    let flips = stream.clone_htod(&flips).map_err(Error::wrap)?;
    let total = n * 3 * op.size * op.size;
    let mut out = stream
        .alloc_zeros::<f32>(total.max(1))
        .map_err(Error::wrap)?;
    let args = BatchArgs {
        syn: &syn,
        real: &real,
        rows: &rows.as_view(),
        partners: &partners.as_view(),
        flips: &flips.as_view(),
        psi,
        mix: op.mix.is_some(),
        h: op.h,
        w: op.w,
        size: op.size,
        n,
    };
    launch_batch_input(&stream, &func, &args, &mut out.slice_mut(0..total)).map_err(Error::wrap)?;
    Ok(candle_core::CudaStorage::wrap_cuda_slice(out, dev))
}
