//! Mixup blending of image batches: `out_s = c_s * a[idx_a[s]] + (1 - c_s) * b[idx_b[s]]`,
//! element-wise over one sample (any layout; NHWC in synface), with one coefficient per
//! sample or one for the whole batch.
//!
//! Arithmetic is f32 with no fused multiply-add: `c * x + (1 - c) * y` as two products and a
//! sum, each rounded to nearest. The u8 variant then rounds half away from zero
//! ([`f32::round`], CUDA `roundf`) and clamps to `0..=255`; the CUDA kernels use the same
//! non-contracted operations, so both paths give identical bytes.

use rayon::prelude::*;

use crate::error::{check_indices, rows, KernelError};

/// Validated shape of one mixup call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MixShape {
    /// Output samples.
    pub n: usize,
    pub rows_a: usize,
    pub rows_b: usize,
}

/// Check buffer lengths, indices and coefficients of a mixup call.
pub fn check_mixup(
    len_a: usize,
    len_b: usize,
    idx_a: &[u32],
    idx_b: &[u32],
    coef: &[f32],
    sample_len: usize,
) -> Result<MixShape, KernelError> {
    if sample_len == 0 {
        return Err(KernelError::ZeroDim { what: "sample_len" });
    }
    let rows_a = rows("a", len_a, sample_len)?;
    let rows_b = rows("b", len_b, sample_len)?;
    let n = idx_a.len();
    if idx_b.len() != n {
        return Err(KernelError::Length {
            what: "idx_b",
            expected: n,
            got: idx_b.len(),
        });
    }
    if coef.len() != n && coef.len() != 1 {
        return Err(KernelError::Length {
            what: "coef (per sample, or 1 per batch)",
            expected: n,
            got: coef.len(),
        });
    }
    check_indices("idx_a", idx_a.iter().copied(), rows_a)?;
    check_indices("idx_b", idx_b.iter().copied(), rows_b)?;
    if let Some((at, &value)) = coef
        .iter()
        .enumerate()
        .find(|(_, c)| !(0.0..=1.0).contains(*c))
    {
        return Err(KernelError::Coef { at, value });
    }
    Ok(MixShape { n, rows_a, rows_b })
}

/// The blend of one element (shared by both dtypes; never contracted into an FMA).
#[inline(always)]
pub fn blend(c: f32, x: f32, y: f32) -> f32 {
    c * x + (1.0 - c) * y
}

fn mix<T: Copy + Send + Sync + Default>(
    a: &[T],
    b: &[T],
    idx_a: &[u32],
    idx_b: &[u32],
    coef: &[f32],
    sample_len: usize,
    f: impl Fn(f32, T, T) -> T + Sync,
) -> Result<Vec<T>, KernelError> {
    let shape = check_mixup(a.len(), b.len(), idx_a, idx_b, coef, sample_len)?;
    let mut out = vec![T::default(); shape.n * sample_len];
    out.par_chunks_mut(sample_len)
        .enumerate()
        .for_each(|(s, o)| {
            let c = if coef.len() == 1 { coef[0] } else { coef[s] };
            let xa = &a[idx_a[s] as usize * sample_len..][..sample_len];
            let xb = &b[idx_b[s] as usize * sample_len..][..sample_len];
            for ((o, &x), &y) in o.iter_mut().zip(xa).zip(xb) {
                *o = f(c, x, y);
            }
        });
    Ok(out)
}

/// Blend u8 samples: `round_half_away(c * a + (1 - c) * b)` (see the module doc).
/// `a` is `[rows_a, sample_len]`, `b` `[rows_b, sample_len]`; output `[idx_a.len(), sample_len]`.
pub fn mixup_u8(
    a: &[u8],
    b: &[u8],
    idx_a: &[u32],
    idx_b: &[u32],
    coef: &[f32],
    sample_len: usize,
) -> Result<Vec<u8>, KernelError> {
    mix(a, b, idx_a, idx_b, coef, sample_len, |c, x, y| {
        blend(c, x as f32, y as f32).round().clamp(0.0, 255.0) as u8
    })
}

/// Blend f32 samples: `c * a + (1 - c) * b` (shapes as in [`mixup_u8`]).
pub fn mixup_f32(
    a: &[f32],
    b: &[f32],
    idx_a: &[u32],
    idx_b: &[u32],
    coef: &[f32],
    sample_len: usize,
) -> Result<Vec<f32>, KernelError> {
    mix(a, b, idx_a, idx_b, coef, sample_len, blend)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rounding_is_half_away_from_zero() {
        // 0.5 * 1 + 0.5 * 0 = 0.5 -> 1; 0.5 * 3 + 0.5 * 0 = 1.5 -> 2; 0.5 * 5 = 2.5 -> 3.
        let a = [1u8, 3, 5, 255];
        let b = [0u8, 0, 0, 0];
        assert_eq!(
            mixup_u8(&a, &b, &[0], &[0], &[0.5], 4).unwrap(),
            vec![1, 2, 3, 128]
        );
        assert_eq!(mixup_u8(&a, &b, &[0], &[0], &[1.0], 4).unwrap(), a.to_vec());
        assert_eq!(mixup_u8(&a, &b, &[0], &[0], &[0.0], 4).unwrap(), b.to_vec());
    }

    #[test]
    fn shape_errors() {
        let a = [0u8; 6];
        assert!(matches!(
            mixup_u8(&a, &a, &[0], &[0], &[0.5], 4),
            Err(KernelError::NotMultiple { .. })
        ));
        assert!(matches!(
            mixup_u8(&a, &a, &[0, 1], &[0], &[0.5], 3),
            Err(KernelError::Length { .. })
        ));
        assert!(matches!(
            mixup_u8(&a, &a, &[0, 2], &[0, 1], &[0.5], 3),
            Err(KernelError::Index { index: 2, .. })
        ));
        assert!(matches!(
            mixup_u8(&a, &a, &[0], &[0], &[1.5], 3),
            Err(KernelError::Coef { .. })
        ));
        assert!(matches!(
            mixup_u8(&a, &a, &[0], &[0], &[f32::NAN], 3),
            Err(KernelError::Coef { .. })
        ));
        assert!(matches!(
            mixup_u8(&a, &a, &[0, 1], &[0, 1], &[0.5, 0.5, 0.5], 3),
            Err(KernelError::Length { .. })
        ));
        assert!(matches!(
            mixup_f32(&[0.0; 4], &[0.0; 4], &[0], &[0], &[0.5], 0),
            Err(KernelError::ZeroDim { .. })
        ));
    }

    proptest! {
        #[test]
        fn matches_naive(
            sample_len in 1usize..40,
            rows_a in 1usize..5,
            rows_b in 1usize..5,
            picks in proptest::collection::vec((any::<u32>(), any::<u32>(), 0u32..=1000), 1..12),
            per_batch in any::<bool>(),
            seed in any::<u8>(),
        ) {
            let a: Vec<u8> = (0..rows_a * sample_len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
            let b: Vec<u8> = (0..rows_b * sample_len).map(|i| (i as u8).wrapping_mul(57) ^ seed).collect();
            let ia: Vec<u32> = picks.iter().map(|p| p.0 % rows_a as u32).collect();
            let ib: Vec<u32> = picks.iter().map(|p| p.1 % rows_b as u32).collect();
            let coef: Vec<f32> = if per_batch { vec![picks[0].2 as f32 / 1000.0] } else { picks.iter().map(|p| p.2 as f32 / 1000.0).collect() };
            let out = mixup_u8(&a, &b, &ia, &ib, &coef, sample_len).unwrap();
            let af: Vec<f32> = a.iter().map(|&v| v as f32).collect();
            let bf: Vec<f32> = b.iter().map(|&v| v as f32).collect();
            let outf = mixup_f32(&af, &bf, &ia, &ib, &coef, sample_len).unwrap();
            for s in 0..ia.len() {
                let c = coef[if per_batch { 0 } else { s }] as f64;
                for k in 0..sample_len {
                    let x = a[ia[s] as usize * sample_len + k] as f64;
                    let y = b[ib[s] as usize * sample_len + k] as f64;
                    let exact = c * x + (1.0 - c) * y;
                    let got = out[s * sample_len + k] as f64;
                    // Within rounding of the exact blend, and exactly the f32 path rounded.
                    prop_assert!((got - exact).abs() <= 0.5 + 1e-3);
                    prop_assert_eq!(got as f32, outf[s * sample_len + k].round());
                    prop_assert!((outf[s * sample_len + k] as f64 - exact).abs() < 1e-3);
                }
            }
        }
    }
}
