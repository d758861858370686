//! Byte-exactness guard for renderer optimisations: renders a fixed batch (112 px and 32 px
//! synthetic, 48 px at supersample 1 and 3 with wide poses, and photo style) and prints a
//! blake3 hash of every RGB byte and landmark bit. Any change that alters an output byte changes
//! the hash. `cargo run -p synface-stages --example render_hash` (or `-- REPS`: the best and median
//! single-thread time per image of a 200-image batch over REPS repeats, for A/B timing on a
//! noisy machine)

use synface_stages::face::latent::{sample_latent, SampleConfig};
use synface_stages::face::{render_batch, RenderOptions, RenderedFace, Style};

fn main() {
    let cfg = SampleConfig::default();
    if let Some(reps) = std::env::args()
        .nth(1)
        .and_then(|a| a.parse::<usize>().ok())
    {
        return time(&cfg, reps);
    }
    let wide = SampleConfig {
        max_yaw: 80.0,
        max_pitch: 40.0,
        max_roll: 30.0,
        ..SampleConfig::default()
    };
    let ids = |c: &SampleConfig, ids: u64, per: u64, seed: u64| -> Vec<_> {
        (0..ids * per)
            .map(|i| sample_latent(i / per, i % per, seed, c))
            .collect()
    };
    let cases = [
        (ids(&cfg, 15, 20, 1), 112, 2, Style::Synthetic),
        (ids(&cfg, 4, 10, 7), 32, 2, Style::Synthetic),
        (ids(&cfg, 4, 5, 3), 112, 2, Style::Photo),
        (ids(&wide, 6, 5, 11), 48, 1, Style::Synthetic),
        (ids(&wide, 6, 5, 12), 48, 3, Style::Photo),
    ];
    let mut all = blake3::Hasher::new();
    for (k, (lats, size, supersample, style)) in cases.iter().enumerate() {
        let opts = RenderOptions {
            size: *size,
            supersample: *supersample,
            style: *style,
            seed: 5,
            ..RenderOptions::default()
        };
        let out: Vec<RenderedFace> = render_batch(lats, &opts, &|| false, &|_| {}).expect("render");
        let mut h = blake3::Hasher::new();
        for f in &out {
            h.update(&f.rgb);
            for l in f.landmarks.iter().flatten() {
                h.update(&l.to_bits().to_le_bytes());
            }
        }
        let d = h.finalize();
        all.update(d.as_bytes());
        println!(
            "case {k}: {} images {size}px ss={supersample} {style:?}: {}",
            out.len(),
            &d.to_hex()[..16]
        );
    }
    println!("render hash: {}", all.finalize().to_hex());
}

fn time(cfg: &SampleConfig, reps: usize) {
    let lats: Vec<_> = (0..200)
        .map(|i| sample_latent(i / 20, i % 20, 1, cfg))
        .collect();
    let opts = RenderOptions::default();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let mut ms: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let start = std::time::Instant::now();
            pool.install(|| render_batch(&lats, &opts, &|| false, &|_| {}))
                .expect("render");
            start.elapsed().as_secs_f64() * 1e3 / lats.len() as f64
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    println!(
        "ms/image (1 thread, 112 px ss=2): best {:.3} median {:.3}",
        ms[0],
        ms[ms.len() / 2]
    );
}
