//! The backbones of `crate::nn` as ONNX nodes, layer for layer in inference mode: bias-free
//! `Conv` (padding k/2, or none for MobileFaceNet's GDC), `BatchNormalization` with the
//! running statistics (eps 1e-5), channel-wise `PRelu`, residual `Add`, and the embedding head
//! `BN - Flatten - Gemm - BN` (dropout is the identity at inference). Weights are the
//! `model.safetensors` tensors under their own names.

use std::collections::BTreeMap;

use super::messages::{attr_float, attr_int, attr_ints, node, tensor_f32, tensor_i64};
use super::proto::Msg;
use super::OnnxError;
use crate::nn::backbone::{Arch, BackboneConfig};
use crate::nn::layers::HostTensor;

/// Batch-norm epsilon of `crate::nn::layers::batch_norm`.
const BN_EPS: f32 = 1e-5;
/// MobileFaceNet's bottleneck expansion (`crate::nn::mobilefacenet`).
const EXPANSION: usize = 2;

/// Nodes and initializers being assembled.
pub struct Builder<'w> {
    weights: &'w BTreeMap<String, HostTensor>,
    pub nodes: Vec<Msg>,
    /// Initializers by name (each written once, however often it is used).
    pub initializers: BTreeMap<String, Msg>,
    count: usize,
}

/// A convolution's geometry.
#[derive(Clone, Copy)]
struct ConvSpec {
    stride: usize,
    groups: usize,
    /// Padding on every side.
    pad: usize,
}

impl ConvSpec {
    fn same(k: usize, stride: usize, groups: usize) -> Self {
        ConvSpec {
            stride,
            groups,
            pad: k / 2,
        }
    }
}

impl<'w> Builder<'w> {
    pub fn new(weights: &'w BTreeMap<String, HostTensor>) -> Self {
        Builder {
            weights,
            nodes: Vec::new(),
            initializers: BTreeMap::new(),
            count: 0,
        }
    }

    /// A new value name.
    fn fresh(&mut self, hint: &str) -> String {
        self.count += 1;
        format!("{hint}:{}", self.count)
    }

    /// Add a node with one output; returns the output's name.
    fn op(&mut self, op: &str, inputs: &[&str], attrs: &[Msg]) -> String {
        let out = self.fresh(op);
        self.nodes.push(node(op, &out, inputs, &[&out], attrs));
        out
    }

    /// The tensor `name` as an initializer, optionally with other dims (same element count).
    fn weight(&mut self, name: &str, dims: Option<Vec<i64>>) -> Result<String, OnnxError> {
        let t = self
            .weights
            .get(name)
            .ok_or_else(|| OnnxError::Weights(format!("missing tensor `{name}`")))?;
        let dims = dims.unwrap_or_else(|| t.shape.iter().map(|&d| d as i64).collect());
        if dims.iter().product::<i64>() != t.data.len() as i64 {
            return Err(OnnxError::Weights(format!(
                "tensor `{name}` has shape {:?}, expected {dims:?}",
                t.shape
            )));
        }
        if !self.initializers.contains_key(name) {
            let msg = tensor_f32(name, &dims, &t.data);
            self.initializers.insert(name.to_string(), msg);
        }
        Ok(name.to_string())
    }

    /// A float constant.
    pub fn constant(&mut self, name: &str, dims: &[i64], data: &[f32]) -> String {
        self.initializers
            .entry(name.to_string())
            .or_insert_with(|| tensor_f32(name, dims, data));
        name.to_string()
    }

    fn constant_i64(&mut self, name: &str, data: &[i64]) -> String {
        self.initializers
            .entry(name.to_string())
            .or_insert_with(|| tensor_i64(name, &[data.len() as i64], data));
        name.to_string()
    }

    fn conv(&mut self, x: &str, prefix: &str, spec: ConvSpec) -> Result<String, OnnxError> {
        let w = self.weight(&format!("{prefix}.weight"), None)?;
        let k = self.weights[&w].shape.last().copied().unwrap_or(1) as i64;
        let (s, p) = (spec.stride as i64, spec.pad as i64);
        let attrs = [
            attr_ints("kernel_shape", &[k, k]),
            attr_ints("strides", &[s, s]),
            attr_ints("pads", &[p, p, p, p]),
            attr_int("group", spec.groups as i64),
        ];
        Ok(self.op("Conv", &[x, &w], &attrs))
    }

    fn bn(&mut self, x: &str, prefix: &str) -> Result<String, OnnxError> {
        let names: Vec<String> = ["weight", "bias", "running_mean", "running_var"]
            .iter()
            .map(|p| self.weight(&format!("{prefix}.{p}"), None))
            .collect::<Result<_, _>>()?;
        let mut inputs = vec![x];
        inputs.extend(names.iter().map(String::as_str));
        Ok(self.op(
            "BatchNormalization",
            &inputs,
            &[attr_float("epsilon", BN_EPS)],
        ))
    }

    fn prelu(&mut self, x: &str, prefix: &str) -> Result<String, OnnxError> {
        let name = format!("{prefix}.weight");
        let c = self.weights.get(&name).map_or(0, |t| t.data.len()) as i64;
        // Slopes broadcast over [N, C, H, W] as [C, 1, 1].
        let w = self.weight(&name, Some(vec![c, 1, 1]))?;
        Ok(self.op("PRelu", &[x, &w], &[]))
    }

    /// `conv - bn (- prelu)` under `prefix.conv`, `prefix.bn`, `prefix.prelu`.
    fn conv_bn(
        &mut self,
        x: &str,
        prefix: &str,
        spec: ConvSpec,
        act: bool,
    ) -> Result<String, OnnxError> {
        let y = self.conv(x, &format!("{prefix}.conv"), spec)?;
        let y = self.bn(&y, &format!("{prefix}.bn"))?;
        if act {
            self.prelu(&y, &format!("{prefix}.prelu"))
        } else {
            Ok(y)
        }
    }

    /// Mirror `[N, C, H, W]` along W (a `Slice` with step -1).
    pub fn mirror(&mut self, x: &str) -> String {
        let starts = self.constant_i64("mirror.starts", &[-1]);
        let ends = self.constant_i64("mirror.ends", &[i64::MIN]);
        let axes = self.constant_i64("mirror.axes", &[3]);
        let steps = self.constant_i64("mirror.steps", &[-1]);
        self.op("Slice", &[x, &starts, &ends, &axes, &steps], &[])
    }

    pub fn add(&mut self, a: &str, b: &str) -> String {
        self.op("Add", &[a, b], &[])
    }

    /// `(x - 127.5) / 128`, as `crate::nn::input` normalises pixels.
    pub fn normalise(&mut self, x: &str) -> String {
        let mean = self.constant("preprocess.mean", &[1], &[127.5]);
        let scale = self.constant("preprocess.scale", &[1], &[1.0 / 128.0]);
        let centred = self.op("Sub", &[x, &mean], &[]);
        self.op("Mul", &[&centred, &scale], &[])
    }

    /// The whole backbone on normalised `x`; returns the embedding `[N, D]`.
    pub fn backbone(&mut self, x: &str, cfg: &BackboneConfig) -> Result<String, OnnxError> {
        let y = match cfg.arch {
            Arch::IResNet => self.iresnet(x, cfg)?,
            Arch::MobileFaceNet => self.mobilefacenet(x, cfg)?,
        };
        self.head(&y)
    }

    fn iresnet(&mut self, x: &str, cfg: &BackboneConfig) -> Result<String, OnnxError> {
        let mut y = self.conv_bn(x, "stem", ConvSpec::same(3, 1, 1), true)?;
        let mut cin = cfg.widths[0];
        for (i, (&depth, &width)) in cfg.depths.iter().zip(&cfg.widths).enumerate() {
            for j in 0..depth {
                let stride = if j == 0 { 2 } else { 1 };
                y = self.ir_block(&y, &format!("layer{i}.{j}"), cin, width, stride)?;
                cin = width;
            }
        }
        Ok(y)
    }

    /// `BN - conv - BN - PReLU - conv(stride) - BN + shortcut`.
    fn ir_block(
        &mut self,
        x: &str,
        p: &str,
        cin: usize,
        cout: usize,
        stride: usize,
    ) -> Result<String, OnnxError> {
        let y = self.bn(x, &format!("{p}.bn1"))?;
        let y = self.conv(&y, &format!("{p}.conv1"), ConvSpec::same(3, 1, 1))?;
        let y = self.bn(&y, &format!("{p}.bn2"))?;
        let y = self.prelu(&y, &format!("{p}.prelu"))?;
        let y = self.conv(&y, &format!("{p}.conv2"), ConvSpec::same(3, stride, 1))?;
        let y = self.bn(&y, &format!("{p}.bn3"))?;
        let s = if stride != 1 || cin != cout {
            let spec = ConvSpec::same(1, stride, 1);
            self.conv_bn(x, &format!("{p}.shortcut"), spec, false)?
        } else {
            x.to_string()
        };
        Ok(self.add(&y, &s))
    }

    fn mobilefacenet(&mut self, x: &str, cfg: &BackboneConfig) -> Result<String, OnnxError> {
        let w0 = cfg.widths[0];
        let y = self.conv_bn(x, "stem", ConvSpec::same(3, 2, 1), true)?;
        let mut y = self.conv_bn(&y, "stem_dw", ConvSpec::same(3, 1, w0), true)?;
        let mut cin = w0;
        for (i, (&depth, &width)) in cfg.depths.iter().zip(&cfg.widths).enumerate() {
            for j in 0..depth {
                let stride = if j == 0 { 2 } else { 1 };
                y = self.bottleneck(&y, &format!("layer{i}.{j}"), cin, width, stride)?;
                cin = width;
            }
        }
        let wide = cin * 4;
        let y = self.conv_bn(&y, "sep", ConvSpec::same(1, 1, 1), true)?;
        let gdc = ConvSpec {
            stride: 1,
            groups: wide,
            pad: 0,
        };
        self.conv_bn(&y, "gdc", gdc, false)
    }

    /// `1x1 expand - depthwise 3x3 (stride) - 1x1 project (+ x when shapes allow)`.
    fn bottleneck(
        &mut self,
        x: &str,
        p: &str,
        cin: usize,
        cout: usize,
        stride: usize,
    ) -> Result<String, OnnxError> {
        let h = cin * EXPANSION;
        let y = self.conv_bn(x, &format!("{p}.expand"), ConvSpec::same(1, 1, 1), true)?;
        let y = self.conv_bn(&y, &format!("{p}.dw"), ConvSpec::same(3, stride, h), true)?;
        let y = self.conv_bn(&y, &format!("{p}.project"), ConvSpec::same(1, 1, 1), false)?;
        if stride == 1 && cin == cout {
            Ok(self.add(&y, x))
        } else {
            Ok(y)
        }
    }

    /// `BN - Flatten - Gemm - BN` (the last BN on `[N, D, 1, 1]`, then flattened).
    fn head(&mut self, x: &str) -> Result<String, OnnxError> {
        let y = self.bn(x, "head.bn")?;
        let y = self.op("Flatten", &[&y], &[attr_int("axis", 1)]);
        let w = self.weight("head.fc.weight", None)?;
        let b = self.weight("head.fc.bias", None)?;
        let y = self.op("Gemm", &[&y, &w, &b], &[attr_int("transB", 1)]);
        let shape = self.constant_i64("head.as_map", &[0, -1, 1, 1]);
        let y = self.op("Reshape", &[&y, &shape], &[]);
        let y = self.bn(&y, "head.features")?;
        Ok(self.op("Flatten", &[&y], &[attr_int("axis", 1)]))
    }
}
