//! Network input: u8 NHWC images -> f32 NCHW, bilinearly resized to the model's square input
//! size when needed, optionally mirrored, normalised as `(x - 127.5) / 128`.

use candle_core::{Device, Tensor};

use super::{NnError, Result};
use crate::pixels::bilerp;

/// Normalise one pixel value.
#[inline]
fn norm(v: f32) -> f32 {
    (v - 127.5) / 128.0
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

/// Normalised `[n, 3, size, size]` host buffer of the selected images (`flips[i]` mirrors
/// image `i` of the selection).
pub fn batch_chw(
    images: &[u8],
    h: usize,
    w: usize,
    rows: &[usize],
    flips: &[bool],
    size: usize,
) -> Result<Vec<f32>> {
    let len = h * w * 3;
    if h == 0 || w == 0 || size == 0 {
        return Err(NnError::Input(format!(
            "empty image size {h}x{w} -> {size}"
        )));
    }
    let n_images = images.len() / len;
    if !images.len().is_multiple_of(len) || rows.iter().any(|&r| r >= n_images) {
        return Err(NnError::Input(format!(
            "{} image bytes do not hold rows {rows:?} of {h}x{w}x3",
            images.len()
        )));
    }
    let plane = 3 * size * size;
    let mut out = vec![0f32; rows.len() * plane];
    for (i, (&r, chunk)) in rows.iter().zip(out.chunks_exact_mut(plane)).enumerate() {
        let flip = flips.get(i).copied().unwrap_or(false);
        image_to_chw(&images[r * len..(r + 1) * len], h, w, size, flip, chunk);
    }
    Ok(out)
}

/// `psi * a + (1 - psi) * b`, elementwise in place on `a` (domain mixup of normalised pixels,
/// equal to normalising the blended pixels since normalisation is affine).
pub fn blend_into(a: &mut [f32], b: &[f32], psi: f32) {
    for (x, &y) in a.iter_mut().zip(b) {
        *x = psi * *x + (1.0 - psi) * y;
    }
}

/// Host buffer -> `[n, 3, size, size]` tensor on `device`.
pub fn to_tensor(buf: Vec<f32>, size: usize, device: &Device) -> Result<Tensor> {
    let n = buf.len() / (3 * size * size);
    Ok(Tensor::from_vec(buf, (n, 3, size, size), device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_flips_and_resizes() {
        // 1x2 image: left pixel black, right white.
        let img = [0u8, 0, 0, 255, 255, 255];
        let mut out = [0f32; 3 * 2];
        // Not square, so resampled to 2x2: rows repeat, columns keep their values.
        let mut sq = vec![0f32; 3 * 4];
        image_to_chw(&img, 1, 2, 2, false, &mut sq);
        assert_eq!(&sq[..4], &[norm(0.0), norm(255.0), norm(0.0), norm(255.0)]);
        image_to_chw(&img, 1, 2, 2, true, &mut sq);
        assert_eq!(&sq[..2], &[norm(255.0), norm(0.0)]);
        // Downsampling 2x2 -> 1x1 averages.
        let img4 = [0u8, 0, 0, 100, 100, 100, 100, 100, 100, 200, 200, 200];
        image_to_chw(&img4, 2, 2, 1, false, &mut out[..3]);
        assert!((out[0] - norm(100.0)).abs() < 1e-6);
        let b = batch_chw(&img4, 2, 2, &[0, 0], &[false, true], 2).unwrap();
        assert_eq!(b.len(), 2 * 12);
        assert_eq!(b[0], b[12 + 1]);
        assert!(batch_chw(&img4, 2, 2, &[1], &[], 2).is_err());
        let mut a = vec![1.0f32, 0.0];
        blend_into(&mut a, &[0.0, 1.0], 0.25);
        assert_eq!(a, vec![0.25, 0.75]);
    }
}
