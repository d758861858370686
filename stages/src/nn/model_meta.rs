//! What a trained model says about itself: the string metadata of `model.safetensors` (and of
//! the ONNX export), naming the architecture, the input and its preprocessing, and the
//! output, so a model file can be used without synface's code (docs/models.md).

use std::collections::HashMap;

use super::backbone::{Arch, BackboneConfig};

/// Version of this metadata's keys and wording (2: the preprocessing names the crop margin of
/// face model version 5).
pub const META_FORMAT: &str = "2";

/// How pixels become network input (`crate::nn::input`).
pub const PREPROCESSING: &str = "RGB pixels in 0..255 as float32, NCHW; each value \
    normalised as (x - 127.5) / 128; faces aligned to the five-point 112x112 template shrunk by \
    0.85 about the point (56, 56) (face::template, face model version 5 on) and scaled to the \
    input side; other sizes bilinearly resized (pixel centres aligned)";

/// What the network returns and how verification uses it (`crate::verify`).
pub const OUTPUT: &str = "embedding [N, D], not normalised; verification adds the \
    embedding of the horizontally mirrored image (flip = true), L2-normalises, and scores \
    pairs by cosine similarity";

fn arch_name(a: Arch) -> &'static str {
    match a {
        Arch::IResNet => "iresnet",
        Arch::MobileFaceNet => "mobilefacenet",
    }
}

/// The layers in words, for readers rebuilding the network in another framework.
fn layers(cfg: &BackboneConfig) -> String {
    let body = match cfg.arch {
        Arch::IResNet => {
            "stem = conv3x3(s1)-BN-PReLU; per stage i, block j: BN-conv3x3-BN-PReLU-\
             conv3x3(stride 2 when j = 0)-BN + shortcut (conv1x1(stride)-BN when the shape \
             changes), tensors layer{i}.{j}.*"
        }
        Arch::MobileFaceNet => {
            "stem = conv3x3(s2)-BN-PReLU, stem_dw = depthwise conv3x3-BN-PReLU; per stage \
             i, block j: conv1x1(x2)-BN-PReLU, depthwise conv3x3(stride 2 when j = 0)-BN-\
             PReLU, conv1x1-BN (+ input when the shape allows), tensors layer{i}.{j}.*; \
             sep = conv1x1(x4)-BN-PReLU; gdc = depthwise conv over the whole map (no \
             padding)-BN"
        }
    };
    format!(
        "{body}; head = BN - flatten - linear (head.fc) - BN (head.features). Convolutions \
         have no bias and pad k/2; BN eps 1e-5 with running statistics at inference; PReLU \
         per channel; weights [out, in/groups, k, k]"
    )
}

/// The metadata map written into `model.safetensors`.
pub fn metadata(cfg: &BackboneConfig) -> HashMap<String, String> {
    let side = cfg.input_size;
    let config = serde_json::to_string(cfg).expect("configs always serialise");
    [
        ("synface.meta_format", META_FORMAT.to_string()),
        ("synface.arch", arch_name(cfg.arch).to_string()),
        ("synface.config", config),
        ("synface.input", format!("images [N, 3, {side}, {side}]")),
        ("synface.preprocessing", PREPROCESSING.to_string()),
        ("synface.output", format!("{OUTPUT}; D = {}", cfg.embedding)),
        ("synface.layers", layers(cfg)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_names_the_architecture_and_preprocessing() {
        let cfg = BackboneConfig::small(32);
        let m = metadata(&cfg);
        assert_eq!(m["synface.arch"], "iresnet");
        assert!(m["synface.preprocessing"].contains("(x - 127.5) / 128"));
        // the text spells out the crop margin: it must follow face::CROP_SCALE
        let margin = format!("shrunk by {} about", crate::face::CROP_SCALE);
        assert!(m["synface.preprocessing"].contains(&margin), "{margin}");
        assert_eq!(m["synface.input"], "images [N, 3, 32, 32]");
        let back: BackboneConfig = serde_json::from_str(&m["synface.config"]).unwrap();
        assert_eq!(back, cfg);
    }
}
