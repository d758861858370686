//! Software rasteriser: z-buffered triangles with perspective-correct attribute interpolation,
//! back-face culling, and supersampled anti-aliasing (an `ss x ss` grid of samples per output
//! pixel, resolved over a background). Single-threaded per image so results never depend on the
//! thread count.
//!
//! Geometry and shading are decoupled (as in a GPU's multisampling): [`Target::draw`] keeps only
//! the nearest triangle and its depth per sample, four rows at a time in SIMD lanes (the buffers
//! are stored in groups of four rows, so a column of a group is one vector; with AVX, two
//! groups per 8-lane vector); [`Target::resolve`] (the `resolve` module) interpolates the
//! attributes of every visible sample, and shades a pixel once at the mean of its samples'
//! attributes when they lie on one continuous surface (their texture coordinates close
//! together), or sample by sample where they do not (silhouettes over the face, the lip line,
//! the back seam). Edge anti-aliasing against the background stays exact either way.
//!
//! The arithmetic is part of the renderer's output bytes (see [`super::RENDERER_VERSION`]);
//! the SIMD paths ([`super::simd`]) give the same bits as scalar code.

pub use super::resolve::ResolvedImage;
#[cfg(target_arch = "x86_64")]
use super::simd::wide;
use super::simd::F4;

/// Attributes interpolated per sample: texture (s, t), irradiance (r, g, b), specular.
pub const NA: usize = 6;

/// Rows rasterised together, one per SIMD lane (and the row-group height of the buffers).
pub(super) const LANES: usize = 4;

/// The AVX path's fixed passes for small triangles: bounding boxes within `FAST_GROUPS` row
/// groups and `FAST_COLS` (or else `WIDE_COLS`) columns. `WIDE_COLS` is also the buffers'
/// right padding.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const FAST_COLS: usize = 4;
const FAST_GROUPS: usize = 2;
const WIDE_COLS: usize = 8;

/// Most samples per pixel (`supersample` is at most 4).
pub(super) const MAX_SAMPLES: usize = 16;

/// A supersampled depth + triangle buffer.
#[derive(Debug, Clone)]
pub struct Target {
    pub width: usize,
    pub height: usize,
    /// Samples per buffer row (`width` plus padding).
    pub(super) stride: usize,
    /// 1 / depth of the nearest surface per sample (0 = empty), in groups of `LANES` rows:
    /// sample (x, y) is at `((y / LANES) * stride + x) * LANES + y % LANES`.
    pub(super) depth: Vec<f32>,
    /// The nearest triangle per sample (only meaningful where `depth > 0`).
    pub(super) tri: Vec<u32>,
    /// Per triangle index: the screen-space planes of the first two perspective-weighted
    /// barycentrics (written for drawn triangles only; see [`Plane`]).
    pub(super) planes: Vec<Plane>,
}

/// `w_i / depth_i` of a triangle's vertices 0 and 1 as planes in screen space:
/// `q = dx * (x - ox) + dy * (y - oy)`; with `q0 + q1 + q2 = 1 / depth` they give the
/// perspective-correct barycentrics `q_i * depth`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Plane(pub(super) [f32; 8]);

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

impl Target {
    pub fn new(width: usize, height: usize) -> Target {
        let mut t = Target {
            width: 0,
            height: 0,
            stride: 0,
            depth: Vec::new(),
            tri: Vec::new(),
            planes: Vec::new(),
        };
        t.reset(width, height);
        t
    }

    /// Resize to `width x height` and mark every sample empty (keeps the allocation).
    pub fn reset(&mut self, width: usize, height: usize) {
        // padding: WIDE_COLS columns on the right and one row group at the bottom, so the
        // fixed small-triangle passes stay inside the buffers
        self.stride = width + WIDE_COLS;
        let n = (height.div_ceil(LANES) + FAST_GROUPS - 1) * LANES * self.stride;
        self.width = width;
        self.height = height;
        self.depth.clear();
        self.depth.resize(n, 0.0);
        self.tri.resize(n, 0);
    }

    #[inline(always)]
    pub(super) fn index(&self, x: usize, y: usize) -> usize {
        ((y / LANES) * self.stride + x) * LANES + y % LANES
    }

    /// 1 / depth of the nearest surface at sample (x, y); 0 where nothing was drawn.
    pub fn depth_at(&self, x: usize, y: usize) -> f32 {
        self.depth[self.index(x, y)]
    }

    /// Draw triangles. `verts` are (x, y, 1/depth) in sample units. Triangles facing away or
    /// off the target are culled; the indices (into `tris`) of the others are appended to
    /// `drawn`: only their vertices' attributes are read by [`Target::resolve`].
    pub fn draw(&mut self, verts: &[[f32; 3]], tris: &[[u32; 3]], drawn: &mut Vec<u32>) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX.
            return unsafe { self.draw_avx(verts, tris, drawn) };
        }
        self.draw_impl::<false>(verts, tris, drawn)
    }

    /// [`Target::draw`] with the small-triangle pass on 8-lane AVX vectors (both row groups
    /// at once; the same IEEE operations lane by lane, so the same bits as the 4-lane pass).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    unsafe fn draw_avx(&mut self, verts: &[[f32; 3]], tris: &[[u32; 3]], drawn: &mut Vec<u32>) {
        self.draw_impl::<true>(verts, tris, drawn)
    }

    #[inline(always)]
    fn draw_impl<const WIDE: bool>(
        &mut self,
        verts: &[[f32; 3]],
        tris: &[[u32; 3]],
        drawn: &mut Vec<u32>,
    ) {
        let (w, h) = (self.width as f32, self.height as f32);
        let stride = self.stride;
        if self.planes.len() < tris.len() {
            self.planes.resize(tris.len(), Plane::default());
        }
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
            self.planes[ti] = Plane([
                e0[0] * a[2],
                e0[1] * a[2],
                b[0],
                b[1],
                e1[0] * b[2],
                e1[1] * b[2],
                c[0],
                c[1],
            ]);
            // 1/depth's step per column
            let dz_col = e0[0] * a[2] + e1[0] * b[2] + e2[0] * c[2];
            let (x_lo, x_hi) = (minx as usize, maxx as usize);
            let x0 = minx + 0.5;
            let first = miny as usize / LANES;
            let groups = (maxy as usize).div_ceil(LANES) - first;
            #[cfg(target_arch = "x86_64")]
            if WIDE {
                // SAFETY (all three calls): only reached from `draw_avx` (the CPU has AVX);
                // the passes check their bounds.
                let span = |g: usize| unsafe {
                    wide::Span::new(
                        g * LANES,
                        x0,
                        [(e0, b), (e1, c), (e2, a)],
                        [a[2], b[2], c[2]],
                        [e0[0], e1[0], e2[0]],
                        dz_col,
                        [miny, maxy],
                        ti as u32,
                    )
                };
                let (depth, tris) = (&mut self.depth, &mut self.tri);
                let gstep = stride * LANES;
                if x_hi - x_lo <= WIDE_COLS && groups <= FAST_GROUPS {
                    // Small triangles (most of a face) take a fixed pass over both row groups
                    // and FAST_COLS or WIDE_COLS columns, with no data-dependent branch;
                    // columns past the box (in the buffer's padding or outside the triangle)
                    // are masked off.
                    let k = (first * stride + x_lo) * LANES;
                    let col =
                        |j: usize| F4::splat_bits(u32::from(x_lo + j < x_hi).wrapping_neg()).0;
                    let span = span(first);
                    unsafe {
                        if x_hi - x_lo <= FAST_COLS {
                            let cols = std::array::from_fn::<_, FAST_COLS, _>(col);
                            wide::fast_pass(depth, tris, k, gstep, span, cols)
                        } else {
                            let cols = std::array::from_fn::<_, WIDE_COLS, _>(col);
                            wide::fast_pass(depth, tris, k, gstep, span, cols)
                        }
                    };
                } else {
                    // larger triangles: the box's columns, two row groups at a time (the
                    // second group of the last pair is at most the padding group)
                    for g in (first..first + groups).step_by(2) {
                        let k = (g * stride + x_lo) * LANES;
                        unsafe { wide::span_pass(depth, tris, k, gstep, span(g), x_hi - x_lo) };
                    }
                }
                continue;
            }
            // every other triangle without AVX: the box's columns, one row group at a time,
            // branch-free within the group (the same operations as `wide::Span` per lane)
            let step = [e0[0], e1[0], e2[0]].map(F4::splat);
            let zs = [a[2], b[2], c[2]].map(F4::splat);
            let (dz, tri) = (F4::splat(dz_col), F4::splat_bits(ti as u32));
            let (lo, hi) = (F4::splat(miny), F4::splat(maxy));
            // edge functions and 1/depth of column x_lo of the group starting at row r0
            let start = |r0: usize| {
                let y = F4::splat(r0 as f32).add(F4::new([0.5, 1.5, 2.5, 3.5]));
                let edge = |e: [f32; 2], p: [f32; 3]| {
                    F4::splat(e[0] * (x0 - p[0])).add(F4::splat(e[1]).mul(y.sub(F4::splat(p[1]))))
                };
                let w = [edge(e0, b), edge(e1, c), edge(e2, a)];
                let iw = w[0].mul(zs[0]).add(w[1].mul(zs[1])).add(w[2].mul(zs[2]));
                // rows inside the bounding box: miny <= r < maxy, i.e. miny < r + 0.5 < maxy
                (w, iw, y.gt(lo).and(hi.gt(y)))
            };
            for g in first..first + groups {
                let (mut w, mut iw, live) = start(g * LANES);
                let mut k = (g * stride + x_lo) * LANES;
                for _ in x_lo..x_hi {
                    self.sample(k, w, iw, live, tri);
                    for (wi, s) in w.iter_mut().zip(&step) {
                        *wi = wi.add(*s);
                    }
                    iw = iw.add(dz);
                    k += LANES;
                }
            }
        }
    }

    /// Depth test and write of one column of a row group (buffer index `k`): lanes of `live`
    /// inside the triangle (edge functions `w` all `>= 0`) and nearer than the buffer take
    /// `iw` and `tri`.
    #[inline(always)]
    fn sample(&mut self, k: usize, w: [F4; 3], iw: F4, live: F4, tri: F4) {
        let d = F4::load(&self.depth, k);
        let m = F4::all_nonneg(w[0], w[1], w[2]).and(live).and(iw.gt(d));
        m.select(iw, d).store(&mut self.depth, k);
        m.select(tri, F4::load_bits(&self.tri, k))
            .store_bits(&mut self.tri, k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty(t: &Target) -> bool {
        (0..t.height).all(|y| (0..t.width).all(|x| t.depth_at(x, y) == 0.0))
    }

    #[test]
    fn nearer_triangle_wins_and_backfaces_are_culled() {
        let mut t = Target::new(8, 8);
        let mut attrs = [[0.0; NA]; 6];
        for a in &mut attrs[3..] {
            a[2] = 1.0;
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
        assert!(empty(&u), "back face drawn");
        let mut shaded = 0;
        let (img, cov) = t.resolve(
            2,
            &tris,
            &attrs,
            1.0,
            |x, y| [x as f32 * 0.1, y as f32 * 0.1, 0.5],
            |a| {
                shaded += 1;
                [a[2]; 3]
            },
        );
        // one shade per covered pixel (all attributes are continuous)
        assert_eq!(shaded, cov.iter().filter(|&&c| c > 0.0).count());
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
    fn coverage_matches_a_scalar_point_in_triangle_test() {
        // an odd-sized target (the last row group is partial) and triangles of every size
        let (w, h) = (37usize, 23usize);
        let mut t = Target::new(w, h);
        let verts = vec![
            [-3.0, 2.2, 0.5],
            [30.7, 25.9, 0.5],
            [40.1, -1.3, 0.5],
            [5.2, 5.1, 0.9],
            [5.9, 7.8, 0.9],
            [7.7, 5.3, 0.9],
        ];
        let tris = [[0, 1, 2], [3, 4, 5]];
        let mut drawn = Vec::new();
        t.draw(&verts, &tris, &mut drawn);
        assert_eq!(drawn, vec![0, 1]);
        let inside = |tri: [u32; 3], px: f32, py: f32| {
            let [a, b, c] = tri.map(|i| verts[i as usize]);
            let e = |p: [f32; 3], q: [f32; 3]| {
                (q[0] - p[0]) * (py - p[1]) - (q[1] - p[1]) * (px - p[0])
            };
            let (d0, d1, d2) = (e(a, b), e(b, c), e(c, a));
            (d0 <= 0.0 && d1 <= 0.0 && d2 <= 0.0) || (d0 >= 0.0 && d1 >= 0.0 && d2 >= 0.0)
        };
        let mut mismatches = 0;
        for y in 0..h {
            for x in 0..w {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let expect = if inside(tris[1], px, py) {
                    0.9
                } else if inside(tris[0], px, py) {
                    0.5
                } else {
                    0.0
                };
                let got = t.depth_at(x, y);
                if (got - expect).abs() > 1e-4 {
                    mismatches += 1;
                }
            }
        }
        // edge samples may round either way; nothing else may differ
        assert!(mismatches <= 2, "{mismatches} samples differ");
    }

    #[test]
    fn simd_paths_give_the_same_buffers() {
        // small and large triangles at every alignment, overlapping at random depths
        let mut verts = Vec::new();
        let mut tris = Vec::new();
        let mut rnd = crate::face::test_uniform(12345);
        for i in 0..3000u32 {
            let (cx, cy) = (rnd() * 70.0 - 3.0, rnd() * 50.0 - 3.0);
            let s = if i % 10 == 0 { 12.0 } else { 3.5 };
            let z = 0.1 + rnd();
            for _ in 0..3 {
                verts.push([cx + rnd() * s, cy + rnd() * s, z]);
            }
            tris.push([3 * i, 3 * i + 1, 3 * i + 2]);
        }
        let (mut a, mut b) = (Target::new(64, 45), Target::new(64, 45));
        let (mut da, mut db) = (Vec::new(), Vec::new());
        a.draw(&verts, &tris, &mut da);
        b.draw_impl::<false>(&verts, &tris, &mut db);
        assert_eq!(da, db);
        assert!(da.len() > 1000);
        let bits = |t: &Target| -> Vec<(u32, u32)> {
            (0..t.height)
                .flat_map(|y| (0..t.width).map(move |x| (x, y)))
                .map(|(x, y)| {
                    let k = t.index(x, y);
                    let d = t.depth[k];
                    (d.to_bits(), if d > 0.0 { t.tri[k] } else { 0 })
                })
                .collect()
        };
        assert_eq!(bits(&a), bits(&b));
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
