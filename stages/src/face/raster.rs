//! Software rasteriser: z-buffered triangles with perspective-correct attribute interpolation,
//! back-face culling, and supersampled anti-aliasing (an `ss x ss` grid of samples per output
//! pixel, resolved over a background). Shading is deferred and fused with the resolve: each
//! visible sample is shaded once, while its pixel is averaged. Single-threaded per image so
//! results never depend on the thread count.
//!
//! The arithmetic is part of the model's output bytes (see `MODEL_VERSION`): edge functions are
//! set up per row and stepped by repeated addition, exactly as written here. Speed-ups must keep
//! every float operation (order included); they may only skip work whose result is unused.

/// Attributes interpolated per sample: texture (s, t), irradiance (r, g, b), specular.
pub const NA: usize = 6;

/// Rows rasterised together, one per SIMD lane.
const LANES: usize = 4;
/// Samples per block along the rows: edge functions are stepped branch-free over a block and
/// the covered samples are then visited through a bit mask (`LANES * BLOCK` bits).
const BLOCK: usize = 8;

/// A supersampled depth + fragment buffer.
#[derive(Debug, Clone)]
pub struct Target {
    pub width: usize,
    pub height: usize,
    /// 1 / depth of the nearest surface; 0 = empty.
    pub depth: Vec<f32>,
    /// The nearest surface (only meaningful where `depth > 0`).
    frag: Vec<Fragment>,
}

/// What a sample saw: a triangle (index into the `tris` given to [`Target::draw`]) and its
/// perspective-correct barycentric weights. Attributes are interpolated from these when the
/// sample is shaded.
#[derive(Debug, Clone, Copy, Default)]
struct Fragment {
    tri: u32,
    p: [f32; 3],
}

/// `v.floor().max(0.0)` without a libm call, for a bounding box: the same value for every
/// `v < 2^63`, and at least as large as any clamp bound above that.
#[inline]
fn floor_at_zero(v: f32) -> f32 {
    if v >= 0.0 {
        (v as i64) as f32
    } else {
        0.0
    }
}

/// `v.ceil().min(hi)` without a libm call, for a bounding box whose lower end is `>= 0`: the
/// same value wherever it is positive (elsewhere both are `<= 0`, an empty box).
#[inline]
fn ceil_below(v: f32, hi: f32) -> f32 {
    if v >= hi {
        hi
    } else if v > 0.0 {
        let t = (v as i64) as f32;
        if t < v {
            t + 1.0
        } else {
            t
        }
    } else {
        0.0
    }
}

/// Signed screen area and sample bounding box `[minx, maxx, miny, maxy]` of a front-facing
/// triangle that touches a `w x h` target; `None` for back faces and off-target triangles.
#[inline]
fn setup(a: [f32; 3], b: [f32; 3], c: [f32; 3], w: f32, h: f32) -> Option<(f32, [f32; 4])> {
    // y grows downwards: counter-clockwise model triangles have negative area here
    let area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
    // (a NaN area could never cover a sample either)
    if area.is_nan() || area >= -1e-9 {
        return None;
    }
    let minx = floor_at_zero(a[0].min(b[0]).min(c[0]));
    let maxx = ceil_below(a[0].max(b[0]).max(c[0]), w);
    let miny = floor_at_zero(a[1].min(b[1]).min(c[1]));
    let maxy = ceil_below(a[1].max(b[1]).max(c[1]), h);
    if minx >= maxx || miny >= maxy {
        return None;
    }
    Some((area, [minx, maxx, miny, maxy]))
}

/// `LANES` f32 lanes with the few operations the rasteriser needs: SSE on x86_64, plain arrays
/// elsewhere. Lane arithmetic is IEEE single precision either way (the same bits as scalar code).
#[derive(Clone, Copy)]
struct F4(
    #[cfg(target_arch = "x86_64")] std::arch::x86_64::__m128,
    #[cfg(not(target_arch = "x86_64"))] [f32; LANES],
);

// SAFETY (every `unsafe` below): SSE and SSE2 are part of the x86_64 baseline, and the loads
// and stores touch exactly one `[f32; 4]`.
#[cfg(target_arch = "x86_64")]
impl F4 {
    #[inline(always)]
    fn new(v: [f32; LANES]) -> F4 {
        F4(unsafe { std::arch::x86_64::_mm_loadu_ps(v.as_ptr()) })
    }
    #[inline(always)]
    fn splat(v: f32) -> F4 {
        F4(unsafe { std::arch::x86_64::_mm_set1_ps(v) })
    }
    #[inline(always)]
    fn add(self, o: F4) -> F4 {
        F4(unsafe { std::arch::x86_64::_mm_add_ps(self.0, o.0) })
    }
    #[inline(always)]
    fn sub(self, o: F4) -> F4 {
        F4(unsafe { std::arch::x86_64::_mm_sub_ps(self.0, o.0) })
    }
    #[inline(always)]
    fn mul(self, o: F4) -> F4 {
        F4(unsafe { std::arch::x86_64::_mm_mul_ps(self.0, o.0) })
    }
    #[inline(always)]
    fn to_array(self) -> [f32; LANES] {
        let mut a = [0.0; LANES];
        unsafe { std::arch::x86_64::_mm_storeu_ps(a.as_mut_ptr(), self.0) };
        a
    }
    /// Bit l set where lane l of `a`, `b` and `c` are all `>= 0` (false for NaN).
    #[inline(always)]
    fn all_nonneg(a: F4, b: F4, c: F4) -> u32 {
        use std::arch::x86_64::*;
        unsafe {
            let z = _mm_setzero_ps();
            let m = _mm_and_ps(
                _mm_and_ps(_mm_cmpge_ps(a.0, z), _mm_cmpge_ps(b.0, z)),
                _mm_cmpge_ps(c.0, z),
            );
            _mm_movemask_ps(m) as u32
        }
    }
    /// Bit l set where lane l is `< 0`.
    #[inline(always)]
    fn negative(self) -> u32 {
        use std::arch::x86_64::*;
        unsafe { _mm_movemask_ps(_mm_cmplt_ps(self.0, _mm_setzero_ps())) as u32 }
    }
}

#[cfg(not(target_arch = "x86_64"))]
impl F4 {
    #[inline(always)]
    fn new(v: [f32; LANES]) -> F4 {
        F4(v)
    }
    #[inline(always)]
    fn splat(v: f32) -> F4 {
        F4([v; LANES])
    }
    #[inline(always)]
    fn add(self, o: F4) -> F4 {
        F4(std::array::from_fn(|l| self.0[l] + o.0[l]))
    }
    #[inline(always)]
    fn sub(self, o: F4) -> F4 {
        F4(std::array::from_fn(|l| self.0[l] - o.0[l]))
    }
    #[inline(always)]
    fn mul(self, o: F4) -> F4 {
        F4(std::array::from_fn(|l| self.0[l] * o.0[l]))
    }
    #[inline(always)]
    fn to_array(self) -> [f32; LANES] {
        self.0
    }
    #[inline(always)]
    fn all_nonneg(a: F4, b: F4, c: F4) -> u32 {
        (0..LANES).fold(0, |m, l| {
            m | u32::from((a.0[l] >= 0.0) & (b.0[l] >= 0.0) & (c.0[l] >= 0.0)) << l
        })
    }
    #[inline(always)]
    fn negative(self) -> u32 {
        (0..LANES).fold(0, |m, l| m | u32::from(self.0[l] < 0.0) << l)
    }
}

impl Target {
    pub fn new(width: usize, height: usize) -> Target {
        Target {
            width,
            height,
            depth: vec![0.0; width * height],
            frag: vec![Fragment::default(); width * height],
        }
    }

    /// Resize to `width x height` and mark every sample empty (keeps the allocation).
    pub fn reset(&mut self, width: usize, height: usize) {
        let n = width * height;
        self.width = width;
        self.height = height;
        self.depth.clear();
        self.depth.resize(n, 0.0);
        self.frag.resize(n, Fragment::default());
    }

    /// Draw triangles. `verts` are (x, y, 1/depth) in sample units. Triangles facing away or
    /// off the target are culled; the indices (into `tris`) of the others are appended to
    /// `drawn`: only their vertices' attributes are read by [`Target::resolve`].
    pub fn draw(&mut self, verts: &[[f32; 3]], tris: &[[u32; 3]], drawn: &mut Vec<u32>) {
        let (w, h) = (self.width as f32, self.height as f32);
        let width = self.width;
        let mut ws = [[[0.0f32; LANES]; 3]; BLOCK];
        for (ti, t) in tris.iter().enumerate() {
            let [a, b, c] = t.map(|i| verts[i as usize]);
            let Some((area, [minx, maxx, miny, maxy])) = setup(a, b, c, w, h) else {
                continue;
            };
            drawn.push(ti as u32);
            let inv_area = 1.0 / area;
            // edge function of vertex i: signed area of the opposite edge and the point
            let e0 = [(b[1] - c[1]) * inv_area, (c[0] - b[0]) * inv_area];
            let e1 = [(c[1] - a[1]) * inv_area, (a[0] - c[0]) * inv_area];
            let e2 = [(a[1] - b[1]) * inv_area, (b[0] - a[0]) * inv_area];
            // Stepping by a constant is monotone in floats, so an edge function that is negative
            // and not increasing stays negative for the rest of the row.
            let dead = [e0[0], e1[0], e2[0]].map(|e| if e <= 0.0 { 0xf } else { 0 });
            let step = [e0[0], e1[0], e2[0]].map(F4::splat);
            let (x_lo, x_hi) = (minx as usize, maxx as usize);
            let (y_lo, y_hi) = (miny as usize, maxy as usize);
            let x0 = minx + 0.5;
            let mut py0 = y_lo;
            while py0 < y_hi {
                // LANES rows at once: each lane is one row's edge functions, set up and stepped
                // exactly as a lone row would be
                let rows = (y_hi - py0).min(LANES);
                let lanes = 0x1111_1111u32 * ((1u32 << rows) - 1);
                let y = F4::new(std::array::from_fn(|l| (py0 + l) as f32 + 0.5));
                let edge = |e: [f32; 2], p: [f32; 3]| {
                    F4::splat(e[0] * (x0 - p[0])).add(F4::splat(e[1]).mul(y.sub(F4::splat(p[1]))))
                };
                let (mut w0, mut w1, mut w2) = (edge(e0, b), edge(e1, c), edge(e2, a));
                let mut x = x_lo;
                while x < x_hi {
                    // step a block branch-free, then visit its covered samples
                    let n = (x_hi - x).min(BLOCK);
                    let mut mask = 0u32;
                    for (j, slot) in ws.iter_mut().enumerate().take(n) {
                        *slot = [w0.to_array(), w1.to_array(), w2.to_array()];
                        mask |= F4::all_nonneg(w0, w1, w2) << (LANES * j);
                        w0 = w0.add(step[0]);
                        w1 = w1.add(step[1]);
                        w2 = w2.add(step[2]);
                    }
                    mask &= lanes;
                    while mask != 0 {
                        let bit = mask.trailing_zeros() as usize;
                        mask &= mask - 1;
                        let (j, l) = (bit / LANES, bit % LANES);
                        let [v0, v1, v2] = &ws[j];
                        let (w0, w1, w2) = (v0[l], v1[l], v2[l]);
                        let k = (py0 + l) * width + x + j;
                        let iw = w0 * a[2] + w1 * b[2] + w2 * c[2];
                        if iw > self.depth[k] {
                            self.depth[k] = iw;
                            let p = [w0 * a[2] / iw, w1 * b[2] / iw, w2 * c[2] / iw];
                            self.frag[k] = Fragment { tri: ti as u32, p };
                        }
                    }
                    // rows where a negative edge function is not increasing are done
                    let done = (w0.negative() & dead[0])
                        | (w1.negative() & dead[1])
                        | (w2.negative() & dead[2]);
                    let live = (1u32 << rows) - 1;
                    if done & live == live {
                        break;
                    }
                    x += n;
                }
                py0 += LANES;
            }
        }
    }

    /// Shade the visible samples and average `ss x ss` blocks into an output image over a
    /// background. `tris` are those given to [`Target::draw`] and `attrs` per vertex; `shade`
    /// maps interpolated attributes to a colour; `background(x, y)` is the f32 RGB of output
    /// pixel (x, y), asked only for pixels with an empty sample. Returns the output colours and
    /// per-pixel face coverage in [0, 1].
    pub fn resolve<B, S>(
        &self,
        ss: usize,
        tris: &[[u32; 3]],
        attrs: &[[f32; NA]],
        mut background: B,
        mut shade: S,
    ) -> ResolvedImage
    where
        B: FnMut(usize, usize) -> [f32; 3],
        S: FnMut(&[f32; NA]) -> [f32; 3],
    {
        let (ow, oh) = (self.width / ss, self.height / ss);
        let mut out = Vec::with_capacity(ow * oh);
        let mut cov = Vec::with_capacity(ow * oh);
        let norm = 1.0 / (ss * ss) as f32;
        for oy in 0..oh {
            for ox in 0..ow {
                let mut bg = None;
                let mut acc = [0.0; 3];
                let mut n = 0usize;
                for sy in 0..ss {
                    let row = (oy * ss + sy) * self.width + ox * ss;
                    for k in row..row + ss {
                        let c = if self.depth[k] > 0.0 {
                            n += 1;
                            let Fragment { tri, p } = self.frag[k];
                            let [aa, ab, ac] = tris[tri as usize].map(|i| &attrs[i as usize]);
                            let mut at = [0.0; NA];
                            for (j, v) in at.iter_mut().enumerate() {
                                *v = p[0] * aa[j] + p[1] * ab[j] + p[2] * ac[j];
                            }
                            shade(&at)
                        } else {
                            *bg.get_or_insert_with(|| background(ox, oy))
                        };
                        acc[0] += c[0];
                        acc[1] += c[1];
                        acc[2] += c[2];
                    }
                }
                out.push(acc.map(|v| v * norm));
                cov.push(n as f32 * norm);
            }
        }
        (out, cov)
    }
}

/// Output colours and per-pixel face coverage of [`Target::resolve`].
pub type ResolvedImage = (Vec<[f32; 3]>, Vec<f32>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearer_triangle_wins_and_backfaces_are_culled() {
        let mut t = Target::new(8, 8);
        let mut attrs = [[0.0; NA]; 6];
        for a in &mut attrs[3..] {
            a[0] = 1.0;
        }
        // clockwise on screen (y down) = front facing
        let far = [[0.0, 0.0, 0.1], [0.0, 8.0, 0.1], [8.0, 0.0, 0.1]];
        let near = [[0.0, 0.0, 0.2], [0.0, 8.0, 0.2], [8.0, 0.0, 0.2]];
        let verts: Vec<[f32; 3]> = far.iter().chain(near.iter()).copied().collect();
        let tris = [[0, 2, 1], [0, 1, 2], [3, 4, 5]];
        let mut drawn = Vec::new();
        t.draw(&verts, &tris, &mut drawn);
        assert_eq!(drawn, vec![1, 2], "back face culled");
        let mut u = Target::new(8, 8);
        u.draw(&verts, &tris[..1], &mut drawn);
        assert!(u.depth.iter().all(|&d| d == 0.0), "back face drawn");
        let mut shaded = 0;
        let (img, cov) = t.resolve(
            2,
            &tris,
            &attrs,
            |x, y| [x as f32 * 0.1, y as f32 * 0.1, 0.5],
            |a| {
                shaded += 1;
                [a[0]; 3]
            },
        );
        assert_eq!(shaded, t.depth.iter().filter(|&&d| d > 0.0).count());
        assert_eq!(img.len(), 16);
        assert!(
            (img[0][0] - 1.0).abs() < 1e-5,
            "nearer triangle's attributes"
        );
        assert_eq!(cov[0], 1.0);
        assert_eq!(cov[15], 0.0);
        assert!((img[15][1] - 0.3).abs() < 1e-5, "background");
    }

    #[test]
    fn bounding_box_rounding_matches_libm() {
        let vals = [
            -3.5f32, -1.0, -0.2, -0.0, 0.0, 0.3, 1.0, 1.5, 7.999, 8.0, 8.01, 100.25, 1e10,
        ];
        for v in vals {
            assert_eq!(floor_at_zero(v) >= 8.0, v.floor().max(0.0) >= 8.0);
            if v < 1e9 {
                assert_eq!(floor_at_zero(v), v.floor().max(0.0), "floor {v}");
            }
            let (a, b) = (ceil_below(v, 8.0), v.ceil().min(8.0));
            assert!(a == b || (a <= 0.0 && b <= 0.0), "ceil {v}: {a} vs {b}");
        }
    }
}
