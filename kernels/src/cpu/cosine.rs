//! Cosine similarity on the CPU: over index pairs of one embedding matrix, and all-against-all
//! between two matrices as a register-tiled `A·Bᵀ` ([`super::matmul`]) with the L2
//! normalisation fused into the epilogue (`cos = (a.b) * (1/|a|) * (1/|b|)`, no normalised
//! copies are made; the GEMM packs `b` once, a temporary the size of `b`).
//!
//! The two functions sum the dot products in different orders: `cosine_pairs` in the
//! 16-lane order of [`super::simd`], `cosine_all` as one multiply-add chain per element (the
//! order a GEMM microkernel can use). So `cosine_pairs(e, d, &[(i, j)])[0]` and
//! `cosine_all(e, e, d)[i * n + j]` agree to about 1e-6, not bit for bit; both are within
//! 1e-5 of an f64 reference. Each is deterministic: its bits do not depend on the rayon
//! thread count or on how the work is blocked.

use rayon::prelude::*;

use super::matmul::abt_scaled;
use super::simd::{dot3, inv_norm, sum_sq};
use crate::error::{check_indices, rows, KernelError};

/// Pairs per rayon task.
const PAIR_CHUNK: usize = 512;

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
    abt_scaled(a, b, dim, &inv_a, &inv_b, &mut out);
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

    #[test]
    fn zero_rows_are_zero_in_all() {
        let e = vec![1.0, 0.0, 0.0, 2.0, -3.0, 0.0, 0.0, 0.0];
        let all = cosine_all(&e, &e, 2).unwrap();
        for k in 0..4 {
            assert_eq!(all[k * 4 + 3], 0.0);
            assert_eq!(all[3 * 4 + k], 0.0);
        }
        assert_eq!(&all[..3], &[1.0, 0.0, -1.0]);
    }

    /// `x` and `y` agree to 1e-5, relative or absolute (whichever is looser).
    fn close(x: f64, y: f64) -> bool {
        (x - y).abs() <= 1e-5 * y.abs().max(1.0)
    }

    proptest! {
        #[test]
        fn all_and_pairs_match_naive(dim in 1usize..80, na in 1usize..110, nb in 1usize..70, seed in any::<u64>()) {
            let a = data(na * dim, seed);
            let b = data(nb * dim, seed ^ 0x9e37);
            let all = cosine_all(&a, &b, dim).unwrap();
            // Pairs over the stacked matrix: different summation order, same values to 1e-5.
            let stacked: Vec<f32> = a.iter().chain(&b).copied().collect();
            let pairs: Vec<(u32, u32)> = (0..na * nb).map(|k| ((k / nb) as u32, (na + k % nb) as u32)).collect();
            let p = cosine_pairs(&stacked, dim, &pairs).unwrap();
            for i in 0..na {
                for j in 0..nb {
                    let want = naive_cos(&a[i * dim..][..dim], &b[j * dim..][..dim]);
                    let (x, y) = (all[i * nb + j] as f64, p[i * nb + j] as f64);
                    prop_assert!(close(x, want), "all[{i},{j}] = {x} vs {want}");
                    prop_assert!(close(y, want), "pairs[{i},{j}] = {y} vs {want}");
                    prop_assert!(close(y, x), "pairs[{i},{j}] = {y} vs all {x}");
                }
            }
        }
    }

    /// Bits of `cosine_all(a, b)` and of `cosine_pairs(a, pairs)` under a `t`-thread pool.
    fn bits_with_threads(
        t: usize,
        a: &[f32],
        b: &[f32],
        dim: usize,
        pairs: &[(u32, u32)],
    ) -> (Vec<u32>, Vec<u32>) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap();
        let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
        pool.install(|| {
            (
                bits(cosine_all(a, b, dim).unwrap()),
                bits(cosine_pairs(a, dim, pairs).unwrap()),
            )
        })
    }

    #[test]
    fn thread_count_does_not_change_bits() {
        // Small, and large enough for several row blocks, column blocks and partial tiles.
        for (dim, na, nb) in [(33, 150, 150), (512, 300, 300), (512, 300, 45)] {
            let (a, b) = (data(na * dim, 11), data(nb * dim, 12));
            let pairs: Vec<(u32, u32)> = (0..2000u32)
                .map(|k| (k % na as u32, (k * 7 + 3) % na as u32))
                .collect();
            let one = bits_with_threads(1, &a, &b, dim, &pairs);
            for t in [2, 3] {
                assert!(
                    one == bits_with_threads(t, &a, &b, dim, &pairs),
                    "{t} threads, {na}x{nb}x{dim}"
                );
            }
        }
    }
}
