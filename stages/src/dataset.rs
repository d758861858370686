//! The dataset artifact shared by render, augment, load_images, domain_mixup, train and verify:
//! u8 NHWC images with (possibly mixed) identity labels and optional landmarks.
//!
//! Stored as two files of an [`Artifact`]: `dataset.safetensors` (tensors `images` u8
//! [N,H,W,3], `label_a` i64 [N], `label_b` i64 [N], `phi` f32 [N] = weight of `label_a`,
//! optional `landmarks` f32 [N,5,2] in pixels) and `dataset.json` ([`DatasetInfo`]).

use std::collections::HashMap;

use safetensors::tensor::{Dtype, TensorView};
use synface_engine::{Artifact, StageError};

/// File stem of a dataset in its artifact (`dataset.safetensors`, `dataset.json`).
pub const STEM: &str = "dataset";

/// Where a dataset's images come from; reports label proxies as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Domain {
    /// Rendered by the synthetic face model.
    Synthetic,
    /// Rendered with the shifted "photo" appearance: a stand-in for real photos.
    PhotoProxy,
    /// Loaded from real images on disk.
    Real,
    /// Pixel mixture of synthetic and real/proxy images (domain mixup).
    Mixed,
}

/// Metadata stored beside the tensors.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DatasetInfo {
    pub domain: Domain,
    /// Number of classes (labels are in `0..num_classes`).
    pub num_classes: usize,
    pub height: usize,
    pub width: usize,
    /// Optional class names (image-folder datasets); index = label.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_names: Vec<String>,
    /// Global identity ids of the classes when they come from the face model (index = label),
    /// so test identities can be checked disjoint from training ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identity_ids: Vec<u64>,
    /// Optional source of each image (index = image), e.g. `Aaron_Eckhart/Aaron_Eckhart_0001.jpg`
    /// for image-folder datasets, so LFW `pairs.txt` lines can be resolved to images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

/// An in-memory dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub info: DatasetInfo,
    /// N*H*W*3 bytes, row-major NHWC.
    pub images: Vec<u8>,
    pub label_a: Vec<i64>,
    pub label_b: Vec<i64>,
    /// Weight of `label_a` (1.0 for an unmixed image; `label_b` gets `1 - phi`).
    pub phi: Vec<f32>,
    /// N*5*2 pixel coordinates (left eye, right eye, nose tip, left and right mouth corner).
    pub landmarks: Option<Vec<f32>>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.label_a.len()
    }
    pub fn is_empty(&self) -> bool {
        self.label_a.is_empty()
    }
    /// Bytes of one image.
    pub fn image_len(&self) -> usize {
        self.info.height * self.info.width * 3
    }
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// Check internal consistency (lengths, label ranges, phi in [0,1]).
    pub fn validate(&self) -> Result<(), StageError> {
        let n = self.len();
        let bad = |m: String| Err(StageError::Input(format!("invalid dataset: {m}")));
        if self.images.len() != n * self.image_len() {
            return bad(format!(
                "{} image bytes for {n} images of {}x{}",
                self.images.len(),
                self.info.height,
                self.info.width
            ));
        }
        if self.label_b.len() != n || self.phi.len() != n {
            return bad("label_b/phi length differs from label_a".into());
        }
        if let Some(l) = &self.landmarks {
            if l.len() != n * 10 {
                return bad("landmarks must be N x 5 x 2".into());
            }
        }
        let k = self.info.num_classes as i64;
        if let Some(i) = (0..n).find(|&i| {
            !(0..k).contains(&self.label_a[i])
                || !(0..k).contains(&self.label_b[i])
                || !(0.0..=1.0).contains(&self.phi[i])
        }) {
            return bad(format!("image {i}: label or phi out of range"));
        }
        Ok(())
    }

    /// Encode into an artifact as `dataset.safetensors` + `dataset.json` (nothing is published).
    pub fn to_artifact(&self) -> Result<Artifact, StageError> {
        let mut a = Artifact::new();
        self.add_to(&mut a, STEM)?;
        Ok(a)
    }

    /// Decode from an artifact written by [`Dataset::to_artifact`].
    pub fn from_artifact(a: &Artifact) -> Result<Self, StageError> {
        Self::from_artifact_named(a, STEM)
    }

    /// Add this dataset to `a` as `{stem}.safetensors` + `{stem}.json` (several datasets can
    /// share one artifact, e.g. `dataset` and `real` in a domain-mixup artifact).
    pub fn add_to(&self, a: &mut Artifact, stem: &str) -> Result<(), StageError> {
        self.validate()?;
        let n = self.len();
        let (h, w) = (self.info.height, self.info.width);
        let la = le_bytes_i64(&self.label_a);
        let lb = le_bytes_i64(&self.label_b);
        let phi = le_bytes_f32(&self.phi);
        let lm = self.landmarks.as_ref().map(|l| le_bytes_f32(l));

        let mut tensors = vec![
            (
                "images".to_string(),
                view_of(Dtype::U8, vec![n, h, w, 3], &self.images)?,
            ),
            ("label_a".to_string(), view_of(Dtype::I64, vec![n], &la)?),
            ("label_b".to_string(), view_of(Dtype::I64, vec![n], &lb)?),
            ("phi".to_string(), view_of(Dtype::F32, vec![n], &phi)?),
        ];
        if let Some(lm) = &lm {
            tensors.push((
                "landmarks".to_string(),
                view_of(Dtype::F32, vec![n, 5, 2], lm)?,
            ));
        }
        let bytes = safetensors::serialize(tensors, None)
            .map_err(|e| StageError::msg(format!("safetensors: {e}")))?;
        a.add(format!("{stem}.safetensors"), bytes);
        a.add(
            format!("{stem}.json"),
            serde_json::to_vec_pretty(&self.info).map_err(StageError::msg)?,
        );
        Ok(())
    }

    /// Decode the dataset stored under `stem` (see [`Dataset::add_to`]).
    pub fn from_artifact_named(a: &Artifact, stem: &str) -> Result<Self, StageError> {
        let info: DatasetInfo = serde_json::from_slice(a.get(&format!("{stem}.json"))?)
            .map_err(|e| StageError::Input(format!("{stem}.json: {e}")))?;
        let st = safetensors::SafeTensors::deserialize(a.get(&format!("{stem}.safetensors"))?)
            .map_err(|e| StageError::Input(format!("{stem}.safetensors: {e}")))?;
        let get = |name: &str, dt: Dtype| -> Result<Vec<u8>, StageError> {
            let t = st
                .tensor(name)
                .map_err(|e| StageError::Input(format!("dataset tensor `{name}`: {e}")))?;
            if t.dtype() != dt {
                return Err(StageError::Input(format!(
                    "dataset tensor `{name}` has dtype {:?}, expected {dt:?}",
                    t.dtype()
                )));
            }
            Ok(t.data().to_vec())
        };
        let landmarks = match st.tensor("landmarks") {
            Ok(_) => Some(from_le_f32(&get("landmarks", Dtype::F32)?)),
            Err(_) => None,
        };
        let d = Dataset {
            images: get("images", Dtype::U8)?,
            label_a: from_le_i64(&get("label_a", Dtype::I64)?),
            label_b: from_le_i64(&get("label_b", Dtype::I64)?),
            phi: from_le_f32(&get("phi", Dtype::F32)?),
            landmarks,
            info,
        };
        d.validate()?;
        Ok(d)
    }

    /// Indices of the images of each class (by `label_a`), classes in label order.
    pub fn by_class(&self) -> Vec<Vec<usize>> {
        let mut m: HashMap<i64, Vec<usize>> = HashMap::new();
        for (i, &l) in self.label_a.iter().enumerate() {
            m.entry(l).or_default().push(i);
        }
        (0..self.info.num_classes as i64)
            .map(|c| m.remove(&c).unwrap_or_default())
            .collect()
    }
}

fn le_bytes_i64(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
fn le_bytes_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
fn from_le_i64(b: &[u8]) -> Vec<i64> {
    b.chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}
fn from_le_f32(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect()
}

fn view_of(dt: Dtype, shape: Vec<usize>, data: &[u8]) -> Result<TensorView<'_>, StageError> {
    TensorView::new(dt, shape, data).map_err(|e| StageError::msg(format!("safetensors: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let d = Dataset {
            info: DatasetInfo {
                domain: Domain::Synthetic,
                num_classes: 2,
                height: 2,
                width: 3,
                class_names: vec![],
                identity_ids: vec![5, 9],
                sources: vec![],
            },
            images: (0..36).map(|x| x as u8).collect(),
            label_a: vec![0, 1],
            label_b: vec![1, 1],
            phi: vec![0.25, 1.0],
            landmarks: Some(vec![1.5; 20]),
        };
        let a = d.to_artifact().unwrap();
        assert_eq!(Dataset::from_artifact(&a).unwrap(), d);
        assert_eq!(d.by_class(), vec![vec![0], vec![1]]);
    }
}
