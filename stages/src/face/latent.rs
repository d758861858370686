//! Latent vectors of the face model ([`FaceLatent`]: identity shape and albedo, expression,
//! illumination, pose, background), their seeded sampling ([`SampleConfig`]), and a set of
//! them with labels ([`LatentSet`], encoded by `crate::artifacts::latents`).
//!
//! Identity coefficients come from hashing the global identity id alone, so identity 17 is the
//! same face however many identities are sampled; per-image factors come from
//! (seed, identity id, image index), so sampling is order- and thread-independent.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::shading::{default_light, light_coeffs, normalize};
use super::{seed_of, FaceError, DRAW_VERSION, N_ALBEDO, N_BG, N_EXPR, N_LIGHT, N_SHAPE};

/// One factor of variation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Factor {
    Identity,
    Expression,
    Illumination,
    Pose,
    Background,
    /// Identity mixup (CLI strips only).
    Mixup,
}

impl Factor {
    pub const SAMPLED: [Factor; 4] = [
        Factor::Expression,
        Factor::Illumination,
        Factor::Pose,
        Factor::Background,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Factor::Identity => "identity",
            Factor::Expression => "expression",
            Factor::Illumination => "illumination",
            Factor::Pose => "pose",
            Factor::Background => "background",
            Factor::Mixup => "mixup",
        }
    }
}

impl std::str::FromStr for Factor {
    type Err = FaceError;
    fn from_str(s: &str) -> Result<Self, FaceError> {
        [
            Factor::Identity,
            Factor::Expression,
            Factor::Illumination,
            Factor::Pose,
            Factor::Background,
            Factor::Mixup,
        ]
        .into_iter()
        .find(|f| f.name() == s)
        .ok_or_else(|| {
            FaceError::Invalid(format!(
                "unknown factor `{s}` (identity, expression, illumination, pose, background, mixup)"
            ))
        })
    }
}

/// All latents of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceLatent {
    /// Global identity id (for mixed identities: the first parent).
    pub identity: u64,
    pub shape: [f32; N_SHAPE],
    pub albedo: [f32; N_ALBEDO],
    pub expression: [f32; N_EXPR],
    pub light: [f32; N_LIGHT],
    /// Yaw, pitch, roll in degrees.
    pub pose: [f32; 3],
    pub background: [f32; N_BG],
}

impl FaceLatent {
    /// The canonical face of identity `id`: neutral expression, default light, frontal, plain
    /// background.
    pub fn neutral(id: u64, cfg: &SampleConfig) -> FaceLatent {
        let (shape, albedo) = identity_coeffs(id, cfg);
        FaceLatent {
            identity: id,
            shape,
            albedo,
            expression: [0.0; N_EXPR],
            light: default_light(),
            pose: [0.0; 3],
            background: [0.0; N_BG],
        }
    }
}

/// Expression coefficients at `expression_scale = 1` are this many standard deviations of the
/// bases. Model version 1 used 1.0, which stacked several strong expressions on most images; at
/// 0.5 the spread looks like a face dataset's (mild smiles, open mouths, raised brows) and a
/// real-photo face recogniser sees the same person across images (`bench/judge`).
pub const EXPRESSION_SPREAD: f32 = 0.5;
/// Illumination spread at `illumination_scale = 1`: the light's azimuth ranges over +-0.6 rad and
/// its elevation over +-0.3 rad around 0.34 rad, ambient and intensity over half their v1 ranges.
/// Version 1 used 1.0 (side lighting up to 69 degrees), which cost face detection.
pub const ILLUMINATION_SPREAD: f32 = 0.5;

/// How latents are sampled.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleConfig {
    pub shape_scale: f32,
    pub albedo_scale: f32,
    /// Coefficients are clipped to +- this many standard deviations.
    pub truncation: f32,
    pub expression_scale: f32,
    pub illumination_scale: f32,
    pub background_scale: f32,
    pub max_yaw: f32,
    pub max_pitch: f32,
    pub max_roll: f32,
    /// Factors that vary per image; the others stay at their neutral value.
    pub vary: Vec<Factor>,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig {
            shape_scale: 1.0,
            albedo_scale: 1.0,
            truncation: 3.0,
            expression_scale: 1.0,
            illumination_scale: 1.0,
            background_scale: 1.0,
            max_yaw: 30.0,
            max_pitch: 10.0,
            max_roll: 5.0,
            vary: Factor::SAMPLED.to_vec(),
        }
    }
}

fn normal(rng: &mut ChaCha8Rng, trunc: f32) -> f32 {
    let v: f32 = StandardNormal.sample(rng);
    v.clamp(-trunc, trunc)
}

/// Global identity ids of identity seed `s` start at `s * IDENTITY_SEED_STRIDE`: each identity
/// seed is a disjoint draw of people (`sample_latents`, `synface render --identity-seed`).
pub const IDENTITY_SEED_STRIDE: u64 = 1 << 32;

/// Identity shape and albedo coefficients of global identity `id` (depends only on `id`, the
/// model version, the truncation and the identity scales; `sample_latents` puts its
/// `identity_seed` into the high 32 bits of `id`).
pub fn identity_coeffs(id: u64, cfg: &SampleConfig) -> ([f32; N_SHAPE], [f32; N_ALBEDO]) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed_of("synface-identity", &[DRAW_VERSION, id]));
    let t = cfg.truncation.max(0.0);
    let shape = std::array::from_fn(|_| normal(&mut rng, t) * cfg.shape_scale);
    let albedo = std::array::from_fn(|_| normal(&mut rng, t) * cfg.albedo_scale);
    (shape, albedo)
}

/// Sample one image's latents: identity `id`, image `n` of that identity, stage seed `seed`.
pub fn sample_latent(id: u64, n: u64, seed: u64, cfg: &SampleConfig) -> FaceLatent {
    let mut lat = FaceLatent::neutral(id, cfg);
    let mut rng = ChaCha8Rng::seed_from_u64(seed_of("synface-image", &[seed, id, n]));
    let t = cfg.truncation.max(0.0);
    // every factor draws from its own stream so turning one off leaves the others unchanged
    let mut sub = |tag: u64| ChaCha8Rng::seed_from_u64(rng.random::<u64>() ^ tag);
    let (mut re, mut rl, mut rp, mut rb) = (sub(1), sub(2), sub(3), sub(4));
    if cfg.vary.contains(&Factor::Expression) {
        let s = EXPRESSION_SPREAD * cfg.expression_scale;
        for (k, e) in lat.expression.iter_mut().enumerate() {
            let p = match k {
                4 => 0.12,
                5 | 6 => 0.05,
                0..=15 => 0.45,
                _ => 1.0,
            };
            let v = normal(&mut re, t);
            let on = re.random_bool(p);
            *e = if !on {
                0.0
            } else if k < 16 {
                v * s
            } else {
                0.6 * v * s
            };
            if matches!(k, 5 | 6) {
                *e = e.abs() * 2.0;
            }
        }
    }
    if cfg.vary.contains(&Factor::Illumination) {
        let s = (ILLUMINATION_SPREAD * cfg.illumination_scale).clamp(0.0, 2.0);
        let ambient = 0.55 + (rl.random_range(0.3f32..0.75) - 0.55) * s;
        let intensity = (0.5 + (rl.random_range(0.15f32..0.85) - 0.5) * s).max(0.0);
        let az = rl.random_range(-1.2f32..1.2) * s;
        let el = 0.34 + rl.random_range(-0.6f32..0.6) * s;
        let dir = normalize([az.sin() * el.cos(), el.sin(), az.cos() * el.cos()]);
        let tint = [0, 1, 2].map(|_| 1.0 + 0.06 * s * normal(&mut rl, 2.0));
        lat.light = light_coeffs(ambient, dir, intensity, tint);
        for c in 0..3 {
            for i in 4..9 {
                lat.light[c * 9 + i] += 0.03 * s * normal(&mut rl, 2.0);
            }
        }
    }
    if cfg.vary.contains(&Factor::Pose) {
        let u = |r: &mut ChaCha8Rng, m: f32| if m > 0.0 { r.random_range(-m..=m) } else { 0.0 };
        lat.pose = [
            u(&mut rp, cfg.max_yaw),
            u(&mut rp, cfg.max_pitch),
            u(&mut rp, cfg.max_roll),
        ];
    }
    if cfg.vary.contains(&Factor::Background) {
        for b in lat.background.iter_mut() {
            *b = normal(&mut rb, t) * cfg.background_scale;
        }
    }
    lat
}

/// Mix two latents' identity coefficients: `phi * a + (1 - phi) * b`; other factors from `a`.
pub fn mix_identity(a: &FaceLatent, b: &FaceLatent, phi: f32) -> FaceLatent {
    let mut o = a.clone();
    for (v, w) in o.shape.iter_mut().zip(&b.shape) {
        *v = phi * *v + (1.0 - phi) * w;
    }
    for (v, w) in o.albedo.iter_mut().zip(&b.albedo) {
        *v = phi * *v + (1.0 - phi) * w;
    }
    o
}

/// The `latents` artifact: one latent per image plus labels.
#[derive(Debug, Clone, PartialEq)]
pub struct LatentSet {
    pub latents: Vec<FaceLatent>,
    /// Class index of each image (index into `identity_ids`).
    pub label_a: Vec<i64>,
    pub label_b: Vec<i64>,
    /// Weight of `label_a`.
    pub phi: Vec<f32>,
    /// Global identity id of each class.
    pub identity_ids: Vec<u64>,
}

impl LatentSet {
    pub fn len(&self) -> usize {
        self.latents.len()
    }
    pub fn is_empty(&self) -> bool {
        self.latents.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_depends_only_on_its_id() {
        let cfg = SampleConfig::default();
        let a = sample_latent(17, 0, 1, &cfg);
        let b = sample_latent(17, 5, 99, &cfg);
        assert_eq!((a.shape, a.albedo), (b.shape, b.albedo));
        assert_ne!(a.pose, b.pose);
        assert_ne!(sample_latent(18, 0, 1, &cfg).shape, a.shape);
    }

    #[test]
    fn factors_are_independent() {
        let full = SampleConfig::default();
        let a = sample_latent(3, 2, 7, &full);
        for f in Factor::SAMPLED {
            let cfg = SampleConfig {
                vary: Factor::SAMPLED
                    .iter()
                    .copied()
                    .filter(|&g| g != f)
                    .collect(),
                ..full.clone()
            };
            let b = sample_latent(3, 2, 7, &cfg);
            // the switched-off factor is neutral, every other factor is unchanged
            let n = FaceLatent::neutral(3, &full);
            let same = |x: &FaceLatent, y: &FaceLatent, g: Factor| match g {
                Factor::Expression => x.expression == y.expression,
                Factor::Illumination => x.light == y.light,
                Factor::Pose => x.pose == y.pose,
                _ => x.background == y.background,
            };
            for g in Factor::SAMPLED {
                assert!(
                    same(&b, if g == f { &n } else { &a }, g),
                    "{f:?} leaked into {g:?}"
                );
            }
            assert_eq!((a.shape, a.albedo), (b.shape, b.albedo));
        }
    }
}
