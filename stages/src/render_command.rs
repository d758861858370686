//! `synface render`: contact sheets and image folders straight from the face model, including
//! one-factor-at-a-time strips (`--vary`) like DiscoFaceGAN's figures.

use std::path::PathBuf;

use crate::dataset::{Dataset, DatasetInfo, Domain};
use crate::face::latent::{
    mix_identity, sample_latent, FaceLatent, Factor, SampleConfig, IDENTITY_SEED_STRIDE,
};
use crate::face::render::{render_batch, RenderOptions, RenderedFace, Style};
use crate::face::FaceError;

/// Output format of `synface render`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One PNG grid: `ids` rows x `per_id` columns.
    Sheet,
    /// `DIR/<identity>/<n>.png` + `labels.csv`.
    ImageFolder,
}

impl std::str::FromStr for OutputFormat {
    type Err = FaceError;
    fn from_str(s: &str) -> Result<Self, FaceError> {
        match s {
            "sheet" => Ok(OutputFormat::Sheet),
            "imagefolder" => Ok(OutputFormat::ImageFolder),
            _ => Err(FaceError::Invalid(format!(
                "unknown format `{s}` (sheet, imagefolder)"
            ))),
        }
    }
}

/// Options of `synface render`.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderOpts {
    pub ids: usize,
    pub per_id: usize,
    /// Vary only this factor along each row (None: all factors vary).
    pub vary: Option<Factor>,
    pub size: usize,
    pub max_yaw: f32,
    /// Scale of the identity shape / albedo coefficients (1 = the model's spectrum).
    pub shape_scale: f32,
    pub albedo_scale: f32,
    /// Scale of the per-image expression / illumination variation (1 = the defaults).
    pub expression_scale: f32,
    pub illumination_scale: f32,
    pub seed: u64,
    /// Which people are drawn: identity `r` of the sheet is global identity
    /// `identity_seed * 2^32 + r` (as in `sample_latents`); the CLI defaults it to `seed`.
    pub identity_seed: u64,
    pub format: OutputFormat,
    pub out: PathBuf,
    pub style: Style,
    /// Face model version to paint (`crate::face::finish::FACE_MODELS`).
    pub face_model: u32,
}

impl Default for RenderOpts {
    fn default() -> Self {
        RenderOpts {
            ids: 8,
            per_id: 8,
            vary: None,
            size: 112,
            max_yaw: 30.0,
            shape_scale: 1.0,
            albedo_scale: 1.0,
            expression_scale: 1.0,
            illumination_scale: 1.0,
            seed: 0,
            identity_seed: 0,
            format: OutputFormat::Sheet,
            out: PathBuf::from("faces.png"),
            style: Style::Synthetic,
            face_model: crate::face::MODEL_VERSION,
        }
    }
}

/// The latents shown by `render`: row `r` is identity `r`, column `c` its `c`-th sample.
pub fn strip_latents(o: &RenderOpts) -> Vec<FaceLatent> {
    let cfg = SampleConfig {
        max_yaw: o.max_yaw,
        shape_scale: o.shape_scale,
        albedo_scale: o.albedo_scale,
        expression_scale: o.expression_scale,
        illumination_scale: o.illumination_scale,
        ..SampleConfig::default()
    };
    let only = |f: Factor| SampleConfig {
        vary: vec![f],
        ..cfg.clone()
    };
    let mut out = Vec::with_capacity(o.ids * o.per_id);
    let cols = o.per_id.max(1);
    let first = o.identity_seed.saturating_mul(IDENTITY_SEED_STRIDE);
    for r in (0..o.ids as u64).map(|r| first + r) {
        for c in 0..cols as u64 {
            let lat = match o.vary {
                None => sample_latent(r, c, o.seed, &cfg),
                Some(Factor::Identity) => {
                    FaceLatent::neutral(first + (r - first) * cols as u64 + c, &cfg)
                }
                Some(Factor::Pose) => {
                    let mut l = FaceLatent::neutral(r, &cfg);
                    let f = if cols > 1 {
                        c as f32 / (cols - 1) as f32 * 2.0 - 1.0
                    } else {
                        0.0
                    };
                    let odd = (r - first) % 2 == 1;
                    l.pose = [f * o.max_yaw, if odd { -8.0 * f } else { 0.0 }, 0.0];
                    l
                }
                Some(Factor::Mixup) => {
                    let a = FaceLatent::neutral(first + 2 * (r - first), &cfg);
                    let b = FaceLatent::neutral(first + 2 * (r - first) + 1, &cfg);
                    let phi = if cols > 1 {
                        1.0 - c as f32 / (cols - 1) as f32
                    } else {
                        1.0
                    };
                    mix_identity(&a, &b, phi)
                }
                Some(f) => sample_latent(r, c, o.seed, &only(f)),
            };
            out.push(lat);
        }
    }
    out
}

/// A dataset of rendered faces: class = row.
pub fn to_dataset(
    faces: &[RenderedFace],
    latents: &[FaceLatent],
    per_id: usize,
    size: usize,
    domain: Domain,
) -> Dataset {
    let per = per_id.max(1);
    let n = faces.len();
    let classes = n.div_ceil(per);
    Dataset {
        info: DatasetInfo {
            domain,
            num_classes: classes,
            height: size,
            width: size,
            class_names: vec![],
            identity_ids: (0..classes).map(|c| latents[c * per].identity).collect(),
            sources: vec![],
        },
        images: faces.iter().flat_map(|f| f.rgb.iter().copied()).collect(),
        label_a: (0..n).map(|i| (i / per) as i64).collect(),
        label_b: (0..n).map(|i| (i / per) as i64).collect(),
        phi: vec![1.0; n],
        landmarks: Some(
            faces
                .iter()
                .flat_map(|f| f.landmarks.iter().flatten().copied())
                .collect(),
        ),
    }
}

/// Run `synface render`.
pub fn cli_render(o: &RenderOpts) -> Result<(), FaceError> {
    if o.ids == 0 || o.per_id == 0 {
        return Err(FaceError::Invalid(
            "ids and per-id must be at least 1".into(),
        ));
    }
    if !(0.0..=90.0).contains(&o.max_yaw) {
        return Err(FaceError::Invalid(format!(
            "max-yaw {} outside 0..=90",
            o.max_yaw
        )));
    }
    let latents = strip_latents(o);
    let opts = RenderOptions {
        size: o.size,
        supersample: 2,
        style: o.style,
        seed: o.seed,
        face_model: o.face_model,
    };
    let faces = render_batch(&latents, &opts, &|| false, &|_| {})?;
    match o.format {
        OutputFormat::Sheet => {
            let imgs: Vec<Vec<u8>> = faces.into_iter().map(|f| f.rgb).collect();
            let ids: Vec<u64> = latents.iter().map(|l| l.identity).collect();
            let mixup = (o.vary == Some(Factor::Mixup)).then_some(o.per_id);
            let labels = crate::face::sheet::tile_labels(&ids, mixup);
            let png =
                crate::face::sheet::labelled_sheet_png(&imgs, o.size, o.ids, o.per_id, &labels)?;
            if let Some(dir) = o.out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&o.out, png)?;
        }
        OutputFormat::ImageFolder => {
            let domain = if o.style == Style::Photo {
                Domain::PhotoProxy
            } else {
                Domain::Synthetic
            };
            let ds = to_dataset(&faces, &latents, o.per_id, o.size, domain);
            crate::export::write_imagefolder(&ds, &o.out)?;
        }
    }
    Ok(())
}
