//! `render`: rasterise a `latents` artifact into a `dataset` of aligned face crops (u8 NHWC,
//! labels i/k/phi, five landmarks per image) with the procedural face model, and publish a
//! contact sheet (`sheet.png`) of the first identities.

use synface_engine::estimate::Estimate;
use synface_engine::{
    Artifact, Facts, ParamRule, PortSpec, Resources, RunCtx, StageError, TypedStage,
};

use crate::artifacts::{DATASET, LATENTS};
use crate::dataset::{Dataset, DatasetInfo, Domain};
use crate::face::finish::FACE_MODELS;
use crate::face::latent::LatentSet;
use crate::face::sheet::sheet_png;
use crate::face::{
    render_batch, FaceError, RenderOptions, RenderedFace, Style, MODEL_VERSION, RENDERER_VERSION,
};

synface_engine::stage_params! {
    /// Parameters of `render`.
    pub struct RenderParams {
        /// output side length in pixels
        size: u64 = 112u64 => ParamRule::within(8.0, 1024.0),
        /// "synthetic" or "photo" (the proxy for real photos)
        style: Style = Style::Synthetic => ParamRule::one_of(Style::NAMES),
        /// anti-aliasing samples per pixel along each axis
        supersample: u64 = 2u64 => ParamRule::within(1.0, 4.0),
        /// threads to ask the scheduler for (0 = all cores)
        threads: u64 = 0u64,
        /// face model version to paint: 9 (the newest), 8 (without version 9's skin sheen), 7
        /// (its mottle also on the sides of the head) or 6 (without version 7's skin mottle and
        /// eye finish; docs/faces.md); all read the same latents
        face_model: u64 = MODEL_VERSION as u64
            => ParamRule::within(FACE_MODELS[0] as f64, MODEL_VERSION as f64),
    }
}

/// Render a latent set into a dataset (the stage's work, callable without an engine).
pub fn render_set(
    set: &LatentSet,
    opts: &RenderOptions,
    cancelled: &(dyn Fn() -> bool + Sync),
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(Dataset, Vec<RenderedFace>), StageError> {
    // The rendered faces and their concatenation are held at once: twice the images.
    let need =
        crate::memory::image_bytes(set.latents.len(), opts.size).and_then(|b| b.checked_mul(2));
    let what = format!(
        "render of {} images (ids x per_id upstream) at size = {}",
        set.latents.len(),
        opts.size
    );
    crate::memory::ensure_fits(need, &what)?;
    let faces = render_batch(&set.latents, opts, cancelled, progress).map_err(|e| match e {
        FaceError::Cancelled => StageError::Cancelled,
        FaceError::Invalid(m) => StageError::param("", m),
        other => StageError::msg(other),
    })?;
    let n = faces.len();
    let mut images = crate::memory::try_with_capacity(n * opts.size * opts.size * 3, &what)?;
    let mut landmarks = Vec::with_capacity(n * 10);
    for f in &faces {
        images.extend_from_slice(&f.rgb);
        landmarks.extend(f.landmarks.iter().flatten());
    }
    let ds = Dataset {
        info: DatasetInfo {
            domain: if opts.style == Style::Photo {
                Domain::PhotoProxy
            } else {
                Domain::Synthetic
            },
            num_classes: set.identity_ids.len(),
            height: opts.size,
            width: opts.size,
            class_names: vec![],
            identity_ids: set.identity_ids.clone(),
            sources: vec![],
        },
        images,
        label_a: set.label_a.clone(),
        label_b: set.label_b.clone(),
        phi: set.phi.clone(),
        landmarks: Some(landmarks),
    };
    ds.validate()?;
    Ok((ds, faces))
}

/// A contact sheet of up to 8 identities x 8 images (rows = identities by `label_a`).
pub fn dataset_sheet(ds: &Dataset) -> Result<Vec<u8>, StageError> {
    let classes: Vec<Vec<usize>> = ds
        .by_class()
        .into_iter()
        .filter(|c| !c.is_empty())
        .take(8)
        .collect();
    let cols = classes
        .iter()
        .map(|c| c.len().min(8))
        .max()
        .unwrap_or(1)
        .max(1);
    let blank = vec![255u8; ds.image_len()];
    let mut tiles = Vec::new();
    for c in &classes {
        for k in 0..cols {
            tiles.push(c.get(k).map_or(blank.clone(), |&i| ds.image(i).to_vec()));
        }
    }
    sheet_png(&tiles, ds.info.width, classes.len().max(1), cols).map_err(StageError::msg)
}

/// The `render` stage kind.
pub struct Render;

impl TypedStage for Render {
    type Params = RenderParams;
    const KIND: &'static str = "render";
    /// Both the model and the renderer's arithmetic decide the pixels.
    const VERSION: u32 = MODEL_VERSION * 1000 + RENDERER_VERSION;
    const ABOUT: &'static str =
        "rasterise face latents into aligned crops with landmarks (synthetic or photo style)";
    const INPUTS: &'static [PortSpec] = &[PortSpec::new("input", LATENTS)];
    const OUTPUT: &'static str = DATASET;

    fn estimate(&self, p: &RenderParams, inputs: &[(&str, &Facts)]) -> Estimate {
        super::cost::render(p.size, p.supersample, inputs)
    }
    fn resources(&self, p: &RenderParams) -> Resources {
        Resources {
            threads: super::threads_or_all(p.threads),
            gpu: false,
            mem_mb: 2048,
        }
    }
    fn output_facts(&self, p: &RenderParams, inputs: &[(&str, &Facts)]) -> Facts {
        let images = synface_engine::estimate::fact_u64(inputs, "images");
        super::cost::with_images(super::image_size_facts(p.size), images)
    }
    fn run(&self, p: RenderParams, ctx: &RunCtx) -> Result<Artifact, StageError> {
        let set = LatentSet::from_artifact(ctx.input("input")?)?;
        let opts = RenderOptions {
            size: p.size as usize,
            supersample: p.supersample as usize,
            style: p.style,
            seed: ctx.seed,
            face_model: p.face_model as u32,
        };
        ctx.progress.set_total(set.len() as u64, "images");
        let (ds, _) = render_set(&set, &opts, &|| ctx.cancel.is_cancelled(), &|n| {
            ctx.progress.inc(n)
        })?;
        let mut a = ds.to_artifact()?;
        a.publish("sheet.png", dataset_sheet(&ds)?);
        a.set_metrics(&serde_json::json!({
            "images": ds.len(),
            "classes": ds.info.num_classes,
            "size": opts.size,
            "style": p.style,
            "face_model": p.face_model,
        }));
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::latent::{sample_latent, SampleConfig};

    #[test]
    fn renders_a_labelled_dataset_with_landmarks_and_a_sheet() {
        let cfg = SampleConfig::default();
        let set = LatentSet {
            latents: (0..4)
                .map(|i| sample_latent(7 + i / 2, i % 2, 1, &cfg))
                .collect(),
            label_a: vec![0, 0, 1, 1],
            label_b: vec![0, 1, 1, 1],
            phi: vec![1.0, 0.5, 1.0, 1.0],
            identity_ids: vec![7, 8],
        };
        let opts = RenderOptions {
            size: 24,
            ..RenderOptions::default()
        };
        let (ds, faces) = render_set(&set, &opts, &|| false, &|_| {}).unwrap();
        assert_eq!(ds.len(), 4);
        assert_eq!(ds.info.identity_ids, vec![7, 8]);
        assert_eq!(ds.phi[1], 0.5);
        assert_eq!(ds.landmarks.as_ref().map(Vec::len), Some(40));
        assert_eq!(ds.image(3), faces[3].rgb.as_slice());
        let png = dataset_sheet(&ds).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let cancelled = render_set(&set, &opts, &|| true, &|_| {});
        assert!(matches!(cancelled, Err(StageError::Cancelled)));
    }
}
