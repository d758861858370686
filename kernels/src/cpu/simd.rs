//! Portable SIMD-friendly dot-product kernels with a fixed summation order.
//!
//! Every dot product accumulates in [`LANES`] independent partial sums (lane `l` takes the
//! elements `k` with `k % LANES == l` in increasing `k`), reduces them with a fixed pairwise
//! tree, then adds the tail elements in order. The order is the same on every code path
//! (AVX-512, AVX2 and scalar), so a result never depends on thread count or blocking; paths
//! with FMA round the multiply-adds once instead of twice (documented: on a machine without
//! FMA the low bits can differ from a machine with it).
//!
//! The inner loops are plain array code that LLVM vectorises inside `#[target_feature]`
//! wrappers chosen once at run time.

use std::sync::OnceLock;

/// Number of partial sums per dot product (one AVX-512 register, two AVX2 registers).
pub const LANES: usize = 16;

/// Instruction-set level picked once per process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Avx512,
    Avx2Fma,
    Scalar,
}

/// The best level this CPU supports.
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Level {
    if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma")
    {
        Level::Avx512
    } else if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        Level::Avx2Fma
    } else {
        Level::Scalar
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Level {
    Level::Scalar
}

#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
fn lanes_madd<const FMA: bool>(acc: &mut [f32; LANES], a: &[f32; LANES], b: &[f32; LANES]) {
    for l in 0..LANES {
        acc[l] = madd::<FMA>(a[l], b[l], acc[l]);
    }
}

/// The `LANES` elements of `x` starting at `k` (in bounds: `k + LANES <= x.len()`).
#[inline(always)]
fn lanes(x: &[f32], k: usize) -> &[f32; LANES] {
    x[k..k + LANES].try_into().expect("a LANES-long subslice")
}

/// Fixed pairwise reduction of the lanes.
#[inline(always)]
fn hsum(acc: &[f32; LANES]) -> f32 {
    let mut v = *acc;
    let mut w = LANES / 2;
    while w > 0 {
        for l in 0..w {
            v[l] += v[l + w];
        }
        w /= 2;
    }
    v[0]
}

/// Dot products of `MR` rows of `a` with `NR` rows of `b` (all of equal length), sharing loads.
#[inline(always)]
fn micro<const MR: usize, const NR: usize, const FMA: bool>(
    a: [&[f32]; MR],
    b: [&[f32]; NR],
) -> [[f32; NR]; MR] {
    let dim = a[0].len();
    let full = dim / LANES * LANES;
    let mut acc = [[[0f32; LANES]; NR]; MR];
    let mut k = 0;
    while k < full {
        let bv: [&[f32; LANES]; NR] = std::array::from_fn(|j| lanes(b[j], k));
        for i in 0..MR {
            let av = lanes(a[i], k);
            for j in 0..NR {
                lanes_madd::<FMA>(&mut acc[i][j], av, bv[j]);
            }
        }
        k += LANES;
    }
    let mut out = [[0f32; NR]; MR];
    for i in 0..MR {
        for j in 0..NR {
            let mut s = hsum(&acc[i][j]);
            for k in full..dim {
                s = madd::<FMA>(a[i][k], b[j][k], s);
            }
            out[i][j] = s;
        }
    }
    out
}

#[inline(always)]
fn row(m: &[f32], dim: usize, r: usize) -> &[f32] {
    &m[r * dim..(r + 1) * dim]
}

/// `out[r * nb + c] = a_r . b_c` for every row `r` of `a` and `c` of `b` (row-major, `dim`
/// columns each), blocked over columns of `b` so a block stays in L2. `mk` computes an
/// `MR x NR` tile and `one` a single dot product, in the same order.
#[inline(always)]
fn block_with<const MR: usize, const NR: usize>(
    a: &[f32],
    b: &[f32],
    dim: usize,
    out: &mut [f32],
    mk: impl Fn([&[f32]; MR], [&[f32]; NR]) -> [[f32; NR]; MR],
    one: impl Fn(&[f32], &[f32]) -> f32,
) {
    const NB: usize = 128;
    let na = a.len() / dim;
    let nb = b.len() / dim;
    for j0 in (0..nb).step_by(NB) {
        let j1 = (j0 + NB).min(nb);
        let mut i = 0;
        while i < na {
            if i + MR <= na {
                let ar: [&[f32]; MR] = std::array::from_fn(|t| row(a, dim, i + t));
                let mut j = j0;
                while j + NR <= j1 {
                    let br: [&[f32]; NR] = std::array::from_fn(|t| row(b, dim, j + t));
                    let r = mk(ar, br);
                    for (t, rr) in r.iter().enumerate() {
                        out[(i + t) * nb + j..(i + t) * nb + j + NR].copy_from_slice(rr);
                    }
                    j += NR;
                }
                for jj in j..j1 {
                    for (t, ai) in ar.iter().enumerate() {
                        out[(i + t) * nb + jj] = one(ai, row(b, dim, jj));
                    }
                }
                i += MR;
            } else {
                for jj in j0..j1 {
                    out[i * nb + jj] = one(row(a, dim, i), row(b, dim, jj));
                }
                i += 1;
            }
        }
    }
}

#[inline(always)]
fn block<const MR: usize, const NR: usize, const FMA: bool>(
    a: &[f32],
    b: &[f32],
    dim: usize,
    out: &mut [f32],
) {
    block_with::<MR, NR>(a, b, dim, out, micro::<MR, NR, FMA>, |x, y| {
        micro::<1, 1, FMA>([x], [y])[0][0]
    })
}

/// [`micro`] with explicit AVX-512 registers (one register = the [`LANES`] partial sums), so
/// the result is bit-identical to the portable FMA path. All slices must have equal length.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn micro_avx512<const MR: usize, const NR: usize>(
    a: [&[f32]; MR],
    b: [&[f32]; NR],
) -> [[f32; NR]; MR] {
    use std::arch::x86_64::{
        __m512, __m512i, _mm512_add_ps, _mm512_cvtss_f32, _mm512_fmadd_ps, _mm512_loadu_ps,
        _mm512_loadu_si512, _mm512_permutexvar_ps, _mm512_setzero_ps,
    };
    let dim = a[0].len();
    assert!(a.iter().all(|x| x.len() == dim) && b.iter().all(|x| x.len() == dim));
    let full = dim / LANES * LANES;
    let mut acc: [[__m512; NR]; MR] = [[_mm512_setzero_ps(); NR]; MR];
    let mut bv: [__m512; NR] = [_mm512_setzero_ps(); NR];
    let mut k = 0;
    while k < full {
        for j in 0..NR {
            // SAFETY: k + LANES <= full <= b[j].len().
            bv[j] = unsafe { _mm512_loadu_ps(b[j].as_ptr().add(k)) };
        }
        for i in 0..MR {
            // SAFETY: k + LANES <= full <= a[i].len().
            let av = unsafe { _mm512_loadu_ps(a[i].as_ptr().add(k)) };
            for j in 0..NR {
                acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
            }
        }
        k += LANES;
    }
    let mut out = [[0f32; NR]; MR];
    // The pairwise tree of `hsum`, lane-parallel: lane l += lane l + w for w = 8, 4, 2, 1.
    let shift: [__m512i; 4] = [8, 4, 2, 1].map(|w: i32| {
        let idx: [i32; LANES] = std::array::from_fn(|l| (l as i32 + w) & (LANES as i32 - 1));
        // SAFETY: `idx` holds LANES i32s.
        unsafe { _mm512_loadu_si512(idx.as_ptr().cast()) }
    });
    for i in 0..MR {
        for j in 0..NR {
            let mut v = acc[i][j];
            for sh in shift {
                v = _mm512_add_ps(v, _mm512_permutexvar_ps(sh, v));
            }
            let mut s = _mm512_cvtss_f32(v);
            for k in full..dim {
                s = a[i][k].mul_add(b[j][k], s);
            }
            out[i][j] = s;
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn block_avx512(a: &[f32], b: &[f32], dim: usize, out: &mut [f32]) {
    #[allow(unused_unsafe)]
    // SAFETY: this function only runs where avx512f and fma were detected.
    block_with::<4, 4>(
        a,
        b,
        dim,
        out,
        |x, y| unsafe { micro_avx512::<4, 4>(x, y) },
        |x, y| unsafe { micro_avx512::<1, 1>([x], [y])[0][0] },
    )
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn block_avx2(a: &[f32], b: &[f32], dim: usize, out: &mut [f32]) {
    block::<2, 2, true>(a, b, dim, out)
}

/// All dot products between the rows of `a` and of `b` into `out` (`[rows(a), rows(b)]`).
/// Lengths must already be checked by the caller.
pub fn dot_block(a: &[f32], b: &[f32], dim: usize, out: &mut [f32]) {
    debug_assert_eq!(out.len(), (a.len() / dim) * (b.len() / dim));
    match level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `level()` returned Avx512 only after detecting avx512f and fma.
        Level::Avx512 => unsafe { block_avx512(a, b, dim, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `level()` returned Avx2Fma only after detecting avx2 and fma.
        Level::Avx2Fma => unsafe { block_avx2(a, b, dim, out) },
        _ => block::<2, 2, false>(a, b, dim, out),
    }
}

#[inline(always)]
fn dot3_generic<const FMA: bool>(a: &[f32], b: &[f32]) -> [f32; 3] {
    let r = micro::<2, 2, FMA>([a, b], [a, b]);
    [r[0][0], r[1][1], r[0][1]]
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn dot3_avx512(a: &[f32], b: &[f32]) -> [f32; 3] {
    let r = micro_avx512::<2, 2>([a, b], [a, b]);
    [r[0][0], r[1][1], r[0][1]]
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot3_avx2(a: &[f32], b: &[f32]) -> [f32; 3] {
    dot3_generic::<true>(a, b)
}

/// `[a.a, b.b, a.b]` in the same summation order as [`dot_block`] (equal-length slices).
pub fn dot3(a: &[f32], b: &[f32]) -> [f32; 3] {
    match level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: feature presence checked by `level()`.
        Level::Avx512 => unsafe { dot3_avx512(a, b) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: feature presence checked by `level()`.
        Level::Avx2Fma => unsafe { dot3_avx2(a, b) },
        _ => dot3_generic::<false>(a, b),
    }
}

/// `a.a` in the same summation order as [`dot_block`].
pub fn sum_sq(a: &[f32]) -> f32 {
    let mut out = [0f32];
    dot_block(a, a, a.len().max(1), &mut out);
    out[0]
}

/// `1 / |x|` from the squared norm, 0 for a zero vector (so zero rows stay zero).
#[inline]
pub fn inv_norm(ss: f32) -> f32 {
    if ss > 0.0 {
        1.0 / ss.sqrt()
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    #[test]
    fn block_matches_naive_and_is_blocking_independent() {
        let dim = 37;
        let (na, nb) = (7, 131);
        let a: Vec<f32> = (0..na * dim)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let b: Vec<f32> = (0..nb * dim)
            .map(|i| ((i * 104729) % 97) as f32 / 48.0 - 1.0)
            .collect();
        let mut out = vec![0f32; na * nb];
        dot_block(&a, &b, dim, &mut out);
        for i in 0..na {
            for j in 0..nb {
                let (ar, br) = (&a[i * dim..][..dim], &b[j * dim..][..dim]);
                let want = naive_dot(ar, br);
                assert!((out[i * nb + j] as f64 - want).abs() < 1e-4, "{i},{j}");
                // One row at a time gives bit-identical results.
                let mut one = [0f32];
                dot_block(ar, br, dim, &mut one);
                assert_eq!(one[0].to_bits(), out[i * nb + j].to_bits());
                let d3 = dot3(ar, br);
                assert_eq!(d3[2].to_bits(), out[i * nb + j].to_bits());
                assert_eq!(d3[0].to_bits(), sum_sq(ar).to_bits());
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_kernel_is_bit_identical_to_the_portable_fma_path() {
        if level() != Level::Avx512 {
            println!("skipped: no AVX-512 on this CPU");
            return;
        }
        for dim in [1, 15, 16, 33, 512] {
            let v: Vec<f32> = (0..8 * dim)
                .map(|i| ((i * 7919) % 211) as f32 / 97.0 - 1.1)
                .collect();
            let r: Vec<&[f32]> = v.chunks(dim).collect();
            // SAFETY: AVX-512 and FMA were detected above.
            let fast =
                unsafe { micro_avx512::<4, 4>([r[0], r[1], r[2], r[3]], [r[4], r[5], r[6], r[7]]) };
            let slow = micro::<4, 4, true>([r[0], r[1], r[2], r[3]], [r[4], r[5], r[6], r[7]]);
            for (x, y) in fast.iter().flatten().zip(slow.iter().flatten()) {
                assert_eq!(x.to_bits(), y.to_bits(), "dim {dim}");
            }
        }
    }

    #[test]
    fn hsum_is_pairwise() {
        let acc: [f32; LANES] = std::array::from_fn(|i| i as f32);
        assert_eq!(hsum(&acc), (0..LANES).sum::<usize>() as f32);
        assert_eq!(inv_norm(0.0), 0.0);
        assert_eq!(inv_norm(4.0), 0.5);
    }
}
