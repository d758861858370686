//! ONNX export of a trained model (`synface export FILE --stage train --format onnx`), the
//! format face-recognition toolkits such as insightface ship, runnable in onnxruntime or
//! importable into PyTorch (`onnx2torch`).
//!
//! The graph takes `pixels`, float32 `[N, 3, S, S]` RGB in 0..255, normalises it as synface
//! does (`(x - 127.5) / 128`, see `crate::nn::input`), and returns two outputs: `embedding`
//! `[N, D]` (the network's raw embedding) and `embedding_flip` (that plus the embedding of
//! the horizontally mirrored input, what `verify` scores when `flip = true`). Neither is
//! L2-normalised. `metadata_props` carry `crate::nn::model_meta`'s description.
//!
//! The protobuf is written by a small hand-written encoder ([`proto`], [`messages`]): a
//! model needs a dozen message types and encoding only, while the crates that generate ONNX
//! bindings (`prost` + `onnx.proto`, `onnx-protobuf`) need protoc at build time or bring the
//! whole schema and a protobuf runtime. The encoder is checked against the protobuf
//! documentation's byte examples, and exported models against onnxruntime in
//! `tests/integration/py_export.rs`.

mod graph;
pub mod messages;
pub mod proto;

use std::collections::BTreeMap;

use crate::nn::backbone::BackboneConfig;
use crate::nn::layers::from_safetensors;
use crate::nn::model_meta;
use messages::{model, value_info, Dim, Graph};

/// Errors exporting a model.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("model weights: {0}")]
    Weights(String),
    #[error("model configuration: {0}")]
    Config(String),
}

/// The graph's input and outputs.
pub const INPUT: &str = "pixels";
pub const OUTPUT: &str = "embedding";
pub const OUTPUT_FLIP: &str = "embedding_flip";

/// ONNX model bytes of the backbone `cfg` with weights from `model.safetensors` bytes.
pub fn export(cfg: &BackboneConfig, safetensors: &[u8]) -> Result<Vec<u8>, OnnxError> {
    cfg.validate()
        .map_err(|e| OnnxError::Config(e.to_string()))?;
    // Loading the model checks every tensor's shape against the configuration.
    crate::nn::Embedder::from_parts(cfg, safetensors, synface_engine::Device::Cpu)
        .map_err(|e| OnnxError::Weights(e.to_string()))?;
    let (tensors, _) =
        from_safetensors(safetensors).map_err(|e| OnnxError::Weights(e.to_string()))?;
    let weights: BTreeMap<String, _> = tensors.into_iter().map(|t| (t.name.clone(), t)).collect();
    let mut b = graph::Builder::new(&weights);
    let x = b.normalise(INPUT);
    let plain = b.backbone(&x, cfg)?;
    let mirrored = b.mirror(&x);
    let flipped = b.backbone(&mirrored, cfg)?;
    let with_flip = b.add(&plain, &flipped);
    let mut nodes = b.nodes;
    nodes.push(identity(&plain, OUTPUT));
    nodes.push(identity(&with_flip, OUTPUT_FLIP));
    let (s, d) = (cfg.input_size as i64, cfg.embedding as i64);
    let out_dims = || [Dim::Named("batch"), Dim::Fixed(d)];
    let g = Graph {
        name: "synface".into(),
        doc: format!(
            "synface face embedder ({}): {}",
            model_meta::OUTPUT,
            model_meta::PREPROCESSING
        ),
        nodes,
        initializers: b.initializers.into_values().collect(),
        inputs: vec![value_info(
            INPUT,
            &[
                Dim::Named("batch"),
                Dim::Fixed(3),
                Dim::Fixed(s),
                Dim::Fixed(s),
            ],
        )],
        outputs: vec![
            value_info(OUTPUT, &out_dims()),
            value_info(OUTPUT_FLIP, &out_dims()),
        ],
    };
    let mut meta: Vec<(String, String)> = model_meta::metadata(cfg).into_iter().collect();
    meta.sort();
    Ok(model(&g, crate::provenance::VERSION, &meta))
}

fn identity(from: &str, to: &str) -> proto::Msg {
    messages::node("Identity", to, &[from], &[to], &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::backbone::{Arch, Backbone};
    use crate::nn::layers::{init_seeded, sorted_vars, to_safetensors, HostTensor};
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};
    use rand::SeedableRng;

    fn weights(cfg: &BackboneConfig) -> Vec<u8> {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        Backbone::new(vb, cfg).unwrap();
        init_seeded(&vm, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1)).unwrap();
        let ts: Vec<HostTensor> = sorted_vars(&vm)
            .iter()
            .map(|(n, v)| HostTensor::of(n.clone(), v.as_tensor()).unwrap())
            .collect();
        to_safetensors(ts, None).unwrap()
    }

    #[test]
    fn export_is_deterministic_and_uses_every_weight() {
        for arch in [Arch::IResNet, Arch::MobileFaceNet] {
            let cfg = BackboneConfig {
                arch,
                depths: vec![1, 2],
                widths: vec![4, 8],
                embedding: 6,
                input_size: 16,
                dropout: 0.0,
            };
            let w = weights(&cfg);
            let a = export(&cfg, &w).unwrap();
            assert_eq!(a, export(&cfg, &w).unwrap());
            let (tensors, _) = from_safetensors(&w).unwrap();
            for t in &tensors {
                let name = t.name.as_bytes();
                assert!(
                    a.windows(name.len()).any(|win| win == name),
                    "{arch:?}: `{}` is not in the graph",
                    t.name
                );
            }
        }
    }

    #[test]
    fn missing_weights_are_an_error_not_a_panic() {
        let cfg = BackboneConfig::small(16);
        let mut other = cfg.clone();
        other.widths = vec![8, 8, 8, 8];
        let err = export(&cfg, &weights(&other)).unwrap_err();
        assert!(err.to_string().contains("shape"), "{err}");
        assert!(export(&cfg, b"not safetensors").is_err());
    }
}
