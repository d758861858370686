//! The serde-able backbone configuration (`model.json`) and the [`Backbone`] it builds.

use candle_core::{ModuleT, Tensor};
use candle_nn::VarBuilder;
use rand_chacha::ChaCha8Rng;

use super::iresnet::IResNet;
use super::mobilefacenet::MobileFaceNet;
use super::{NnError, Result};

synface_engine::param_enum! {
    /// Architecture family.
    pub enum Arch {
        /// IR-ResNet (ArcFace's LResNet-E-IR family).
        IResNet = "iresnet",
        /// MobileFaceNet-style depthwise network.
        MobileFaceNet = "mobilefacenet",
    }
}

/// Shape of a backbone. Every stage halves the resolution, so `input_size` must be a multiple
/// of `2^depths.len()` (MobileFaceNet has one extra stride-2 stem).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackboneConfig {
    pub arch: Arch,
    /// Blocks per stage.
    pub depths: Vec<usize>,
    /// Channels per stage.
    pub widths: Vec<usize>,
    /// Embedding dimension.
    pub embedding: usize,
    /// Square input side in pixels.
    pub input_size: usize,
    /// Dropout probability before the embedding layer (training only).
    #[serde(default)]
    pub dropout: f64,
}

impl BackboneConfig {
    /// The small CPU default: IR-ResNet, depths [1,1,1,1], widths [16,32,64,128], 128-d.
    pub fn small(input_size: usize) -> Self {
        BackboneConfig {
            arch: Arch::IResNet,
            depths: vec![1, 1, 1, 1],
            widths: vec![16, 32, 64, 128],
            embedding: 128,
            input_size,
            dropout: 0.0,
        }
    }
    /// LResNet50E-IR at 112x112 with a 512-d embedding (as in SynFace).
    pub fn lresnet50e_ir() -> Self {
        BackboneConfig {
            arch: Arch::IResNet,
            depths: vec![3, 4, 14, 3],
            widths: vec![64, 128, 256, 512],
            embedding: 512,
            input_size: 112,
            dropout: 0.0,
        }
    }
    /// Number of stride-2 reductions between input and the last feature map.
    pub fn reductions(&self) -> usize {
        self.depths.len() + usize::from(self.arch == Arch::MobileFaceNet)
    }
    /// Side of the last feature map.
    pub fn final_side(&self) -> usize {
        self.input_size >> self.reductions()
    }
    /// Check the shape is buildable.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(NnError::Config(m));
        if self.depths.is_empty() || self.depths.len() != self.widths.len() {
            return bad(format!(
                "depths ({}) and widths ({}) must be non-empty and of equal length",
                self.depths.len(),
                self.widths.len()
            ));
        }
        if self.depths.contains(&0) || self.widths.contains(&0) || self.embedding == 0 {
            return bad("depths, widths and embedding must be positive".into());
        }
        if self.depths.len() > 6 {
            return bad(format!("at most 6 stages, got {}", self.depths.len()));
        }
        let f = 1usize << self.reductions();
        if self.input_size == 0 || !self.input_size.is_multiple_of(f) {
            return bad(format!(
                "input_size {} must be a positive multiple of {f} for {} stride-2 stages",
                self.input_size,
                self.reductions()
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {} must be in [0, 1)", self.dropout));
        }
        Ok(())
    }
}

/// A face-embedding network: `[N, 3, S, S]` normalised images -> `[N, embedding]`.
#[derive(Debug, Clone)]
pub enum Backbone {
    IResNet(Box<IResNet>),
    MobileFaceNet(Box<MobileFaceNet>),
}

impl Backbone {
    /// Build (or load, with a safetensors-backed `vb`) a backbone.
    pub fn new(vb: VarBuilder, cfg: &BackboneConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(match cfg.arch {
            Arch::IResNet => Backbone::IResNet(Box::new(IResNet::new(vb, cfg)?)),
            Arch::MobileFaceNet => Backbone::MobileFaceNet(Box::new(MobileFaceNet::new(vb, cfg)?)),
        })
    }
    /// Forward pass; in training mode with `rng`, dropout is applied with a seeded mask.
    pub fn forward_rng(
        &self,
        x: &Tensor,
        train: bool,
        rng: Option<&mut ChaCha8Rng>,
    ) -> Result<Tensor> {
        match self {
            Backbone::IResNet(m) => m.forward_rng(x, train, rng),
            Backbone::MobileFaceNet(m) => m.forward_rng(x, train, rng),
        }
    }
}

impl ModuleT for Backbone {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.forward_rng(x, train, None).map_err(|e| match e {
            NnError::Candle(c) => c,
            other => candle_core::Error::Msg(other.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    #[test]
    fn config_validation() {
        assert!(BackboneConfig::small(32).validate().is_ok());
        assert!(BackboneConfig::lresnet50e_ir().validate().is_ok());
        assert!(BackboneConfig::small(24).validate().is_err());
        let mut c = BackboneConfig::small(32);
        c.widths.pop();
        assert!(c.validate().is_err());
        let json = serde_json::to_string(&BackboneConfig::small(64)).unwrap();
        assert!(json.contains("\"iresnet\""));
        let back: BackboneConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, BackboneConfig::small(64));
    }

    #[test]
    fn both_archs_produce_embeddings() {
        for arch in [Arch::IResNet, Arch::MobileFaceNet] {
            let cfg = BackboneConfig {
                arch,
                depths: vec![1, 1],
                widths: vec![8, 16],
                embedding: 12,
                input_size: 16,
                dropout: 0.0,
            };
            let vm = VarMap::new();
            let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
            let m = Backbone::new(vb, &cfg).unwrap();
            let x = Tensor::zeros((3, 3, 16, 16), DType::F32, &Device::Cpu).unwrap();
            assert_eq!(m.forward_t(&x, true).unwrap().dims(), &[3, 12]);
            assert_eq!(m.forward_t(&x, false).unwrap().dims(), &[3, 12]);
        }
    }
}
