//! Row-wise L2 normalisation of a row-major `[n, dim]` f32 buffer.

use rayon::prelude::*;

use super::simd::{inv_norm, sum_sq};
use crate::error::{rows, KernelError};

/// Rows per rayon task.
const CHUNK_ROWS: usize = 64;

/// Scale every row of `x` (`[n, dim]`, row-major) to unit L2 norm in place.
/// A zero row stays zero.
pub fn l2_normalize(x: &mut [f32], dim: usize) -> Result<(), KernelError> {
    rows("x", x.len(), dim)?;
    x.par_chunks_mut(dim * CHUNK_ROWS).for_each(|chunk| {
        for row in chunk.chunks_exact_mut(dim) {
            let s = inv_norm(sum_sq(row));
            row.iter_mut().for_each(|v| *v *= s);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn unit_rows_and_zero_rows() {
        let mut x = vec![3.0, 4.0, 0.0, 0.0, -1.0, 0.0];
        l2_normalize(&mut x, 2).unwrap();
        assert_eq!(x, vec![0.6, 0.8, 0.0, 0.0, -1.0, 0.0]);
        assert!(matches!(
            l2_normalize(&mut x, 4),
            Err(KernelError::NotMultiple { .. })
        ));
        assert!(matches!(
            l2_normalize(&mut x, 0),
            Err(KernelError::ZeroDim { .. })
        ));
    }

    proptest! {
        #[test]
        fn matches_naive(dim in 1usize..70, n in 0usize..20, seed in any::<u64>()) {
            let mut x: Vec<f32> = (0..n * dim)
                .map(|i| (((i as u64 + 1).wrapping_mul(seed | 1) >> 40) % 2001) as f32 / 1000.0 - 1.0)
                .collect();
            let orig = x.clone();
            l2_normalize(&mut x, dim).unwrap();
            for r in 0..n {
                let row = &orig[r * dim..(r + 1) * dim];
                let norm = row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
                for k in 0..dim {
                    let want = if norm > 0.0 { row[k] as f64 / norm } else { 0.0 };
                    prop_assert!((x[r * dim + k] as f64 - want).abs() < 1e-5);
                }
            }
        }
    }
}
