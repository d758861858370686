//! The `latents` artifact: a [`LatentSet`] as `latents.safetensors` (one tensor per factor,
//! plus identity ids, labels and phi) and `latents.json` (face model version, counts, global
//! identity ids). Decoding refuses latents of another face model version.

use safetensors::tensor::{Dtype, TensorView};
use synface_engine::{Artifact, StageError};

use crate::face::latent::{FaceLatent, LatentSet};
use crate::face::{LATENT_VERSION, N_ALBEDO, N_BG, N_EXPR, N_LIGHT, N_SHAPE};

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
            model_version: LATENT_VERSION,
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
        if meta.model_version != LATENT_VERSION {
            return Err(StageError::Input(format!(
                "latents are of latent version {}, this build reads version {LATENT_VERSION} \
                 (shared by face models 6 and 7); sample them again",
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
    use crate::face::latent::{sample_latent, LatentSet, SampleConfig};

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
