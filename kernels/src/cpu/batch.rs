//! The training batch op, CPU reference of `cu/batch.cu`: gather a batch's u8 HWC images by
//! index, mirror the flipped ones, resize bilinearly to the network's square input (pixel
//! centres aligned, edges clamped), normalise as `(x - 127.5) / 128` into f32 NCHW, and, for
//! domain mixup, blend each with its real partner: `psi * x_syn + (1 - psi) * x_real`, both
//! normalised first (normalisation is affine, so this is the normalised pixel blend).
//!
//! Every output element is computed from its own inputs in one fixed order of f32 operations,
//! written out below without fused multiply-add; the CUDA kernel spells the same operations
//! with explicitly rounded intrinsics. Training on the CPU calls this function
//! (`stages/src/nn/input.rs`), so CPU results are unchanged by where the op lives.

use crate::error::{check_indices, KernelError};

/// A set of equally sized u8 RGB images, row-major HWC, one after another.
#[derive(Debug, Clone, Copy)]
pub struct Images<'a> {
    pub pixels: &'a [u8],
    pub h: usize,
    pub w: usize,
}

impl Images<'_> {
    fn len(&self) -> usize {
        self.h * self.w * 3
    }
    /// Number of images, or why the buffer is not a whole number of them.
    pub fn count(&self, what: &'static str) -> Result<usize, KernelError> {
        if self.h == 0 || self.w == 0 {
            return Err(KernelError::ZeroDim { what });
        }
        crate::error::rows(what, self.pixels.len(), self.len())
    }
    fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * self.len()..(i + 1) * self.len()]
    }
}

/// Domain mixup of a batch: each sample's real partner and the batch's weight `psi` of the
/// synthetic image.
#[derive(Debug, Clone, Copy)]
pub struct DomainMix<'a> {
    /// Real images, the same size as the synthetic ones.
    pub real: Images<'a>,
    /// One real image index per sample.
    pub partners: &'a [u32],
    pub psi: f32,
}

/// One batch: which synthetic images, which mirrored, at which network input side.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    pub rows: &'a [u32],
    /// Per sample (missing entries: not mirrored).
    pub flips: &'a [bool],
    pub size: usize,
}

/// Normalise one pixel value.
#[inline]
pub fn norm(v: f32) -> f32 {
    (v - 127.5) / 128.0
}

/// Bilinear blend of four samples at fractions `fx` (from `p00` to `p10`) and `fy` (from the
/// top pair to the bottom pair), in this fixed order of operations.
#[inline]
pub fn bilerp(p00: f32, p10: f32, p01: f32, p11: f32, fx: f32, fy: f32) -> f32 {
    let top = p00 * (1.0 - fx) + p10 * fx;
    let bot = p01 * (1.0 - fx) + p11 * fx;
    top * (1.0 - fy) + bot * fy
}

/// Check a batch against its images; the number of samples.
pub fn check_batch(
    syn: &Images,
    batch: &Batch,
    mix: Option<&DomainMix>,
) -> Result<usize, KernelError> {
    let n_syn = syn.count("synthetic images")?;
    let mix = match mix {
        Some(m) => {
            let n_real = m.real.count("real images")?;
            if (m.real.h, m.real.w) != (syn.h, syn.w) {
                return Err(KernelError::Length {
                    what: "real image bytes (same size as the synthetic ones)",
                    expected: syn.len(),
                    got: m.real.len(),
                });
            }
            Some((m.partners, m.psi, n_real))
        }
        None => None,
    };
    check_selection(batch, n_syn, mix)
}

/// The checks of [`check_batch`] that need only the image counts: `n_syn` synthetic images and,
/// for domain mixup, `(partners, psi, n_real)`. Also used where the images are device tensors
/// ([`crate::BatchOp`]).
pub(crate) fn check_selection(
    batch: &Batch,
    n_syn: usize,
    mix: Option<(&[u32], f32, usize)>,
) -> Result<usize, KernelError> {
    if batch.size == 0 {
        return Err(KernelError::ZeroDim { what: "size" });
    }
    check_indices("rows", batch.rows.iter().copied(), n_syn)?;
    if let Some((partners, psi, n_real)) = mix {
        if partners.len() != batch.rows.len() {
            return Err(KernelError::Length {
                what: "partners",
                expected: batch.rows.len(),
                got: partners.len(),
            });
        }
        check_indices("partners", partners.iter().copied(), n_real)?;
        if !(0.0..=1.0).contains(&psi) {
            return Err(KernelError::Coef { at: 0, value: psi });
        }
    }
    Ok(batch.rows.len())
}

/// The batch as normalised f32 `[n, 3, size, size]` (see the module docs).
pub fn batch_input(
    syn: &Images,
    batch: &Batch,
    mix: Option<&DomainMix>,
) -> Result<Vec<f32>, KernelError> {
    let n = check_batch(syn, batch, mix)?;
    let plane = 3 * batch.size * batch.size;
    let mut out = vec![0f32; n * plane];
    let mut partner = vec![0f32; if mix.is_some() { plane } else { 0 }];
    for (i, chunk) in out.chunks_exact_mut(plane).enumerate() {
        let flip = batch.flips.get(i).copied().unwrap_or(false);
        let img = syn.image(batch.rows[i] as usize);
        image_to_chw(img, syn.h, syn.w, batch.size, flip, chunk);
        if let Some(m) = mix {
            let real = m.real.image(m.partners[i] as usize);
            image_to_chw(real, syn.h, syn.w, batch.size, flip, &mut partner);
            for (x, &y) in chunk.iter_mut().zip(&partner) {
                *x = m.psi * *x + (1.0 - m.psi) * y;
            }
        }
    }
    Ok(out)
}

/// Write one `h`x`w` RGB image as `3 x size x size` normalised planes into `out`
/// (bilinear resampling, pixel centres aligned; mirrored horizontally when `flip`).
pub fn image_to_chw(img: &[u8], h: usize, w: usize, size: usize, flip: bool, out: &mut [f32]) {
    let plane = size * size;
    debug_assert_eq!(img.len(), h * w * 3);
    debug_assert_eq!(out.len(), 3 * plane);
    if h == size && w == size {
        for y in 0..size {
            for x in 0..size {
                let sx = if flip { size - 1 - x } else { x };
                let p = (y * w + sx) * 3;
                for c in 0..3 {
                    out[c * plane + y * size + x] = norm(f32::from(img[p + c]));
                }
            }
        }
        return;
    }
    let (sy, sx) = (h as f32 / size as f32, w as f32 / size as f32);
    for y in 0..size {
        let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (h - 1) as f32);
        let y0 = fy.floor() as usize;
        let y1 = (y0 + 1).min(h - 1);
        let ty = fy - y0 as f32;
        for x in 0..size {
            let ox = if flip { size - 1 - x } else { x };
            let fx = ((ox as f32 + 0.5) * sx - 0.5).clamp(0.0, (w - 1) as f32);
            let x0 = fx.floor() as usize;
            let x1 = (x0 + 1).min(w - 1);
            let tx = fx - x0 as f32;
            for c in 0..3 {
                let at = |yy: usize, xx: usize| f32::from(img[(yy * w + xx) * 3 + c]);
                let v = bilerp(at(y0, x0), at(y0, x1), at(y1, x0), at(y1, x1), tx, ty);
                out[c * plane + y * size + x] = norm(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMG4: [u8; 12] = [0, 0, 0, 100, 100, 100, 100, 100, 100, 200, 200, 200];

    #[test]
    fn normalises_flips_and_resizes() {
        // 1x2 image: left pixel black, right white; resampled to 2x2 rows repeat.
        let img = [0u8, 0, 0, 255, 255, 255];
        let mut sq = vec![0f32; 3 * 4];
        image_to_chw(&img, 1, 2, 2, false, &mut sq);
        assert_eq!(&sq[..4], &[norm(0.0), norm(255.0), norm(0.0), norm(255.0)]);
        image_to_chw(&img, 1, 2, 2, true, &mut sq);
        assert_eq!(&sq[..2], &[norm(255.0), norm(0.0)]);
        // Downsampling 2x2 -> 1x1 averages.
        let mut one = [0f32; 3];
        image_to_chw(&IMG4, 2, 2, 1, false, &mut one);
        assert!((one[0] - norm(100.0)).abs() < 1e-6);
    }

    #[test]
    fn batch_gathers_flips_and_mixes_with_partners() {
        let syn = Images {
            pixels: &IMG4,
            h: 2,
            w: 2,
        };
        let b = Batch {
            rows: &[0, 0],
            flips: &[false, true],
            size: 2,
        };
        let x = batch_input(&syn, &b, None).unwrap();
        assert_eq!(x.len(), 2 * 12);
        assert_eq!(x[0], x[12 + 1], "the second sample is mirrored");
        let white = [255u8; 12];
        let mix = DomainMix {
            real: Images {
                pixels: &white,
                h: 2,
                w: 2,
            },
            partners: &[0, 0],
            psi: 0.25,
        };
        let m = batch_input(&syn, &b, Some(&mix)).unwrap();
        let want = 0.25 * norm(0.0) + 0.75 * norm(255.0);
        assert_eq!(m[0], want);
        assert_eq!(bilerp(1.0, 2.0, 3.0, 4.0, 0.5, 0.5), 2.5);
    }

    #[test]
    fn bad_batches_are_errors_not_panics() {
        let syn = Images {
            pixels: &IMG4,
            h: 2,
            w: 2,
        };
        let b = |rows: &'static [u32]| Batch {
            rows,
            flips: &[],
            size: 2,
        };
        assert!(matches!(
            batch_input(&syn, &b(&[1]), None),
            Err(KernelError::Index { .. })
        ));
        let short = Images {
            pixels: &IMG4[..11],
            ..syn
        };
        assert!(batch_input(&short, &b(&[0]), None).is_err());
        let mix = DomainMix {
            real: syn,
            partners: &[],
            psi: 0.5,
        };
        assert!(batch_input(&syn, &b(&[0]), Some(&mix)).is_err());
        let mix = DomainMix {
            partners: &[0],
            psi: 1.5,
            ..mix
        };
        assert!(matches!(
            batch_input(&syn, &b(&[0]), Some(&mix)),
            Err(KernelError::Coef { .. })
        ));
    }
}
