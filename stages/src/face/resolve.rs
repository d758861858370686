//! The resolve half of the rasteriser: turns the depth + triangle buffers that
//! [`Target::draw`] filled into an output image. Each visible sample's attributes are
//! interpolated perspective-correctly from its triangle's planes; a pixel is shaded once at the
//! mean of its samples' attributes where they lie on one continuous surface (their texture
//! coordinates close together), or sample by sample where they do not (silhouettes over the
//! face, the lip line, the back seam); coverage against the background is exact either way.
//! On x86_64 CPUs with AVX2 the same code is compiled for AVX2 and chosen at run time (plain
//! IEEE arithmetic, no contraction: the same bits).

use super::raster::{Plane, Target, MAX_SAMPLES, NA};
#[cfg(target_arch = "x86_64")]
use super::simd::with_avx2;

impl Target {
    /// Perspective-correct attributes of triangle `ti` at sample-space point (px, py), where
    /// 1 / depth is `iw` (outside the triangle this extends its planes).
    #[inline(always)]
    fn attributes(
        &self,
        ti: usize,
        px: f32,
        py: f32,
        iw: f32,
        tris: &[[u32; 3]],
        attrs: &[[f32; NA]],
    ) -> [f32; NA] {
        let Plane(p) = self.planes[ti];
        let depth = 1.0 / iw;
        let w0 = (p[0] * (px - p[2]) + p[1] * (py - p[3])) * depth;
        let w1 = (p[4] * (px - p[6]) + p[5] * (py - p[7])) * depth;
        let w2 = 1.0 - w0 - w1;
        let [aa, ab, ac] = tris[ti].map(|i| &attrs[i as usize]);
        std::array::from_fn(|j| w0 * aa[j] + w1 * ab[j] + w2 * ac[j])
    }

    /// The summed colour of a pixel's visible samples `hits` (buffer index and sample-space
    /// position): shaded once and weighted by their count where they lie on one surface,
    /// else sample by sample (see [`Target::resolve`]).
    #[inline(always)]
    fn shade_samples<S>(
        &self,
        hits: &[(usize, f32, f32)],
        tris: &[[u32; 3]],
        attrs: &[[f32; NA]],
        merge: f32,
        samples: &mut [[f32; NA]; MAX_SAMPLES],
        shade: &mut S,
    ) -> [f32; 3]
    where
        S: FnMut(&[f32; NA]) -> [f32; 3],
    {
        let n = hits.len();
        let t0 = self.tri[hits[0].0] as usize;
        // All in one triangle: shade once at the samples' centroid (inside it, so an
        // interpolation). Otherwise each sample's own attributes, then compare their
        // texture coordinates (never extrapolate a triangle's planes: slivers at the lip
        // line would fling them far).
        let one = hits[1..].iter().all(|h| self.tri[h.0] as usize == t0);
        let inv = 1.0 / n as f32;
        // the attributes to shade the pixel once at, if it is shaded once
        let once = if one {
            let (mut cx, mut cy, mut iw) = (0.0, 0.0, 0.0);
            for &(k, x, y) in hits {
                cx += x;
                cy += y;
                iw += self.depth[k];
            }
            Some(self.attributes(t0, cx * inv, cy * inv, iw * inv, tris, attrs))
        } else {
            for (s, &(k, x, y)) in samples.iter_mut().zip(hits) {
                *s = self.attributes(self.tri[k] as usize, x, y, self.depth[k], tris, attrs);
            }
            let visible = &samples[..n];
            within(visible.iter().map(|s| [s[0], s[1]]), merge).then(|| {
                let mut mean = visible[0];
                for s in &visible[1..] {
                    for (m, v) in mean.iter_mut().zip(s) {
                        *m += v;
                    }
                }
                mean.map(|v| v * inv)
            })
        };
        match once {
            Some(at) => shade(&at).map(|c| c * n as f32),
            None => samples[..n].iter().fold([0.0; 3], |a, s| {
                let c = shade(s);
                [a[0] + c[0], a[1] + c[1], a[2] + c[2]]
            }),
        }
    }

    /// Shade the visible samples and average `ss x ss` blocks into an output image over a
    /// background. `tris` are those given to [`Target::draw`] and `attrs` per vertex, the first
    /// two being texture coordinates; `shade` maps interpolated attributes to a colour;
    /// `background(x, y)` is the f32 RGB of output pixel (x, y), asked only for pixels with an
    /// empty sample. A pixel whose visible samples' texture coordinates all lie within `merge`
    /// of each other (in s and in t) is shaded once, at their mean attributes, and weighted by
    /// its coverage; otherwise each sample is shaded. Returns the output colours and per-pixel
    /// face coverage in [0, 1].
    pub fn resolve<B, S>(
        &self,
        ss: usize,
        tris: &[[u32; 3]],
        attrs: &[[f32; NA]],
        merge: f32,
        background: B,
        shade: S,
    ) -> ResolvedImage
    where
        B: FnMut(usize, usize) -> [f32; 3],
        S: FnMut(&[f32; NA]) -> [f32; 3],
    {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe {
                with_avx2(
                    #[inline(always)]
                    || self.resolve_portable(ss, tris, attrs, merge, background, shade),
                )
            };
        }
        self.resolve_portable(ss, tris, attrs, merge, background, shade)
    }

    /// [`Target::resolve`] for any `ss`, compiled for the baseline CPU unless inlined.
    #[inline(always)]
    fn resolve_portable<B, S>(
        &self,
        ss: usize,
        tris: &[[u32; 3]],
        attrs: &[[f32; NA]],
        merge: f32,
        background: B,
        shade: S,
    ) -> ResolvedImage
    where
        B: FnMut(usize, usize) -> [f32; 3],
        S: FnMut(&[f32; NA]) -> [f32; 3],
    {
        match ss {
            0 | 1 => self.resolve_ss::<1, B, S>(tris, attrs, merge, background, shade),
            2 => self.resolve_ss::<2, B, S>(tris, attrs, merge, background, shade),
            3 => self.resolve_ss::<3, B, S>(tris, attrs, merge, background, shade),
            _ => self.resolve_ss::<4, B, S>(tris, attrs, merge, background, shade),
        }
    }

    /// [`Target::resolve`] for `SS x SS` samples per pixel.
    #[inline(always)]
    fn resolve_ss<const SS: usize, B, S>(
        &self,
        tris: &[[u32; 3]],
        attrs: &[[f32; NA]],
        merge: f32,
        mut background: B,
        mut shade: S,
    ) -> ResolvedImage
    where
        B: FnMut(usize, usize) -> [f32; 3],
        S: FnMut(&[f32; NA]) -> [f32; 3],
    {
        const { assert!(SS * SS <= MAX_SAMPLES) };
        let (ow, oh) = (self.width / SS, self.height / SS);
        let mut out = Vec::with_capacity(ow * oh);
        let mut cov = Vec::with_capacity(ow * oh);
        let total = SS * SS;
        let norm = 1.0 / total as f32;
        let mut hits = [(0usize, 0.0f32, 0.0f32); MAX_SAMPLES];
        let mut samples = [[0.0f32; NA]; MAX_SAMPLES];
        for oy in 0..oh {
            for ox in 0..ow {
                // the visible samples: buffer index and position
                let mut n = 0usize;
                for sy in 0..SS {
                    for sx in 0..SS {
                        let (x, y) = (ox * SS + sx, oy * SS + sy);
                        let k = self.index(x, y);
                        if self.depth[k] > 0.0 {
                            hits[n] = (k, x as f32 + 0.5, y as f32 + 0.5);
                            n += 1;
                        }
                    }
                }
                if n == 0 {
                    out.push(background(ox, oy));
                    cov.push(0.0);
                    continue;
                }
                // (a full pixel passes a slice of constant length: its loops unroll)
                let mut acc = if n == total {
                    self.shade_samples(&hits[..total], tris, attrs, merge, &mut samples, &mut shade)
                } else {
                    self.shade_samples(&hits[..n], tris, attrs, merge, &mut samples, &mut shade)
                };
                if n < total {
                    let bg = background(ox, oy);
                    let w = (total - n) as f32;
                    for (a, b) in acc.iter_mut().zip(bg) {
                        *a += b * w;
                    }
                }
                out.push(acc.map(|v| v * norm));
                cov.push(n as f32 * norm);
            }
        }
        (out, cov)
    }
}

/// Whether 2-D points all lie within `span` of each other along each axis.
#[inline(always)]
fn within(mut points: impl Iterator<Item = [f32; 2]>, span: f32) -> bool {
    let Some(first) = points.next() else {
        return true;
    };
    let (mut lo, mut hi) = (first, first);
    for p in points {
        for c in 0..2 {
            lo[c] = lo[c].min(p[c]);
            hi[c] = hi[c].max(p[c]);
        }
    }
    hi[0] - lo[0] <= span && hi[1] - lo[1] <= span
}

/// Output colours and per-pixel face coverage of [`Target::resolve`].
pub type ResolvedImage = (Vec<[f32; 3]>, Vec<f32>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_perspective_correct_and_seams_are_shaded_per_sample() {
        // a quad of two triangles whose right half is twice as far away: texture s must follow
        // the perspective mapping, not screen-space interpolation
        let mut t = Target::new(16, 4);
        let verts = vec![
            [0.0, 0.0, 1.0],
            [16.0, 0.0, 0.5],
            [0.0, 4.0, 1.0],
            [16.0, 4.0, 0.5],
        ];
        let tris = [[0, 2, 1], [1, 2, 3]];
        let mut drawn = Vec::new();
        t.draw(&verts, &tris, &mut drawn);
        let attrs: Vec<[f32; NA]> = [0.0, 1.0, 0.0, 1.0]
            .iter()
            .map(|&s| [s, 0.0, 0.0, 0.0, 0.0, 0.0])
            .collect();
        let (img, cov) = t.resolve(1, &tris, &attrs, 0.01, |_, _| [0.0; 3], |a| [a[0]; 3]);
        assert!(cov.iter().all(|&c| c == 1.0));
        for x in 0..16 {
            let u = (x as f32 + 0.5) / 16.0;
            // 1/z interpolates linearly in screen space: s = u * z1 / ((1 - u) * z0 + u * z1)
            let s = u * 0.5 / ((1.0 - u) * 1.0 + u * 0.5);
            assert!(
                (img[x + 16][0] - s).abs() < 1e-5,
                "x={x}: {} vs {s}",
                img[x + 16][0]
            );
        }
        // at 2x2, a pixel inside one triangle is shaded once; one straddling two is shaded once
        // only if its samples' texture coordinates lie within `merge`
        let count = |t: &Target, tris: &[[u32; 3]], attrs: &[[f32; NA]], merge: f32| {
            let mut shaded = 0;
            let (img, _) = t.resolve(
                2,
                tris,
                attrs,
                merge,
                |_, _| [0.0; 3],
                |a| {
                    shaded += 1;
                    [a[0]; 3]
                },
            );
            (shaded, img)
        };
        assert_eq!(count(&t, &tris, &attrs, 1.0).0, 16, "one shade per pixel");
        let (tight, _) = count(&t, &tris, &attrs, 0.01);
        assert!(tight > 16 && tight < 64, "{tight} shades");
        // a seam: the second triangle has its own vertices, with a texture coordinate of its
        // own, so pixels straddling the diagonal are shaded sample by sample unless `merge`
        // spans the jump
        let mut seam = verts.clone();
        seam.extend([verts[1], verts[2], verts[3]]);
        let mut attrs2 = attrs.clone();
        attrs2.extend([[0.5, 0.0, 0.0, 0.0, 0.0, 0.0]; 3]);
        let tris2 = [[0, 2, 1], [4, 5, 6]];
        let mut u = Target::new(16, 4);
        u.draw(&seam, &tris2, &mut drawn);
        let (tight, img) = count(&u, &tris2, &attrs2, 0.01);
        let (loose, _) = count(&u, &tris2, &attrs2, 1.0);
        assert_eq!(
            loose, 16,
            "one shade per pixel when merging across the seam"
        );
        assert!(tight > 16, "seam pixels shaded per sample ({tight} shades)");
        assert!(img.iter().all(|c| c[0] >= 0.0 && c[0] <= 1.0));
    }

    #[test]
    fn every_code_path_gives_the_same_image() {
        // overlapping triangles of every size at random depths, attributes that make some
        // pixels merge and others shade per sample, partial coverage at every supersampling
        let mut rnd = crate::face::test_uniform(777);
        let (mut verts, mut tris, mut attrs) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..600u32 {
            let (cx, cy) = (rnd() * 70.0 - 3.0, rnd() * 70.0 - 3.0);
            let s = if i % 10 == 0 { 14.0 } else { 4.0 };
            let z = 0.1 + rnd();
            for _ in 0..3 {
                verts.push([cx + rnd() * s, cy + rnd() * s, z + 0.1 * rnd()]);
                attrs.push(std::array::from_fn(|_| rnd()));
            }
            tris.push([3 * i, 3 * i + 1, 3 * i + 2]);
        }
        for ss in 1..=4 {
            let mut t = Target::new(16 * ss, 16 * ss);
            let mut drawn = Vec::new();
            t.draw(&verts, &tris, &mut drawn);
            let bg = |x: usize, y: usize| [x as f32 * 0.01, y as f32 * 0.02, 0.3];
            let shade = |a: &[f32; NA]| [a[0] * a[2] + a[5], a[1] * a[3], a[4] / (1.0 + a[0])];
            let bits = |(img, cov): ResolvedImage| -> Vec<u32> {
                img.iter()
                    .flatten()
                    .chain(&cov)
                    .map(|v| v.to_bits())
                    .collect()
            };
            let chosen = bits(t.resolve(ss, &tris, &attrs, 0.05, bg, shade));
            let plain = bits(t.resolve_portable(ss, &tris, &attrs, 0.05, bg, shade));
            assert_eq!(chosen, plain, "ss {ss}");
        }
    }
}
