//! CUDA kernels against the CPU reference on a real device. Each test prints why it skipped
//! when no GPU (driver, device or NVRTC) is available.

use synface_kernels::{cpu, Backend};

fn gpu() -> Option<Backend> {
    match Backend::try_gpu(0) {
        Ok(b) => {
            println!("running on {}", b.describe());
            Some(b)
        }
        Err(e) => {
            println!("skipped: no usable GPU ({e})");
            None
        }
    }
}

fn data(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
        .collect()
}

/// Assert every element within `tol` and print the largest difference (scripts/gpu-check.sh
/// reports these lines).
fn close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    let mut worst = 0.0f32;
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol,
            "{what} element {k}: gpu {x} vs cpu {y}"
        );
        worst = worst.max((x - y).abs());
    }
    println!("{what}: max abs error {worst:e} over {} values", a.len());
}

#[test]
fn cosine_pairs_matches_cpu() {
    let Some(g) = gpu() else { return };
    for dim in [1, 3, 64, 130, 512] {
        let n = 300;
        let mut emb = data(n * dim, dim as u32);
        emb[..dim].iter_mut().for_each(|v| *v = 0.0); // a zero row
        let pairs: Vec<(u32, u32)> = (0..5000u32)
            .map(|k| (k % n as u32, (k * 7919) % n as u32))
            .collect();
        close(
            &format!("cosine_pairs dim {dim}"),
            &g.cosine_pairs(&emb, dim, &pairs).unwrap(),
            &cpu::cosine_pairs(&emb, dim, &pairs).unwrap(),
            1e-5,
        );
    }
    assert!(g.cosine_pairs(&[0.0; 4], 2, &[(0, 2)]).is_err());
}

#[test]
fn cosine_all_matches_cpu() {
    let Some(g) = gpu() else { return };
    for (na, nb, dim) in [(1, 1, 1), (65, 130, 17), (200, 70, 512), (64, 64, 64)] {
        let (a, b) = (data(na * dim, 1), data(nb * dim, 2));
        close(
            &format!("cosine_all {na}x{nb}x{dim}"),
            &g.cosine_all(&a, &b, dim).unwrap(),
            &cpu::cosine_all(&a, &b, dim).unwrap(),
            1e-5,
        );
    }
}

#[test]
fn l2_normalize_matches_cpu() {
    let Some(g) = gpu() else { return };
    let (n, dim) = (77, 129);
    let mut x = data(n * dim, 3);
    let mut y = x.clone();
    g.l2_normalize(&mut x, dim).unwrap();
    cpu::l2_normalize(&mut y, dim).unwrap();
    close("l2_normalize", &x, &y, 1e-6);
}

/// The batch op as candle's CustomOp on device-resident u8 tensors (how CUDA training builds
/// its batches) against the same op on CPU tensors, bit for bit, with and without domain mixup;
/// a bad index is an error, not a launch.
#[cfg(feature = "cuda")]
#[test]
fn tensor_batch_op_on_cuda_is_bit_identical_to_cpu() {
    use candle_core::{Device, Tensor};
    use synface_kernels::BatchOp;
    let dev = match Device::new_cuda(0) {
        Ok(d) => d,
        Err(e) => {
            let why = e.to_string();
            let why = why.lines().next().unwrap_or_default().to_string();
            println!("skipped: no CUDA device for candle ({why})");
            return;
        }
    };
    let (h, w) = (120, 100);
    let len = h * w * 3;
    let syn: Vec<u8> = (0..8 * len).map(|i| (i * 31 % 256) as u8).collect();
    let real: Vec<u8> = (0..5 * len).map(|i| (i * 17 % 251) as u8).collect();
    let on = |d: &Device| {
        (
            Tensor::from_slice(&syn, syn.len(), d).unwrap(),
            Tensor::from_slice(&real, real.len(), d).unwrap(),
        )
    };
    let ((cs, cr), (gs, gr)) = (on(&Device::Cpu), on(&dev));
    let mixes = [0.0f32, 0.3, 1.0].map(|psi| Some((vec![4, 0, 2, 2, 1, 3], psi)));
    for size in [112, 64, 120] {
        for mix in std::iter::once(None).chain(mixes.iter().cloned()) {
            let op = BatchOp {
                h,
                w,
                size,
                rows: vec![0, 7, 3, 3, 1, 6],
                flips: vec![false, true, true, false, false, true],
                mix,
            };
            let want = cs.apply_op2_no_bwd(&cr, &op).unwrap();
            let got = gs.apply_op2_no_bwd(&gr, &op).unwrap();
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(flat(&got), flat(&want));
        }
    }
    let bad = BatchOp {
        h,
        w,
        size: 64,
        rows: vec![8],
        flips: vec![],
        mix: None,
    };
    assert!(gs.apply_op2_no_bwd(&gr, &bad).is_err());
    println!("batch op on device tensors: max abs error 0 (bit-identical) at sizes 112, 64, 120");
}
