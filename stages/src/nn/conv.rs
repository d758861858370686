//! A CPU convolution as per-image im2col + GEMM, with a backward made of GEMMs and a col2im
//! scatter.
//!
//! candle 0.11's CPU conv2d backward computes the input gradient with a direct
//! `conv_transpose2d` loop (one short dot product per output pixel, kernel tap and channel)
//! and the kernel gradient with a convolution whose "kernel" is the whole gradient map; both
//! are far slower than the forward pass for the small channel counts of CPU face models.
//! [`conv2d`] is a [`CustomOp2`] `(x, weight)`: the forward and both gradients run image by
//! image in parallel (im2col into a per-image buffer, then one GEMM), and the weight gradient
//! sums per-image partials in image order, so results do not depend on the thread count.
//! Other devices and dtypes use candle's conv2d.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Geometry of a square convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geom {
    k: usize,
    stride: usize,
    padding: usize,
}

impl Geom {
    fn out(&self, side: usize) -> usize {
        (side + 2 * self.padding - self.k) / self.stride + 1
    }
}

/// The f32 values of a contiguous CPU tensor (the custom ops' inputs).
pub(crate) fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("synface's CPU ops need contiguous inputs"),
    }
}

/// Images whose weight-gradient partials are held at once.
const WGRAD_BLOCK: usize = 8;

/// `dst[m x n] (+)= a[m x k] * b[k x n]` with explicit row/column strides (f32, one thread).
#[allow(clippy::too_many_arguments)]
fn mm(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    accumulate: bool,
    a: &[f32],
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
) {
    assert!(dst.len() >= m * n, "gemm destination too small");
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        k == 0 || a.len() > (m - 1) * a_rs + (k - 1) * a_cs,
        "gemm lhs too small"
    );
    assert!(
        k == 0 || b.len() > (k - 1) * b_rs + (n - 1) * b_cs,
        "gemm rhs too small"
    );
    // SAFETY: the asserts above bound every index gemm reads or writes; slices do not alias.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// `[rows, cols]` row-major -> `[cols, rows]` row-major, in 8 x 8 tiles.
fn transpose(src: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * cols];
    for r0 in (0..rows).step_by(8) {
        for c0 in (0..cols).step_by(8) {
            for r in r0..(r0 + 8).min(rows) {
                for c in c0..(c0 + 8).min(cols) {
                    out[c * rows + r] = src[r * cols + c];
                }
            }
        }
    }
    out
}

/// Valid output columns `[lo, hi)` for kernel column `kx`: those whose input column
/// `ox * stride + kx - padding` lies in `[0, w)`.
fn valid_range(wo: usize, w: usize, g: Geom, kx: usize) -> (usize, usize) {
    let lo = g.padding.saturating_sub(kx).div_ceil(g.stride);
    // ox * stride + kx - padding <= w - 1  <=>  ox <= (w - 1 + padding - kx) / stride
    let hi = match (w + g.padding).checked_sub(kx + 1) {
        Some(v) => (v / g.stride + 1).min(wo),
        None => 0,
    };
    (lo.min(hi), hi)
}

/// One image `[C, H, W]` -> columns `[C*k*k, Ho*Wo]` (rows ordered channel, ky, kx like the
/// weights; each row is a contiguous output map).
fn im2col(img: &[f32], (c, h, w): (usize, usize, usize), g: Geom, cols: &mut [f32]) {
    let Geom { k, stride, padding } = g;
    let (ho, wo) = (g.out(h), g.out(w));
    for ci in 0..c {
        for ky in 0..k {
            for kx in 0..k {
                let row = &mut cols[((ci * k + ky) * k + kx) * ho * wo..][..ho * wo];
                let (lo, hi) = valid_range(wo, w, g, kx);
                for oy in 0..ho {
                    let dst = &mut row[oy * wo..(oy + 1) * wo];
                    let iy = (oy * stride + ky) as isize - padding as isize;
                    if iy < 0 || iy as usize >= h {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &img[(ci * h + iy as usize) * w..][..w];
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    if stride == 1 && lo < hi {
                        let off = lo + kx - padding;
                        dst[lo..hi].copy_from_slice(&src[off..off + hi - lo]);
                        continue;
                    }
                    for (ox, d) in dst.iter_mut().enumerate().take(hi).skip(lo) {
                        *d = src[ox * stride + kx - padding];
                    }
                }
            }
        }
    }
}

/// Columns `[C*k*k, Ho*Wo]` scattered (summed) back into one image `[C, H, W]`.
fn col2im(cols: &[f32], (c, h, w): (usize, usize, usize), g: Geom, img: &mut [f32]) {
    let Geom { k, stride, padding } = g;
    let (ho, wo) = (g.out(h), g.out(w));
    for ci in 0..c {
        for ky in 0..k {
            for kx in 0..k {
                let row = &cols[((ci * k + ky) * k + kx) * ho * wo..][..ho * wo];
                let (lo, hi) = valid_range(wo, w, g, kx);
                for oy in 0..ho {
                    let iy = (oy * stride + ky) as isize - padding as isize;
                    if iy < 0 || iy as usize >= h {
                        continue;
                    }
                    let dst = &mut img[(ci * h + iy as usize) * w..][..w];
                    let src = &row[oy * wo..(oy + 1) * wo];
                    if stride == 1 && lo < hi {
                        let off = lo + kx - padding;
                        for (d, v) in dst[off..off + hi - lo].iter_mut().zip(&src[lo..hi]) {
                            *d += v;
                        }
                        continue;
                    }
                    for (ox, v) in src.iter().enumerate().take(hi).skip(lo) {
                        dst[ox * stride + kx - padding] += v;
                    }
                }
            }
        }
    }
}

/// Which of the three products an op computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// `(x [B,C,H,W], w [O,C,k,k])` -> `y [B,O,Ho,Wo]`.
    Forward,
    /// `(dy [B,O,Ho,Wo], w)` -> `dx [B,C,H,W]`.
    InputGrad,
    /// `(x, dy)` -> `dw [O,C,k,k]`.
    WeightGrad,
}

/// The convolution (and its gradients) as a custom op.
#[derive(Debug, Clone, Copy)]
struct ConvOp {
    g: Geom,
    pass: Pass,
    /// Input image shape `(C, H, W)` (needed by the input gradient).
    chw: (usize, usize, usize),
    /// Output channels (needed by the weight gradient).
    o: usize,
}

impl CustomOp2 for ConvOp {
    fn name(&self) -> &'static str {
        "synface-conv2d"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (a, b) = (f32_slice(s1, l1)?, f32_slice(s2, l2)?);
        let (c, h, w) = self.chw;
        let g = self.g;
        let (ho, wo) = (g.out(h), g.out(w));
        let (l, kk, o) = (ho * wo, c * g.k * g.k, self.o);
        let bsz = l1.shape().dims()[0];
        match self.pass {
            Pass::Forward => {
                let mut y = vec![0f32; bsz * o * l];
                y.par_chunks_mut(o * l).enumerate().for_each(|(i, yi)| {
                    let mut cols = vec![0f32; l * kk];
                    im2col(
                        &a[i * c * h * w..(i + 1) * c * h * w],
                        self.chw,
                        g,
                        &mut cols,
                    );
                    // y_i [O, L] = W [O, K] * cols [K, L]
                    mm((o, l, kk), yi, false, b, (kk, 1), &cols, (l, 1));
                });
                Ok((CpuStorage::F32(y), Shape::from((bsz, o, ho, wo))))
            }
            Pass::InputGrad => {
                let mut dx = vec![0f32; bsz * c * h * w];
                dx.par_chunks_mut(c * h * w)
                    .enumerate()
                    .for_each(|(i, dxi)| {
                        let mut cols = vec![0f32; l * kk];
                        // dcols [K, L] = W^T [K, O] * dy_i [O, L]
                        let dyi = &a[i * o * l..(i + 1) * o * l];
                        mm((kk, l, o), &mut cols, false, b, (1, kk), dyi, (l, 1));
                        col2im(&cols, self.chw, g, dxi);
                    });
                Ok((CpuStorage::F32(dx), Shape::from((bsz, c, h, w))))
            }
            Pass::WeightGrad => {
                // dW^T [K, O] summed over images in image order, transposed at the end
                let mut dwt = vec![0f32; kk * o];
                let images: Vec<usize> = (0..bsz).collect();
                for block in images.chunks(WGRAD_BLOCK) {
                    let partials: Vec<Vec<f32>> = block
                        .par_iter()
                        .map(|&i| {
                            let mut cols = vec![0f32; l * kk];
                            im2col(
                                &a[i * c * h * w..(i + 1) * c * h * w],
                                self.chw,
                                g,
                                &mut cols,
                            );
                            // Both operands have the output position as their contiguous
                            // axis; gemm packs the transposed one fast only when it is the
                            // small one, so dy_i is transposed here: dyt [L, O].
                            let dyt = transpose(&b[i * o * l..(i + 1) * o * l], o, l);
                            // dW_i^T [K, O] = cols [K, L] * dyt [L, O]
                            let mut p = vec![0f32; kk * o];
                            mm((kk, o, l), &mut p, false, &cols, (l, 1), &dyt, (o, 1));
                            p
                        })
                        .collect();
                    for p in &partials {
                        dwt.iter_mut().zip(p).for_each(|(d, v)| *d += v);
                    }
                }
                let dw = transpose(&dwt, kk, o);
                Ok((CpuStorage::F32(dw), Shape::from((o, c, g.k, g.k))))
            }
        }
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let dx = dy.apply_op2_no_bwd(
            w,
            &ConvOp {
                pass: Pass::InputGrad,
                ..*self
            },
        )?;
        let dw = x.apply_op2_no_bwd(
            &dy,
            &ConvOp {
                pass: Pass::WeightGrad,
                ..*self
            },
        )?;
        Ok((Some(dx), Some(dw)))
    }
}

/// `x` `[B, C, H, W]` convolved with `weight` `[O, C, k, k]` (no groups, no dilation): the
/// custom op on the CPU (f32), candle's conv2d elsewhere.
pub fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    padding: usize,
    stride: usize,
) -> candle_core::Result<Tensor> {
    let (o, c, k, k2) = weight.dims4()?;
    let (_, xc, h, w) = x.dims4()?;
    let cpu_f32 = x.device().is_cpu() && x.dtype() == candle_core::DType::F32;
    if !cpu_f32 || k != k2 || xc != c || h + 2 * padding < k || w + 2 * padding < k || stride == 0 {
        return x.conv2d(weight, padding, stride, 1, 1);
    }
    let op = ConvOp {
        g: Geom { k, stride, padding },
        pass: Pass::Forward,
        chw: (c, h, w),
        o,
    };
    x.contiguous()?.apply_op2(&weight.contiguous()?, op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    use crate::nn::max_abs_diff as close;

    #[test]
    fn matches_candle_conv_and_its_gradients() {
        for (k, stride, padding, side) in [(3, 1, 1, 7), (3, 2, 1, 8), (1, 2, 0, 6), (1, 1, 0, 5)] {
            let dev = Device::Cpu;
            let x = Var::randn(0f32, 1.0, (2, 3, side, side), &dev).unwrap();
            let w = Var::randn(0f32, 1.0, (4, 3, k, k), &dev).unwrap();
            let ours = conv2d(x.as_tensor(), w.as_tensor(), padding, stride).unwrap();
            let theirs = x
                .as_tensor()
                .conv2d(w.as_tensor(), padding, stride, 1, 1)
                .unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            assert!(close(&ours, &theirs) < 1e-4);
            // Weighted sums give non-trivial output gradients.
            let r = Tensor::randn(0f32, 1.0, ours.dims(), &dev).unwrap();
            let g1 = (ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (theirs * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in [x.as_tensor(), w.as_tensor()] {
                let (a, b) = (g1.get(v).unwrap(), g2.get(v).unwrap());
                assert!(close(a, b) < 1e-3, "k{k} s{stride}: {}", close(a, b));
            }
        }
    }
}
