//! Software rasteriser: z-buffered triangles with perspective-correct attribute interpolation,
//! back-face culling, and supersampled anti-aliasing (an `ss x ss` grid of samples per output
//! pixel, resolved over a background). Single-threaded per image so results never depend on
//! the thread count.

/// Attributes interpolated per sample: texture (s, t), irradiance (r, g, b), specular.
pub const NA: usize = 6;

/// A supersampled colour + depth buffer.
#[derive(Debug, Clone)]
pub struct Target {
    pub width: usize,
    pub height: usize,
    pub color: Vec<[f32; 3]>,
    /// 1 / depth of the nearest surface; 0 = empty.
    pub depth: Vec<f32>,
    /// Interpolated attributes of the nearest surface (deferred shading: each visible sample
    /// is shaded once, after depth testing, however many triangles covered it).
    attr: Vec<[f32; NA]>,
    /// The `draw` call that last wrote each sample (its `generation`).
    stamp: Vec<u32>,
    generation: u32,
}

impl Target {
    pub fn new(width: usize, height: usize) -> Target {
        Target {
            width,
            height,
            color: vec![[0.0; 3]; width * height],
            depth: vec![0.0; width * height],
            attr: vec![[0.0; NA]; width * height],
            stamp: vec![0; width * height],
            generation: 0,
        }
    }

    /// Resize to `width x height` and mark every sample empty (keeps the allocation).
    pub fn reset(&mut self, width: usize, height: usize) {
        let n = width * height;
        self.width = width;
        self.height = height;
        self.color.resize(n, [0.0; 3]);
        self.depth.clear();
        self.depth.resize(n, 0.0);
        self.attr.resize(n, [0.0; NA]);
        self.stamp.clear();
        self.stamp.resize(n, 0);
        self.generation = 0;
    }

    /// Draw triangles. `verts` are (x, y, 1/depth) in sample units; `attrs` per vertex;
    /// `shade` maps interpolated attributes to a colour. Triangles facing away are culled.
    pub fn draw<F: FnMut(&[f32; NA]) -> [f32; 3]>(
        &mut self,
        verts: &[[f32; 3]],
        attrs: &[[f32; NA]],
        tris: &[[u32; 3]],
        mut shade: F,
    ) {
        let (w, h) = (self.width as f32, self.height as f32);
        self.generation = self.generation.wrapping_add(1).max(1);
        let generation = self.generation;
        for t in tris {
            let [ia, ib, ic] = t.map(|i| i as usize);
            let (a, b, c) = (verts[ia], verts[ib], verts[ic]);
            // y grows downwards: counter-clockwise model triangles have negative area here
            let area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
            if area >= -1e-9 {
                continue;
            }
            let minx = a[0].min(b[0]).min(c[0]).floor().max(0.0);
            let maxx = a[0].max(b[0]).max(c[0]).ceil().min(w);
            let miny = a[1].min(b[1]).min(c[1]).floor().max(0.0);
            let maxy = a[1].max(b[1]).max(c[1]).ceil().min(h);
            if minx >= maxx || miny >= maxy {
                continue;
            }
            let inv_area = 1.0 / area;
            // edge function of vertex i: signed area of the opposite edge and the point
            let e0 = [(b[1] - c[1]) * inv_area, (c[0] - b[0]) * inv_area];
            let e1 = [(c[1] - a[1]) * inv_area, (a[0] - c[0]) * inv_area];
            let e2 = [(a[1] - b[1]) * inv_area, (b[0] - a[0]) * inv_area];
            let (aa, ab, ac) = (&attrs[ia], &attrs[ib], &attrs[ic]);
            for py in miny as usize..maxy as usize {
                let y = py as f32 + 0.5;
                let x0 = minx + 0.5;
                let mut w0 = e0[0] * (x0 - b[0]) + e0[1] * (y - b[1]);
                let mut w1 = e1[0] * (x0 - c[0]) + e1[1] * (y - c[1]);
                let mut w2 = e2[0] * (x0 - a[0]) + e2[1] * (y - a[1]);
                let row = py * self.width;
                for px in minx as usize..maxx as usize {
                    if w0 >= 0.0 && w1 >= 0.0 && w2 >= 0.0 {
                        let iw = w0 * a[2] + w1 * b[2] + w2 * c[2];
                        let k = row + px;
                        if iw > self.depth[k] {
                            self.depth[k] = iw;
                            let (p0, p1, p2) = (w0 * a[2] / iw, w1 * b[2] / iw, w2 * c[2] / iw);
                            let mut at = [0.0; NA];
                            for (j, v) in at.iter_mut().enumerate() {
                                *v = p0 * aa[j] + p1 * ab[j] + p2 * ac[j];
                            }
                            self.attr[k] = at;
                            self.stamp[k] = generation;
                        }
                    }
                    w0 += e0[0];
                    w1 += e1[0];
                    w2 += e2[0];
                }
            }
        }
        for ((c, a), &g) in self.color.iter_mut().zip(&self.attr).zip(&self.stamp) {
            if g == generation {
                *c = shade(a);
            }
        }
    }

    /// Average `ss x ss` blocks into an output image over `background` (f32 RGB in [0, 1] per
    /// output pixel). Returns the output colours and per-pixel face coverage in [0, 1].
    pub fn resolve(&self, ss: usize, background: &[[f32; 3]]) -> (Vec<[f32; 3]>, Vec<f32>) {
        let (ow, oh) = (self.width / ss, self.height / ss);
        let mut out = Vec::with_capacity(ow * oh);
        let mut cov = Vec::with_capacity(ow * oh);
        let norm = 1.0 / (ss * ss) as f32;
        for oy in 0..oh {
            for ox in 0..ow {
                let bg = background[oy * ow + ox];
                let mut acc = [0.0; 3];
                let mut n = 0usize;
                for sy in 0..ss {
                    let row = (oy * ss + sy) * self.width + ox * ss;
                    for sx in 0..ss {
                        let k = row + sx;
                        let c = if self.depth[k] > 0.0 {
                            n += 1;
                            self.color[k]
                        } else {
                            bg
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearer_triangle_wins_and_backfaces_are_culled() {
        let mut t = Target::new(8, 8);
        let attrs = [[0.0; NA]; 6];
        // clockwise on screen (y down) = front facing
        let far = [[0.0, 0.0, 0.1], [0.0, 8.0, 0.1], [8.0, 0.0, 0.1]];
        let near = [[0.0, 0.0, 0.2], [0.0, 8.0, 0.2], [8.0, 0.0, 0.2]];
        let verts: Vec<[f32; 3]> = far.iter().chain(near.iter()).copied().collect();
        let mut id = 0.0;
        t.draw(&verts, &attrs, &[[0, 1, 2]], |_| [0.25; 3]);
        t.draw(&verts, &attrs, &[[3, 4, 5]], |_| {
            id += 1.0;
            [1.0; 3]
        });
        assert!(id > 0.0);
        assert_eq!(t.color[8 + 1], [1.0; 3]);
        let mut u = Target::new(8, 8);
        u.draw(&verts, &attrs, &[[0, 2, 1]], |_| [1.0; 3]);
        assert!(u.depth.iter().all(|&d| d == 0.0), "back face drawn");
        let (img, cov) = t.resolve(2, &[[0.0; 3]; 16]);
        assert_eq!(img.len(), 16);
        assert_eq!(cov[0], 1.0);
        assert_eq!(cov[15], 0.0);
    }
}
