//! Background model: 32 coefficients set two colours and a gradient (dims 0-7), two plane
//! waves (8-15), two soft blobs (16-23) and a low-frequency texture on a fixed random 8x8
//! basis (24-31). Rendered at output resolution, independent of the face; a
//! [`BackgroundField`] evaluates it pixel by pixel so pixels the face covers are skipped.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{seed_of, DRAW_VERSION, N_BG};

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
        let mut rng = ChaCha8Rng::seed_from_u64(seed_of("synface-bg", &[DRAW_VERSION]));
        let basis = (0..8)
            .map(|_| std::array::from_fn(|_| rng.random_range(-1.0f32..1.0)))
            .collect();
        BackgroundModel { basis }
    }

    /// RGB in [0, 1] for each pixel of a `size x size` image.
    pub fn render(&self, c: &[f32; N_BG], size: usize) -> Vec<[f32; 3]> {
        let f = self.field(c, size);
        (0..size * size).map(|k| f.at(k % size, k / size)).collect()
    }

    /// The background of a `size x size` image, ready to evaluate pixel by pixel (so pixels the
    /// face covers cost nothing).
    pub fn field(&self, c: &[f32; N_BG], size: usize) -> BackgroundField {
        let c0 = col(c, 0);
        let c1 = col(c, 3);
        let ang = c[6] * 1.5;
        let (gx, gy) = (ang.cos(), ang.sin());
        let gs = 0.5 + 0.25 * c[7].tanh();
        let waves: [(f32, f32, f32, f32); 2] = std::array::from_fn(|k| {
            let b = 8 + 4 * k;
            let f = 2.0 + 6.0 * (0.5 + 0.5 * c[b].tanh());
            let a = c[b + 1] * 1.3;
            (
                f * a.cos(),
                f * a.sin(),
                c[b + 2] * 3.0,
                0.025 * c[b + 3].tanh(),
            )
        });
        let blobs: [(f32, f32, f32, f32); 2] = std::array::from_fn(|k| {
            let b = 16 + 4 * k;
            (
                0.5 + 0.3 * c[b].tanh(),
                0.5 + 0.3 * c[b + 1].tanh(),
                0.15 + 0.1 * c[b + 2].tanh().abs(),
                0.15 * c[b + 3].tanh(),
            )
        });
        let mut grid = [0.0f32; GRID * GRID];
        for (k, b) in self.basis.iter().enumerate() {
            for (g, v) in grid.iter_mut().zip(b) {
                *g += 0.03 * c[24 + k] * v;
            }
        }
        let inv = 1.0 / size as f32;
        // separable pieces: sin(a + b) = sin a cos b + cos a sin b; exp(-(du² + dv²)) factorises
        let tau = std::f32::consts::TAU;
        let axis = |x: bool| -> Vec<Axis> {
            (0..size)
                .map(|p| {
                    let u = (p as f32 + 0.5) * inv;
                    let g = (u * (GRID - 1) as f32).min(GRID as f32 - 1.001);
                    let i = g as usize;
                    let f = g - i as f32;
                    Axis {
                        ramp: (u - 0.5) * if x { gx } else { gy },
                        wave: waves.map(|(fx, fy, ph, _)| {
                            if x {
                                (tau * fx * u + ph).sin_cos()
                            } else {
                                (tau * fy * u).sin_cos()
                            }
                        }),
                        blob: blobs.map(|(bx, by, r, _)| {
                            let m = if x { bx } else { by };
                            (-(u - m).powi(2) / (r * r)).exp()
                        }),
                        cell: i,
                        frac: f,
                    }
                })
                .collect()
        };
        BackgroundField {
            c0,
            c1,
            gs,
            wave_amp: waves.map(|w| w.3),
            blob_amp: blobs.map(|b| b.3),
            grid,
            cols: axis(true),
            rows: axis(false),
        }
    }
}

/// Per-column (or per-row) terms of a background.
#[derive(Debug, Clone, Copy)]
struct Axis {
    /// Gradient ramp term.
    ramp: f32,
    /// sin/cos of each plane wave's phase along this axis.
    wave: [(f32, f32); 2],
    /// Each blob's Gaussian factor along this axis.
    blob: [f32; 2],
    /// Texture grid cell and fraction.
    cell: usize,
    frac: f32,
}

/// One image's background, evaluated per pixel by [`BackgroundField::at`].
#[derive(Debug, Clone)]
pub struct BackgroundField {
    c0: [f32; 3],
    c1: [f32; 3],
    gs: f32,
    wave_amp: [f32; 2],
    blob_amp: [f32; 2],
    grid: [f32; GRID * GRID],
    cols: Vec<Axis>,
    rows: Vec<Axis>,
}

impl BackgroundField {
    /// RGB in [0, 1] of pixel (`px`, `py`).
    #[inline(always)]
    pub fn at(&self, px: usize, py: usize) -> [f32; 3] {
        let (cx, cy) = (&self.cols[px], &self.rows[py]);
        let t = ((cx.ramp + cy.ramp) * self.gs + 0.5).clamp(0.0, 1.0);
        let mut lum = 0.0;
        for k in 0..2 {
            let ((sa, ca), (sb, cb)) = (cx.wave[k], cy.wave[k]);
            lum += self.wave_amp[k] * (sa * cb + ca * sb);
        }
        for k in 0..2 {
            lum += self.blob_amp[k] * cx.blob[k] * cy.blob[k];
        }
        let (ix, iy) = (cx.cell, cy.cell);
        let (fx, fy) = (cx.frac, cy.frac);
        let g = |x: usize, y: usize| self.grid[y * GRID + x];
        lum += crate::pixels::bilerp(
            g(ix, iy),
            g(ix + 1, iy),
            g(ix, iy + 1),
            g(ix + 1, iy + 1),
            fx,
            fy,
        );
        let (c0, c1) = (self.c0, self.c1);
        [0, 1, 2].map(|k| (c0[k] + (c1[k] - c0[k]) * t + lum).clamp(0.0, 1.0))
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
