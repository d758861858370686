//! IR-ResNet (LResNet-E-IR, as in ArcFace/insightface): a 3x3 stem (stride 1), stages of
//! improved-residual blocks `BN-conv-BN-PReLU-conv(stride)-BN + shortcut` whose first block
//! halves the resolution, and the `BN-Dropout-FC-BN` embedding head.

use candle_core::{Module, ModuleT, Tensor};
use candle_nn::{Linear, VarBuilder};
use rand_chacha::ChaCha8Rng;

use super::backbone::BackboneConfig;
use super::bn_act::BnAct;
use super::layers::{batch_norm, dropout, Conv, ConvBn, PRelu};
use super::Result;

/// One improved residual block.
#[derive(Debug, Clone)]
pub struct IrBlock {
    bn1: BnAct,
    conv1: Conv,
    /// bn2 and the PReLU after it
    bn2: BnAct,
    conv2: Conv,
    bn3: BnAct,
    shortcut: Option<ConvBn>,
}

impl IrBlock {
    pub fn new(vb: VarBuilder, cin: usize, cout: usize, stride: usize) -> Result<Self> {
        let shortcut = if stride != 1 || cin != cout {
            Some(ConvBn::new(
                vb.pp("shortcut"),
                (cin, cout, 1, stride, 1),
                false,
            )?)
        } else {
            None
        };
        Ok(IrBlock {
            bn1: BnAct::new(batch_norm(vb.pp("bn1"), cin)?, None)?,
            conv1: Conv::new(vb.pp("conv1"), cin, cout, 3, 1, 1)?,
            bn2: BnAct::new(
                batch_norm(vb.pp("bn2"), cout)?,
                Some(PRelu::new(vb.pp("prelu"), cout)?),
            )?,
            conv2: Conv::new(vb.pp("conv2"), cout, cout, 3, stride, 1)?,
            bn3: BnAct::new(batch_norm(vb.pp("bn3"), cout)?, None)?,
            shortcut,
        })
    }
}

impl ModuleT for IrBlock {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let y = self.bn1.forward_t(x, train)?;
        let y = self.conv1.forward(&y)?;
        let y = self.bn2.forward_t(&y, train)?;
        let y = self.bn3.forward_t(&self.conv2.forward(&y)?, train)?;
        let s = match &self.shortcut {
            Some(sc) => sc.forward_t(x, train)?,
            None => x.clone(),
        };
        y + s
    }
}

/// The embedding head shared by both backbones: `BN - Dropout - flatten - FC - BN`.
#[derive(Debug, Clone)]
pub struct EmbeddingHead {
    bn: BnAct,
    fc: Linear,
    features: BnAct,
    dropout: f64,
}

impl EmbeddingHead {
    pub fn new(vb: VarBuilder, channels: usize, side: usize, cfg: &BackboneConfig) -> Result<Self> {
        Ok(EmbeddingHead {
            bn: BnAct::new(batch_norm(vb.pp("bn"), channels)?, None)?,
            fc: candle_nn::linear(channels * side * side, cfg.embedding, vb.pp("fc"))?,
            features: BnAct::new(batch_norm(vb.pp("features"), cfg.embedding)?, None)?,
            dropout: cfg.dropout,
        })
    }
    pub fn forward_rng(
        &self,
        x: &Tensor,
        train: bool,
        rng: Option<&mut ChaCha8Rng>,
    ) -> Result<Tensor> {
        let mut y = self.bn.forward_t(x, train)?;
        if let (true, Some(rng)) = (train, rng) {
            y = dropout(&y, self.dropout, rng)?;
        }
        let y = self.fc.forward(&y.flatten_from(1)?)?;
        Ok(self.features.forward_t(&y, train)?)
    }
}

/// The IR-ResNet backbone.
#[derive(Debug, Clone)]
pub struct IResNet {
    stem: ConvBn,
    blocks: Vec<IrBlock>,
    head: EmbeddingHead,
}

impl IResNet {
    /// Build under `vb` (paths `stem`, `layer{i}.{j}`, `head`); `cfg` must validate.
    pub fn new(vb: VarBuilder, cfg: &BackboneConfig) -> Result<Self> {
        cfg.validate()?;
        let stem = ConvBn::new(vb.pp("stem"), (3, cfg.widths[0], 3, 1, 1), true)?;
        let mut blocks = Vec::new();
        let mut cin = cfg.widths[0];
        for (i, (&depth, &width)) in cfg.depths.iter().zip(&cfg.widths).enumerate() {
            for j in 0..depth {
                let stride = if j == 0 { 2 } else { 1 };
                blocks.push(IrBlock::new(
                    vb.pp(format!("layer{i}.{j}")),
                    cin,
                    width,
                    stride,
                )?);
                cin = width;
            }
        }
        let head = EmbeddingHead::new(vb.pp("head"), cin, cfg.final_side(), cfg)?;
        Ok(IResNet { stem, blocks, head })
    }

    pub fn forward_rng(
        &self,
        x: &Tensor,
        train: bool,
        rng: Option<&mut ChaCha8Rng>,
    ) -> Result<Tensor> {
        let mut y = self.stem.forward_t(x, train)?;
        for b in &self.blocks {
            y = b.forward_t(&y, train)?;
        }
        self.head.forward_rng(&y, train, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::layers::sorted_vars;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    #[test]
    fn lresnet50_has_the_published_layout() {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        IResNet::new(vb, &BackboneConfig::lresnet50e_ir()).unwrap();
        let vars = sorted_vars(&vm);
        // 3 + 4 + 14 + 3 = 24 blocks, the last of stage 3 is `layer2.13`.
        assert!(vars.iter().any(|(n, _)| n.starts_with("layer2.13.conv2")));
        assert!(!vars.iter().any(|(n, _)| n.starts_with("layer2.14.")));
        let fc = vars.iter().find(|(n, _)| n == "head.fc.weight").unwrap();
        assert_eq!(fc.1.dims(), &[512, 512 * 7 * 7]);
        let trainable: usize = vars
            .iter()
            .filter(|(n, _)| !crate::nn::layers::is_buffer(n))
            .map(|(_, v)| v.elem_count())
            .sum();
        // LResNet50E-IR has about 43.6M parameters.
        assert!((43_000_000..44_500_000).contains(&trainable), "{trainable}");
    }

    #[test]
    fn block_shortcut_only_when_shape_changes() {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let b = IrBlock::new(vb.pp("a"), 4, 4, 1).unwrap();
        assert!(b.shortcut.is_none());
        let b2 = IrBlock::new(vb.pp("b"), 4, 8, 2).unwrap();
        let x = Tensor::ones((2, 4, 8, 8), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(b2.forward_t(&x, true).unwrap().dims(), &[2, 8, 4, 4]);
        assert_eq!(b.forward_t(&x, false).unwrap().dims(), &[2, 4, 8, 8]);
    }
}
