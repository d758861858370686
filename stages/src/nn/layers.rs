//! Shared building blocks of the backbones: bias-free convolution, batch norm, PReLU,
//! seeded dropout, seeded weight initialisation, and (de)serialisation of named tensors as
//! safetensors bytes in a deterministic (name-sorted) order.

use candle_core::{DType, Device, Module, ModuleT, Tensor, Var};
use candle_nn::{BatchNorm, BatchNormConfig, VarBuilder, VarMap};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use safetensors::tensor::{Dtype, TensorView};

use super::bn_act::BnAct;
use super::{NnError, Result};

/// A bias-free 2-D convolution (weights `[out, in/groups, k, k]` under `weight`).
#[derive(Debug, Clone)]
pub struct Conv {
    weight: Tensor,
    padding: usize,
    stride: usize,
    groups: usize,
}

impl Conv {
    /// `k`x`k` convolution from `cin` to `cout` channels; padding keeps "same" size at stride 1.
    pub fn new(
        vb: VarBuilder,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        groups: usize,
    ) -> Result<Self> {
        if groups == 0 || !cin.is_multiple_of(groups) || !cout.is_multiple_of(groups) {
            return Err(NnError::Config(format!(
                "conv {cin}->{cout} cannot be split into {groups} groups"
            )));
        }
        let weight = vb.get_with_hints(
            (cout, cin / groups, k, k),
            "weight",
            candle_nn::init::DEFAULT_KAIMING_NORMAL,
        )?;
        Ok(Conv {
            weight,
            padding: k / 2,
            stride,
            groups,
        })
    }
    /// A depthwise convolution with an explicit padding (used by MobileFaceNet's GDC layer).
    pub fn depthwise_valid(vb: VarBuilder, c: usize, k: usize) -> Result<Self> {
        let mut conv = Self::new(vb, c, c, k, 1, c)?;
        conv.padding = 0;
        Ok(conv)
    }
}

impl Module for Conv {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.groups == 1 {
            super::conv::conv2d(x, &self.weight, self.padding, self.stride)
        } else {
            x.conv2d(&self.weight, self.padding, self.stride, 1, self.groups)
        }
    }
}

/// Batch norm's epsilon and running-statistics momentum.
pub const BN_EPS: f64 = 1e-5;
pub const BN_MOMENTUM: f64 = 0.1;

/// Batch norm ([`BN_EPS`], [`BN_MOMENTUM`]) with running statistics stored in the var map.
pub fn batch_norm(vb: VarBuilder, c: usize) -> Result<BatchNorm> {
    let cfg = BatchNormConfig {
        eps: BN_EPS,
        remove_mean: true,
        affine: true,
        momentum: BN_MOMENTUM,
    };
    Ok(candle_nn::batch_norm(c, cfg, vb)?)
}

/// Channel-wise PReLU (slopes initialised to 0.25), on `[N, C, ...]` or `[N, C]`.
#[derive(Debug, Clone)]
pub struct PRelu {
    weight: Tensor,
}

impl PRelu {
    pub fn new(vb: VarBuilder, c: usize) -> Result<Self> {
        let weight = vb.get_with_hints(c, "weight", candle_nn::Init::Const(0.25))?;
        Ok(PRelu { weight })
    }
    /// The per-channel slopes.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
}

impl Module for PRelu {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut shape = vec![1usize; x.rank()];
        shape[1] = self.weight.dim(0)?;
        let w = self.weight.reshape(shape)?;
        x.relu()? - x.neg()?.relu()?.broadcast_mul(&w)?
    }
}

/// Conv followed by batch norm (and optionally PReLU): the common unit of both backbones.
#[derive(Debug, Clone)]
pub struct ConvBn {
    conv: Conv,
    bn: BnAct,
}

impl ConvBn {
    /// `conv`, `bn` and (when `act`) `prelu` sub-paths under `vb`.
    pub fn new(
        vb: VarBuilder,
        (cin, cout, k, stride, groups): (usize, usize, usize, usize, usize),
        act: bool,
    ) -> Result<Self> {
        let conv = Conv::new(vb.pp("conv"), cin, cout, k, stride, groups)?;
        Self::with_conv(vb, conv, cout, act)
    }
    /// Replace the convolution (e.g. a "valid" depthwise one).
    pub fn with_conv(vb: VarBuilder, conv: Conv, cout: usize, act: bool) -> Result<Self> {
        let bn = batch_norm(vb.pp("bn"), cout)?;
        let act = if act {
            Some(PRelu::new(vb.pp("prelu"), cout)?)
        } else {
            None
        };
        Ok(ConvBn {
            conv,
            bn: BnAct::new(bn, act)?,
        })
    }
}

impl ModuleT for ConvBn {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.bn.forward_t(&self.conv.forward(x)?, train)
    }
}

/// Inverted dropout with a mask drawn from `rng` (candle's own dropout is not seedable).
pub fn dropout(x: &Tensor, p: f64, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    if p <= 0.0 {
        return Ok(x.clone());
    }
    if p >= 1.0 {
        return Err(NnError::Config(format!(
            "dropout probability {p} must be < 1"
        )));
    }
    let keep = 1.0 / (1.0 - p);
    let mask: Vec<f32> = (0..x.elem_count())
        .map(|_| {
            if rng.random::<f64>() < p {
                0.0
            } else {
                keep as f32
            }
        })
        .collect();
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
    Ok((x * mask)?)
}

/// True for variables that are statistics rather than trainable parameters.
pub fn is_buffer(name: &str) -> bool {
    name.ends_with("running_mean") || name.ends_with("running_var")
}

/// All variables of `vm`, sorted by name (the deterministic order used everywhere).
pub fn sorted_vars(vm: &VarMap) -> Vec<(String, Var)> {
    let data = vm.data().lock().unwrap_or_else(|p| p.into_inner());
    let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Overwrite candle's (thread-rng based) initialisation with a seeded one: every weight of
/// rank >= 2 gets Kaiming-normal values (std = sqrt(2 / fan_in)), every `bias` zero; the
/// constant initialisations (BN, PReLU, running statistics) are kept.
pub fn init_seeded(vm: &VarMap, rng: &mut ChaCha8Rng) -> Result<()> {
    for (name, var) in sorted_vars(vm) {
        let dims = var.dims().to_vec();
        let n: usize = dims.iter().product();
        let values: Vec<f32> = if dims.len() >= 2 {
            let fan_in: usize = dims[1..].iter().product();
            let std = (2.0 / fan_in.max(1) as f64).sqrt();
            let normal = Normal::new(0.0, std).map_err(|e| NnError::Config(e.to_string()))?;
            (0..n).map(|_| normal.sample(rng) as f32).collect()
        } else if name.ends_with(".bias") {
            vec![0.0; n]
        } else {
            continue;
        };
        let t = Tensor::from_vec(values, dims, var.device())?.to_dtype(var.dtype())?;
        var.set(&t)?;
    }
    Ok(())
}

/// A named f32 tensor copied to the host.
pub struct HostTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl HostTensor {
    pub fn of(name: impl Into<String>, t: &Tensor) -> Result<Self> {
        Ok(HostTensor {
            name: name.into(),
            shape: t.dims().to_vec(),
            data: t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?,
        })
    }
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_slice(
            &self.data,
            self.shape.as_slice(),
            device,
        )?)
    }
}

/// Serialise tensors (sorted by name) and string metadata as safetensors bytes.
pub fn to_safetensors(
    mut tensors: Vec<HostTensor>,
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Result<Vec<u8>> {
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.data.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            TensorView::new(Dtype::F32, t.shape.clone(), b)
                .map(|v| (t.name.clone(), v))
                .map_err(|e| NnError::Checkpoint(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes =
        safetensors::serialize(views, metadata).map_err(|e| NnError::Checkpoint(e.to_string()))?;
    sorted_header(bytes)
}

/// The same safetensors bytes with the header's keys in sorted order: `safetensors` writes
/// the metadata map in `HashMap` order, which differs between calls, and outputs must be
/// byte-identical (docs/design.md §11).
fn sorted_header(bytes: Vec<u8>) -> Result<Vec<u8>> {
    use std::collections::BTreeMap;
    let bad = |m: String| NnError::Checkpoint(format!("safetensors header: {m}"));
    let n = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
        .filter(|&n| 8 + n <= bytes.len())
        .ok_or_else(|| bad("truncated".into()))?;
    let mut header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).map_err(|e| bad(e.to_string()))?;
    if let Some(meta) = header.remove("__metadata__") {
        let sorted: BTreeMap<String, String> =
            serde_json::from_value(meta).map_err(|e| bad(e.to_string()))?;
        let value = serde_json::to_value(sorted).map_err(|e| bad(e.to_string()))?;
        header.insert("__metadata__".into(), value);
    }
    let mut json = serde_json::to_vec(&header).map_err(|e| bad(e.to_string()))?;
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + n..]);
    Ok(out)
}

/// Decode safetensors bytes into host tensors (sorted by name) and the metadata map.
pub fn from_safetensors(
    bytes: &[u8],
) -> Result<(Vec<HostTensor>, std::collections::HashMap<String, String>)> {
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| NnError::Checkpoint(e.to_string()))?;
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| NnError::Checkpoint(e.to_string()))?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(NnError::Checkpoint(format!("tensor `{name}` is not f32")));
        }
        let data = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.push(HostTensor {
            name,
            shape: view.shape().to_vec(),
            data,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((out, meta.metadata().clone().unwrap_or_default()))
}

/// Set every variable of `vm` found in `tensors` (by name); error on a missing or misshaped one.
pub fn load_into(vm: &VarMap, tensors: &[HostTensor], prefix: &str) -> Result<()> {
    for (name, var) in sorted_vars(vm) {
        let key = format!("{prefix}{name}");
        let t = tensors
            .iter()
            .find(|t| t.name == key)
            .ok_or_else(|| NnError::Checkpoint(format!("missing tensor `{key}`")))?;
        if t.shape != var.dims() {
            return Err(NnError::Checkpoint(format!(
                "tensor `{key}` has shape {:?}, expected {:?}",
                t.shape,
                var.dims()
            )));
        }
        var.set(&t.to_tensor(var.device())?.to_dtype(var.dtype())?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn prelu_matches_definition() {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let p = PRelu::new(vb, 2).unwrap();
        let x = Tensor::new(&[[[[-2.0f32]], [[3.0]]], [[[4.0]], [[-1.0]]]], &Device::Cpu).unwrap();
        let y: Vec<f32> = p
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(y, vec![-0.5, 3.0, 4.0, -0.25]);
    }

    #[test]
    fn seeded_init_is_reproducible_and_round_trips() {
        let build = |seed| {
            let vm = VarMap::new();
            let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
            ConvBn::new(vb.pp("a"), (3, 4, 3, 1, 1), true).unwrap();
            init_seeded(&vm, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
            let ts = sorted_vars(&vm)
                .iter()
                .map(|(n, v)| HostTensor::of(n.clone(), v.as_tensor()).unwrap())
                .collect();
            (vm, to_safetensors(ts, None).unwrap())
        };
        let (_, a) = build(1);
        let (vm2, b) = build(1);
        let (_, c) = build(2);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let (ts, _) = from_safetensors(&c).unwrap();
        load_into(&vm2, &ts, "").unwrap();
        let again = sorted_vars(&vm2)
            .iter()
            .map(|(n, v)| HostTensor::of(n.clone(), v.as_tensor()).unwrap())
            .collect();
        assert_eq!(to_safetensors(again, None).unwrap(), c);
    }

    #[test]
    fn safetensors_with_metadata_are_byte_identical_every_time() {
        let t = || {
            vec![HostTensor {
                name: "w".into(),
                shape: vec![2],
                data: vec![1.0, 2.0],
            }]
        };
        let meta = || {
            (0..16)
                .map(|i| (format!("key{i}"), format!("value {i}")))
                .collect::<std::collections::HashMap<_, _>>()
        };
        let first = to_safetensors(t(), Some(meta())).unwrap();
        for _ in 0..20 {
            assert_eq!(to_safetensors(t(), Some(meta())).unwrap(), first);
        }
        let (back, m) = from_safetensors(&first).unwrap();
        assert_eq!((back[0].data.clone(), m), (vec![1.0, 2.0], meta()));
    }

    #[test]
    fn dropout_keeps_expectation() {
        let x = Tensor::ones(1000, DType::F32, &Device::Cpu).unwrap();
        let y = dropout(&x, 0.5, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
        let v: Vec<f32> = y.to_vec1().unwrap();
        assert!(v.iter().all(|&a| a == 0.0 || a == 2.0));
        let mean = v.iter().sum::<f32>() / 1000.0;
        assert!((mean - 1.0).abs() < 0.15, "{mean}");
        assert!(dropout(&x, 1.0, &mut ChaCha8Rng::seed_from_u64(3)).is_err());
    }
}
