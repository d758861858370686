//! Which identity traits does a face recogniser see? For every semantic identity dim (20 shape,
//! 32 albedo) and each of N base identities, renders the base identity twice with only that
//! coefficient changed (to -2 and +2 standard deviations), everything else neutral (frontal,
//! neutral expression and light). `bench/judge/probe.py OUT` then prints the recogniser's
//! distance between each pair, per dim, against the distance between two random identities.
//! `cargo run --release -p synface-stages --example trait_probe -- OUT [N] [SIZE]`

use std::path::Path;

use synface_stages::face::bases::SHAPE_NAMES;
use synface_stages::face::latent::{sample_latent, FaceLatent, Factor, SampleConfig};
use synface_stages::face::{render_batch, RenderOptions, Style};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = Path::new(args.first().map_or("/tmp/trait-probe", String::as_str));
    let n: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    let size: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(150);
    let cfg = SampleConfig {
        vary: vec![Factor::Identity],
        ..SampleConfig::default()
    };
    let opts = RenderOptions {
        size,
        supersample: 2,
        style: Style::Synthetic,
        seed: 0,
    };
    let base: Vec<FaceLatent> = (0..n).map(|b| sample_latent(b, 0, 0, &cfg)).collect();
    write(&out.join("ref"), &base, &opts, |b| format!("{b}"));
    for dim in 0..52 {
        let (name, shape) = match SHAPE_NAMES.get(dim) {
            Some(n) => (n.to_string(), true),
            None => (format!("albedo_{}", dim - 20), false),
        };
        let mut lats = Vec::new();
        for b in &base {
            for v in [-2.0f32, 2.0] {
                let mut l = b.clone();
                if shape {
                    l.shape[dim] = v;
                } else {
                    l.albedo[dim - 20] = v;
                }
                lats.push(l);
            }
        }
        write(&out.join(format!("{dim:02}_{name}")), &lats, &opts, |i| {
            format!("{}_{}", i / 2, ["lo", "hi"][i % 2])
        });
    }
}

fn write(dir: &Path, lats: &[FaceLatent], opts: &RenderOptions, name: impl Fn(usize) -> String) {
    std::fs::create_dir_all(dir).expect("create output folder");
    let faces = render_batch(lats, opts, &|| false, &|_| {}).expect("render");
    for (i, f) in faces.into_iter().enumerate() {
        let s = opts.size as u32;
        let img = image::RgbImage::from_raw(s, s, f.rgb).expect("image size");
        img.save(dir.join(format!("{}.png", name(i))))
            .expect("write png");
    }
}
