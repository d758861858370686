//! Latent vectors of the face model ([`FaceLatent`]: identity shape and albedo, expression,
//! illumination, pose, background), their seeded sampling ([`SampleConfig`]), and the
//! `latents` artifact ([`LatentSet`]: latents.safetensors + latents.json).
//!
//! Identity coefficients come from hashing the global identity id alone, so identity 17 is the
//! same face however many identities are sampled; per-image factors come from
//! (seed, identity id, image index), so sampling is order- and thread-independent.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use safetensors::tensor::{Dtype, TensorView};
use synface_engine::{Artifact, StageError};

use super::shading::{default_light, light_coeffs, normalize};
use super::{
    seed_of, FaceError, DRAW_VERSION, MODEL_VERSION, N_ALBEDO, N_BG, N_EXPR, N_LIGHT, N_SHAPE,
};

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

#[derive(serde::Serialize, serde::Deserialize)]
struct LatentsJson {
    model_version: u32,
    count: usize,
    num_classes: usize,
    identity_ids: Vec<u64>,
}

fn f32_bytes<'a>(it: impl Iterator<Item = &'a f32>) -> Vec<u8> {
    it.flat_map(|v| v.to_le_bytes()).collect()
}

impl LatentSet {
    pub fn len(&self) -> usize {
        self.latents.len()
    }
    pub fn is_empty(&self) -> bool {
        self.latents.is_empty()
    }

    /// Encode as `latents.safetensors` + `latents.json`.
    pub fn to_artifact(&self) -> Result<Artifact, StageError> {
        let n = self.len();
        if self.label_a.len() != n || self.label_b.len() != n || self.phi.len() != n {
            return Err(StageError::Input("latent labels differ in length".into()));
        }
        let ids: Vec<u8> = self
            .latents
            .iter()
            .flat_map(|l| (l.identity as i64).to_le_bytes())
            .collect();
        let la: Vec<u8> = self.label_a.iter().flat_map(|v| v.to_le_bytes()).collect();
        let lb: Vec<u8> = self.label_b.iter().flat_map(|v| v.to_le_bytes()).collect();
        let parts: Vec<(&str, usize, Vec<u8>)> = vec![
            (
                "shape",
                N_SHAPE,
                f32_bytes(self.latents.iter().flat_map(|l| l.shape.iter())),
            ),
            (
                "albedo",
                N_ALBEDO,
                f32_bytes(self.latents.iter().flat_map(|l| l.albedo.iter())),
            ),
            (
                "expression",
                N_EXPR,
                f32_bytes(self.latents.iter().flat_map(|l| l.expression.iter())),
            ),
            (
                "illumination",
                N_LIGHT,
                f32_bytes(self.latents.iter().flat_map(|l| l.light.iter())),
            ),
            (
                "pose",
                3,
                f32_bytes(self.latents.iter().flat_map(|l| l.pose.iter())),
            ),
            (
                "background",
                N_BG,
                f32_bytes(self.latents.iter().flat_map(|l| l.background.iter())),
            ),
        ];
        let phi = f32_bytes(self.phi.iter());
        let err = |e: safetensors::SafeTensorError| StageError::msg(format!("safetensors: {e}"));
        let mut views = vec![
            (
                "identity".to_string(),
                TensorView::new(Dtype::I64, vec![n], &ids).map_err(err)?,
            ),
            (
                "label_a".to_string(),
                TensorView::new(Dtype::I64, vec![n], &la).map_err(err)?,
            ),
            (
                "label_b".to_string(),
                TensorView::new(Dtype::I64, vec![n], &lb).map_err(err)?,
            ),
            (
                "phi".to_string(),
                TensorView::new(Dtype::F32, vec![n], &phi).map_err(err)?,
            ),
        ];
        for (name, d, bytes) in &parts {
            views.push((
                name.to_string(),
                TensorView::new(Dtype::F32, vec![n, *d], bytes).map_err(err)?,
            ));
        }
        let bytes = safetensors::serialize(views, None).map_err(err)?;
        let meta = LatentsJson {
            model_version: MODEL_VERSION,
            count: n,
            num_classes: self.identity_ids.len(),
            identity_ids: self.identity_ids.clone(),
        };
        let mut a = Artifact::new();
        a.add("latents.safetensors", bytes);
        a.add(
            "latents.json",
            serde_json::to_vec_pretty(&meta).map_err(StageError::msg)?,
        );
        Ok(a)
    }

    /// Decode an artifact written by [`LatentSet::to_artifact`].
    pub fn from_artifact(a: &Artifact) -> Result<LatentSet, StageError> {
        let meta: LatentsJson = serde_json::from_slice(a.get("latents.json")?)
            .map_err(|e| StageError::Input(format!("latents.json: {e}")))?;
        if meta.model_version != MODEL_VERSION {
            return Err(StageError::Input(format!(
                "latents are for face model v{}, this is v{MODEL_VERSION}",
                meta.model_version
            )));
        }
        let st = safetensors::SafeTensors::deserialize(a.get("latents.safetensors")?)
            .map_err(|e| StageError::Input(format!("latents.safetensors: {e}")))?;
        let n = meta.count;
        let get = |name: &str, dt: Dtype, width: usize| -> Result<Vec<u8>, StageError> {
            let t = st
                .tensor(name)
                .map_err(|e| StageError::Input(format!("latent `{name}`: {e}")))?;
            if t.dtype() != dt
                || t.data().len() != n * width * 8 / if dt == Dtype::F32 { 2 } else { 1 }
            {
                return Err(StageError::Input(format!(
                    "latent `{name}` has the wrong dtype or size"
                )));
            }
            Ok(t.data().to_vec())
        };
        let f32s = |b: Vec<u8>| -> Vec<f32> {
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let i64s = |b: Vec<u8>| -> Vec<i64> {
            b.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect()
        };
        let ids = i64s(get("identity", Dtype::I64, 1)?);
        let shape = f32s(get("shape", Dtype::F32, N_SHAPE)?);
        let albedo = f32s(get("albedo", Dtype::F32, N_ALBEDO)?);
        let expr = f32s(get("expression", Dtype::F32, N_EXPR)?);
        let light = f32s(get("illumination", Dtype::F32, N_LIGHT)?);
        let pose = f32s(get("pose", Dtype::F32, 3)?);
        let bg = f32s(get("background", Dtype::F32, N_BG)?);
        let latents = (0..n)
            .map(|i| FaceLatent {
                identity: ids[i] as u64,
                shape: std::array::from_fn(|k| shape[i * N_SHAPE + k]),
                albedo: std::array::from_fn(|k| albedo[i * N_ALBEDO + k]),
                expression: std::array::from_fn(|k| expr[i * N_EXPR + k]),
                light: std::array::from_fn(|k| light[i * N_LIGHT + k]),
                pose: std::array::from_fn(|k| pose[i * 3 + k]),
                background: std::array::from_fn(|k| bg[i * N_BG + k]),
            })
            .collect();
        let set = LatentSet {
            latents,
            label_a: i64s(get("label_a", Dtype::I64, 1)?),
            label_b: i64s(get("label_b", Dtype::I64, 1)?),
            phi: f32s(get("phi", Dtype::F32, 1)?),
            identity_ids: meta.identity_ids,
        };
        let k = set.identity_ids.len() as i64;
        if set
            .label_a
            .iter()
            .chain(&set.label_b)
            .any(|l| !(0..k).contains(l))
        {
            return Err(StageError::Input("latent label out of range".into()));
        }
        Ok(set)
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

    #[test]
    fn artifact_round_trip() {
        let cfg = SampleConfig::default();
        let set = LatentSet {
            latents: (0..4)
                .map(|i| sample_latent(i / 2 + 10, i % 2, 3, &cfg))
                .collect(),
            label_a: vec![0, 0, 1, 1],
            label_b: vec![0, 1, 1, 0],
            phi: vec![1.0, 0.5, 1.0, 0.25],
            identity_ids: vec![10, 11],
        };
        let a = set.to_artifact().unwrap();
        assert_eq!(LatentSet::from_artifact(&a).unwrap(), set);
    }
}
