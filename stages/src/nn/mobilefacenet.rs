//! MobileFaceNet-style light backbone: a stride-2 3x3 stem and a depthwise 3x3, stages of
//! inverted-residual bottlenecks (1x1 expand x2 - depthwise 3x3 - 1x1 linear projection)
//! whose first block halves the resolution, a 1x1 expansion to 4x the last width, a global
//! depthwise convolution (GDC) over the whole map, and the shared embedding head.

use candle_core::{ModuleT, Tensor};
use candle_nn::VarBuilder;
use rand_chacha::ChaCha8Rng;

use super::backbone::BackboneConfig;
use super::iresnet::EmbeddingHead;
use super::layers::{Conv, ConvBn};
use super::Result;

/// Expansion factor of the bottlenecks.
const EXPANSION: usize = 2;

/// One inverted-residual bottleneck.
#[derive(Debug, Clone)]
pub struct Bottleneck {
    expand: ConvBn,
    depthwise: ConvBn,
    project: ConvBn,
    residual: bool,
}

impl Bottleneck {
    pub fn new(vb: VarBuilder, cin: usize, cout: usize, stride: usize) -> Result<Self> {
        let h = cin * EXPANSION;
        Ok(Bottleneck {
            expand: ConvBn::new(vb.pp("expand"), (cin, h, 1, 1, 1), true)?,
            depthwise: ConvBn::new(vb.pp("dw"), (h, h, 3, stride, h), true)?,
            project: ConvBn::new(vb.pp("project"), (h, cout, 1, 1, 1), false)?,
            residual: stride == 1 && cin == cout,
        })
    }
}

impl ModuleT for Bottleneck {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let y = self.expand.forward_t(x, train)?;
        let y = self.depthwise.forward_t(&y, train)?;
        let y = self.project.forward_t(&y, train)?;
        if self.residual {
            y + x
        } else {
            Ok(y)
        }
    }
}

/// The MobileFaceNet backbone.
#[derive(Debug, Clone)]
pub struct MobileFaceNet {
    stem: ConvBn,
    stem_dw: ConvBn,
    blocks: Vec<Bottleneck>,
    sep: ConvBn,
    gdc: ConvBn,
    head: EmbeddingHead,
}

impl MobileFaceNet {
    /// Build under `vb` (paths `stem`, `stem_dw`, `layer{i}.{j}`, `sep`, `gdc`, `head`).
    pub fn new(vb: VarBuilder, cfg: &BackboneConfig) -> Result<Self> {
        cfg.validate()?;
        let w0 = cfg.widths[0];
        let stem = ConvBn::new(vb.pp("stem"), (3, w0, 3, 2, 1), true)?;
        let stem_dw = ConvBn::new(vb.pp("stem_dw"), (w0, w0, 3, 1, w0), true)?;
        let mut blocks = Vec::new();
        let mut cin = w0;
        for (i, (&depth, &width)) in cfg.depths.iter().zip(&cfg.widths).enumerate() {
            for j in 0..depth {
                let stride = if j == 0 { 2 } else { 1 };
                blocks.push(Bottleneck::new(
                    vb.pp(format!("layer{i}.{j}")),
                    cin,
                    width,
                    stride,
                )?);
                cin = width;
            }
        }
        let wide = cin * 4;
        let sep = ConvBn::new(vb.pp("sep"), (cin, wide, 1, 1, 1), true)?;
        let side = cfg.final_side();
        let gdc_conv = Conv::depthwise_valid(vb.pp("gdc").pp("conv"), wide, side)?;
        let gdc = ConvBn::with_conv(vb.pp("gdc"), gdc_conv, wide, false)?;
        let head = EmbeddingHead::new(vb.pp("head"), wide, 1, cfg)?;
        Ok(MobileFaceNet {
            stem,
            stem_dw,
            blocks,
            sep,
            gdc,
            head,
        })
    }

    pub fn forward_rng(
        &self,
        x: &Tensor,
        train: bool,
        rng: Option<&mut ChaCha8Rng>,
    ) -> Result<Tensor> {
        let mut y = self
            .stem_dw
            .forward_t(&self.stem.forward_t(x, train)?, train)?;
        for b in &self.blocks {
            y = b.forward_t(&y, train)?;
        }
        let y = self.gdc.forward_t(&self.sep.forward_t(&y, train)?, train)?;
        self.head.forward_rng(&y, train, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::backbone::Arch;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    #[test]
    fn gdc_reduces_to_one_pixel() {
        let cfg = BackboneConfig {
            arch: Arch::MobileFaceNet,
            depths: vec![2, 1],
            widths: vec![8, 16],
            embedding: 10,
            input_size: 32,
            dropout: 0.0,
        };
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let m = MobileFaceNet::new(vb, &cfg).unwrap();
        assert!(m.blocks[1].residual && !m.blocks[0].residual);
        let x = Tensor::ones((2, 3, 32, 32), DType::F32, &Device::Cpu).unwrap();
        let y = m.sep.forward_t(
            &m.blocks
                .iter()
                .try_fold(
                    m.stem_dw
                        .forward_t(&m.stem.forward_t(&x, false).unwrap(), false)
                        .unwrap(),
                    |y, b| b.forward_t(&y, false),
                )
                .unwrap(),
            false,
        );
        let y = m.gdc.forward_t(&y.unwrap(), false).unwrap();
        assert_eq!(y.dims(), &[2, 64, 1, 1]);
    }
}
