//! Background model: 32 coefficients set two colours and a gradient (dims 0-7), two plane
//! waves (8-15), two soft blobs (16-23) and a low-frequency texture on a fixed random 8x8
//! basis (24-31). Rendered at output resolution, independent of the face.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{seed_of, MODEL_VERSION, N_BG};

const GRID: usize = 8;

/// Fixed random grid bases for the texture dims.
#[derive(Debug, Clone)]
pub struct BackgroundModel {
    basis: Vec<[f32; GRID * GRID]>,
}

impl Default for BackgroundModel {
    fn default() -> Self {
        Self::new()
    }
}

fn col(c: &[f32], i: usize) -> [f32; 3] {
    [0, 1, 2].map(|k| (0.5 + 0.14 * c[i + k] + 0.1 * c[i + 3 - k.min(2)]).clamp(0.04, 0.96))
}

impl BackgroundModel {
    pub fn new() -> BackgroundModel {
        let mut rng = ChaCha8Rng::seed_from_u64(seed_of("synface-bg", &[MODEL_VERSION as u64]));
        let basis = (0..8)
            .map(|_| std::array::from_fn(|_| rng.random_range(-1.0f32..1.0)))
            .collect();
        BackgroundModel { basis }
    }

    /// RGB in [0, 1] for each pixel of a `size x size` image.
    pub fn render(&self, c: &[f32; N_BG], size: usize) -> Vec<[f32; 3]> {
        let c0 = col(c, 0);
        let c1 = col(c, 3);
        let ang = c[6] * 1.5;
        let (gx, gy) = (ang.cos(), ang.sin());
        let gs = 0.5 + 0.25 * c[7].tanh();
        let waves: Vec<(f32, f32, f32, f32)> = (0..2)
            .map(|k| {
                let b = 8 + 4 * k;
                let f = 2.0 + 6.0 * (0.5 + 0.5 * c[b].tanh());
                let a = c[b + 1] * 1.3;
                (
                    f * a.cos(),
                    f * a.sin(),
                    c[b + 2] * 3.0,
                    0.025 * c[b + 3].tanh(),
                )
            })
            .collect();
        let blobs: Vec<(f32, f32, f32, f32)> = (0..2)
            .map(|k| {
                let b = 16 + 4 * k;
                (
                    0.5 + 0.3 * c[b].tanh(),
                    0.5 + 0.3 * c[b + 1].tanh(),
                    0.15 + 0.1 * c[b + 2].tanh().abs(),
                    0.15 * c[b + 3].tanh(),
                )
            })
            .collect();
        let mut grid = [0.0f32; GRID * GRID];
        for (k, b) in self.basis.iter().enumerate() {
            for (g, v) in grid.iter_mut().zip(b) {
                *g += 0.03 * c[24 + k] * v;
            }
        }
        let inv = 1.0 / size as f32;
        let coord: Vec<f32> = (0..size).map(|p| (p as f32 + 0.5) * inv).collect();
        // separable pieces: sin(a + b) = sin a cos b + cos a sin b; exp(-(du² + dv²)) factorises
        let tau = std::f32::consts::TAU;
        let wave_x: Vec<Vec<(f32, f32)>> = waves
            .iter()
            .map(|&(fx, _, ph, _)| {
                coord
                    .iter()
                    .map(|&u| (tau * fx * u + ph).sin_cos())
                    .collect()
            })
            .collect();
        let wave_y: Vec<Vec<(f32, f32)>> = waves
            .iter()
            .map(|&(_, fy, _, _)| coord.iter().map(|&v| (tau * fy * v).sin_cos()).collect())
            .collect();
        let blob_x: Vec<Vec<f32>> = blobs
            .iter()
            .map(|&(bx, _, r, _)| {
                coord
                    .iter()
                    .map(|&u| (-(u - bx).powi(2) / (r * r)).exp())
                    .collect()
            })
            .collect();
        let blob_y: Vec<Vec<f32>> = blobs
            .iter()
            .map(|&(_, by, r, _)| {
                coord
                    .iter()
                    .map(|&v| (-(v - by).powi(2) / (r * r)).exp())
                    .collect()
            })
            .collect();
        let mut out = Vec::with_capacity(size * size);
        for py in 0..size {
            let v = coord[py];
            for px in 0..size {
                let u = coord[px];
                let t = (((u - 0.5) * gx + (v - 0.5) * gy) * gs + 0.5).clamp(0.0, 1.0);
                let mut lum = 0.0;
                for (k, w) in waves.iter().enumerate() {
                    let ((sa, ca), (sb, cb)) = (wave_x[k][px], wave_y[k][py]);
                    lum += w.3 * (sa * cb + ca * sb);
                }
                for (k, b) in blobs.iter().enumerate() {
                    lum += b.3 * blob_x[k][px] * blob_y[k][py];
                }
                let gxf = (u * (GRID - 1) as f32).min(GRID as f32 - 1.001);
                let gyf = (v * (GRID - 1) as f32).min(GRID as f32 - 1.001);
                let (ix, iy) = (gxf as usize, gyf as usize);
                let (fx, fy) = (gxf - ix as f32, gyf - iy as f32);
                let g = |x: usize, y: usize| grid[y * GRID + x];
                lum += (g(ix, iy) * (1.0 - fx) + g(ix + 1, iy) * fx) * (1.0 - fy)
                    + (g(ix, iy + 1) * (1.0 - fx) + g(ix + 1, iy + 1) * fx) * fy;
                out.push([0, 1, 2].map(|k| (c0[k] + (c1[k] - c0[k]) * t + lum).clamp(0.0, 1.0)));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_depends_on_its_coefficients() {
        let m = BackgroundModel::new();
        let a = m.render(&[0.0; N_BG], 16);
        let mut c = [0.0; N_BG];
        c[0] = 1.5;
        let b = m.render(&c, 16);
        assert_eq!(a.len(), 256);
        assert_ne!(a, b);
        assert!(b.iter().flatten().all(|v| (0.0..=1.0).contains(v)));
    }
}
