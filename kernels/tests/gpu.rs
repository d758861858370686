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

fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "element {k}: gpu {x} vs cpu {y}");
    }
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
    close(&x, &y, 1e-6);
}

#[test]
fn mixup_is_bit_identical_to_cpu() {
    let Some(g) = gpu() else { return };
    let len = 112 * 112 * 3;
    let a: Vec<u8> = (0..8 * len).map(|i| (i * 31 % 256) as u8).collect();
    let b: Vec<u8> = (0..5 * len).map(|i| (i * 17 % 251) as u8).collect();
    let (ia, ib) = (vec![0u32, 7, 3, 3, 1, 6], vec![4u32, 0, 2, 2, 1, 3]);
    let coefs = [vec![0.5f32], vec![0.0, 1.0, 0.25, 0.75, 0.5, 0.123]];
    for coef in &coefs {
        assert_eq!(
            g.mixup_u8(&a, &b, &ia, &ib, coef, len).unwrap(),
            cpu::mixup_u8(&a, &b, &ia, &ib, coef, len).unwrap()
        );
        let (af, bf): (Vec<f32>, Vec<f32>) = (
            a.iter().map(|&v| v as f32 / 255.0).collect(),
            b.iter().map(|&v| v as f32 / 255.0).collect(),
        );
        assert_eq!(
            g.mixup_f32(&af, &bf, &ia, &ib, coef, len).unwrap(),
            cpu::mixup_f32(&af, &bf, &ia, &ib, coef, len).unwrap()
        );
    }
    assert!(g.mixup_u8(&a, &b, &[9], &[0], &[0.5], len).is_err());
}
