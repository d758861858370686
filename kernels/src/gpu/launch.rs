//! Kernel launches: device-buffer entry points (`launch_*`, shared with the candle ops'
//! `cuda_fwd`) and host-slice convenience methods on [`GpuKernels`] (copy in, launch, copy
//! out) that validate shapes exactly like the CPU reference.

use cudarc::driver::{
    CudaFunction, CudaStream, CudaView, CudaViewMut, DeviceRepr, LaunchConfig, PushKernelArg,
};

use super::{cudarc, driver, GpuKernels};
use crate::cpu::mixup::check_mixup;
use crate::error::{check_indices, rows, GpuError, KernelError};

const WARPS_PER_BLOCK: u32 = 8;

fn i32_arg(what: &str, v: usize) -> Result<i32, GpuError> {
    i32::try_from(v)
        .map_err(|_| GpuError::Driver(format!("{what} = {v} exceeds the kernel's i32 range")))
}

fn warp_grid(items: usize) -> LaunchConfig {
    let blocks = items.div_ceil(WARPS_PER_BLOCK as usize).max(1) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (32 * WARPS_PER_BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// `out[p] = cos(emb[pairs[2p]], emb[pairs[2p+1]])`; `pairs` holds `out.len()` index pairs
/// (already checked to be in range).
pub fn launch_cosine_pairs(
    stream: &CudaStream,
    func: &CudaFunction,
    emb: &CudaView<'_, f32>,
    dim: usize,
    pairs: &CudaView<'_, u32>,
    out: &mut CudaViewMut<'_, f32>,
) -> Result<(), GpuError> {
    let count = out.len();
    let (d, n) = (i32_arg("dim", dim)?, i32_arg("pairs", count)?);
    if n == 0 {
        return Ok(());
    }
    let mut b = stream.launch_builder(func);
    b.arg(emb).arg(&d).arg(pairs).arg(&n).arg(out);
    // SAFETY: argument types and order match `cosine_pairs_f32` in cosine.cu; buffer sizes
    // were validated by the caller (emb is [n, dim], pairs [out.len(), 2]).
    driver(unsafe { b.launch(warp_grid(count)) }).map(|_| ())
}

/// `out[i * nb + j] = cos(a_i, b_j)` (tiled, normalisation fused).
pub fn launch_cosine_all(
    stream: &CudaStream,
    func: &CudaFunction,
    a: &CudaView<'_, f32>,
    b: &CudaView<'_, f32>,
    dim: usize,
    out: &mut CudaViewMut<'_, f32>,
) -> Result<(), GpuError> {
    let (na, nb) = (a.len() / dim.max(1), b.len() / dim.max(1));
    if na == 0 || nb == 0 {
        return Ok(());
    }
    let (na_i, nb_i, d) = (
        i32_arg("rows of a", na)?,
        i32_arg("rows of b", nb)?,
        i32_arg("dim", dim)?,
    );
    let cfg = LaunchConfig {
        grid_dim: (nb.div_ceil(64) as u32, na.div_ceil(64) as u32, 1),
        block_dim: (16, 16, 1),
        shared_mem_bytes: 0,
    };
    let mut l = stream.launch_builder(func);
    l.arg(a).arg(&na_i).arg(b).arg(&nb_i).arg(&d).arg(out);
    // SAFETY: matches `cosine_all_f32`; out has na * nb elements (checked by the caller).
    driver(unsafe { l.launch(cfg) }).map(|_| ())
}

/// Normalise the rows of `x` (`[n, dim]`) in place.
pub fn launch_l2_normalize(
    stream: &CudaStream,
    func: &CudaFunction,
    x: &mut CudaViewMut<'_, f32>,
    dim: usize,
) -> Result<(), GpuError> {
    let n = x.len() / dim.max(1);
    let (n_i, d) = (i32_arg("rows", n)?, i32_arg("dim", dim)?);
    if n == 0 {
        return Ok(());
    }
    let mut l = stream.launch_builder(func);
    l.arg(x).arg(&n_i).arg(&d);
    // SAFETY: matches `l2_normalize_f32`.
    driver(unsafe { l.launch(warp_grid(n)) }).map(|_| ())
}

/// Device buffers of one mixup call (validated with [`check_mixup`] by the caller).
pub struct MixupArgs<'a, 'b, T> {
    pub a: &'a CudaView<'b, T>,
    pub b: &'a CudaView<'b, T>,
    pub idx_a: &'a CudaView<'b, u32>,
    pub idx_b: &'a CudaView<'b, u32>,
    pub coef: &'a CudaView<'b, f32>,
    pub per_sample: bool,
    pub sample_len: usize,
    pub n: usize,
}

/// Launch `mixup_u8` or `mixup_f32` (`func` must match `T`).
pub fn launch_mixup<T: DeviceRepr>(
    stream: &CudaStream,
    func: &CudaFunction,
    args: &MixupArgs<'_, '_, T>,
    out: &mut CudaViewMut<'_, T>,
) -> Result<(), GpuError> {
    if args.n == 0 {
        return Ok(());
    }
    let n = i32_arg("samples", args.n)?;
    let per = i32::from(args.per_sample);
    let len = args.sample_len as u64;
    let cfg = LaunchConfig {
        grid_dim: (
            args.sample_len.div_ceil(256).min(1024) as u32,
            args.n.min(65535) as u32,
            1,
        ),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut l = stream.launch_builder(func);
    l.arg(args.a)
        .arg(args.b)
        .arg(args.idx_a)
        .arg(args.idx_b)
        .arg(args.coef);
    l.arg(&per).arg(&len).arg(&n).arg(out);
    // SAFETY: matches `mixup_u8`/`mixup_f32` in mixup.cu; indices and lengths validated.
    driver(unsafe { l.launch(cfg) }).map(|_| ())
}

impl GpuKernels {
    fn up<T: DeviceRepr>(&self, x: &[T]) -> Result<cudarc::driver::CudaSlice<T>, GpuError> {
        driver(self.stream.clone_htod(x))
    }

    fn zeros<T: DeviceRepr + cudarc::driver::ValidAsZeroBits>(
        &self,
        n: usize,
    ) -> Result<cudarc::driver::CudaSlice<T>, GpuError> {
        driver(self.stream.alloc_zeros::<T>(n.max(1)))
    }

    fn down<T: DeviceRepr>(
        &self,
        x: &cudarc::driver::CudaSlice<T>,
        n: usize,
    ) -> Result<Vec<T>, GpuError> {
        let mut v = driver(self.stream.clone_dtoh(x))?;
        v.truncate(n);
        Ok(v)
    }

    /// GPU version of [`crate::cpu::cosine_pairs`].
    pub fn cosine_pairs(
        &self,
        emb: &[f32],
        dim: usize,
        pairs: &[(u32, u32)],
    ) -> Result<Vec<f32>, KernelError> {
        let n = rows("emb", emb.len(), dim)?;
        check_indices("pairs.0", pairs.iter().map(|p| p.0), n)?;
        check_indices("pairs.1", pairs.iter().map(|p| p.1), n)?;
        let flat: Vec<u32> = pairs.iter().flat_map(|p| [p.0, p.1]).collect();
        let (e, p) = (self.up(emb)?, self.up(&flat)?);
        let mut out = self.zeros::<f32>(pairs.len())?;
        let mut ov = out.slice_mut(0..pairs.len());
        launch_cosine_pairs(
            &self.stream,
            &self.f_pairs,
            &e.as_view(),
            dim,
            &p.as_view(),
            &mut ov,
        )?;
        Ok(self.down(&out, pairs.len())?)
    }

    /// GPU version of [`crate::cpu::cosine_all`].
    pub fn cosine_all(&self, a: &[f32], b: &[f32], dim: usize) -> Result<Vec<f32>, KernelError> {
        let na = rows("a", a.len(), dim)?;
        let nb = rows("b", b.len(), dim)?;
        if na * nb == 0 {
            return Ok(Vec::new());
        }
        let (da, db) = (self.up(a)?, self.up(b)?);
        let mut out = self.zeros::<f32>(na * nb)?;
        let mut ov = out.slice_mut(0..na * nb);
        launch_cosine_all(
            &self.stream,
            &self.f_all,
            &da.as_view(),
            &db.as_view(),
            dim,
            &mut ov,
        )?;
        Ok(self.down(&out, na * nb)?)
    }

    /// GPU version of [`crate::cpu::l2_normalize`].
    pub fn l2_normalize(&self, x: &mut [f32], dim: usize) -> Result<(), KernelError> {
        rows("x", x.len(), dim)?;
        if x.is_empty() {
            return Ok(());
        }
        let mut d = self.up(x)?;
        let mut v = d.slice_mut(0..x.len());
        launch_l2_normalize(&self.stream, &self.f_norm, &mut v, dim)?;
        let r = self.down(&d, x.len())?;
        x.copy_from_slice(&r);
        Ok(())
    }

    fn mixup<T: DeviceRepr + cudarc::driver::ValidAsZeroBits + Copy>(
        &self,
        func: &CudaFunction,
        (a, b): (&[T], &[T]),
        (idx_a, idx_b): (&[u32], &[u32]),
        coef: &[f32],
        sample_len: usize,
    ) -> Result<Vec<T>, KernelError> {
        let s = check_mixup(a.len(), b.len(), idx_a, idx_b, coef, sample_len)?;
        if s.n == 0 {
            return Ok(Vec::new());
        }
        let (da, db) = (self.up(a)?, self.up(b)?);
        let (ia, ib, c) = (self.up(idx_a)?, self.up(idx_b)?, self.up(coef)?);
        let total = s.n * sample_len;
        let mut out = self.zeros::<T>(total)?;
        let (av, bv, iav, ibv, cv) = (
            da.as_view(),
            db.as_view(),
            ia.as_view(),
            ib.as_view(),
            c.as_view(),
        );
        let args = MixupArgs {
            a: &av,
            b: &bv,
            idx_a: &iav,
            idx_b: &ibv,
            coef: &cv,
            per_sample: coef.len() != 1,
            sample_len,
            n: s.n,
        };
        let mut ov = out.slice_mut(0..total);
        launch_mixup(&self.stream, func, &args, &mut ov)?;
        Ok(self.down(&out, total)?)
    }

    /// GPU version of [`crate::cpu::mixup_u8`] (bit-identical results).
    pub fn mixup_u8(
        &self,
        a: &[u8],
        b: &[u8],
        idx_a: &[u32],
        idx_b: &[u32],
        coef: &[f32],
        sample_len: usize,
    ) -> Result<Vec<u8>, KernelError> {
        self.mixup(&self.f_mix_u8, (a, b), (idx_a, idx_b), coef, sample_len)
    }

    /// GPU version of [`crate::cpu::mixup_f32`] (bit-identical results).
    pub fn mixup_f32(
        &self,
        a: &[f32],
        b: &[f32],
        idx_a: &[u32],
        idx_b: &[u32],
        coef: &[f32],
        sample_len: usize,
    ) -> Result<Vec<f32>, KernelError> {
        self.mixup(&self.f_mix_f32, (a, b), (idx_a, idx_b), coef, sample_len)
    }

    /// Wait for all queued work on this device's stream.
    pub fn synchronize(&self) -> Result<(), GpuError> {
        driver(self.stream.synchronize())
    }
}
