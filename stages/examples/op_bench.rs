//! Where a training step's time goes, op by op: for each stage of LResNet50E-IR at 112 px (64
//! channels at 56x56 down to 512 at 7x7, batch 128 by default), the milliseconds of synface's
//! 3x3 convolution ([`synface_stages::nn::layers::Conv`]) and of its training-mode batch norm +
//! PReLU ([`synface_stages::nn::bn_act::BnAct`]), each forward and forward + backward, and a
//! matrix product of the convolution's FLOPs (im2col's shape) as the device's reference. On a
//! GPU this says which op holds the training step back (docs/design.md §10);
//! `scripts/gpu-check.sh` runs it.
//!
//! `cargo run --release -p synface-stages --example op_bench -- [batch] [cpu|cuda:K] [reps]`

use std::time::Instant;

use candle_core::{DType, Device, Module, ModuleT, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use synface_stages::nn::bn_act::BnAct;
use synface_stages::nn::layers::{batch_norm, Conv, PRelu};

/// (channels, side) of the four stages at 112 px.
const STAGES: [(usize, usize); 4] = [(64, 56), (128, 28), (256, 14), (512, 7)];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let batch: usize = args.first().map(|a| a.parse()).transpose()?.unwrap_or(128);
    let dev = match args.get(1).map(String::as_str) {
        None | Some("cpu") => Device::Cpu,
        Some(d) => Device::new_cuda(d.trim_start_matches("cuda:").parse()?)?,
    };
    let reps: usize = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(5);
    println!("device={dev:?} batch={batch} reps={reps} (ms per call)");
    for (c, side) in STAGES {
        let ms = stage(&dev, batch, c, side, reps)?;
        let flops = 2.0 * (batch * c * side * side * c * 9) as f64;
        println!(
            "c={c:>3} side={side:>2}: conv fwd {:.2} fwd+bwd {:.2} | bn+prelu fwd {:.2} \
             fwd+bwd {:.2} | gemm of the conv's FLOPs {:.2} | conv fwd {:.0} GFLOP/s",
            ms[0],
            ms[1],
            ms[2],
            ms[3],
            ms[4],
            flops / ms[0] / 1e6
        );
    }
    Ok(())
}

/// Mean milliseconds of: conv forward, conv forward + backward, bn+prelu forward, bn+prelu
/// forward + backward, and the equivalent matrix product.
fn stage(
    dev: &Device,
    batch: usize,
    c: usize,
    side: usize,
    reps: usize,
) -> candle_core::Result<[f64; 5]> {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, dev);
    let conv = Conv::new(vb.pp("conv"), c, c, 3, 1, 1).map_err(candle_core::Error::wrap)?;
    let bn = batch_norm(vb.pp("bn"), c).map_err(candle_core::Error::wrap)?;
    let act = PRelu::new(vb.pp("prelu"), c).map_err(candle_core::Error::wrap)?;
    let bn_act = BnAct::new(bn, Some(act)).map_err(candle_core::Error::wrap)?;
    let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (batch, c, side, side), dev)?)?;
    let g = Tensor::randn(0f32, 1.0, (batch, c, side, side), dev)?;
    let conv_f = || conv.forward(x.as_tensor());
    let bn_f = || bn_act.forward_t(x.as_tensor(), true);
    let back = |y: Tensor| (y * &g)?.sum_all()?.backward().map(|_| ());
    let k = c * 9;
    let a = Tensor::randn(0f32, 1.0, (batch * side * side, k), dev)?;
    let w = Tensor::randn(0f32, 1.0, (k, c), dev)?;
    Ok([
        time(dev, reps, || conv_f().map(|_| ()))?,
        time(dev, reps, || back(conv_f()?))?,
        time(dev, reps, || bn_f().map(|_| ()))?,
        time(dev, reps, || back(bn_f()?))?,
        time(dev, reps, || a.matmul(&w).map(|_| ()))?,
    ])
}

/// Mean milliseconds of `f` over `reps` calls after one warm-up, the device synchronised.
fn time(
    dev: &Device,
    reps: usize,
    mut f: impl FnMut() -> candle_core::Result<()>,
) -> candle_core::Result<f64> {
    f()?;
    dev.synchronize()?;
    let t = Instant::now();
    for _ in 0..reps {
        f()?;
    }
    dev.synchronize()?;
    Ok(t.elapsed().as_secs_f64() * 1e3 / reps as f64)
}
