//! Render throughput at 112x112: images/s single- and multi-threaded, against a reference
//! measured in the same run: the rate of merely filling the same supersampled buffers
//! (allocate + memset the depth/triangle buffers + resolve over the background), i.e. the floor
//! cost of touching the pixels. (Not comparable with runs before the deferred-fragment target,
//! whose buffers were larger.)
//! `cargo run -p synface-stages --example render_bench -- [IMAGES] [PER_ID] [SUPERSAMPLE]`

use std::time::Instant;

use synface_stages::face::latent::{sample_latent, SampleConfig};
use synface_stages::face::raster::Target;
use synface_stages::face::{render_batch, FaceModel, RenderOptions};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(2000);
    let per_id = args.get(1).copied().unwrap_or(20).max(1);
    let cfg = SampleConfig::default();
    let lats: Vec<_> = (0..n)
        .map(|i| sample_latent((i / per_id) as u64, (i % per_id) as u64, 1, &cfg))
        .collect();
    let ss = args.get(2).copied().unwrap_or(2).clamp(1, 4);
    let opts = RenderOptions {
        supersample: ss,
        ..RenderOptions::default()
    };
    let _ = FaceModel::get();
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let mut rates = Vec::new();
    for t in [1, threads] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .expect("pool");
        let start = Instant::now();
        let out = pool
            .install(|| render_batch(&lats, &opts, &|| false, &|_| {}))
            .expect("render");
        let r = out.len() as f64 / start.elapsed().as_secs_f64();
        println!(
            "render 112x112 ss={} per_id={per_id}: {t} thread(s): {r:.0} images/s",
            opts.supersample
        );
        rates.push(r);
    }
    // reference: fill the same buffers without drawing (single thread)
    let bg = vec![[0.5f32; 3]; 112 * 112];
    let start = Instant::now();
    let mut sink = 0.0f32;
    for _ in 0..n {
        let t = Target::new(112 * ss, 112 * ss);
        let (img, _) = t.resolve(ss, &[], &[], 0.0, |x, y| bg[y * 112 + x], |a| [a[0]; 3]);
        sink += img[0][0];
    }
    let fill = n as f64 / start.elapsed().as_secs_f64();
    println!("reference (buffer fill + resolve only, 1 thread): {fill:.0} images/s  [{sink:.0}]");
    println!("ratio render/fill (1 thread): {:.3}", rates[0] / fill);
    println!(
        "multi-thread speed-up: {:.2}x on {threads} threads",
        rates[1] / rates[0]
    );
}
