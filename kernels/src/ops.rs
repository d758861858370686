//! candle `CustomOp`s over the kernels (forward only, no gradients): `cpu_fwd` runs the CPU
//! reference; with the `cuda` feature `cuda_fwd` launches the NVRTC-compiled kernels on the
//! tensor's own device and stream.
//!
//! Inputs must be contiguous (call `.contiguous()` first); a wrong dtype, rank or layout is a
//! candle error, never a panic.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use crate::cpu;
use crate::error::KernelError;

fn err(e: KernelError) -> candle_core::Error {
    candle_core::Error::wrap(e)
}

fn bad(m: String) -> candle_core::Error {
    err(KernelError::Tensor(m))
}

/// The contiguous range of a layout.
fn range(l: &Layout, what: &str) -> Result<std::ops::Range<usize>> {
    l.contiguous_offsets()
        .map(|(s, e)| s..e)
        .ok_or_else(|| bad(format!("{what} must be contiguous")))
}

fn dims2(l: &Layout, what: &str) -> Result<(usize, usize)> {
    match l.dims() {
        [a, b] => Ok((*a, *b)),
        d => Err(bad(format!("{what} must be 2-D, got shape {d:?}"))),
    }
}

fn f32s<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    match s {
        CpuStorage::F32(v) => Ok(&v[range(l, what)?]),
        _ => Err(bad(format!("{what} must be f32, got {:?}", s.dtype()))),
    }
}

/// All-against-all cosine similarity of two `[n, dim]` f32 tensors -> `[na, nb]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CosineAll;

/// Cosine similarity over index pairs: `emb` `[n, dim]` f32 with `pairs` `[p, 2]` u32 -> `[p]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CosinePairs;

/// Row-wise L2 normalisation of a `[n, dim]` f32 tensor.
#[derive(Debug, Clone, Copy, Default)]
pub struct L2Normalize;

/// Mixup of two `[N, ...]` u8 or f32 batches: output sample `s` is
/// `coef[s] * a[idx_a[s]] + (1 - coef[s]) * b[idx_b[s]]` (`coef` of length 1 = per batch).
#[derive(Debug, Clone, PartialEq)]
pub struct Mixup {
    pub idx_a: Vec<u32>,
    pub idx_b: Vec<u32>,
    pub coef: Vec<f32>,
}

/// `cos(a_i, b_j)` for every row pair (see [`CosineAll`]).
pub fn cosine_all(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.apply_op2_no_bwd(b, &CosineAll)
}

/// Cosine over index pairs (see [`CosinePairs`]).
pub fn cosine_pairs(emb: &Tensor, pairs: &Tensor) -> Result<Tensor> {
    emb.apply_op2_no_bwd(pairs, &CosinePairs)
}

/// Row-wise L2 normalisation (see [`L2Normalize`]).
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    x.apply_op1_no_bwd(&L2Normalize)
}

/// Mixup of two batches (see [`Mixup`]).
pub fn mixup(a: &Tensor, b: &Tensor, op: &Mixup) -> Result<Tensor> {
    a.apply_op2_no_bwd(b, op)
}

fn pair_list(s: &CpuStorage, l: &Layout) -> Result<Vec<(u32, u32)>> {
    match (s, l.dims()) {
        (CpuStorage::U32(v), [_, 2]) => Ok(v[range(l, "pairs")?]
            .chunks_exact(2)
            .map(|c| (c[0], c[1]))
            .collect()),
        _ => Err(bad(format!(
            "pairs must be u32 [p, 2], got {:?} {:?}",
            s.dtype(),
            l.dims()
        ))),
    }
}

impl Mixup {
    /// Output shape and the length of one sample, from the input layouts.
    fn shapes(&self, l1: &Layout, l2: &Layout) -> Result<(Shape, usize)> {
        let (d1, d2) = (l1.dims(), l2.dims());
        if d1.is_empty() || d1[1..] != d2[1..] {
            return Err(bad(format!(
                "mixup inputs must be [N, ...] with equal sample shapes, got {d1:?} and {d2:?}"
            )));
        }
        let mut out = d1.to_vec();
        out[0] = self.idx_a.len();
        Ok((Shape::from(out), d1[1..].iter().product()))
    }
}

impl CustomOp2 for CosineAll {
    fn name(&self) -> &'static str {
        "synface-cosine-all"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (na, d) = dims2(l1, "a")?;
        let (nb, d2) = dims2(l2, "b")?;
        if d != d2 {
            return Err(bad(format!("a has {d} columns, b has {d2}")));
        }
        let out = cpu::cosine_all(f32s(s1, l1, "a")?, f32s(s2, l2, "b")?, d).map_err(err)?;
        Ok((CpuStorage::F32(out), Shape::from((na, nb))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (na, d) = dims2(l1, "a")?;
        let (nb, d2) = dims2(l2, "b")?;
        if d != d2 {
            return Err(bad(format!("a has {d} columns, b has {d2}")));
        }
        let dev = s1.device.clone();
        let f = dev.get_or_load_custom_func(
            "cosine_all_f32",
            "synface_cosine",
            crate::gpu::ptx("cosine.cu").map_err(|e| err(e.into()))?,
        )?;
        let a = s1.as_cuda_slice::<f32>()?.slice(range(l1, "a")?);
        let b = s2.as_cuda_slice::<f32>()?.slice(range(l2, "b")?);
        let mut out = dev.alloc_zeros::<f32>((na * nb).max(1))?;
        let mut ov = out.slice_mut(0..na * nb);
        crate::gpu::launch_cosine_all(&dev.cuda_stream(), &f, &a, &b, d, &mut ov)
            .map_err(|e| err(e.into()))?;
        drop(ov);
        Ok((
            candle_core::CudaStorage::wrap_cuda_slice(out, dev),
            Shape::from((na, nb)),
        ))
    }
}

impl CustomOp2 for CosinePairs {
    fn name(&self) -> &'static str {
        "synface-cosine-pairs"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, d) = dims2(l1, "emb")?;
        let pairs = pair_list(s2, l2)?;
        let out = cpu::cosine_pairs(f32s(s1, l1, "emb")?, d, &pairs).map_err(err)?;
        Ok((CpuStorage::F32(out), Shape::from(pairs.len())))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (n, d) = dims2(l1, "emb")?;
        let (p, two) = dims2(l2, "pairs")?;
        if two != 2 {
            return Err(bad(format!("pairs must be [p, 2], got {:?}", l2.dims())));
        }
        // Indices are checked on the host (one small copy) so a bad index is an error, not a
        // device fault.
        let dev = s1.device.clone();
        let pv = s2.as_cuda_slice::<u32>()?.slice(range(l2, "pairs")?);
        let host = dev.clone_dtoh(&pv)?;
        crate::error::check_indices("pairs", host.iter().copied(), n).map_err(err)?;
        let f = dev.get_or_load_custom_func(
            "cosine_pairs_f32",
            "synface_cosine",
            crate::gpu::ptx("cosine.cu").map_err(|e| err(e.into()))?,
        )?;
        let e = s1.as_cuda_slice::<f32>()?.slice(range(l1, "emb")?);
        let mut out = dev.alloc_zeros::<f32>(p.max(1))?;
        let mut ov = out.slice_mut(0..p);
        crate::gpu::launch_cosine_pairs(&dev.cuda_stream(), &f, &e, d, &pv, &mut ov)
            .map_err(|e| err(e.into()))?;
        drop(ov);
        Ok((
            candle_core::CudaStorage::wrap_cuda_slice(out, dev),
            Shape::from(p),
        ))
    }
}

impl CustomOp1 for L2Normalize {
    fn name(&self) -> &'static str {
        "synface-l2-normalize"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, d) = dims2(l, "x")?;
        let mut v = f32s(s, l, "x")?.to_vec();
        cpu::l2_normalize(&mut v, d).map_err(err)?;
        Ok((CpuStorage::F32(v), Shape::from((n, d))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (n, d) = dims2(l, "x")?;
        let dev = s.device.clone();
        let f = dev.get_or_load_custom_func(
            "l2_normalize_f32",
            "synface_cosine",
            crate::gpu::ptx("cosine.cu").map_err(|e| err(e.into()))?,
        )?;
        let src = s.as_cuda_slice::<f32>()?.slice(range(l, "x")?);
        let mut out = dev.alloc_zeros::<f32>((n * d).max(1))?;
        let stream = dev.cuda_stream();
        let mut ov = out.slice_mut(0..n * d);
        stream
            .memcpy_dtod(&src, &mut ov)
            .map_err(|e| bad(format!("{e:?}")))?;
        crate::gpu::launch_l2_normalize(&stream, &f, &mut ov, d).map_err(|e| err(e.into()))?;
        drop(ov);
        Ok((
            candle_core::CudaStorage::wrap_cuda_slice(out, dev),
            Shape::from((n, d)),
        ))
    }
}

impl CustomOp2 for Mixup {
    fn name(&self) -> &'static str {
        "synface-mixup"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (shape, len) = self.shapes(l1, l2)?;
        let (r1, r2) = (range(l1, "a")?, range(l2, "b")?);
        let out = match (s1, s2) {
            (CpuStorage::U8(a), CpuStorage::U8(b)) => CpuStorage::U8(
                cpu::mixup_u8(&a[r1], &b[r2], &self.idx_a, &self.idx_b, &self.coef, len)
                    .map_err(err)?,
            ),
            (CpuStorage::F32(a), CpuStorage::F32(b)) => CpuStorage::F32(
                cpu::mixup_f32(&a[r1], &b[r2], &self.idx_a, &self.idx_b, &self.coef, len)
                    .map_err(err)?,
            ),
            _ => {
                return Err(bad(format!(
                    "mixup needs two u8 or two f32 tensors, got {:?} and {:?}",
                    s1.dtype(),
                    s2.dtype()
                )))
            }
        };
        Ok((out, shape))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use candle_core::cuda_backend::cudarc::driver::DeviceRepr;
        use candle_core::cuda_backend::CudaDType;
        use candle_core::CudaStorage;

        fn run<
            T: CudaDType + DeviceRepr + candle_core::cuda_backend::cudarc::driver::ValidAsZeroBits,
        >(
            op: &Mixup,
            fname: &str,
            (s1, l1, s2, l2): (&CudaStorage, &Layout, &CudaStorage, &Layout),
            len: usize,
        ) -> Result<CudaStorage> {
            let (r1, r2) = (range(l1, "a")?, range(l2, "b")?);
            crate::cpu::mixup::check_mixup(r1.len(), r2.len(), &op.idx_a, &op.idx_b, &op.coef, len)
                .map_err(err)?;
            let dev = s1.device.clone();
            let f = dev.get_or_load_custom_func(
                fname,
                "synface_mixup",
                crate::gpu::ptx("mixup.cu").map_err(|e| err(e.into()))?,
            )?;
            let (a, b) = (
                s1.as_cuda_slice::<T>()?.slice(r1),
                s2.as_cuda_slice::<T>()?.slice(r2),
            );
            let ia = dev.clone_htod(&op.idx_a)?;
            let ib = dev.clone_htod(&op.idx_b)?;
            let c = dev.clone_htod(&op.coef)?;
            let (iav, ibv, cv) = (ia.as_view(), ib.as_view(), c.as_view());
            let n = op.idx_a.len();
            let args = crate::gpu::MixupArgs {
                a: &a,
                b: &b,
                idx_a: &iav,
                idx_b: &ibv,
                coef: &cv,
                per_sample: op.coef.len() != 1,
                sample_len: len,
                n,
            };
            let mut out = dev.alloc_zeros::<T>((n * len).max(1))?;
            let mut ov = out.slice_mut(0..n * len);
            crate::gpu::launch_mixup(&dev.cuda_stream(), &f, &args, &mut ov)
                .map_err(|e| err(e.into()))?;
            drop(ov);
            Ok(CudaStorage::wrap_cuda_slice(out, dev))
        }

        let (shape, len) = self.shapes(l1, l2)?;
        let st = match (s1.dtype(), s2.dtype()) {
            (candle_core::DType::U8, candle_core::DType::U8) => {
                run::<u8>(self, "mixup_u8", (s1, l1, s2, l2), len)?
            }
            (candle_core::DType::F32, candle_core::DType::F32) => {
                run::<f32>(self, "mixup_f32", (s1, l1, s2, l2), len)?
            }
            (x, y) => {
                return Err(bad(format!(
                    "mixup needs two u8 or two f32 tensors, got {x:?} and {y:?}"
                )))
            }
        };
        Ok((st, shape))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn ops_match_reference() -> Result<()> {
        let dev = Device::Cpu;
        let a = Tensor::new(&[[3f32, 4.0], [0.0, 1.0], [1.0, 1.0]], &dev)?;
        let b = Tensor::new(&[[1f32, 0.0], [0.0, -2.0]], &dev)?;
        let all = cosine_all(&a, &b)?.to_vec2::<f32>()?;
        let want =
            cpu::cosine_all(&[3.0, 4.0, 0.0, 1.0, 1.0, 1.0], &[1.0, 0.0, 0.0, -2.0], 2).unwrap();
        assert_eq!(all.concat(), want);
        let p = Tensor::new(&[[0u32, 1], [2, 2]], &dev)?;
        let c = cosine_pairs(&a, &p)?.to_vec1::<f32>()?;
        assert_eq!(
            c,
            cpu::cosine_pairs(&[3.0, 4.0, 0.0, 1.0, 1.0, 1.0], 2, &[(0, 1), (2, 2)]).unwrap()
        );
        let n = l2_normalize(&a)?.to_vec2::<f32>()?;
        assert_eq!(n[0], vec![0.6, 0.8]);
        let m = Mixup {
            idx_a: vec![1, 0],
            idx_b: vec![0, 0],
            coef: vec![0.5],
        };
        let x = Tensor::new(&[[[2u8, 4]], [[6, 8]]], &dev)?;
        let y = Tensor::new(&[[[0u8, 1]]], &dev)?;
        let r = mixup(&x, &y, &m)?;
        assert_eq!(r.dims(), &[2, 1, 2]);
        assert_eq!(r.flatten_all()?.to_vec1::<u8>()?, vec![3, 5, 1, 3]);
        Ok(())
    }

    #[test]
    fn bad_inputs_are_errors() {
        let dev = Device::Cpu;
        let a = Tensor::new(&[1f32, 2.0], &dev).unwrap();
        assert!(cosine_all(&a, &a).is_err());
        let a2 = Tensor::new(&[[1f32, 2.0]], &dev).unwrap();
        let p = Tensor::new(&[[0u32, 5]], &dev).unwrap();
        assert!(cosine_pairs(&a2, &p).is_err());
        let t = a2.t().unwrap();
        assert!(l2_normalize(&t).is_err() || t.is_contiguous());
        let m = Mixup {
            idx_a: vec![0],
            idx_b: vec![0],
            coef: vec![0.5],
        };
        assert!(mixup(&a2, &a2.to_dtype(candle_core::DType::U8).unwrap(), &m).is_err());
    }
}
