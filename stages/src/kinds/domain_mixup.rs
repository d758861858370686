//! Stage kind `domain_mixup`: prepares SynFace domain mixup by pairing a synthetic dataset with
//! a (subset of a) real one.
//!
//! The real classes are numbered after the synthetic ones, the real set is oversampled (seeded;
//! every real image is used once before any is repeated) to the synthetic length and resized to
//! the synthetic image size. The artifact holds the synthetic set as `dataset.*`, the relabelled
//! real set as `real.*` and `domain_mixup.json` (`psi` grid and class counts). The `train` stage
//! then draws one psi per batch and, for each synthetic image of the batch, a real partner
//! anew (seeded by the step), and trains on `psi * x_syn + (1 - psi) * x_real`.

use image::imageops::FilterType;
use image::RgbImage;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use synface_engine::estimate::Estimate;
use synface_engine::{
    Artifact, Facts, ParamIssue, ParamRule, PortSpec, Resources, RunCtx, StageError, TypedStage,
};

use crate::artifacts::mixup_set::{self, MixupInfo};
use crate::artifacts::{DATASET, MIXUP_DATASET};
use crate::dataset::Dataset;
use crate::kinds::grid::Grid;

synface_engine::stage_params! {
    /// Parameters of `domain_mixup`.
    pub struct DomainMixupParams {
        /// psi grid: weight of the synthetic image in each batch's pixel mixture
        psi: Grid = Grid::default() => ParamRule::NONE.shaped("a list of floats in [0, 1], or { from, to, step }"),
        /// use only the first this many real identities (0 = all)
        real_ids: u64 = 0u64,
        /// use only the first this many images of each real identity (0 = all)
        real_per_id: u64 = 0u64,
    }
}

/// The `domain_mixup` stage kind.
pub struct DomainMixup;

impl TypedStage for DomainMixup {
    type Params = DomainMixupParams;
    const KIND: &'static str = "domain_mixup";
    const VERSION: u32 = 1;
    const ABOUT: &'static str =
        "pair a synthetic dataset with an oversampled, relabelled real set for domain mixup";
    const INPUTS: &'static [PortSpec] = &[
        PortSpec::new("synthetic", DATASET),
        PortSpec::new("real", DATASET),
    ];
    const OUTPUT: &'static str = MIXUP_DATASET;
    const RESOURCES: Resources = Resources {
        mem_mb: 1024,
        ..Resources::DEFAULT
    };

    fn check(&self, p: &DomainMixupParams) -> Vec<ParamIssue> {
        ParamIssue::of("psi", p.psi.values()).into_iter().collect()
    }
    fn estimate(&self, _p: &DomainMixupParams, inputs: &[(&str, &Facts)]) -> Estimate {
        super::cost::per_image(inputs, 2)
    }
    fn run(&self, p: DomainMixupParams, ctx: &RunCtx) -> Result<Artifact, StageError> {
        let syn = Dataset::from_artifact(ctx.input("synthetic")?)?;
        let real = Dataset::from_artifact(ctx.input("real")?)?;
        let mixed = prepare(&syn, &real, &p, ctx.seed)?;
        let info = MixupInfo {
            psi: mixed.psi,
            num_syn_classes: syn.info.num_classes,
            num_real_classes: mixed.num_real_classes,
            real_images_distinct: mixed.real_distinct,
            real_domain: real.info.domain,
        };
        mixup_set::encode(&syn, &mixed.real, &info)
    }
}

/// The real half of a domain-mixup artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Mixed {
    /// The real subset: relabelled, resized, oversampled to the synthetic length.
    pub real: Dataset,
    pub psi: Vec<f64>,
    pub num_real_classes: usize,
    /// Distinct real images in the subset before oversampling.
    pub real_distinct: usize,
}

/// Build the relabelled, oversampled real set for `syn` (pure; seeded by `seed`).
pub fn prepare(
    syn: &Dataset,
    real: &Dataset,
    p: &DomainMixupParams,
    seed: u64,
) -> Result<Mixed, StageError> {
    let psi = p.psi.values().map_err(|e| StageError::param("psi", e))?;
    if syn.is_empty() || real.is_empty() {
        return Err(StageError::Input(
            "domain_mixup needs non-empty synthetic and real datasets".into(),
        ));
    }
    let limit = |n: u64| if n == 0 { usize::MAX } else { n as usize };
    // Subset: the first `real_ids` classes, the first `real_per_id` images of each.
    let classes: Vec<Vec<usize>> = real
        .by_class()
        .into_iter()
        .filter(|c| !c.is_empty())
        .take(limit(p.real_ids))
        .map(|c| c.into_iter().take(limit(p.real_per_id)).collect())
        .collect();
    let num_real_classes = classes.len();
    let subset: Vec<(usize, i64)> = classes
        .iter()
        .enumerate()
        .flat_map(|(new, imgs)| imgs.iter().map(move |&i| (i, new as i64)))
        .collect();
    // Oversample: concatenated seeded permutations, truncated to the synthetic length.
    let n = syn.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order = Vec::with_capacity(n + subset.len());
    while order.len() < n {
        let mut perm: Vec<usize> = (0..subset.len()).collect();
        perm.shuffle(&mut rng);
        order.extend(perm);
    }
    order.truncate(n);

    let offset = syn.info.num_classes as i64;
    let (h, w) = (syn.info.height, syn.info.width);
    let resize = (real.info.height, real.info.width) != (h, w);
    let (sx, sy) = (
        w as f32 / real.info.width as f32,
        h as f32 / real.info.height as f32,
    );
    let what = format!("domain mixup of {n} images at {h}x{w}");
    let bytes = (n as u64).checked_mul((h * w * 3) as u64);
    crate::memory::ensure_fits(bytes, &what)?;
    let mut out = Dataset {
        info: real.info.clone(),
        images: crate::memory::try_with_capacity(n * h * w * 3, &what)?,
        label_a: Vec::with_capacity(n),
        label_b: Vec::with_capacity(n),
        phi: Vec::with_capacity(n),
        landmarks: real.landmarks.as_ref().map(|_| Vec::with_capacity(n * 10)),
    };
    out.info.height = h;
    out.info.width = w;
    out.info.num_classes = syn.info.num_classes + num_real_classes;
    out.info.identity_ids = Vec::new();
    out.info.class_names = if real.info.class_names.is_empty() {
        Vec::new()
    } else {
        let syn_names = (0..syn.info.num_classes).map(|i| {
            syn.info
                .class_names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("synthetic/{i}"))
        });
        let real_names = classes
            .iter()
            .map(|c| real.info.class_names[real.label_a[c[0]] as usize].clone());
        syn_names.chain(real_names).collect()
    };
    out.info.sources = Vec::new();
    for &k in &order {
        let (i, new_label) = subset[k];
        if resize {
            out.images.extend_from_slice(&resized(real, i, h, w)?);
        } else {
            out.images.extend_from_slice(real.image(i));
        }
        out.label_a.push(offset + new_label);
        out.label_b.push(offset + new_label);
        out.phi.push(1.0);
        if let Some(src) = real.info.sources.get(i) {
            out.info.sources.push(src.clone());
        }
        if let (Some(all), Some(lm)) = (out.landmarks.as_mut(), real.landmarks.as_ref()) {
            for (j, v) in lm[i * 10..i * 10 + 10].iter().enumerate() {
                all.push(if j % 2 == 0 { v * sx } else { v * sy });
            }
        }
    }
    if out.info.sources.len() != out.len() {
        out.info.sources.clear();
    }
    out.validate()?;
    Ok(Mixed {
        real: out,
        psi,
        num_real_classes,
        real_distinct: subset.len(),
    })
}

/// Image `i` of `d` resized to `h` x `w` (triangle filter).
fn resized(d: &Dataset, i: usize, h: usize, w: usize) -> Result<Vec<u8>, StageError> {
    let img = RgbImage::from_raw(
        d.info.width as u32,
        d.info.height as u32,
        d.image(i).to_vec(),
    )
    .ok_or_else(|| StageError::Input("real image has the wrong byte length".into()))?;
    Ok(image::imageops::resize(&img, w as u32, h as u32, FilterType::Triangle).into_raw())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{DatasetInfo, Domain};
    use std::collections::BTreeMap;
    use synface_engine::{
        CancelToken, Device, InputArtifact, NoCheckpoints, NoProgress, ParamTable, ParamsSchema,
        Stage,
    };

    /// `k` classes x `per` images of `side` px; each image is filled with its index.
    fn ds(domain: Domain, k: usize, per: usize, side: usize) -> Dataset {
        let n = k * per;
        Dataset {
            info: DatasetInfo {
                domain,
                num_classes: k,
                height: side,
                width: side,
                class_names: (0..k).map(|c| format!("c{c}")).collect(),
                identity_ids: vec![],
                sources: (0..n).map(|i| format!("c{}/{i}.png", i / per)).collect(),
            },
            images: (0..n)
                .flat_map(|i| vec![i as u8; side * side * 3])
                .collect(),
            label_a: (0..n).map(|i| (i / per) as i64).collect(),
            label_b: (0..n).map(|i| (i / per) as i64).collect(),
            phi: vec![1.0; n],
            landmarks: None,
        }
    }

    fn params() -> DomainMixupParams {
        DomainMixupParams {
            psi: Grid::default(),
            real_ids: 0,
            real_per_id: 0,
        }
    }

    #[test]
    fn relabels_and_uses_every_real_image_before_repeats() {
        let syn = ds(Domain::Synthetic, 5, 4, 4); // 20 images
        let real = ds(Domain::Real, 3, 2, 4); // 6 images
        let m = prepare(&syn, &real, &params(), 1).unwrap();
        assert_eq!(m.real.len(), 20);
        assert_eq!(m.num_real_classes, 3);
        assert_eq!(m.real.info.num_classes, 8);
        assert!(m.real.label_a.iter().all(|&l| (5..8).contains(&l)));
        // The first 6 are a permutation of all real images (pixel value = original index).
        let mut first: Vec<u8> = (0..6).map(|i| m.real.image(i)[0]).collect();
        first.sort();
        assert_eq!(first, vec![0, 1, 2, 3, 4, 5]);
        // Labels follow images: original image j belongs to class j / 2.
        for i in 0..20 {
            let orig = m.real.image(i)[0] as i64;
            assert_eq!(m.real.label_a[i], 5 + orig / 2);
            assert_eq!(m.real.info.sources[i], format!("c{}/{orig}.png", orig / 2));
        }
        assert_eq!(m.real.info.class_names[5], "c0");
        assert_eq!(m.psi.len(), 21);
        // Seeded: same seed, same order; another seed, another order.
        assert_eq!(prepare(&syn, &real, &params(), 1).unwrap(), m);
        assert_ne!(
            prepare(&syn, &real, &params(), 2).unwrap().real.images,
            m.real.images
        );
    }

    #[test]
    fn subset_limits_and_resize() {
        let syn = ds(Domain::Synthetic, 2, 5, 4);
        let real = ds(Domain::PhotoProxy, 4, 3, 8);
        let p = DomainMixupParams {
            psi: Grid::List(vec![0.5, 1.0]),
            real_ids: 2,
            real_per_id: 1,
        };
        let m = prepare(&syn, &real, &p, 0).unwrap();
        assert_eq!((m.real.info.height, m.real.info.width), (4, 4));
        assert_eq!(m.real.image_len(), 48);
        assert_eq!(m.real_distinct, 2);
        assert_eq!(m.real.info.num_classes, 4);
        // Only images 0 (class 0) and 3 (class 1) are used; a solid image stays solid.
        for i in 0..m.real.len() {
            let v = m.real.image(i)[0];
            assert!(v == 0 || v == 3, "{v}");
            assert!(m.real.image(i).iter().all(|&x| x == v));
        }
        assert_eq!(m.psi, vec![0.5, 1.0]);
    }

    #[test]
    fn grid_validation() {
        assert_eq!(
            Grid::Range {
                from: 0.0,
                to: 1.0,
                step: 0.25
            }
            .values()
            .unwrap(),
            vec![0.0, 0.25, 0.5, 0.75, 1.0]
        );
        assert!(Grid::Range {
            from: 0.0,
            to: 1.0,
            step: 0.0
        }
        .values()
        .is_err());
        assert!(Grid::List(vec![1.5]).values().is_err());
        let mut t = ParamTable::new();
        t.insert(
            "psi".into(),
            toml::Value::Array(vec![toml::Value::Float(2.0)]),
        );
        assert_eq!(Stage::check(&DomainMixup, &t).len(), 1);
        let specs = DomainMixupParams::specs();
        let psi = specs.iter().find(|s| s.name == "psi").unwrap();
        assert!((psi.check)(psi.default.as_ref().unwrap()).is_ok());
    }

    #[test]
    fn stage_writes_both_datasets_and_json() {
        let syn = ds(Domain::Synthetic, 3, 2, 4);
        let real = ds(Domain::Real, 2, 2, 4);
        let ia = |a: Artifact| {
            vec![InputArtifact {
                stage: "x".into(),
                point_ids: vec![],
                point: BTreeMap::new(),
                artifact: a,
            }]
        };
        let inputs = BTreeMap::from([
            ("synthetic".to_string(), ia(syn.to_artifact().unwrap())),
            ("real".to_string(), ia(real.to_artifact().unwrap())),
        ]);
        let params: ParamTable = DomainMixupParams::specs()
            .into_iter()
            .filter_map(|s| s.default.map(|d| (s.name.to_string(), d)))
            .collect();
        let cancel = CancelToken::new();
        let ctx = RunCtx {
            stage: "dm",
            params: &params,
            inputs,
            seed: 3,
            device: Device::Cpu,
            threads: 1,
            progress: &NoProgress,
            cancel: &cancel,
            checkpoints: &NoCheckpoints,
        };
        let a = Stage::run(&DomainMixup, &ctx).unwrap();
        assert_eq!(Dataset::from_artifact(&a).unwrap(), syn);
        let r = Dataset::from_artifact_named(&a, "real").unwrap();
        assert_eq!(r.len(), 6);
        let j: serde_json::Value =
            serde_json::from_slice(a.get("domain_mixup.json").unwrap()).unwrap();
        assert_eq!(j["num_syn_classes"], 3);
        assert_eq!(j["num_real_classes"], 2);
        assert_eq!(j["psi"].as_array().unwrap().len(), 21);
    }
}
