//! Cosine-similarity throughput of synface-kernels, for `bench/similarity/run.sh`.
//!
//! `similarity_bench gen DIR N DIM PAIRS SEED` writes `DIR/emb.f32` (`[N, DIM]` little-endian
//! f32) and `DIR/pairs.u32` (`[PAIRS, 2]` little-endian u32), the inputs numpy reads too.
//! `similarity_bench run DIR N DIM ROWS REPS [cpu|cuda:K]` times `cosine_pairs` over all pairs
//! and `cosine_all` of rows `0..ROWS` against rows `ROWS..2*ROWS`, best of REPS, and prints one
//! JSON line (`pairs_per_s`, `all_gflops`, checksums).

use std::time::Instant;

use synface_kernels::Backend;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> T {
    args.get(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("argument {i} ({what}) missing or invalid; see the doc comment"))
}

/// SplitMix64: a tiny seeded generator so the example needs no extra dependency.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn gen(args: &[String]) {
    let dir = std::path::PathBuf::from(&args[2]);
    let (n, dim, pairs, seed): (usize, usize, usize, u64) = (
        arg(args, 3, "N"),
        arg(args, 4, "DIM"),
        arg(args, 5, "PAIRS"),
        arg(args, 6, "SEED"),
    );
    let mut s = seed;
    let emb: Vec<u8> = (0..n * dim)
        .flat_map(|_| ((splitmix(&mut s) >> 40) as f32 / (1u64 << 24) as f32 - 0.5).to_le_bytes())
        .collect();
    let pr: Vec<u8> = (0..pairs * 2)
        .flat_map(|_| ((splitmix(&mut s) % n as u64) as u32).to_le_bytes())
        .collect();
    std::fs::create_dir_all(&dir).expect("create output dir");
    std::fs::write(dir.join("emb.f32"), emb).expect("write emb.f32");
    std::fs::write(dir.join("pairs.u32"), pr).expect("write pairs.u32");
}

fn best<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut out = f(); // warm-up (and GPU module load)
    let mut t = f64::INFINITY;
    for _ in 0..reps {
        let t0 = Instant::now();
        out = f();
        t = t.min(t0.elapsed().as_secs_f64());
    }
    (t, out)
}

fn run(args: &[String]) {
    let dir = std::path::PathBuf::from(&args[2]);
    let (n, dim, rows, reps): (usize, usize, usize, usize) = (
        arg(args, 3, "N"),
        arg(args, 4, "DIM"),
        arg(args, 5, "ROWS"),
        arg(args, 6, "REPS"),
    );
    let backend = match args.get(7).map(String::as_str) {
        None | Some("cpu") => Backend::Cpu,
        Some(d) => {
            let o: usize = d.trim_start_matches("cuda:").parse().expect("cuda:K");
            Backend::try_gpu(o).unwrap_or_else(|e| panic!("GPU {o}: {e}"))
        }
    };
    let emb: Vec<f32> = std::fs::read(dir.join("emb.f32"))
        .expect("read emb.f32")
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    assert_eq!(emb.len(), n * dim, "emb.f32 does not hold N x DIM floats");
    let pairs: Vec<(u32, u32)> = std::fs::read(dir.join("pairs.u32"))
        .expect("read pairs.u32")
        .chunks_exact(8)
        .map(|c| {
            let u = |k: usize| u32::from_le_bytes(c[k..k + 4].try_into().expect("4 bytes"));
            (u(0), u(4))
        })
        .collect();
    assert!(2 * rows <= n, "ROWS must be at most N / 2");
    let (tp, sp) = best(reps, || {
        backend
            .cosine_pairs(&emb, dim, &pairs)
            .expect("cosine_pairs")
    });
    let (a, b) = (&emb[..rows * dim], &emb[rows * dim..2 * rows * dim]);
    let (ta, sa) = best(reps, || backend.cosine_all(a, b, dim).expect("cosine_all"));
    let sum = |v: &[f32]| v.iter().map(|x| *x as f64).sum::<f64>();
    let resident = resident_times(&backend, (&emb, dim), &pairs, (a, b), reps);
    println!(
        "{{\"impl\":\"synface-kernels\",\"backend\":\"{}\",\"simd\":\"{:?}\",\"threads\":{},\"pairs\":{},\"pairs_s\":{tp},\"pairs_per_s\":{},\"all_rows\":{rows},\"all_s\":{ta},\"all_gflops\":{},\"pairs_checksum\":{},\"all_checksum\":{},\"peak_bw\":{}{resident}}}",
        backend.describe(),
        synface_kernels::cpu::simd::level(),
        rayon::current_num_threads(),
        pairs.len(),
        pairs.len() as f64 / tp,
        2.0 * (rows * rows * dim) as f64 / ta / 1e9,
        sum(&sp),
        sum(&sa),
        backend.peak_bandwidth().map_or("null".to_string(), |b| b.to_string()),
    );
}

/// On a GPU, the kernel-only times (inputs already on the device) as extra JSON fields
/// `kernel_pairs_s` and `kernel_all_s`; the times above include the host-device copies.
fn resident_times(
    backend: &Backend,
    emb: (&[f32], usize),
    pairs: &[(u32, u32)],
    ab: (&[f32], &[f32]),
    reps: usize,
) -> String {
    match backend {
        Backend::Cpu => String::new(),
        #[cfg(any(feature = "gpu", feature = "cuda"))]
        Backend::Gpu(g) => {
            let t = g
                .time_resident(emb, pairs, ab, reps)
                .expect("kernel-only timing");
            format!(
                ",\"kernel_pairs_s\":{},\"kernel_all_s\":{}",
                t.pairs_s, t.all_s
            )
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") => gen(&args),
        Some("run") => run(&args),
        _ => eprintln!("usage: similarity_bench gen DIR N DIM PAIRS SEED | run DIR N DIM ROWS REPS [cpu|cuda:K]"),
    }
}
