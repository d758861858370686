//! Register-tiled `A·Bᵀ` with per-row/per-column scaling fused into the epilogue, for
//! [`super::cosine::cosine_all`].
//!
//! Every output element is one fused multiply-add chain over `k = 0, 1, ..., dim - 1` in
//! increasing order, started from `+0.0`, then scaled as `(dot * sa[i]) * sb[j]`. That order
//! does not depend on the tile shape, the blocking, the thread count or the code path
//! (AVX-512, AVX2 and the portable one share it; the portable path on a CPU without FMA
//! rounds the multiply and the add separately, so its low bits can differ). Zero padding of
//! the packed panels only feeds lanes that are never stored.
//!
//! Layout: `b` is packed once into panels of `NR` rows, transposed (`[k][NR]`), so a
//! microkernel step loads `NR` consecutive floats; each rayon task packs its `MC` rows of `a`
//! into micro-panels of `MR` rows (`[k][MR]`, broadcast one float at a time) and walks the
//! `b` panels in blocks that stay in L2.

use rayon::prelude::*;

use super::simd::{level, Level};

/// Rows of `a` per rayon task (a multiple of every `MR` below).
const MC: usize = 96;
/// Bytes of packed `b` walked per block (kept in L2 while a task's micro-panels reuse it).
const B_BLOCK_BYTES: usize = 512 * 1024;

/// `out[i * nb + j] = (a_i . b_j) * sa[i] * sb[j]` for `a` `[na, dim]`, `b` `[nb, dim]`
/// (row-major), `sa` of length `na`, `sb` of length `nb`, `out` of length `na * nb`.
/// Lengths must already be checked by the caller (`dim > 0`).
pub fn abt_scaled(a: &[f32], b: &[f32], dim: usize, sa: &[f32], sb: &[f32], out: &mut [f32]) {
    debug_assert!(dim > 0);
    debug_assert_eq!(a.len(), sa.len() * dim);
    debug_assert_eq!(b.len(), sb.len() * dim);
    debug_assert_eq!(out.len(), sa.len() * sb.len());
    if out.is_empty() {
        return;
    }
    match level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `level()` returned Avx512 only after detecting avx512f and fma.
        Level::Avx512 => abt_with::<12, 32>(a, b, dim, sa, sb, out, |ap, bp| unsafe {
            tile_avx512(ap, bp)
        }),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `level()` returned Avx2Fma only after detecting avx2 and fma.
        Level::Avx2Fma => abt_with::<6, 16>(a, b, dim, sa, sb, out, |ap, bp| unsafe {
            tile_avx2(ap, bp)
        }),
        _ => abt_with::<4, 8>(a, b, dim, sa, sb, out, tile_portable),
    }
}

/// A zeroed buffer of `len` floats whose start is 64-byte aligned (packed panels are then
/// loaded without cache-line splits): the backing vector and the offset of the start.
fn aligned_zeroed(len: usize) -> (Vec<f32>, usize) {
    let buf = vec![0f32; len + 15];
    let off = buf.as_ptr().align_offset(64).min(15);
    (buf, off)
}

/// Packs rows `first..first + W` of `src` (`[rows, dim]`) transposed into `dst` (`[dim][W]`);
/// rows past the end of `src` are left zero.
fn pack<const W: usize>(src: &[f32], dim: usize, first: usize, dst: &mut [f32]) {
    let rows = (src.len() / dim).saturating_sub(first).min(W);
    for r in 0..rows {
        let row = &src[(first + r) * dim..][..dim];
        for (k, &v) in row.iter().enumerate() {
            dst[k * W + r] = v;
        }
    }
}

#[inline(always)]
fn abt_with<const MR: usize, const NR: usize>(
    a: &[f32],
    b: &[f32],
    dim: usize,
    sa: &[f32],
    sb: &[f32],
    out: &mut [f32],
    kernel: impl Fn(&[f32], &[f32]) -> [[f32; NR]; MR] + Sync,
) {
    debug_assert_eq!(MC % MR, 0);
    let nb = sb.len();
    let panels = nb.div_ceil(NR);
    let (mut bbuf, off) = aligned_zeroed(panels * dim * NR);
    let bp = &mut bbuf[off..off + panels * dim * NR];
    bp.par_chunks_mut(dim * NR)
        .enumerate()
        .for_each(|(p, dst)| pack::<NR>(b, dim, p * NR, dst));
    let bp = &*bp;
    let block = (B_BLOCK_BYTES / (dim * NR * 4)).max(1);

    out.par_chunks_mut(MC * nb)
        .zip(a.par_chunks(MC * dim))
        .zip(sa.par_chunks(MC))
        .for_each(|((o, a_blk), sa_blk)| {
            let rows = sa_blk.len();
            let micro = rows.div_ceil(MR);
            let (mut abuf, off) = aligned_zeroed(micro * dim * MR);
            let ap = &mut abuf[off..off + micro * dim * MR];
            for (m, dst) in ap.chunks_exact_mut(dim * MR).enumerate() {
                pack::<MR>(a_blk, dim, m * MR, dst);
            }
            for p0 in (0..panels).step_by(block) {
                for (m, apm) in ap.chunks_exact(dim * MR).enumerate() {
                    let r_end = (rows - m * MR).min(MR);
                    for p in p0..(p0 + block).min(panels) {
                        let t = kernel(apm, &bp[p * dim * NR..][..dim * NR]);
                        let c0 = p * NR;
                        let c_end = (nb - c0).min(NR);
                        let sbp = &sb[c0..c0 + c_end];
                        for (r, tr) in t.iter().enumerate().take(r_end) {
                            let i = m * MR + r;
                            let s = sa_blk[i];
                            let orow = &mut o[i * nb + c0..][..c_end];
                            for ((v, &d), &sj) in orow.iter_mut().zip(tr).zip(sbp) {
                                *v = d * s * sj;
                            }
                        }
                    }
                }
            }
        });
}

/// Portable `MR x NR` tile: `acc[r][c] = sum_k ap[k][r] * bp[k][c]`, one multiply-add
/// chain per element in increasing `k` (`ap` holds `k * MR` floats and `bp` `k * NR`).
#[inline(always)]
fn tile<const MR: usize, const NR: usize, const FMA: bool>(
    ap: &[f32],
    bp: &[f32],
) -> [[f32; NR]; MR] {
    let mut acc = [[0f32; NR]; MR];
    for (av, bv) in ap.chunks_exact(MR).zip(bp.chunks_exact(NR)) {
        let bv: &[f32; NR] = bv.try_into().expect("NR floats");
        for (acc_r, &x) in acc.iter_mut().zip(av) {
            for (c, &y) in acc_r.iter_mut().zip(bv) {
                *c = if FMA { x.mul_add(y, *c) } else { x * y + *c };
            }
        }
    }
    acc
}

/// The portable path (no FMA: multiply and add round separately).
#[inline(never)]
fn tile_portable(ap: &[f32], bp: &[f32]) -> [[f32; 8]; 4] {
    tile::<4, 8, false>(ap, bp)
}

/// [`tile`] for `6 x 16` with explicit AVX2 registers (bit-identical to the portable FMA
/// path). `ap` holds `k * 6` floats and `bp` `k * 16`, 32-byte aligned.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tile_avx2(ap: &[f32], bp: &[f32]) -> [[f32; 16]; 6] {
    use std::arch::x86_64::{
        __m256, _mm256_fmadd_ps, _mm256_load_ps, _mm256_set1_ps, _mm256_setzero_ps,
        _mm256_storeu_ps,
    };
    const MR: usize = 6;
    const NR: usize = 16;
    let k = bp.len() / NR;
    assert!(ap.len() == k * MR && bp.len() == k * NR);
    assert!(
        bp.as_ptr().cast::<u8>().align_offset(32) == 0,
        "b panel not 32-byte aligned"
    );
    let mut acc: [[__m256; 2]; MR] = [[_mm256_setzero_ps(); 2]; MR];
    let (pa, pb) = (ap.as_ptr(), bp.as_ptr());
    for kk in 0..k {
        // SAFETY: kk < k, so the NR floats at kk * NR and the MR at kk * MR are in bounds;
        // `bp` is 32-byte aligned (checked above) and NR * 4 = 64 bytes.
        unsafe {
            let b0 = _mm256_load_ps(pb.add(kk * NR));
            let b1 = _mm256_load_ps(pb.add(kk * NR + 8));
            #[allow(clippy::needless_range_loop)] // constant indices keep `acc` in registers
            for r in 0..MR {
                let av = _mm256_set1_ps(*pa.add(kk * MR + r));
                acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
            }
        }
    }
    let mut out = [[0f32; NR]; MR];
    for (o, acc_r) in out.iter_mut().zip(&acc) {
        // SAFETY: each output row holds NR = 2 * 8 floats.
        unsafe {
            _mm256_storeu_ps(o.as_mut_ptr(), acc_r[0]);
            _mm256_storeu_ps(o.as_mut_ptr().add(8), acc_r[1]);
        }
    }
    out
}

/// [`tile`] for `12 x 32` with explicit AVX-512 registers (bit-identical to the portable FMA
/// path). `ap` holds `k * 12` floats and `bp` `k * 32`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn tile_avx512(ap: &[f32], bp: &[f32]) -> [[f32; 32]; 12] {
    use std::arch::x86_64::{
        __m512, _mm512_fmadd_ps, _mm512_load_ps, _mm512_set1_ps, _mm512_setzero_ps,
        _mm512_storeu_ps,
    };
    const MR: usize = 12;
    const NR: usize = 32;
    let k = bp.len() / NR;
    assert!(ap.len() == k * MR && bp.len() == k * NR);
    // Aligned loads: `_mm512_loadu_ps` goes through `ptr::read_unaligned`, whose debug checks
    // (the dev profile keeps debug assertions) cost a round trip through the stack per load.
    assert!(
        bp.as_ptr().cast::<u8>().align_offset(64) == 0,
        "b panel not 64-byte aligned"
    );
    let mut acc: [[__m512; 2]; MR] = [[_mm512_setzero_ps(); 2]; MR];
    let (pa, pb) = (ap.as_ptr(), bp.as_ptr());
    for kk in 0..k {
        // SAFETY: kk < k, so the NR floats at kk * NR and the MR at kk * MR are in bounds;
        // `bp` is 64-byte aligned (checked above) and NR * 4 = 128 bytes.
        unsafe {
            let b0 = _mm512_load_ps(pb.add(kk * NR));
            let b1 = _mm512_load_ps(pb.add(kk * NR + 16));
            #[allow(clippy::needless_range_loop)] // constant indices keep `acc` in registers
            for r in 0..MR {
                let av = _mm512_set1_ps(*pa.add(kk * MR + r));
                acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
            }
        }
    }
    let mut out = [[0f32; NR]; MR];
    for (o, acc_r) in out.iter_mut().zip(&acc) {
        // SAFETY: each output row holds NR = 2 * 16 floats.
        unsafe {
            _mm512_storeu_ps(o.as_mut_ptr(), acc_r[0]);
            _mm512_storeu_ps(o.as_mut_ptr().add(16), acc_r[1]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 + seed * 104729) % 211) as f32 / 97.0 - 1.1)
            .collect()
    }

    /// The reference order: one multiply-add chain per element.
    fn chain(a: &[f32], b: &[f32], fma: bool) -> f32 {
        a.iter().zip(b).fold(
            0f32,
            |s, (x, y)| {
                if fma {
                    x.mul_add(*y, s)
                } else {
                    x * y + s
                }
            },
        )
    }

    /// Runs `f` on a few shapes (partial tiles, several row and column blocks) and checks
    /// every element against one multiply-add chain (fused or not), scaled.
    fn check(fma: bool, f: impl Fn(&[f32], &[f32], usize, &[f32], &[f32], &mut [f32])) {
        for (na, nb, dim) in [(1, 1, 1), (13, 33, 7), (100, 70, 129), (197, 300, 512)] {
            let (a, b) = (data(na * dim, 1), data(nb * dim, 2));
            let (sa, sb) = (data(na, 3), data(nb, 4));
            let mut out = vec![f32::NAN; na * nb];
            f(&a, &b, dim, &sa, &sb, &mut out);
            for i in 0..na {
                for j in 0..nb {
                    let d = chain(&a[i * dim..][..dim], &b[j * dim..][..dim], fma);
                    let want = d * sa[i] * sb[j];
                    let got = out[i * nb + j];
                    assert_eq!(got.to_bits(), want.to_bits(), "{i},{j} of {na}x{nb}x{dim}");
                }
            }
        }
    }

    #[test]
    fn every_path_is_one_chain_per_element() {
        check(level() != Level::Scalar, abt_scaled);
        check(false, |a, b, d, sa, sb, o| {
            abt_with::<4, 8>(a, b, d, sa, sb, o, tile_portable)
        });
        check(true, |a, b, d, sa, sb, o| {
            abt_with::<4, 8>(a, b, d, sa, sb, o, tile::<4, 8, true>)
        });
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            check(true, |a, b, d, sa, sb, o| {
                // SAFETY: avx2 and fma were detected just above.
                abt_with::<6, 16>(a, b, d, sa, sb, o, |x, y| unsafe { tile_avx2(x, y) })
            });
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_tile_is_bit_identical_to_the_portable_fma_path() {
        if level() != Level::Avx512 {
            println!("skipped: no AVX-512 on this CPU");
            return;
        }
        for k in [1, 3, 512] {
            let ap = data(12 * k, 5);
            let (mut buf, off) = aligned_zeroed(32 * k);
            let bp = &mut buf[off..off + 32 * k];
            bp.copy_from_slice(&data(32 * k, 6));
            // SAFETY: AVX-512 and FMA were detected above.
            let fast = unsafe { tile_avx512(&ap, bp) };
            let slow = tile::<12, 32, true>(&ap, bp);
            for (x, y) in fast.iter().flatten().zip(slow.iter().flatten()) {
                assert_eq!(x.to_bits(), y.to_bits(), "k {k}");
            }
        }
    }
}
