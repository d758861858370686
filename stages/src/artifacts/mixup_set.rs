//! The `mixup_dataset` artifact: a synthetic dataset (`dataset.*`), its real partner set
//! relabelled after the synthetic classes and oversampled to the same length (`real.*`), and
//! `domain_mixup.json` (the psi grid and class counts, also the stage's metrics). Written by
//! `domain_mixup`, read by `train`, which accepts a plain `dataset` on the same port.

use synface_engine::{Artifact, StageError};

use crate::dataset::{Dataset, Domain};

const INFO: &str = "domain_mixup.json";
const REAL_STEM: &str = "real";

/// What `domain_mixup.json` records besides the two datasets.
pub struct MixupInfo {
    /// The grid each batch draws its synthetic weight from.
    pub psi: Vec<f64>,
    pub num_syn_classes: usize,
    pub num_real_classes: usize,
    /// Distinct real images before oversampling.
    pub real_images_distinct: usize,
    /// The domain of the real input (a proxy set when synthetic).
    pub real_domain: Domain,
}

/// The real half of a decoded `mixup_dataset`.
pub struct RealPartners {
    pub real: Dataset,
    pub psi: Vec<f32>,
}

/// Encode the artifact; `domain_mixup.json` is also its metrics.
pub fn encode(syn: &Dataset, real: &Dataset, info: &MixupInfo) -> Result<Artifact, StageError> {
    let mut a = Artifact::new();
    syn.add_to(&mut a, crate::dataset::STEM)?;
    real.add_to(&mut a, REAL_STEM)?;
    let json = serde_json::json!({
        "psi": info.psi,
        "num_syn_classes": info.num_syn_classes,
        "num_real_classes": info.num_real_classes,
        "num_classes": info.num_syn_classes + info.num_real_classes,
        "real_images_distinct": info.real_images_distinct,
        "real_domain": info.real_domain,
    });
    a.add(
        INFO,
        serde_json::to_vec_pretty(&json).map_err(StageError::msg)?,
    );
    a.set_metrics(&json);
    Ok(a)
}

#[derive(serde::Deserialize)]
struct PsiOnly {
    psi: Vec<f32>,
}

/// Decode a training input: a `dataset`, or a `mixup_dataset` with its real partners.
pub fn decode_training(a: &Artifact) -> Result<(Dataset, Option<RealPartners>), StageError> {
    let syn = Dataset::from_artifact_named(a, crate::dataset::STEM)?;
    if !a.files.contains_key(INFO) {
        return Ok((syn, None));
    }
    let info: PsiOnly = serde_json::from_slice(a.get(INFO)?)
        .map_err(|e| StageError::Input(format!("{INFO}: {e}")))?;
    let real = Dataset::from_artifact_named(a, REAL_STEM)?;
    Ok((
        syn,
        Some(RealPartners {
            real,
            psi: info.psi,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::DatasetInfo;

    fn set(domain: Domain, n: usize) -> Dataset {
        Dataset {
            info: DatasetInfo {
                domain,
                num_classes: n,
                height: 1,
                width: 1,
                class_names: vec![],
                identity_ids: vec![],
                sources: vec![],
            },
            images: vec![7; n * 3],
            label_a: (0..n as i64).collect(),
            label_b: (0..n as i64).collect(),
            phi: vec![1.0; n],
            landmarks: None,
        }
    }

    #[test]
    fn round_trips_and_plain_datasets_pass() {
        let (syn, real) = (set(Domain::Synthetic, 3), set(Domain::Real, 3));
        let info = MixupInfo {
            psi: vec![0.25, 1.0],
            num_syn_classes: 3,
            num_real_classes: 3,
            real_images_distinct: 3,
            real_domain: Domain::Real,
        };
        let a = encode(&syn, &real, &info).unwrap();
        assert_eq!(a.metrics().unwrap()["num_classes"], 6);
        let (s, r) = decode_training(&a).unwrap();
        let r = r.unwrap();
        assert_eq!((s, r.real, r.psi), (syn.clone(), real, vec![0.25f32, 1.0]));
        let (plain, none) = decode_training(&syn.to_artifact().unwrap()).unwrap();
        assert_eq!(plain, syn);
        assert!(none.is_none());
    }
}
