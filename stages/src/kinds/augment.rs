//! `augment`: per-image photometric and degradation augmentations of a `dataset` (Gaussian and
//! motion blur, noise, JPEG, brightness/contrast/saturation/hue, grayscale, down-up sampling),
//! each applied with its own probability. Randomness comes from (seed, image index) only, so
//! results are identical for any thread count.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use synface_engine::estimate::Estimate;
use synface_engine::{
    Artifact, Facts, ParamRule, PortSpec, Resources, RunCtx, StageError, TypedStage,
};

use crate::artifacts::DATASET;
use crate::dataset::Dataset;
use crate::face::photo::{blur, jpeg_round_trip};

/// A probability.
const PROB: ParamRule = ParamRule::within(0.0, 1.0);

synface_engine::stage_params! {
    /// Parameters of `augment` (each `*_prob` is the chance an image gets that augmentation).
    pub struct AugmentParams {
        /// Gaussian blur probability
        blur_prob: f64 = 0.2 => PROB,
        /// largest Gaussian blur sigma (pixels at 112 px, scaled with the size)
        blur_sigma: f64 = 1.5,
        /// motion blur probability
        motion_prob: f64 = 0.1 => PROB,
        /// longest motion blur (pixels)
        motion_len: u64 = 7u64,
        /// additive Gaussian noise probability
        noise_prob: f64 = 0.2 => PROB,
        /// largest noise standard deviation (fraction of full scale)
        noise_sigma: f64 = 0.05,
        /// JPEG compression probability
        jpeg_prob: f64 = 0.2 => PROB,
        /// lowest JPEG quality
        jpeg_quality: u64 = 30u64,
        /// colour jitter probability (brightness, contrast, saturation, hue)
        color_prob: f64 = 0.5 => PROB,
        /// brightness jitter (+- fraction)
        brightness: f64 = 0.2,
        /// contrast jitter (+- fraction)
        contrast: f64 = 0.2,
        /// saturation jitter (+- fraction)
        saturation: f64 = 0.2,
        /// hue jitter (+- fraction of a turn)
        hue: f64 = 0.03,
        /// grayscale probability
        gray_prob: f64 = 0.05 => PROB,
        /// down-then-up sampling probability
        downup_prob: f64 = 0.1 => PROB,
        /// smallest down-sampling factor
        downup_scale: f64 = 0.35,
        /// threads to ask the scheduler for (0 = all cores)
        threads: u64 = 0u64,
    }
}

fn to_f(px: &[u8]) -> Vec<[f32; 3]> {
    px.chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]].map(|v| v as f32 / 255.0))
        .collect()
}

fn to_u8(img: &[[f32; 3]]) -> Vec<u8> {
    img.iter()
        .flat_map(|c| c.map(|v| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8))
        .collect()
}

fn motion_blur(img: &mut [[f32; 3]], w: usize, h: usize, len: usize, angle: f32) {
    let src = img.to_vec();
    let (dx, dy) = (angle.cos(), angle.sin());
    let half = len as f32 / 2.0;
    for y in 0..h {
        for x in 0..w {
            let mut acc = [0.0; 3];
            for k in 0..len {
                let t = k as f32 - half;
                let sx = (x as f32 + t * dx).round().clamp(0.0, w as f32 - 1.0) as usize;
                let sy = (y as f32 + t * dy).round().clamp(0.0, h as f32 - 1.0) as usize;
                let p = src[sy * w + sx];
                acc = [acc[0] + p[0], acc[1] + p[1], acc[2] + p[2]];
            }
            img[y * w + x] = acc.map(|v| v / len as f32);
        }
    }
}

fn resample(img: &[[f32; 3]], w: usize, h: usize, nw: usize, nh: usize) -> Vec<[f32; 3]> {
    let mut out = Vec::with_capacity(nw * nh);
    for y in 0..nh {
        let fy = ((y as f32 + 0.5) * h as f32 / nh as f32 - 0.5).clamp(0.0, h as f32 - 1.0);
        let (y0, ty) = (fy as usize, fy.fract());
        let y1 = (y0 + 1).min(h - 1);
        for x in 0..nw {
            let fx = ((x as f32 + 0.5) * w as f32 / nw as f32 - 0.5).clamp(0.0, w as f32 - 1.0);
            let (x0, tx) = (fx as usize, fx.fract());
            let x1 = (x0 + 1).min(w - 1);
            let l = |a: [f32; 3], b: [f32; 3], t: f32| [0, 1, 2].map(|k| a[k] + (b[k] - a[k]) * t);
            out.push(l(
                l(img[y0 * w + x0], img[y0 * w + x1], tx),
                l(img[y1 * w + x0], img[y1 * w + x1], tx),
                ty,
            ));
        }
    }
    out
}

fn jitter_color(img: &mut [[f32; 3]], b: f32, c: f32, s: f32, hue: f32) {
    let mean = img
        .iter()
        .map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])
        .sum::<f32>()
        / img.len().max(1) as f32;
    let (sh, ch) = (hue * std::f32::consts::TAU).sin_cos();
    // rotation about the gray axis in RGB space
    let k = (1.0 - ch) / 3.0;
    let r3 = (1.0f32 / 3.0).sqrt() * sh;
    let m = [
        [ch + k, k - r3, k + r3],
        [k + r3, ch + k, k - r3],
        [k - r3, k + r3, ch + k],
    ];
    for p in img.iter_mut() {
        let q = [0, 1, 2].map(|i| m[i][0] * p[0] + m[i][1] * p[1] + m[i][2] * p[2]);
        let l = 0.299 * q[0] + 0.587 * q[1] + 0.114 * q[2];
        *p = q.map(|v| ((l + (v - l) * s - mean) * c + mean) * b);
    }
}

/// Augment image `i` of size `w x h` deterministically from (`seed`, `i`).
pub fn augment_image(
    px: &[u8],
    w: usize,
    h: usize,
    p: &AugmentParams,
    seed: u64,
    i: u64,
) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(crate::face::seed_of("synface-augment", &[seed, i]));
    let hit = |prob: f64, rng: &mut ChaCha8Rng| rng.random_bool(prob.clamp(0.0, 1.0));
    let scale = w as f32 / 112.0;
    let mut img = to_f(px);
    if hit(p.color_prob, &mut rng) {
        let u = |rng: &mut ChaCha8Rng, a: f64| 1.0 + (a as f32) * rng.random_range(-1.0f32..=1.0);
        let (b, c, s) = (
            u(&mut rng, p.brightness),
            u(&mut rng, p.contrast),
            u(&mut rng, p.saturation),
        );
        let hue = p.hue as f32 * rng.random_range(-1.0f32..=1.0);
        jitter_color(&mut img, b, c, s, hue);
    }
    if hit(p.gray_prob, &mut rng) {
        for q in img.iter_mut() {
            *q = [0.299 * q[0] + 0.587 * q[1] + 0.114 * q[2]; 3];
        }
    }
    if hit(p.downup_prob, &mut rng) {
        let f = rng.random_range(p.downup_scale.clamp(0.05, 1.0) as f32..=1.0);
        let (nw, nh) = (
            ((w as f32 * f) as usize).max(2),
            ((h as f32 * f) as usize).max(2),
        );
        img = resample(&resample(&img, w, h, nw, nh), nw, nh, w, h);
    }
    if hit(p.blur_prob, &mut rng) && w == h {
        let sigma = rng.random_range(0.2f32..=(p.blur_sigma as f32).max(0.21)) * scale;
        blur(&mut img, w, sigma);
    }
    if hit(p.motion_prob, &mut rng) && p.motion_len >= 2 {
        let len = rng.random_range(2..=p.motion_len as usize);
        motion_blur(
            &mut img,
            w,
            h,
            len,
            rng.random_range(0.0..std::f32::consts::PI),
        );
    }
    if hit(p.noise_prob, &mut rng) {
        let sigma = rng.random_range(0.0f32..=p.noise_sigma as f32);
        for q in img.iter_mut() {
            for v in q.iter_mut() {
                let n: f32 = StandardNormal.sample(&mut rng);
                *v += n * sigma;
            }
        }
    }
    let mut out = to_u8(&img);
    if hit(p.jpeg_prob, &mut rng) {
        let q = rng.random_range(
            (p.jpeg_quality.clamp(1, 100) as u8)..=95.max(p.jpeg_quality.clamp(1, 100) as u8),
        );
        if let Some(j) = jpeg_round_trip(&out, w, h, q) {
            out = j;
        }
    }
    out
}

/// Augment every image of a dataset (in the current rayon pool).
pub fn augment_dataset(ds: &Dataset, p: &AugmentParams, seed: u64) -> Dataset {
    let (w, h) = (ds.info.width, ds.info.height);
    let imgs: Vec<Vec<u8>> = (0..ds.len())
        .into_par_iter()
        .map(|i| augment_image(ds.image(i), w, h, p, seed, i as u64))
        .collect();
    Dataset {
        images: imgs.concat(),
        ..ds.clone()
    }
}

/// The `augment` stage kind.
pub struct Augment;

impl TypedStage for Augment {
    type Params = AugmentParams;
    const KIND: &'static str = "augment";
    const VERSION: u32 = 1;
    const ABOUT: &'static str =
        "blur, noise, JPEG, colour jitter, grayscale and down-up sampling per image";
    const INPUTS: &'static [PortSpec] = &[PortSpec::new("input", DATASET)];
    const OUTPUT: &'static str = DATASET;

    fn estimate(&self, _p: &AugmentParams, inputs: &[(&str, &Facts)]) -> Estimate {
        super::cost::per_image(inputs, 1)
    }
    fn resources(&self, p: &AugmentParams) -> Resources {
        Resources {
            threads: super::threads_or_all(p.threads),
            gpu: false,
            mem_mb: 2048,
        }
    }
    fn run(&self, p: AugmentParams, ctx: &RunCtx) -> Result<Artifact, StageError> {
        let ds = Dataset::from_artifact(ctx.input("input")?)?;
        ctx.progress.set_total(ds.len() as u64, "images");
        ctx.cancel.check()?;
        let out = augment_dataset(&ds, &p, ctx.seed);
        ctx.progress.inc(ds.len() as u64);
        let mut a = out.to_artifact()?;
        a.set_metrics(&serde_json::json!({ "images": out.len() }));
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synface_engine::{ParamTable, ParamsSchema};

    fn params(all: f64) -> AugmentParams {
        let mut t = ParamTable::new();
        for s in AugmentParams::specs() {
            let v = if s.name.ends_with("_prob") {
                toml::Value::Float(all)
            } else {
                s.default.clone().unwrap()
            };
            t.insert(s.name.to_string(), v);
        }
        synface_engine::params::decode(&t).unwrap()
    }

    #[test]
    fn deterministic_per_image_and_identity_at_zero_probability() {
        let px: Vec<u8> = (0..16 * 16 * 3).map(|i| (i * 13 % 251) as u8).collect();
        let p = params(1.0);
        let a = augment_image(&px, 16, 16, &p, 3, 7);
        assert_eq!(a, augment_image(&px, 16, 16, &p, 3, 7));
        assert_ne!(a, px);
        assert_ne!(a, augment_image(&px, 16, 16, &p, 3, 8));
        assert_eq!(augment_image(&px, 16, 16, &params(0.0), 3, 7), px);
    }
}
