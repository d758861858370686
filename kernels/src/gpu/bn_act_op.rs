//! CUDA launches of training-mode batch norm + PReLU (`cu/bn_act.cu`) for the fused op in
//! `stages/src/nn/bn_act.rs`, whose CPU implementation is the reference: inputs are candle
//! tensors on the device, the kernels run on candle's own stream and write into buffers candle
//! then owns (feature `cuda` only). candle's composite batch norm runs about ten full-size
//! kernels per layer each way; these run two (docs/design.md §10 has the measurement).

use candle_core::{CudaStorage, Error, Layout, Result};
use cudarc::driver::{CudaSlice, CudaView, LaunchConfig, PushKernelArg};

use super::launch::{grid_stride, i32_arg};
use crate::tensor_op::span;

/// Threads per block of the per-channel reductions (`BN_THREADS` in `bn_act.cu`).
const REDUCE_THREADS: u32 = 512;

/// `(n, c, s, k)` of an `[N, C, ...]` input and `[k, C]` parameters, as kernel arguments.
fn dims(lx: &Layout, lp: &Layout) -> Result<(i32, i32, i32, i32)> {
    let d = lx.shape().dims();
    if d.len() < 2 {
        candle_core::bail!("batch norm needs an [N, C, ...] input, got {:?}", d)
    }
    let (n, c, s) = (d[0], d[1], d[2..].iter().product::<usize>());
    let k = lp.shape().dims().first().copied().unwrap_or(0);
    if !(k == 2 || k == 3) || lp.shape().elem_count() != k * c {
        candle_core::bail!(
            "batch norm parameters must be [2 or 3, {c}], got {:?}",
            lp.shape()
        )
    }
    let arg = |what, v| i32_arg(what, v).map_err(Error::wrap);
    Ok((
        arg("images", n)?,
        arg("channels", c)?,
        arg("positions", s)?,
        k as i32,
    ))
}

fn per_channel(c: i32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (c.max(1) as u32, 1, 1),
        block_dim: (REDUCE_THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// The f32 view of a contiguous storage.
fn view<'a>(st: &'a CudaStorage, l: &Layout, what: &str) -> Result<CudaView<'a, f32>> {
    let (a, b) = span(what, l)?;
    Ok(st.as_cuda_slice::<f32>()?.slice(a..b))
}

/// Forward: `y` and the per-channel statistics `[mean; biased variance; 1/sqrt(var + eps)]`
/// (`3 C` values, copied to the host: the running statistics and the backward need them).
pub fn bn_act_forward_cuda(
    (sx, lx): (&CudaStorage, &Layout),
    (sp, lp): (&CudaStorage, &Layout),
    eps: f32,
) -> Result<(CudaStorage, Vec<f32>)> {
    let (n, c, s, k) = dims(lx, lp)?;
    let dev = sx.device.clone();
    let ptx = super::ptx("bn_act.cu").map_err(Error::wrap)?;
    let (x, p) = (view(sx, lx, "x")?, view(sp, lp, "params")?);
    let stream = dev.cuda_stream();
    let total = x.len();
    let mut stats: CudaSlice<f32> = dev.alloc_zeros(3 * c.max(1) as usize)?;
    let mut y: CudaSlice<f32> = dev.alloc_zeros(total.max(1))?;
    if total > 0 {
        let f = dev.get_or_load_custom_func("bn_stats", "synface_bn_act", ptx)?;
        let mut l = f.builder();
        l.arg(&x).arg(&n).arg(&c).arg(&s).arg(&eps).arg(&mut stats);
        // SAFETY: argument types and order match `bn_stats` in bn_act.cu; `x` holds n c s
        // values (its layout's span) and `stats` 3 c.
        unsafe { l.launch(per_channel(c)) }.map_err(Error::wrap)?;
        let f = dev.get_or_load_custom_func("bn_act_apply", "synface_bn_act", ptx)?;
        let mut l = f.builder();
        l.arg(&x)
            .arg(&p)
            .arg(&stats)
            .arg(&k)
            .arg(&n)
            .arg(&c)
            .arg(&s)
            .arg(&mut y);
        // SAFETY: as above for `bn_act_apply`; `p` holds k c values (checked by `dims`), `y`
        // n c s.
        unsafe { l.launch(grid_stride(total)) }.map_err(Error::wrap)?;
    }
    let host = stream.clone_dtoh(&stats).map_err(Error::wrap)?;
    Ok((CudaStorage::wrap_cuda_slice(y, dev), host))
}

/// Backward: `[dx; dgamma; dbeta(; dalpha)]` as one flat buffer (the CPU op's packing), from
/// the input, parameters, output gradient and the forward's statistics (`3 C` values).
pub fn bn_act_backward_cuda(
    (sx, lx): (&CudaStorage, &Layout),
    (sp, lp): (&CudaStorage, &Layout),
    (sd, ld): (&CudaStorage, &Layout),
    stats: &[f32],
) -> Result<CudaStorage> {
    let (n, c, s, k) = dims(lx, lp)?;
    if ld.shape() != lx.shape() || stats.len() != 3 * c as usize {
        candle_core::bail!(
            "batch norm gradient: dy {:?} for x {:?}",
            ld.shape(),
            lx.shape()
        )
    }
    let dev = sx.device.clone();
    let ptx = super::ptx("bn_act.cu").map_err(Error::wrap)?;
    let (x, p, dy) = (
        view(sx, lx, "x")?,
        view(sp, lp, "params")?,
        view(sd, ld, "dy")?,
    );
    let stream = dev.cuda_stream();
    let total = x.len();
    let st = stream.clone_htod(stats).map_err(Error::wrap)?;
    let mut out: CudaSlice<f32> = dev.alloc_zeros(total + (k * c) as usize)?;
    if total > 0 {
        let (mut dx, mut dp) = out.split_at_mut(total);
        let f = dev.get_or_load_custom_func("bn_act_grad_sums", "synface_bn_act", ptx)?;
        let mut l = f.builder();
        l.arg(&x).arg(&p).arg(&st).arg(&dy);
        l.arg(&k).arg(&n).arg(&c).arg(&s).arg(&mut dp);
        // SAFETY: argument types and order match `bn_act_grad_sums`; `x` and `dy` hold n c s
        // values, `p` and `dp` k c, `st` 3 c.
        unsafe { l.launch(per_channel(c)) }.map_err(Error::wrap)?;
        let f = dev.get_or_load_custom_func("bn_act_grad_dx", "synface_bn_act", ptx)?;
        let dp = dp.as_view();
        let mut l = f.builder();
        l.arg(&x).arg(&p).arg(&st).arg(&dy).arg(&dp);
        l.arg(&k).arg(&n).arg(&c).arg(&s).arg(&mut dx);
        // SAFETY: as above for `bn_act_grad_dx`; `dx` holds n c s values.
        unsafe { l.launch(grid_stride(total)) }.map_err(Error::wrap)?;
    }
    Ok(CudaStorage::wrap_cuda_slice(out, dev))
}
