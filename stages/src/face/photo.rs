//! The "photo" style: a shifted appearance that stands in for real photos when none are given
//! (docs/design.md §8). Per image it adds skin detail noise and specular highlights (in shading), and
//! afterwards occluders (glasses or a hand-like blob), a colour cast, camera blur, sensor noise
//! and JPEG compression. All randomness comes from a per-image seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// An occluder drawn over the face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Occluder {
    /// Glasses: frame darkness, lens tint.
    Glasses { dark: f32, tint: f32 },
    /// A skin-coloured blob (hand-like) at a position relative to the mouth, with radii.
    Blob { dx: f32, dy: f32, rx: f32, ry: f32 },
}

/// Per-image photo effects.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoFx {
    pub specular: f32,
    pub skin_detail: f32,
    pub occluder: Option<Occluder>,
    pub cast: [f32; 3],
    pub gamma: f32,
    pub blur_sigma: f32,
    pub noise_sigma: f32,
    pub jpeg_quality: u8,
    pub noise_seed: u64,
}

/// Value noise on the skin (texture space), in [-1, 1].
#[inline]
pub fn skin_noise(s: f32, t: f32) -> f32 {
    let (x, y) = (s * 700.0, t * 700.0);
    let (xi, yi) = (x.floor() as i64, y.floor() as i64);
    let (fx, fy) = (x - xi as f32, y - yi as f32);
    let h = |a: i64, b: i64| -> f32 {
        let mut v = (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (b as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        v ^= v >> 29;
        v = v.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        v ^= v >> 32;
        (v & 0xFFFF) as f32 / 32767.5 - 1.0
    };
    let top = h(xi, yi) + (h(xi + 1, yi) - h(xi, yi)) * fx;
    let bot = h(xi, yi + 1) + (h(xi + 1, yi + 1) - h(xi, yi + 1)) * fx;
    0.5 * (top + (bot - top) * fy)
}

impl PhotoFx {
    pub fn sample(rng: &mut ChaCha8Rng) -> PhotoFx {
        let occluder = match rng.random_range(0..10) {
            0 | 1 => Some(Occluder::Glasses {
                dark: rng.random_range(0.1..0.5),
                tint: rng.random_range(0.0..0.5),
            }),
            2 => Some(Occluder::Blob {
                dx: rng.random_range(-0.8..0.8),
                dy: rng.random_range(-0.2..0.6),
                rx: rng.random_range(0.25..0.45),
                ry: rng.random_range(0.2..0.4),
            }),
            _ => None,
        };
        let cast = [0, 1, 2].map(|_| 1.0 + 0.08 * rng.random_range(-1.0f32..1.0));
        PhotoFx {
            specular: rng.random_range(0.05..0.25),
            skin_detail: rng.random_range(0.05..0.15),
            occluder,
            cast,
            gamma: rng.random_range(0.85..1.15),
            blur_sigma: if rng.random_bool(0.5) {
                rng.random_range(0.3..1.2)
            } else {
                0.0
            },
            noise_sigma: rng.random_range(0.0..0.03),
            jpeg_quality: rng.random_range(35..90),
            noise_seed: rng.random(),
        }
    }

    /// Apply cast, occluder, blur and noise to float RGB (`cov` = face coverage per pixel).
    pub fn apply(
        &self,
        img: &mut [[f32; 3]],
        _cov: &[f32],
        size: usize,
        lm: &[[f32; 2]; 5],
        skin: &[f32; 3],
    ) {
        let eye_d = ((lm[1][0] - lm[0][0]).powi(2) + (lm[1][1] - lm[0][1]).powi(2))
            .sqrt()
            .max(1.0);
        match self.occluder {
            Some(Occluder::Glasses { dark, tint }) => {
                let r = eye_d * 0.36;
                for (k, p) in img.iter_mut().enumerate() {
                    let (x, y) = ((k % size) as f32 + 0.5, (k / size) as f32 + 0.5);
                    for e in &lm[..2] {
                        let d = ((x - e[0]).powi(2) + ((y - e[1]) * 1.3).powi(2)).sqrt();
                        if (d - r).abs() < eye_d * 0.05 {
                            *p = p.map(|v| v * dark);
                        } else if d < r {
                            *p = p.map(|v| v * (1.0 - 0.5 * tint));
                        }
                    }
                    let cy = 0.5 * (lm[0][1] + lm[1][1]);
                    let cx = 0.5 * (lm[0][0] + lm[1][0]);
                    if (y - cy).abs() < eye_d * 0.04 && (x - cx).abs() < eye_d * 0.5 - r * 0.9 {
                        *p = p.map(|v| v * dark);
                    }
                }
            }
            Some(Occluder::Blob { dx, dy, rx, ry }) => {
                let mx = 0.5 * (lm[3][0] + lm[4][0]) + dx * eye_d;
                let my = 0.5 * (lm[3][1] + lm[4][1]) + dy * eye_d;
                for (k, p) in img.iter_mut().enumerate() {
                    let (x, y) = ((k % size) as f32 + 0.5, (k / size) as f32 + 0.5);
                    let d = ((x - mx) / (rx * eye_d)).powi(2) + ((y - my) / (ry * eye_d)).powi(2);
                    if d < 1.0 {
                        let shade = 0.75 + 0.25 * (1.0 - d);
                        let w = ((1.0 - d) * 6.0).min(1.0);
                        for c in 0..3 {
                            p[c] += (skin[c] * 0.9 * shade - p[c]) * w;
                        }
                    }
                }
            }
            None => {}
        }
        for p in img.iter_mut() {
            for (v, k) in p.iter_mut().zip(self.cast) {
                *v = (*v * k).clamp(0.0, 1.0).powf(self.gamma);
            }
        }
        if self.blur_sigma > 0.0 {
            blur(img, size, self.blur_sigma * size as f32 / 112.0);
        }
        if self.noise_sigma > 0.0 {
            let mut rng = ChaCha8Rng::seed_from_u64(self.noise_seed);
            for p in img.iter_mut() {
                for v in p.iter_mut() {
                    let n: f32 = StandardNormal.sample(&mut rng);
                    *v += n * self.noise_sigma;
                }
            }
        }
    }

    /// JPEG round trip at the sampled quality (no-op if encoding fails).
    pub fn compress(&self, rgb: &mut [u8], size: usize) {
        if let Some(out) = jpeg_round_trip(rgb, size, size, self.jpeg_quality) {
            rgb.copy_from_slice(&out);
        }
    }
}

/// Encode RGB bytes as JPEG at `quality` and decode them again.
pub fn jpeg_round_trip(rgb: &[u8], w: usize, h: usize, quality: u8) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut enc =
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality.clamp(1, 100));
    enc.encode(rgb, w as u32, h as u32, image::ExtendedColorType::Rgb8)
        .ok()?;
    let img = image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg).ok()?;
    let out = img.to_rgb8().into_raw();
    (out.len() == rgb.len()).then_some(out)
}

/// Separable Gaussian blur of float RGB in place.
pub fn blur(img: &mut [[f32; 3]], size: usize, sigma: f32) {
    let r = (sigma * 2.5).ceil().max(1.0) as i64;
    let k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let ks: f32 = k.iter().sum();
    let mut tmp = img.to_vec();
    for pass in 0..2 {
        let src = if pass == 0 { img.to_vec() } else { tmp.clone() };
        let dst: &mut [[f32; 3]] = if pass == 0 { &mut tmp } else { img };
        for y in 0..size {
            for x in 0..size {
                let mut acc = [0.0; 3];
                for (j, w) in k.iter().enumerate() {
                    let o = j as i64 - r;
                    let (sx, sy) = if pass == 0 {
                        (x as i64 + o, y as i64)
                    } else {
                        (x as i64, y as i64 + o)
                    };
                    let sx = sx.clamp(0, size as i64 - 1) as usize;
                    let sy = sy.clamp(0, size as i64 - 1) as usize;
                    let p = src[sy * size + sx];
                    acc[0] += w * p[0];
                    acc[1] += w * p[1];
                    acc[2] += w * p[2];
                }
                dst[y * size + x] = acc.map(|v| v / ks);
            }
        }
    }
}
