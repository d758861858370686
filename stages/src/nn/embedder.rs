//! Inference API over a trained `model` artifact (`model.json` + `model.safetensors`): u8
//! NHWC images in, un-normalised embeddings out. Used by the verify stage.

use candle_core::{DType, ModuleT};
use candle_nn::VarBuilder;
use synface_engine::{Artifact, Device, StageError};

use super::backbone::{Backbone, BackboneConfig};
use super::input::{batch_chw, to_tensor};
use super::{candle_device, NnError};

/// Images per forward pass.
const BATCH: usize = 64;

/// A loaded backbone in evaluation mode.
pub struct Embedder {
    model: Backbone,
    cfg: BackboneConfig,
    device: candle_core::Device,
}

impl Embedder {
    /// Load `model.json` and `model.safetensors` from a `model` artifact. `Device::Cuda(i)` is
    /// used only when candle was built with CUDA; otherwise the CPU.
    pub fn from_artifact(a: &Artifact, device: Device) -> Result<Embedder, StageError> {
        let cfg: BackboneConfig = serde_json::from_slice(a.get("model.json")?)
            .map_err(|e| StageError::Input(format!("model.json: {e}")))?;
        Ok(Self::from_parts(&cfg, a.get("model.safetensors")?, device)?)
    }

    /// Build from a configuration and safetensors bytes of the backbone's variables.
    pub fn from_parts(
        cfg: &BackboneConfig,
        weights: &[u8],
        device: Device,
    ) -> Result<Embedder, NnError> {
        let device = candle_device(device);
        let vb = VarBuilder::from_buffered_safetensors(weights.to_vec(), DType::F32, &device)?;
        let model = Backbone::new(vb, cfg)?;
        Ok(Embedder {
            model,
            cfg: cfg.clone(),
            device,
        })
    }

    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.cfg.embedding
    }

    /// Square input side the model expects (other sizes are resized).
    pub fn input_size(&self) -> usize {
        self.cfg.input_size
    }

    /// The configuration the model was built with.
    pub fn config(&self) -> &BackboneConfig {
        &self.cfg
    }

    /// Embeddings `[n, dim]` (row-major, not normalised) of `n` u8 NHWC `h`x`w` RGB images.
    pub fn embed(
        &self,
        images: &[u8],
        n: usize,
        h: usize,
        w: usize,
    ) -> Result<Vec<f32>, StageError> {
        if images.len() != n * h * w * 3 {
            return Err(StageError::Input(format!(
                "{} bytes are not {n} images of {h}x{w}x3",
                images.len()
            )));
        }
        let mut out = Vec::with_capacity(n * self.dim());
        let rows: Vec<usize> = (0..n).collect();
        for chunk in rows.chunks(BATCH) {
            out.extend(
                self.embed_rows(images, h, w, chunk)
                    .map_err(StageError::from)?,
            );
        }
        Ok(out)
    }

    fn embed_rows(
        &self,
        images: &[u8],
        h: usize,
        w: usize,
        rows: &[usize],
    ) -> Result<Vec<f32>, NnError> {
        let s = self.cfg.input_size;
        let x = to_tensor(
            batch_chw(images, (h, w), rows, &[], s, None)?,
            s,
            &self.device,
        )?;
        let e = self.model.forward_t(&x, false)?;
        Ok(e.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::layers::{init_seeded, sorted_vars, to_safetensors, HostTensor};
    use candle_nn::VarMap;
    use rand::SeedableRng;

    fn artifact(cfg: &BackboneConfig) -> Artifact {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &candle_core::Device::Cpu);
        Backbone::new(vb, cfg).unwrap();
        init_seeded(&vm, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0)).unwrap();
        let ts = sorted_vars(&vm)
            .iter()
            .map(|(n, v)| HostTensor::of(n.clone(), v.as_tensor()).unwrap())
            .collect();
        let mut a = Artifact::new();
        a.add("model.safetensors", to_safetensors(ts, None).unwrap());
        a.add("model.json", serde_json::to_vec(cfg).unwrap());
        a
    }

    #[test]
    fn embeds_in_batches_and_resizes() {
        let mut cfg = BackboneConfig::small(16);
        cfg.depths = vec![1, 1];
        cfg.widths = vec![4, 8];
        cfg.embedding = 6;
        let e = Embedder::from_artifact(&artifact(&cfg), Device::Cuda(0)).unwrap();
        assert_eq!((e.dim(), e.input_size()), (6, 16));
        let n = 70;
        let imgs: Vec<u8> = (0..n * 20 * 20 * 3).map(|i| (i * 7 % 251) as u8).collect();
        let all = e.embed(&imgs, n, 20, 20).unwrap();
        assert_eq!(all.len(), n * 6);
        // Batching does not change a row: the last image alone gives the same embedding.
        let last = e.embed(&imgs[(n - 1) * 1200..], 1, 20, 20).unwrap();
        for (a, b) in last.iter().zip(&all[(n - 1) * 6..]) {
            assert!((a - b).abs() < 1e-4);
        }
        assert!(e.embed(&imgs[..10], 1, 20, 20).is_err());
        let mut broken = artifact(&cfg);
        broken.add("model.safetensors", vec![1, 2, 3]);
        assert!(Embedder::from_artifact(&broken, Device::Cpu).is_err());
    }
}
