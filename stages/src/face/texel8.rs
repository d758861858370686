//! Albedo texels eight at a time on AVX2 (chosen at run time by
//! [`super::texture::AlbedoMap::build`]): the per-texel colour of the scalar `texel` in
//! `texture.rs`, lane for lane the same IEEE operations in the same order, its branches turned
//! into selects, so the same bits. Owns the texel terms laid out as planes (one array per term,
//! so eight neighbouring texels are one vector load).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

#[cfg(target_arch = "x86_64")]
use super::texture::Look;

/// The identity-independent texel terms of [`super::texture::TexelTerms`] and
/// [`super::texture::TexelHair`] as planes of `TW * TH` values; `plain` is `1.0` on plain
/// texels, `knot` the hairline knot segment.
#[derive(Debug, Clone, Default)]
pub(super) struct TermPlanes {
    pub cheek: Vec<f32>,
    pub stubble: Vec<f32>,
    pub eye_shadow: Vec<f32>,
    pub brow_dist: Vec<f32>,
    pub brow_profile: Vec<f32>,
    pub brow_weight: Vec<f32>,
    pub nostril: Vec<f32>,
    pub lip: Vec<f32>,
    pub lip_line: Vec<f32>,
    pub streak: Vec<f32>,
    pub frac: Vec<f32>,
    pub plain: Vec<f32>,
    pub knot: Vec<i32>,
}

/// Texels `k0 .. k0 + out.len()` (a multiple of 8) of a row outside the mouth band into `out`,
/// for an identity's look and hairline knots: `var` holds the colour-variation grid rows
/// below and above, already interpolated along s (one plane per channel, indexed like `out`),
/// and `row` is the row's chart height and its position between those grid rows.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn row(
    out: &mut [[f32; 4]],
    p: &TermPlanes,
    k0: usize,
    var: [[&[f32]; 3]; 2],
    look: &Look,
    knots: &[f32; 7],
    row: [f32; 2],
) {
    let [lo, hi] = var;
    let [y, fy] = row;
    assert!(out.len().is_multiple_of(8) && lo.iter().chain(&hi).all(|v| v.len() >= out.len()));
    assert!(k0 + out.len() <= p.knot.len());
    let s = _mm256_set1_ps;
    let (add, sub, mul) = (_mm256_add_ps, _mm256_sub_ps, _mm256_mul_ps);
    let lerp = |a: __m256, b: __m256, t: __m256| add(a, mul(sub(b, a), t));
    let smooth = |e0: __m256, e1: __m256, x: __m256| {
        let t = _mm256_div_ps(sub(x, e0), sub(e1, e0));
        let t = _mm256_min_ps(_mm256_max_ps(t, s(0.0)), s(1.0));
        mul(mul(t, t), sub(s(3.0), mul(s(2.0), t)))
    };
    let sel = |m: __m256, a: __m256, b: __m256| _mm256_blendv_ps(b, a, m);
    let gt = |a: __m256, b: __m256| _mm256_cmp_ps::<_CMP_GT_OQ>(a, b);
    let mut kn = [0.0f32; 8];
    kn[..7].copy_from_slice(knots);
    // SAFETY (loads): every plane holds `p.knot.len()` values and `k0 + out.len()` is within
    // it; `lo` and `hi` hold at least `out.len()`; both checked above.
    let knots = unsafe { _mm256_loadu_ps(kn.as_ptr()) };
    let (fy, gy) = (s(fy), s(1.0 - fy));
    let (y, bd) = (s(y), s(look.brow_dark));
    let bc = look.hair.map(|v| s(v * 0.8));
    for (c, chunk) in out.chunks_exact_mut(8).enumerate() {
        let (i, k) = (c * 8, k0 + c * 8);
        let at = |v: &Vec<f32>| unsafe { _mm256_loadu_ps(v.as_ptr().add(k)) };
        let var = |ch: usize| unsafe {
            let (a, b) = (lo[ch].as_ptr().add(i), hi[ch].as_ptr().add(i));
            add(mul(_mm256_loadu_ps(a), gy), mul(_mm256_loadu_ps(b), fy))
        };
        let base = [0, 1, 2].map(|ch| _mm256_max_ps(add(s(look.skin[ch]), var(ch)), s(0.02)));
        // the face features (left out on plain texels)
        let ck = mul(s(look.cheek), at(&p.cheek));
        let mut col = [
            mul(base[0], add(s(1.0), mul(s(0.2), ck))),
            mul(base[1], sub(s(1.0), ck)),
            mul(base[2], sub(s(1.0), ck)),
        ];
        let m = mul(s(look.stubble), at(&p.stubble));
        let dark = [
            mul(col[0], s(0.55)),
            mul(col[1], s(0.55)),
            mul(col[2], s(0.6)),
        ];
        col = [0, 1, 2].map(|ch| lerp(col[ch], dark[ch], m));
        let es = sub(s(1.0), mul(s(look.eye_shadow), at(&p.eye_shadow)));
        col = col.map(|v| mul(v, es));
        let bw = at(&p.brow_weight);
        let th = mul(s(look.brow_thick), at(&p.brow_profile));
        let m = mul(smooth(th, mul(th, s(0.45)), at(&p.brow_dist)), bw);
        let brow = gt(bw, s(0.0));
        col = [0, 1, 2].map(|ch| sel(brow, lerp(col[ch], bc[ch], mul(m, bd)), col[ch]));
        let (nostril, lip, line) = (at(&p.nostril), at(&p.lip), at(&p.lip_line));
        col = [0, 1, 2].map(|ch| mul(lerp(mul(col[ch], nostril), s(look.lip[ch]), lip), line));
        let plain = gt(at(&p.plain), s(0.0));
        col = [0, 1, 2].map(|ch| sel(plain, base[ch], col[ch]));
        // hair, above the blend's lower edge
        // SAFETY: as above (`knot` has the planes' length).
        let knot = unsafe { _mm256_loadu_si256(p.knot.as_ptr().add(k) as *const __m256i) };
        let k_lo = _mm256_permutevar8x32_ps(knots, _mm256_sub_epi32(knot, _mm256_set1_epi32(1)));
        let k_hi = _mm256_permutevar8x32_ps(knots, knot);
        let e = add(k_lo, mul(sub(k_hi, k_lo), at(&p.frac)));
        let e0 = sub(e, s(0.015));
        let m = smooth(e0, add(e, s(0.025)), y);
        let hairy = _mm256_and_ps(gt(y, e0), gt(m, s(0.0)));
        let streak = at(&p.streak);
        col = [0, 1, 2].map(|ch| {
            sel(
                hairy,
                lerp(col[ch], mul(s(look.hair[ch]), streak), m),
                col[ch],
            )
        });
        let mut lanes = [[0.0f32; 8]; 3];
        for (l, v) in lanes.iter_mut().zip(&col) {
            // SAFETY: eight floats into an eight-float array.
            unsafe { _mm256_storeu_ps(l.as_mut_ptr(), *v) };
        }
        for (t, o) in chunk.iter_mut().enumerate() {
            *o = [lanes[0][t], lanes[1][t], lanes[2][t], 0.0];
        }
    }
}
