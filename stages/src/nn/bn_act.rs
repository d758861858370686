//! Training-mode batch norm with an optional channel-wise PReLU after it, fused into one candle
//! op on the CPU and on CUDA (`synface_kernels::gpu::bn_act_forward_cuda`,
//! `kernels/src/cu/bn_act.cu`).
//!
//! candle-nn 0.11's `BatchNorm::forward_train` builds about six full-size tensors (a transposed
//! copy, the centred input, its square, the normalised, scaled and shifted maps, the result
//! transposed back) and the composite PReLU of [`super::layers::PRelu`] four more; autograd keeps
//! them until the backward pass, so training held about three times JAX's memory per image of
//! the batch (`bench/train`). [`BnAct`] is one [`CustomOp2`] `(x, params)` whose forward writes
//! only its output and whose backward recomputes what it needs from `x` and the per-channel
//! statistics the forward kept. Per-channel sums run in f64 in a fixed order (images, then
//! positions), so results do not depend on the thread count. On CUDA the same formulas run as
//! two kernels each way (sums in double, a fixed reduction order, not the CPU's bits).
//! Evaluation, other devices and dtypes use candle's batch norm and the composite PReLU, which
//! compute the same function.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Module, ModuleT, Shape, Tensor, Var};
use candle_nn::BatchNorm;
use rayon::prelude::*;

use super::conv::f32_slice;
use super::layers::{PRelu, BN_EPS, BN_MOMENTUM};
use super::Result;

/// Batch norm (candle-nn's parameters and running statistics) and an optional PReLU.
#[derive(Debug, Clone)]
pub struct BnAct {
    bn: BatchNorm,
    act: Option<PRelu>,
    running_mean: Var,
    running_var: Var,
}

impl BnAct {
    /// Wrap `bn` (affine, built by [`super::layers::batch_norm`]) and an optional `act`.
    pub fn new(bn: BatchNorm, act: Option<PRelu>) -> Result<Self> {
        Ok(BnAct {
            running_mean: Var::from_tensor(bn.running_mean())?,
            running_var: Var::from_tensor(bn.running_var())?,
            bn,
            act,
        })
    }

    /// The composite path (candle's batch norm, then the composite PReLU).
    fn composite(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let y = self.bn.forward_t(x, train)?;
        match &self.act {
            Some(a) => a.forward(&y),
            None => Ok(y),
        }
    }

    /// The packed parameters `[gamma; beta(; alpha)]`, `[2 or 3, C]`.
    fn params(&self) -> candle_core::Result<Tensor> {
        let Some((w, b)) = self.bn.weight_and_bias() else {
            candle_core::bail!("the fused batch norm needs an affine batch norm")
        };
        match &self.act {
            Some(a) => Tensor::stack(&[w, b, a.weight()], 0),
            None => Tensor::stack(&[w, b], 0),
        }
    }

    /// Fold one batch's statistics into the running ones, as candle-nn does (the variance
    /// unbiased over the `m` values of a channel).
    fn update_running(&self, stats: &Stats, m: usize) -> candle_core::Result<()> {
        let dev = self.running_mean.device();
        let mean = Tensor::new(stats.mean.as_slice(), dev)?;
        let var = Tensor::new(stats.var.as_slice(), dev)?;
        let keep = 1.0 - BN_MOMENTUM;
        let rm = ((self.running_mean.as_detached_tensor() * keep)? + (mean * BN_MOMENTUM)?)?;
        let unbiased = BN_MOMENTUM * m as f64 / (m as f64 - 1.0).max(1.0);
        let rv = ((self.running_var.as_detached_tensor() * keep)? + (var * unbiased)?)?;
        self.running_mean.set(&rm)?;
        self.running_var.set(&rv)
    }
}

impl ModuleT for BnAct {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        // CPU and CUDA run the fused op (`cuda_fwd` below), other devices the composite.
        let fused_device = x.device().is_cpu() || x.device().is_cuda();
        if !train || !fused_device || x.dtype() != candle_core::DType::F32 || x.rank() < 2 {
            return self.composite(x, train);
        }
        let stats = Arc::new(Mutex::new(Stats::default()));
        let op = BnActOp {
            eps: BN_EPS as f32,
            stats: stats.clone(),
        };
        let y = x.contiguous()?.apply_op2(&self.params()?, op)?;
        let m = x.elem_count() / x.dim(1)?;
        let stats = stats.lock().unwrap_or_else(|p| p.into_inner());
        self.update_running(&stats, m)?;
        Ok(y)
    }
}

/// Per-channel statistics of one forward pass (biased variance).
#[derive(Debug, Default, Clone)]
struct Stats {
    mean: Vec<f32>,
    var: Vec<f32>,
    invstd: Vec<f32>,
}

/// `(n, c, s)` of a `[N, C, ...]` layout: images, channels, positions per channel.
fn ncs(l: &Layout) -> (usize, usize, usize) {
    let d = l.shape().dims();
    (d[0], d[1], d[2..].iter().product())
}

/// Sum of `f(a[i], b[i])` as eight f32 lanes (lane `j` takes the indices `j mod 8`, then the
/// lanes are added in order, the tail last), returned as f64: vectorisable, and the same bits
/// at any thread count.
#[inline(always)]
fn lane_sum<const K: usize>(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> [f32; K]) -> [f64; K] {
    let mut lanes = [[0f32; 8]; K];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (xa, xb) in ca.zip(cb) {
        for j in 0..8 {
            let v = f(xa[j], xb[j]);
            for k in 0..K {
                lanes[k][j] += v[k];
            }
        }
    }
    let mut out = [0f64; K];
    for k in 0..K {
        out[k] = lanes[k].iter().map(|&v| v as f64).sum::<f64>();
    }
    for (&xa, &xb) in ra.iter().zip(rb) {
        let v = f(xa, xb);
        for k in 0..K {
            out[k] += v[k] as f64;
        }
    }
    out
}

/// Mean and biased variance of every channel (two passes; f32 lanes within an image's row,
/// f64 across images, a fixed order).
fn channel_stats(x: &[f32], (n, c, s): (usize, usize, usize), eps: f32) -> Stats {
    let m = (n * s).max(1) as f64;
    let per: Vec<(f32, f32)> = (0..c)
        .into_par_iter()
        .map(|ch| {
            let row = |i: usize| &x[(i * c + ch) * s..(i * c + ch + 1) * s];
            let sum: f64 = (0..n)
                .map(|i| lane_sum(row(i), row(i), |v, _| [v])[0])
                .sum();
            let mean = (sum / m) as f32;
            let sq: f64 = (0..n)
                .map(|i| lane_sum(row(i), row(i), |v, _| [(v - mean) * (v - mean)])[0])
                .sum();
            (mean, (sq / m) as f32)
        })
        .collect();
    Stats {
        invstd: per.iter().map(|p| 1.0 / (p.1 + eps).sqrt()).collect(),
        mean: per.iter().map(|p| p.0).collect(),
        var: per.into_iter().map(|p| p.1).collect(),
    }
}

/// One channel's affine and activation: `z = (x - mean) * invstd * gamma + beta`, then PReLU.
#[derive(Clone, Copy)]
struct Chan {
    mean: f32,
    invstd: f32,
    gamma: f32,
    beta: f32,
    alpha: Option<f32>,
}

impl Chan {
    fn of(stats: &Stats, p: &[f32], k: usize, c: usize, ch: usize) -> Chan {
        Chan {
            mean: stats.mean[ch],
            invstd: stats.invstd[ch],
            gamma: p[ch],
            beta: p[c + ch],
            alpha: (k == 3).then(|| p[2 * c + ch]),
        }
    }
    #[inline]
    fn xhat(&self, x: f32) -> f32 {
        (x - self.mean) * self.invstd
    }
    /// (pre-activation, activation slope at it).
    #[inline]
    fn z(&self, xhat: f32) -> (f32, f32) {
        let z = xhat * self.gamma + self.beta;
        match self.alpha {
            Some(a) if z < 0.0 => (z, a),
            _ => (z, 1.0),
        }
    }
}

/// The fused forward: statistics, normalisation, affine, PReLU.
struct BnActOp {
    eps: f32,
    stats: Arc<Mutex<Stats>>,
}

impl CustomOp2 for BnActOp {
    fn name(&self) -> &'static str {
        "synface-bn-act"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, p) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        let (n, c, s) = ncs(l1);
        let k = l2.shape().dims()[0];
        let stats = channel_stats(x, (n, c, s), self.eps);
        let chans: Vec<Chan> = (0..c).map(|ch| Chan::of(&stats, p, k, c, ch)).collect();
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut((c * s).max(1))
            .zip(x.par_chunks((c * s).max(1)))
            .for_each(|(yi, xi)| {
                for (ch, q) in chans.iter().enumerate() {
                    let range = ch * s..(ch + 1) * s;
                    for (yv, &xv) in yi[range.clone()].iter_mut().zip(&xi[range]) {
                        let (z, slope) = q.z(q.xhat(xv));
                        *yv = z * slope;
                    }
                }
            });
        *self.stats.lock().unwrap_or_else(|p| p.into_inner()) = stats;
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let (y, st) = synface_kernels::gpu::bn_act_forward_cuda((s1, l1), (s2, l2), self.eps)?;
        let c = ncs(l1).1;
        *self.stats.lock().unwrap_or_else(|p| p.into_inner()) = Stats {
            mean: st[..c].to_vec(),
            var: st[c..2 * c].to_vec(),
            invstd: st[2 * c..].to_vec(),
        };
        Ok((y, l1.shape().clone()))
    }
    fn bwd(
        &self,
        x: &Tensor,
        p: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let packed = x.apply_op3_no_bwd(p, &dy.contiguous()?, &BnActGrad { stats })?;
        let nx = x.elem_count();
        let dx = packed.narrow(0, 0, nx)?.reshape(x.shape())?;
        let dp = packed.narrow(0, nx, p.elem_count())?.reshape(p.shape())?;
        Ok((Some(dx), Some(dp)))
    }
}

/// The fused backward `(x, params, dy) -> [dx; dgamma; dbeta(; dalpha)]` (one flat tensor).
struct BnActGrad {
    stats: Stats,
}

impl BnActGrad {
    /// `(dgamma, dbeta, dalpha)` of channel `ch` ([`lane_sum`] per image, f64 across images).
    fn sums(
        &self,
        x: &[f32],
        dy: &[f32],
        q: Chan,
        (n, c, s): (usize, usize, usize),
        ch: usize,
    ) -> [f64; 3] {
        let mut acc = [0f64; 3];
        for i in 0..n {
            let at = (i * c + ch) * s;
            let (xr, gr) = (&x[at..at + s], &dy[at..at + s]);
            let part = lane_sum(xr, gr, |xv, g| {
                let xh = q.xhat(xv);
                let (z, slope) = q.z(xh);
                let gz = g * slope;
                let neg = if slope != 1.0 { g * z } else { 0.0 };
                [gz * xh, gz, neg]
            });
            for k in 0..3 {
                acc[k] += part[k];
            }
        }
        acc
    }
}

impl CustomOp3 for BnActGrad {
    fn name(&self) -> &'static str {
        "synface-bn-act-grad"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, p, dy) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?, f32_slice(s3, l3)?);
        let dims = ncs(l1);
        let (_, c, s) = dims;
        let k = l2.shape().dims()[0];
        let m = (x.len() / c.max(1)).max(1) as f64;
        let chans: Vec<Chan> = (0..c)
            .map(|ch| Chan::of(&self.stats, p, k, c, ch))
            .collect();
        let sums: Vec<[f64; 3]> = (0..c)
            .into_par_iter()
            .map(|ch| self.sums(x, dy, chans[ch], dims, ch))
            .collect();
        let mut out = vec![0f32; x.len() + k * c];
        let (dx, dp) = out.split_at_mut(x.len());
        dx.par_chunks_mut((c * s).max(1))
            .zip(
                x.par_chunks((c * s).max(1))
                    .zip(dy.par_chunks((c * s).max(1))),
            )
            .for_each(|(dxi, (xi, dyi))| {
                for (ch, q) in chans.iter().enumerate() {
                    let coef = q.gamma * q.invstd;
                    let (mg, mb) = ((sums[ch][0] / m) as f32, (sums[ch][1] / m) as f32);
                    let r = ch * s..(ch + 1) * s;
                    for ((d, &xv), &g) in dxi[r.clone()].iter_mut().zip(&xi[r.clone()]).zip(&dyi[r])
                    {
                        let xh = q.xhat(xv);
                        let gz = g * q.z(xh).1;
                        *d = coef * (gz - mb - xh * mg);
                    }
                }
            });
        for (ch, sm) in sums.iter().enumerate() {
            dp[ch] = sm[0] as f32;
            dp[c + ch] = sm[1] as f32;
            if k == 3 {
                dp[2 * c + ch] = sm[2] as f32;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from(x.len() + k * c)))
    }
    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let st = &self.stats;
        let stats = [st.mean.as_slice(), &st.var, &st.invstd].concat();
        let out = synface_kernels::gpu::bn_act_backward_cuda((s1, l1), (s2, l2), (s3, l3), &stats)?;
        let len = l1.shape().elem_count() + l2.shape().elem_count();
        Ok((out, Shape::from(len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::layers::batch_norm;
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};

    /// A BN (+ PReLU) with non-trivial parameters, built twice over equal var maps.
    fn unit(shape: &[usize], act: bool) -> (VarMap, BnAct) {
        unit_on(shape, act, &Device::Cpu)
    }

    /// [`unit`] with its variables on `dev`.
    fn unit_on(shape: &[usize], act: bool, dev: &Device) -> (VarMap, BnAct) {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, dev);
        let c = shape[1];
        let bn = batch_norm(vb.pp("bn"), c).unwrap();
        let prelu = act.then(|| PRelu::new(vb.pp("prelu"), c).unwrap());
        for (name, var) in crate::nn::layers::sorted_vars(&vm) {
            if name.ends_with("running_var") {
                continue;
            }
            let v: Vec<f32> = (0..c)
                .map(|i| 0.3 + 0.17 * ((i * 7 + name.len()) % 5) as f32)
                .collect();
            var.set(&Tensor::new(v.as_slice(), dev).unwrap()).unwrap();
        }
        (vm.clone(), BnAct::new(bn, prelu).unwrap())
    }

    fn input(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// `a` (on any device) against `b` (on the CPU).
    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        crate::nn::max_abs_diff(&a.to_device(&Device::Cpu).unwrap(), b)
    }

    /// Forward, gradients of x and every parameter, and running statistics of the fused op
    /// against candle's batch norm and the composite PReLU.
    fn check(shape: &[usize], act: bool) {
        check_on(&Device::Cpu, shape, act)
    }

    /// [`check`] with the fused op on `dev` (the composite reference on the CPU).
    fn check_on(dev: &Device, shape: &[usize], act: bool) {
        let (vm_f, fused) = unit_on(shape, act, dev);
        let (vm_c, comp) = unit(shape, act);
        let xc = Var::from_tensor(&input(shape)).unwrap();
        let x = Var::from_tensor(&input(shape).to_device(dev).unwrap()).unwrap();
        let w = input(shape).sin().unwrap();
        let yf = fused.forward_t(&x, true).unwrap();
        let yc = comp.composite(&xc, true).unwrap();
        assert!(max_diff(&yf, &yc) < 1e-4, "forward {shape:?} {act}");
        let wf = w.to_device(dev).unwrap();
        let gf = (yf * &wf).unwrap().sum_all().unwrap().backward().unwrap();
        let gc = (yc * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let dxf = gf.get(&x).unwrap();
        assert!(
            max_diff(dxf, gc.get(&xc).unwrap()) < 1e-3,
            "dx {shape:?} {act}"
        );
        let (vf, vc) = (
            crate::nn::layers::sorted_vars(&vm_f),
            crate::nn::layers::sorted_vars(&vm_c),
        );
        for ((name, a), (_, b)) in vf.iter().zip(&vc) {
            if crate::nn::layers::is_buffer(name) {
                assert!(max_diff(a.as_tensor(), b.as_tensor()) < 1e-4, "{name}");
            } else {
                let (ga, gb) = (gf.get(a).unwrap(), gc.get(b).unwrap());
                assert!(max_diff(ga, gb) < 1e-2, "grad {name} {shape:?} {act}");
            }
        }
    }

    #[test]
    fn fused_bn_prelu_matches_candle_batch_norm_and_composite_prelu() {
        check(&[4, 3, 5, 6], true);
        check(&[4, 3, 5, 6], false);
        check(&[6, 5], false);
    }

    /// The fused op's CUDA kernels (`kernels/src/cu/bn_act.cu`) against the same reference,
    /// on the first CUDA device (skipped without one: `scripts/gpu-check.sh` runs it).
    #[cfg(feature = "cuda")]
    #[test]
    fn cuda_fused_bn_prelu_matches_candle_batch_norm_and_composite_prelu() {
        let Ok(dev) = Device::new_cuda(0) else {
            eprintln!("skipped: no CUDA device");
            return;
        };
        println!("running on {dev:?}");
        check_on(&dev, &[4, 3, 5, 6], true);
        check_on(&dev, &[4, 3, 5, 6], false);
        check_on(&dev, &[6, 5], false);
        check_on(&dev, &[8, 16, 14, 14], true);
        println!("fused bn+prelu on CUDA: forward, gradients and running statistics match");
    }

    #[test]
    fn fused_bn_gives_the_same_bits_at_one_and_three_threads() {
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let (vm, f) = unit(&[5, 4, 7, 3], true);
                let x = Var::from_tensor(&input(&[5, 4, 7, 3])).unwrap();
                let y = f.forward_t(&x, true).unwrap();
                let g = (&y * &y).unwrap().sum_all().unwrap().backward().unwrap();
                let mut bits: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
                bits.extend(
                    g.get(&x)
                        .unwrap()
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap(),
                );
                for (_, v) in crate::nn::layers::sorted_vars(&vm) {
                    bits.extend(v.flatten_all().unwrap().to_vec1::<f32>().unwrap());
                    if let Some(gv) = g.get(&v) {
                        bits.extend(gv.flatten_all().unwrap().to_vec1::<f32>().unwrap());
                    }
                }
                bits.iter().map(|v| v.to_bits()).collect::<Vec<u32>>()
            })
        };
        assert_eq!(run(1), run(3));
    }

    #[test]
    fn fused_bn_eval_uses_running_statistics() {
        let (_, fused) = unit(&[2, 3, 2, 2], true);
        let x = input(&[2, 3, 2, 2]);
        let a = fused.forward_t(&x, false).unwrap();
        let b = fused.composite(&x, false).unwrap();
        assert_eq!(crate::nn::max_abs_diff(&a, &b), 0.0);
    }
}
