//! The kinds' cost models for `synface plan --estimate`: rough operation counts, peak memory
//! and output bytes from parameters and the plan-time facts `images` (count) and
//! `image_size` (side) that flow from producers. Constants are orders of magnitude (a
//! rasterised sample ~100 operations; training ~3x a forward pass), not measurements.

use synface_engine::estimate::{fact_u64, Estimate};
use synface_engine::Facts;

use super::train::TrainParams;

/// Bytes of one face latent (identity, expression, light, pose, background as f32).
const LATENT_BYTES: u64 = 290 * 4;
/// Operations per rasterised sample (transform, coverage, shading).
const OPS_PER_SAMPLE: f64 = 100.0;
/// Operations per pixel and channel of one augmentation pass.
const OPS_PER_AUG_PIXEL: f64 = 50.0;

fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20).max(1)
}

/// `images` (the count) besides `extra` facts.
pub(crate) fn with_images(mut facts: Facts, images: Option<u64>) -> Facts {
    if let Some(n) = images.and_then(|n| i64::try_from(n).ok()) {
        facts.insert("images".into(), toml::Value::Integer(n));
    }
    facts
}

/// `sample_latents` and `identity_mixup`: latents of `images` faces.
pub(crate) fn latents(images: Option<u64>) -> Estimate {
    let bytes = images.map(|n| n * LATENT_BYTES);
    Estimate {
        flops: images.map(|n| n as f64 * 1e4),
        mem_mb: bytes.map(|b| mib(2 * b)),
        disk_bytes: bytes,
    }
}

/// `render`: every image is size^2 pixels of supersample^2 samples; images and their
/// concatenation are held at once.
pub(crate) fn render(size: u64, ss: u64, inputs: &[(&str, &Facts)]) -> Estimate {
    let images = fact_u64(inputs, "images");
    let bytes = images.map(|n| n * (size * size * 3 + 40));
    Estimate {
        flops: images.map(|n| (n * size * size * ss * ss) as f64 * OPS_PER_SAMPLE),
        mem_mb: bytes.map(|b| mib(2 * b)),
        disk_bytes: bytes,
    }
}

/// Stages that rewrite every image once (`augment`, `domain_mixup`'s copy of the real set).
pub(crate) fn per_image(inputs: &[(&str, &Facts)], copies: u64) -> Estimate {
    let images = fact_u64(inputs, "images");
    let side = fact_u64(inputs, "image_size").unwrap_or(112);
    let bytes = images.map(|n| n * side * side * 3 * copies);
    Estimate {
        flops: images.map(|n| (n * side * side * 3) as f64 * OPS_PER_AUG_PIXEL),
        mem_mb: bytes.map(|b| mib(2 * b)),
        disk_bytes: bytes,
    }
}

/// A backbone's forward operations, parameters and activation floats per image, for an
/// IR-ResNet-style stack (`stages/src/nn/iresnet.rs`: a stem at full side, blocks
/// `BN-conv-BN/PReLU-conv(stride)-BN + shortcut` whose first block per stage halves the side in
/// its second convolution and has a projection shortcut, a linear head); MobileFaceNet is
/// counted the same way. `activations` counts every float the forward pass writes, which
/// training keeps for the backward pass (batch norm and PReLU are one op, `nn/bn_act.rs`).
pub(crate) struct NetCost {
    pub flops: f64,
    pub params: f64,
    pub activations: f64,
}

pub(crate) fn net_cost(depths: &[u64], widths: &[u64], embedding: u64, side: u64) -> NetCost {
    let mut c = NetCost {
        flops: 0.0,
        params: 0.0,
        activations: 0.0,
    };
    // a k x k convolution cin -> cout writing an out_side^2 map, then its batch norm's map
    let mut conv = |k: u64, cin: u64, cout: u64, out_side: u64| {
        let (weights, positions) = (k * k * cin * cout, out_side * out_side);
        c.params += weights as f64;
        c.flops += 2.0 * (weights * positions) as f64;
        c.activations += 2.0 * (cout * positions) as f64;
    };
    let first = widths.first().copied().unwrap_or(16);
    conv(3, 3, first, side);
    let (mut cin, mut s) = (first, side);
    let mut maps = 0.0;
    for (&d, &w) in depths.iter().zip(widths) {
        for j in 0..d {
            let s_in = s;
            maps += (cin * s_in * s_in) as f64; // bn1
            conv(3, cin, w, s_in);
            if j == 0 {
                s = s.div_ceil(2);
                conv(1, cin, w, s);
            }
            conv(3, w, w, s);
            maps += (w * s * s) as f64; // the residual sum
            cin = w;
        }
    }
    c.activations += maps + (cin * s * s + 2 * embedding) as f64;
    c.params += (cin * s * s * embedding) as f64;
    c.flops += 2.0 * (cin * s * s * embedding) as f64;
    c
}

/// The backbone of `train`'s params for inputs of side `image_size` (its `input_size` wins).
pub(crate) fn train_net(p: &TrainParams, image_size: Option<u64>) -> NetCost {
    let side = match p.input_size {
        0 => image_size.unwrap_or(112),
        s => s,
    };
    net_cost(&p.depths, &p.widths, p.embedding, side)
}

/// Peak training bytes per activation float of one image: the f32 activation kept for the
/// backward pass and about as much for gradients and scratch at the backward's peak. Checked
/// against `bench/train/run.sh`'s measured memory per image of the batch (docs/design.md §12).
pub(crate) const TRAIN_BYTES_PER_ACTIVATION: f64 = 8.0;

/// `train`: forward plus backward (~3x forward) over every image of every epoch; memory for
/// weights, gradients and momentum plus, per image of the batch, the activations kept for the
/// backward pass and as much again for their gradients ([`TRAIN_BYTES_PER_ACTIVATION`]).
pub(crate) fn train(p: &TrainParams, inputs: &[(&str, &Facts)]) -> Estimate {
    let net = train_net(p, fact_u64(inputs, "image_size"));
    let images = fact_u64(inputs, "images");
    let epochs = p.epochs as f64;
    let batch = p.batch_size as f64;
    let weights = net.params * 4.0;
    let mem = 4.0 * weights + batch * net.activations * TRAIN_BYTES_PER_ACTIVATION;
    Estimate {
        flops: images.map(|n| 3.0 * net.flops * n as f64 * epochs),
        mem_mb: Some(mib(mem as u64)),
        disk_bytes: Some(weights as u64),
    }
}

/// `verify`: one forward pass per test image (two with flips) on the trained backbone.
pub(crate) fn verify(flip: bool, inputs: &[(&str, &Facts)]) -> Estimate {
    let flops = inputs
        .iter()
        .find_map(|(_, f)| f.get("net_flops")?.as_float());
    let test = inputs
        .iter()
        .filter(|(port, _)| *port == "data")
        .find_map(|(_, f)| f.get("images")?.as_integer())
        .map(|n| n.max(0) as f64);
    let passes = if flip { 2.0 } else { 1.0 };
    Estimate {
        flops: flops.zip(test).map(|(f, n)| f * n * passes),
        mem_mb: None,
        disk_bytes: test.map(|n| (n * 128.0 * 4.0) as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_cost_grows_with_images_and_area() {
        let facts = with_images(Facts::new(), Some(100));
        let small = render(112, 2, &[("input", &facts)]);
        let big = render(224, 2, &[("input", &facts)]);
        assert_eq!(big.flops.unwrap() / small.flops.unwrap(), 4.0);
        assert_eq!(small.disk_bytes, Some(100 * (112 * 112 * 3 + 40)));
        assert_eq!(
            render(112, 2, &[]).flops,
            None,
            "unknown without an image count"
        );
    }

    #[test]
    fn a_deeper_net_costs_more() {
        let a = net_cost(&[1, 1, 1, 1], &[16, 32, 64, 128], 128, 112);
        let b = net_cost(&[2, 2, 2, 2], &[16, 32, 64, 128], 128, 112);
        assert!(b.flops > a.flops && b.params > a.params);
        assert!(a.params > 128.0 * 7.0 * 7.0 * 128.0, "the head alone");
    }
}
