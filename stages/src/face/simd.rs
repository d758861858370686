//! The SIMD lanes of the renderer: [`F4`], four f32 lanes (SSE on x86_64, plain arrays
//! elsewhere) with the few operations edge stepping, depth testing and four-vertex lighting
//! need; [`wide`], the 8-lane AVX passes of the draw (two row groups at once, chosen at run
//! time); and `with_avx2`, which compiles a closure for AVX2. Every lane operation is the IEEE
//! single-precision operation of scalar code, so all paths give the same bits.

use super::raster::LANES;

/// `LANES` f32 lanes (also used as lane masks: all bits set = true) with the few operations
/// the rasteriser needs: SSE on x86_64, plain arrays elsewhere. Lane arithmetic is IEEE single
/// precision either way, so both give the same bits.
#[derive(Clone, Copy)]
pub(super) struct F4(
    #[cfg(target_arch = "x86_64")] pub(super) std::arch::x86_64::__m128,
    #[cfg(not(target_arch = "x86_64"))] pub(super) [f32; LANES],
);

// SAFETY (every `unsafe` below): SSE and SSE2 are part of the x86_64 baseline, and every load
// and store touches exactly the four elements `k..k + 4` of a slice, bounds-checked first.
#[cfg(target_arch = "x86_64")]
impl F4 {
    #[inline(always)]
    pub(super) fn new(v: [f32; LANES]) -> F4 {
        // (lane inserts, not a load: a load of four just-stored scalars stalls)
        F4(unsafe { std::arch::x86_64::_mm_set_ps(v[3], v[2], v[1], v[0]) })
    }
    #[inline(always)]
    pub(super) fn splat(v: f32) -> F4 {
        F4(unsafe { std::arch::x86_64::_mm_set1_ps(v) })
    }
    #[inline(always)]
    pub(super) fn splat_bits(v: u32) -> F4 {
        use std::arch::x86_64::*;
        F4(unsafe { _mm_castsi128_ps(_mm_set1_epi32(v as i32)) })
    }
    #[inline(always)]
    pub(super) fn add(self, o: F4) -> F4 {
        F4(unsafe { std::arch::x86_64::_mm_add_ps(self.0, o.0) })
    }
    #[inline(always)]
    pub(super) fn sub(self, o: F4) -> F4 {
        F4(unsafe { std::arch::x86_64::_mm_sub_ps(self.0, o.0) })
    }
    #[inline(always)]
    pub(super) fn mul(self, o: F4) -> F4 {
        F4(unsafe { std::arch::x86_64::_mm_mul_ps(self.0, o.0) })
    }
    #[inline(always)]
    pub(super) fn div(self, o: F4) -> F4 {
        F4(unsafe { std::arch::x86_64::_mm_div_ps(self.0, o.0) })
    }
    #[inline(always)]
    pub(super) fn sqrt(self) -> F4 {
        F4(unsafe { std::arch::x86_64::_mm_sqrt_ps(self.0) })
    }
    /// Lane-wise `f32::max` / `f32::min` for lanes that are not NaN.
    #[inline(always)]
    pub(super) fn max(self, o: F4) -> F4 {
        F4(unsafe { std::arch::x86_64::_mm_max_ps(self.0, o.0) })
    }
    #[inline(always)]
    pub(super) fn min(self, o: F4) -> F4 {
        F4(unsafe { std::arch::x86_64::_mm_min_ps(self.0, o.0) })
    }
    #[inline(always)]
    pub(super) fn to_array(self) -> [f32; LANES] {
        let mut v = [0.0; LANES];
        unsafe { std::arch::x86_64::_mm_storeu_ps(v.as_mut_ptr(), self.0) };
        v
    }
    #[inline(always)]
    pub(super) fn load(s: &[f32], k: usize) -> F4 {
        let s = &s[k..k + LANES];
        F4(unsafe { std::arch::x86_64::_mm_loadu_ps(s.as_ptr()) })
    }
    #[inline(always)]
    pub(super) fn store(self, s: &mut [f32], k: usize) {
        let s = &mut s[k..k + LANES];
        unsafe { std::arch::x86_64::_mm_storeu_ps(s.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    pub(super) fn load_bits(s: &[u32], k: usize) -> F4 {
        use std::arch::x86_64::*;
        let s = &s[k..k + LANES];
        F4(unsafe { _mm_castsi128_ps(_mm_loadu_si128(s.as_ptr() as *const __m128i)) })
    }
    #[inline(always)]
    pub(super) fn store_bits(self, s: &mut [u32], k: usize) {
        use std::arch::x86_64::*;
        let s = &mut s[k..k + LANES];
        unsafe { _mm_storeu_si128(s.as_mut_ptr() as *mut __m128i, _mm_castps_si128(self.0)) }
    }
    /// Mask: lanes where `a`, `b` and `c` are all `>= 0` (false for NaN).
    #[inline(always)]
    pub(super) fn all_nonneg(a: F4, b: F4, c: F4) -> F4 {
        use std::arch::x86_64::*;
        unsafe {
            let z = _mm_setzero_ps();
            F4(_mm_and_ps(
                _mm_and_ps(_mm_cmpge_ps(a.0, z), _mm_cmpge_ps(b.0, z)),
                _mm_cmpge_ps(c.0, z),
            ))
        }
    }
    /// Mask: lanes where `self > o`.
    #[inline(always)]
    pub(super) fn gt(self, o: F4) -> F4 {
        F4(unsafe { std::arch::x86_64::_mm_cmpgt_ps(self.0, o.0) })
    }
    #[inline(always)]
    pub(super) fn and(self, o: F4) -> F4 {
        F4(unsafe { std::arch::x86_64::_mm_and_ps(self.0, o.0) })
    }
    /// Lanes of `a` where `self` (a mask) is set, else of `b`.
    #[inline(always)]
    pub(super) fn select(self, a: F4, b: F4) -> F4 {
        use std::arch::x86_64::*;
        F4(unsafe { _mm_or_ps(_mm_and_ps(self.0, a.0), _mm_andnot_ps(self.0, b.0)) })
    }
}

#[cfg(not(target_arch = "x86_64"))]
impl F4 {
    #[inline(always)]
    pub(super) fn new(v: [f32; LANES]) -> F4 {
        F4(v)
    }
    #[inline(always)]
    pub(super) fn splat(v: f32) -> F4 {
        F4([v; LANES])
    }
    #[inline(always)]
    pub(super) fn splat_bits(v: u32) -> F4 {
        F4([f32::from_bits(v); LANES])
    }
    #[inline(always)]
    pub(super) fn add(self, o: F4) -> F4 {
        F4(std::array::from_fn(|l| self.0[l] + o.0[l]))
    }
    #[inline(always)]
    pub(super) fn sub(self, o: F4) -> F4 {
        F4(std::array::from_fn(|l| self.0[l] - o.0[l]))
    }
    #[inline(always)]
    pub(super) fn mul(self, o: F4) -> F4 {
        F4(std::array::from_fn(|l| self.0[l] * o.0[l]))
    }
    #[inline(always)]
    pub(super) fn div(self, o: F4) -> F4 {
        F4(std::array::from_fn(|l| self.0[l] / o.0[l]))
    }
    #[inline(always)]
    pub(super) fn sqrt(self) -> F4 {
        F4(self.0.map(f32::sqrt))
    }
    #[inline(always)]
    pub(super) fn max(self, o: F4) -> F4 {
        F4(std::array::from_fn(|l| self.0[l].max(o.0[l])))
    }
    #[inline(always)]
    pub(super) fn min(self, o: F4) -> F4 {
        F4(std::array::from_fn(|l| self.0[l].min(o.0[l])))
    }
    #[inline(always)]
    pub(super) fn to_array(self) -> [f32; LANES] {
        self.0
    }
    #[inline(always)]
    pub(super) fn load(s: &[f32], k: usize) -> F4 {
        F4(s[k..k + LANES].try_into().expect("four lanes"))
    }
    #[inline(always)]
    pub(super) fn store(self, s: &mut [f32], k: usize) {
        s[k..k + LANES].copy_from_slice(&self.0);
    }
    #[inline(always)]
    pub(super) fn load_bits(s: &[u32], k: usize) -> F4 {
        F4(std::array::from_fn(|l| f32::from_bits(s[k + l])))
    }
    #[inline(always)]
    pub(super) fn store_bits(self, s: &mut [u32], k: usize) {
        for l in 0..LANES {
            s[k + l] = self.0[l].to_bits();
        }
    }
    fn mask(f: impl Fn(usize) -> bool) -> F4 {
        F4(std::array::from_fn(|l| {
            f32::from_bits(if f(l) { u32::MAX } else { 0 })
        }))
    }
    #[inline(always)]
    pub(super) fn all_nonneg(a: F4, b: F4, c: F4) -> F4 {
        F4::mask(|l| (a.0[l] >= 0.0) & (b.0[l] >= 0.0) & (c.0[l] >= 0.0))
    }
    #[inline(always)]
    pub(super) fn gt(self, o: F4) -> F4 {
        F4::mask(|l| self.0[l] > o.0[l])
    }
    #[inline(always)]
    pub(super) fn and(self, o: F4) -> F4 {
        F4(std::array::from_fn(|l| {
            f32::from_bits(self.0[l].to_bits() & o.0[l].to_bits())
        }))
    }
    #[inline(always)]
    pub(super) fn select(self, a: F4, b: F4) -> F4 {
        F4(std::array::from_fn(|l| {
            let m = self.0[l].to_bits();
            f32::from_bits((m & a.0[l].to_bits()) | (!m & b.0[l].to_bits()))
        }))
    }
}

/// The arithmetic shared by scalar and four-lane code (`f32` and [`F4`]), so a formula written
/// once over `T: Lanes` gives the same bits both ways.
pub(super) trait Lanes: Copy {
    fn splat(v: f32) -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    fn sqrt(self) -> Self;
    /// `f32::max` (for lanes that are not NaN).
    fn max(self, o: Self) -> Self;
}

impl Lanes for f32 {
    #[inline(always)]
    fn splat(v: f32) -> f32 {
        v
    }
    #[inline(always)]
    fn add(self, o: f32) -> f32 {
        self + o
    }
    #[inline(always)]
    fn sub(self, o: f32) -> f32 {
        self - o
    }
    #[inline(always)]
    fn mul(self, o: f32) -> f32 {
        self * o
    }
    #[inline(always)]
    fn div(self, o: f32) -> f32 {
        self / o
    }
    #[inline(always)]
    fn sqrt(self) -> f32 {
        f32::sqrt(self)
    }
    #[inline(always)]
    fn max(self, o: f32) -> f32 {
        f32::max(self, o)
    }
}

impl Lanes for F4 {
    #[inline(always)]
    fn splat(v: f32) -> F4 {
        F4::splat(v)
    }
    #[inline(always)]
    fn add(self, o: F4) -> F4 {
        F4::add(self, o)
    }
    #[inline(always)]
    fn sub(self, o: F4) -> F4 {
        F4::sub(self, o)
    }
    #[inline(always)]
    fn mul(self, o: F4) -> F4 {
        F4::mul(self, o)
    }
    #[inline(always)]
    fn div(self, o: F4) -> F4 {
        F4::div(self, o)
    }
    #[inline(always)]
    fn sqrt(self) -> F4 {
        F4::sqrt(self)
    }
    #[inline(always)]
    fn max(self, o: F4) -> F4 {
        F4::max(self, o)
    }
}

/// Runs `f` compiled for AVX2: `f` (an `#[inline(always)]` closure) inlines into this
/// function, so the compiler may use AVX2 instructions for it. Plain IEEE arithmetic without
/// contraction gives the same bits either way.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The small-triangle pass on 8-lane AVX vectors: lanes 0-3 are the first row group, 4-7 the
/// second.
#[cfg(target_arch = "x86_64")]
pub(crate) mod wide {
    use super::LANES;
    use std::arch::x86_64::*;

    /// A triangle over two row groups (lane `l` is row `r0 + l`): its edge functions and
    /// 1/depth at the first column of its box, their steps per column, the mask of rows inside
    /// the box, and the triangle id.
    #[derive(Clone, Copy)]
    pub(crate) struct Span {
        w: [__m256; 3],
        iw: __m256,
        live: __m256,
        step: [__m256; 3],
        dz: __m256,
        id: __m256,
    }

    impl Span {
        /// `edges[i]` is edge function `i`'s gradient (x, y) and a point on it, `zs` the
        /// vertices' 1/depth, `x0` the first column's centre, `rows` the box's rows
        /// `[lo, hi)`: the same operations lane by lane as the 4-lane row-group start.
        ///
        /// # Safety
        /// The CPU must have AVX.
        #[allow(clippy::too_many_arguments)]
        #[target_feature(enable = "avx")]
        pub(crate) fn new(
            r0: usize,
            x0: f32,
            edges: [([f32; 2], [f32; 3]); 3],
            zs: [f32; 3],
            step: [f32; 3],
            dz: f32,
            rows: [f32; 2],
            id: u32,
        ) -> Span {
            let s = _mm256_set1_ps;
            let y = _mm256_add_ps(
                s(r0 as f32),
                _mm256_setr_ps(0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5),
            );
            let w = edges.map(|(e, p)| {
                _mm256_add_ps(
                    s(e[0] * (x0 - p[0])),
                    _mm256_mul_ps(s(e[1]), _mm256_sub_ps(y, s(p[1]))),
                )
            });
            let iw = _mm256_add_ps(
                _mm256_add_ps(_mm256_mul_ps(w[0], s(zs[0])), _mm256_mul_ps(w[1], s(zs[1]))),
                _mm256_mul_ps(w[2], s(zs[2])),
            );
            let live = _mm256_and_ps(
                _mm256_cmp_ps::<_CMP_GT_OQ>(y, s(rows[0])),
                _mm256_cmp_ps::<_CMP_GT_OQ>(s(rows[1]), y),
            );
            Span {
                w,
                iw,
                live,
                step: [s(step[0]), s(step[1]), s(step[2])],
                dz: s(dz),
                id: _mm256_castsi256_ps(_mm256_set1_epi32(id as i32)),
            }
        }
    }

    /// Depth test and write of `N` columns of two row groups: the first group's
    /// first column at buffer index `k`, the second `gstep` further; column `j` only in the
    /// lanes of `cols[j]`.
    ///
    /// # Safety
    /// The CPU must have AVX.
    #[target_feature(enable = "avx")]
    pub(crate) unsafe fn fast_pass<const N: usize>(
        depth: &mut [f32],
        tri: &mut [u32],
        k: usize,
        gstep: usize,
        span: Span,
        cols: [__m128; N],
    ) {
        // SAFETY: the caller's CPU has AVX.
        unsafe { pass(depth, tri, k, gstep, span, N, |j| cols[j]) }
    }

    /// Depth test and write of `ncols` whole columns of two row groups (as [`fast_pass`]).
    ///
    /// # Safety
    /// The CPU must have AVX.
    #[target_feature(enable = "avx")]
    pub(crate) unsafe fn span_pass(
        depth: &mut [f32],
        tri: &mut [u32],
        k: usize,
        gstep: usize,
        span: Span,
        ncols: usize,
    ) {
        let all = _mm_castsi128_ps(_mm_set1_epi32(-1));
        // SAFETY: the caller's CPU has AVX.
        unsafe { pass(depth, tri, k, gstep, span, ncols, |_| all) }
    }

    #[inline(always)]
    unsafe fn pass(
        depth: &mut [f32],
        tri: &mut [u32],
        k: usize,
        gstep: usize,
        span: Span,
        ncols: usize,
        cols: impl Fn(usize) -> __m128,
    ) {
        let end = k + gstep + ncols * LANES;
        assert!(
            end <= depth.len() && end <= tri.len(),
            "fast pass out of bounds"
        );
        let Span {
            mut w,
            mut iw,
            live,
            step,
            dz,
            id,
        } = span;
        let z = _mm256_setzero_ps();
        let pd = depth.as_mut_ptr();
        let pt = tri.as_mut_ptr() as *mut f32;
        for j in 0..ncols {
            let (lo, hi) = (k + j * LANES, k + j * LANES + gstep);
            let col = cols(j);
            // SAFETY: lo + 4 <= hi + 4 <= end, checked above.
            unsafe {
                let d = _mm256_loadu2_m128(pd.add(hi), pd.add(lo));
                let inside = _mm256_and_ps(
                    _mm256_and_ps(
                        _mm256_cmp_ps::<_CMP_GE_OQ>(w[0], z),
                        _mm256_cmp_ps::<_CMP_GE_OQ>(w[1], z),
                    ),
                    _mm256_cmp_ps::<_CMP_GE_OQ>(w[2], z),
                );
                let m = _mm256_and_ps(
                    _mm256_and_ps(inside, _mm256_and_ps(live, _mm256_set_m128(col, col))),
                    _mm256_cmp_ps::<_CMP_GT_OQ>(iw, d),
                );
                _mm256_storeu2_m128(pd.add(hi), pd.add(lo), _mm256_blendv_ps(d, iw, m));
                let t = _mm256_loadu2_m128(pt.add(hi), pt.add(lo));
                _mm256_storeu2_m128(pt.add(hi), pt.add(lo), _mm256_blendv_ps(t, id, m));
            }
            for (wi, s) in w.iter_mut().zip(&step) {
                *wi = _mm256_add_ps(*wi, *s);
            }
            iw = _mm256_add_ps(iw, dz);
        }
    }
}
