//! Kernel launches: crate-private device-buffer entry points (`launch_*`, whose arguments the
//! host-slice methods validate first) and the host-slice methods on [`GpuKernels`] (copy in,
//! launch, copy out) that check shapes exactly like the CPU reference.

use cudarc::driver::{
    CudaFunction, CudaSlice, CudaStream, CudaView, CudaViewMut, DeviceRepr, LaunchConfig,
    PushKernelArg,
};

use super::{cudarc, driver, GpuKernels};
use crate::error::{check_indices, rows, GpuError, KernelError};

const WARPS_PER_BLOCK: u32 = 8;

pub(super) fn i32_arg(what: &str, v: usize) -> Result<i32, GpuError> {
    i32::try_from(v)
        .map_err(|_| GpuError::Driver(format!("{what} = {v} exceeds the kernel's i32 range")))
}

/// A grid-stride launch over `total` elements: 256 threads a block, at most 65535 blocks
/// (the kernels launched through candle: `batch_op.rs`, `bn_act_op.rs`).
#[cfg(feature = "cuda")]
pub(super) fn grid_stride(total: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (total.div_ceil(256).clamp(1, 65535) as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
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
pub(crate) fn launch_cosine_pairs(
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
pub(crate) fn launch_cosine_all(
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
pub(crate) fn launch_l2_normalize(
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

impl GpuKernels {
    pub(super) fn up<T: DeviceRepr>(
        &self,
        x: &[T],
    ) -> Result<cudarc::driver::CudaSlice<T>, GpuError> {
        driver(self.stream.clone_htod(x))
    }

    pub(super) fn zeros<T: DeviceRepr + cudarc::driver::ValidAsZeroBits>(
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

    /// `emb` and `pairs` checked (every index below the number of rows) and on the device, the
    /// pairs flattened as `cosine_pairs_f32` reads them.
    pub(super) fn pairs_input(
        &self,
        emb: &[f32],
        dim: usize,
        pairs: &[(u32, u32)],
    ) -> Result<(CudaSlice<f32>, CudaSlice<u32>), KernelError> {
        let n = rows("emb", emb.len(), dim)?;
        check_indices("pairs.0", pairs.iter().map(|p| p.0), n)?;
        check_indices("pairs.1", pairs.iter().map(|p| p.1), n)?;
        let flat: Vec<u32> = pairs.iter().flat_map(|p| [p.0, p.1]).collect();
        Ok((self.up(emb)?, self.up(&flat)?))
    }

    /// GPU version of [`crate::cpu::cosine_pairs`].
    pub fn cosine_pairs(
        &self,
        emb: &[f32],
        dim: usize,
        pairs: &[(u32, u32)],
    ) -> Result<Vec<f32>, KernelError> {
        let (e, p) = self.pairs_input(emb, dim, pairs)?;
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

    /// Wait for all queued work on this device's stream.
    pub fn synchronize(&self) -> Result<(), GpuError> {
        driver(self.stream.synchronize())
    }
}
