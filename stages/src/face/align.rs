//! Five-point face alignment of photographs: the least-squares similarity transform that maps
//! a photo's landmarks (eyes, nose tip, mouth corners) onto the crop's template
//! ([`super::template`]: the 112x112 template with the face model's margin, scaled to the output
//! size), and the bilinear warp that applies it (`load_images` with a landmarks file). The
//! renderer places its faces on the same template (`face/camera.rs`).

use image::RgbImage;

use super::template;

/// A similarity transform `dst = [a -b; b a] src + t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    /// Least-squares similarity mapping the points `src` onto `dst`.
    pub fn fit(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Similarity {
        let n = src.len().min(dst.len()).max(1) as f32;
        let mean = |p: &[[f32; 2]]| {
            let (sx, sy) = p.iter().fold((0.0, 0.0), |(x, y), q| (x + q[0], y + q[1]));
            (sx / n, sy / n)
        };
        let (mx, my) = mean(src);
        let (dx, dy) = mean(dst);
        let (mut num_a, mut num_b, mut den) = (0.0f32, 0.0f32, 0.0f32);
        for (s, d) in src.iter().zip(dst) {
            let (sx, sy, ex, ey) = (s[0] - mx, s[1] - my, d[0] - dx, d[1] - dy);
            num_a += sx * ex + sy * ey;
            num_b += sx * ey - sy * ex;
            den += sx * sx + sy * sy;
        }
        let (a, b) = if den > 0.0 {
            (num_a / den, num_b / den)
        } else {
            (1.0, 0.0)
        };
        Similarity {
            a,
            b,
            tx: dx - (a * mx - b * my),
            ty: dy - (b * mx + a * my),
        }
    }
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [
            self.a * p[0] - self.b * p[1] + self.tx,
            self.b * p[0] + self.a * p[1] + self.ty,
        ]
    }
    /// The inverse transform (identity-like when degenerate).
    pub fn inverse(&self) -> Similarity {
        let d = self.a * self.a + self.b * self.b;
        if d == 0.0 {
            return Similarity {
                a: 1.0,
                b: 0.0,
                tx: 0.0,
                ty: 0.0,
            };
        }
        let (ia, ib) = (self.a / d, -self.b / d);
        Similarity {
            a: ia,
            b: ib,
            tx: -(ia * self.tx - ib * self.ty),
            ty: -(ib * self.tx + ia * self.ty),
        }
    }
}

/// Warp `img` so that its landmarks `lm` land on the template scaled to `size`; returns the
/// pixels and the landmarks in output coordinates. Outside the source image is black.
pub fn align(img: &RgbImage, lm: &[f32; 10], size: usize) -> (Vec<u8>, [f32; 10]) {
    let src: Vec<[f32; 2]> = lm.chunks_exact(2).map(|c| [c[0], c[1]]).collect();
    let dst = template(size);
    let fwd = Similarity::fit(&src, &dst);
    let inv = fwd.inverse();
    let mut out = vec![0u8; size * size * 3];
    for y in 0..size {
        for x in 0..size {
            let [sx, sy] = inv.apply([x as f32, y as f32]);
            let px = bilinear(img, sx, sy);
            out[(y * size + x) * 3..(y * size + x) * 3 + 3].copy_from_slice(&px);
        }
    }
    let mut out_lm = [0f32; 10];
    for (i, s) in src.iter().enumerate() {
        let [x, y] = fwd.apply(*s);
        out_lm[2 * i] = x;
        out_lm[2 * i + 1] = y;
    }
    (out, out_lm)
}

/// Bilinear sample at pixel coordinates (x, y); black outside the image.
fn bilinear(img: &RgbImage, x: f32, y: f32) -> [u8; 3] {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let (x0, y0) = (x.floor() as i64, y.floor() as i64);
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let at = |xi: i64, yi: i64| -> [f32; 3] {
        if xi < 0 || yi < 0 || xi >= w || yi >= h {
            return [0.0; 3];
        }
        let p = img.get_pixel(xi as u32, yi as u32).0;
        [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])]
    };
    let (p00, p10, p01, p11) = (
        at(x0, y0),
        at(x0 + 1, y0),
        at(x0, y0 + 1),
        at(x0 + 1, y0 + 1),
    );
    [0, 1, 2].map(|c| {
        let v = crate::pixels::bilerp(p00[c], p10[c], p01[c], p11[c], fx, fy);
        v.round().clamp(0.0, 255.0) as u8
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_fit_recovers_transform() {
        let truth = Similarity {
            a: 0.8,
            b: 0.3,
            tx: 5.0,
            ty: -2.0,
        };
        let src: Vec<[f32; 2]> = crate::face::TEMPLATE_112.to_vec();
        let dst: Vec<[f32; 2]> = src.iter().map(|&p| truth.apply(p)).collect();
        let fit = Similarity::fit(&src, &dst);
        for (x, y) in [
            (fit.a, truth.a),
            (fit.b, truth.b),
            (fit.tx, truth.tx),
            (fit.ty, truth.ty),
        ] {
            assert!((x - y).abs() < 1e-3, "{fit:?} vs {truth:?}");
        }
        let back = fit.inverse().apply(fit.apply([3.0, 4.0]));
        assert!((back[0] - 3.0).abs() < 1e-3 && (back[1] - 4.0).abs() < 1e-3);
    }
}
