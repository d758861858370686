//! Kernel-only timings for the benchmarks (`kernels/examples/similarity_bench.rs`, run by
//! `bench/similarity/run.sh` and `scripts/gpu-check.sh`): the inputs are uploaded once and each
//! launch is timed to its stream's completion, so the figures measure the kernels against the
//! device's memory bandwidth and arithmetic, not the host-device copies that the host-slice
//! methods of [`GpuKernels`] include.

use std::time::Instant;

use super::launch::{launch_cosine_all, launch_cosine_pairs};
use super::{driver, GpuKernels};
use crate::error::{rows, KernelError};

/// Best-of-`reps` seconds of one `cosine_pairs` launch and one `cosine_all` launch.
#[derive(Debug, Clone, Copy)]
pub struct ResidentTimes {
    pub pairs_s: f64,
    pub all_s: f64,
}

impl GpuKernels {
    /// Times `cosine_pairs` over `pairs` of `emb` (`[n, dim]`) and `cosine_all` of `a` against
    /// `b` (each `[_, dim]`) with every buffer already on the device; best of `reps`.
    pub fn time_resident(
        &self,
        (emb, dim): (&[f32], usize),
        pairs: &[(u32, u32)],
        (a, b): (&[f32], &[f32]),
        reps: usize,
    ) -> Result<ResidentTimes, KernelError> {
        let (na, nb) = (rows("a", a.len(), dim)?, rows("b", b.len(), dim)?);
        let (de, dp) = self.pairs_input(emb, dim, pairs)?;
        let (da, db) = (self.up(a)?, self.up(b)?);
        let mut out_p = self.zeros::<f32>(pairs.len())?;
        let mut out_a = self.zeros::<f32>(na * nb)?;
        let s = &self.stream;
        let best = |f: &mut dyn FnMut() -> Result<(), KernelError>| {
            let mut t = f64::INFINITY;
            for _ in 0..reps.max(1) + 1 {
                let t0 = Instant::now();
                f()?;
                driver(s.synchronize())?;
                t = t.min(t0.elapsed().as_secs_f64());
            }
            Ok::<f64, KernelError>(t)
        };
        let pairs_s = best(&mut || {
            let mut o = out_p.slice_mut(0..pairs.len());
            Ok(launch_cosine_pairs(
                s,
                &self.f_pairs,
                &de.as_view(),
                dim,
                &dp.as_view(),
                &mut o,
            )?)
        })?;
        let all_s = best(&mut || {
            let mut o = out_a.slice_mut(0..na * nb);
            Ok(launch_cosine_all(
                s,
                &self.f_all,
                &da.as_view(),
                &db.as_view(),
                dim,
                &mut o,
            )?)
        })?;
        Ok(ResidentTimes { pairs_s, all_s })
    }
}
