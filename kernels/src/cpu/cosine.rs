//! Cosine similarity on the CPU: over index pairs of one embedding matrix, and tiled
//! all-against-all between two matrices with the L2 normalisation fused into the epilogue
//! (`cos = (a.b) / |a| / |b|`, no normalised copies are made).
//!
//! Both functions use the same dot-product order ([`super::simd`]), so
//! `cosine_pairs(e, d, &[(i, j)])[0]` is bit-identical to `cosine_all(e, e, d)[i * n + j]`.

use rayon::prelude::*;

use super::simd::{dot3, dot_block, inv_norm, sum_sq};
use crate::error::{check_indices, rows, KernelError};

/// Pairs per rayon task.
const PAIR_CHUNK: usize = 512;
/// Rows of `a` per rayon task in [`cosine_all`].
const ROW_BLOCK: usize = 16;

/// Cosine similarity of rows `i` and `j` of `emb` (`[n, dim]`) for every `(i, j)` in `pairs`.
/// A zero row has similarity 0 with everything.
pub fn cosine_pairs(
    emb: &[f32],
    dim: usize,
    pairs: &[(u32, u32)],
) -> Result<Vec<f32>, KernelError> {
    let n = rows("emb", emb.len(), dim)?;
    check_indices("pairs.0", pairs.iter().map(|p| p.0), n)?;
    check_indices("pairs.1", pairs.iter().map(|p| p.1), n)?;
    let mut out = vec![0f32; pairs.len()];
    out.par_chunks_mut(PAIR_CHUNK)
        .zip(pairs.par_chunks(PAIR_CHUNK))
        .for_each(|(o, p)| {
            for (o, &(i, j)) in o.iter_mut().zip(p) {
                let a = &emb[i as usize * dim..][..dim];
                let b = &emb[j as usize * dim..][..dim];
                let [aa, bb, ab] = dot3(a, b);
                *o = ab * inv_norm(aa) * inv_norm(bb);
            }
        });
    Ok(out)
}

/// Inverse L2 norms of the rows of `x` (`[n, dim]`), 0 for zero rows.
pub fn inv_norms(x: &[f32], dim: usize) -> Result<Vec<f32>, KernelError> {
    rows("x", x.len(), dim)?;
    Ok(x.par_chunks(dim).map(|r| inv_norm(sum_sq(r))).collect())
}

/// All-against-all cosine similarity: `out[i * nb + j] = cos(a_i, b_j)` for `a` `[na, dim]`
/// and `b` `[nb, dim]` (row-major). Rows need not be normalised.
pub fn cosine_all(a: &[f32], b: &[f32], dim: usize) -> Result<Vec<f32>, KernelError> {
    rows("a", a.len(), dim)?;
    let nb = rows("b", b.len(), dim)?;
    let inv_a = inv_norms(a, dim)?;
    let inv_b = inv_norms(b, dim)?;
    let mut out = vec![0f32; inv_a.len() * nb];
    if nb == 0 {
        return Ok(out);
    }
    out.par_chunks_mut(ROW_BLOCK * nb)
        .zip(a.par_chunks(ROW_BLOCK * dim))
        .zip(inv_a.par_chunks(ROW_BLOCK))
        .for_each(|((o, a_blk), ia)| {
            dot_block(a_blk, b, dim, o);
            for (orow, &sa) in o.chunks_exact_mut(nb).zip(ia) {
                for (v, &sb) in orow.iter_mut().zip(&inv_b) {
                    *v = *v * sa * sb;
                }
            }
        });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive_cos(a: &[f32], b: &[f32]) -> f64 {
        let d = |x: &[f32], y: &[f32]| {
            x.iter()
                .zip(y)
                .map(|(p, q)| *p as f64 * *q as f64)
                .sum::<f64>()
        };
        let (aa, bb) = (d(a, a), d(b, b));
        if aa == 0.0 || bb == 0.0 {
            0.0
        } else {
            d(a, b) / aa.sqrt() / bb.sqrt()
        }
    }

    fn data(n: usize, seed: u64) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u64 + 7).wrapping_mul(seed | 1) >> 37) % 4001) as f32 / 2000.0 - 1.0)
            .collect()
    }

    #[test]
    fn hand_cases_and_errors() {
        let e = vec![1.0, 0.0, 0.0, 2.0, -3.0, 0.0, 0.0, 0.0];
        assert_eq!(
            cosine_pairs(&e, 2, &[(0, 1), (0, 2), (0, 0), (3, 0)]).unwrap(),
            vec![0.0, -1.0, 1.0, 0.0]
        );
        assert!(matches!(
            cosine_pairs(&e, 2, &[(0, 4)]),
            Err(KernelError::Index { index: 4, .. })
        ));
        assert!(matches!(
            cosine_pairs(&e, 3, &[]),
            Err(KernelError::NotMultiple { .. })
        ));
        assert!(matches!(
            cosine_all(&e, &e[..3], 2),
            Err(KernelError::NotMultiple { what: "b", .. })
        ));
        assert_eq!(cosine_all(&e, &[], 2).unwrap(), Vec::<f32>::new());
    }

    proptest! {
        #[test]
        fn all_matches_naive_and_pairs(dim in 1usize..80, na in 1usize..24, nb in 1usize..40, seed in any::<u64>()) {
            let a = data(na * dim, seed);
            let b = data(nb * dim, seed ^ 0x9e37);
            let all = cosine_all(&a, &b, dim).unwrap();
            for i in 0..na {
                for j in 0..nb {
                    let want = naive_cos(&a[i * dim..][..dim], &b[j * dim..][..dim]);
                    prop_assert!((all[i * nb + j] as f64 - want).abs() < 1e-5);
                }
            }
            // Pairs over the stacked matrix agree bit for bit with the all-vs-all entries.
            let stacked: Vec<f32> = a.iter().chain(&b).copied().collect();
            let pairs: Vec<(u32, u32)> = (0..na * nb).map(|k| ((k / nb) as u32, (na + k % nb) as u32)).collect();
            let p = cosine_pairs(&stacked, dim, &pairs).unwrap();
            for (k, v) in p.iter().enumerate() {
                prop_assert_eq!(v.to_bits(), all[k].to_bits());
            }
        }
    }

    #[test]
    fn thread_count_does_not_change_bits() {
        let (dim, n) = (33, 150);
        let e = data(n * dim, 11);
        let pairs: Vec<(u32, u32)> = (0..2000u32)
            .map(|k| (k % n as u32, (k * 7 + 3) % n as u32))
            .collect();
        let run = |t: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap();
            pool.install(|| {
                (
                    cosine_all(&e, &e, dim).unwrap(),
                    cosine_pairs(&e, dim, &pairs).unwrap(),
                )
            })
        };
        assert_eq!(run(1), run(3));
    }
}
