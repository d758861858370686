//! Training-step throughput of the default CPU backbone (IR-ResNet [1,1,1,1] x [16,32,64,128],
//! 128-d) at 64x64, batch 64, CosFace over 1000 classes, SGD momentum: images/s of full steps
//! and the forward / backward / optimizer split. Used by `bench/train/run.sh`, and by
//! `scripts/gpu-check.sh` with `lresnet50 cuda:0` (LResNet50E-IR, 512-d, on the GPU).
//!
//! `cargo run --release -p synface-stages --example train_bench -- [steps] [batch] [size]
//! [small|lresnet50] [cpu|cuda:K]`

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use synface_stages::nn::layers::init_seeded;
use synface_stages::nn::margin::{MarginHead, MarginKind, Targets};
use synface_stages::nn::{Backbone, BackboneConfig, Sgd};

// The binary's allocator tuning, the same source file (allocator choices belong to binaries).
#[path = "../../src/alloc.rs"]
mod alloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // As the `synface` binary does (set SYNFACE_GLIBC_MALLOC=1 to measure without it).
    if std::env::var_os("SYNFACE_GLIBC_MALLOC").is_none() {
        alloc::tune_allocator();
    }
    let all: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<usize> = all
        .iter()
        .take(3)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let steps = args.first().copied().unwrap_or(10);
    let batch = args.get(1).copied().unwrap_or(64);
    let size = args.get(2).copied().unwrap_or(64);
    let classes = 1000;
    let cfg = match all.get(3).map(String::as_str) {
        None | Some("small") => BackboneConfig::small(size),
        Some("lresnet50") => BackboneConfig {
            input_size: size,
            ..BackboneConfig::lresnet50e_ir()
        },
        Some(other) => return Err(format!("unknown net `{other}` (small, lresnet50)").into()),
    };
    let dev = match all.get(4).map(String::as_str) {
        None | Some("cpu") => Device::Cpu,
        Some(d) => Device::new_cuda(d.trim_start_matches("cuda:").parse()?)?,
    };
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    let model = Backbone::new(vb.pp("backbone"), &cfg)?;
    let head = MarginHead::new(
        vb.pp("margin"),
        cfg.embedding,
        classes,
        MarginKind::CosFace,
        30.0,
        0.4,
    )?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    init_seeded(&vm, &mut rng)?;
    let mut opt = Sgd::new(&vm, 0.9, 5e-4)?;
    let x: Vec<f32> = (0..batch * 3 * size * size)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let x = Tensor::from_vec(x, (batch, 3, size, size), &dev)?;
    let labels: Vec<usize> = (0..batch).map(|_| rng.random_range(0..classes)).collect();
    let targets = Targets::plain(&labels);

    let (mut t_fwd, mut t_bwd, mut t_opt) = (0.0, 0.0, 0.0);
    for step in 0..steps + 2 {
        let t0 = Instant::now();
        let emb = model.forward_rng(&x, true, None)?;
        let out = head.forward(&emb, &targets)?;
        let _ = out.loss.to_scalar::<f32>()?;
        let t1 = Instant::now();
        let grads = out.loss.backward()?;
        dev.synchronize()?;
        let t2 = Instant::now();
        opt.step(&grads, 0.01)?;
        dev.synchronize()?;
        let t3 = Instant::now();
        if step >= 2 {
            t_fwd += (t1 - t0).as_secs_f64();
            t_bwd += (t2 - t1).as_secs_f64();
            t_opt += (t3 - t2).as_secs_f64();
        }
    }
    let total = t_fwd + t_bwd + t_opt;
    let n = (steps * batch) as f64;
    println!(
        "device={dev:?} threads={}",
        candle_core::utils::get_num_threads()
    );
    println!(
        "split_ms_per_step forward={:.1} backward={:.1} optimizer={:.1}",
        1e3 * t_fwd / steps as f64,
        1e3 * t_bwd / steps as f64,
        1e3 * t_opt / steps as f64
    );
    println!("candle_forward_img_s={:.1}", n / t_fwd);
    println!("candle_train_img_s={:.1}", n / total);
    // peak resident set: bench/train/run.sh compares it with JAX's at two batch sizes
    if let Some(bytes) = synface_stages::memory::peak_rss_bytes() {
        println!(
            "candle_peak_rss_mb={:.1}",
            bytes as f64 / (1u64 << 20) as f64
        );
    }
    Ok(())
}
