//! What the face-model probes (`trait_probe`, `factor_probe`, `det_probe`) share: the command
//! line (`OUT [N] [SIZE]`), the render options they use, the neutral setting they render people in
//! (identity only: frontal, neutral expression and light, plain background) and writing renders
//! as PNG files.

// Each probe compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use synface_stages::face::latent::{sample_latent, FaceLatent, Factor, SampleConfig};
use synface_stages::face::{render_batch, RenderOptions, Style};

/// `OUT [N] [SIZE]` from the command line, with the given defaults for OUT and N (SIZE 150).
pub fn args(out: &str, n: u64) -> (PathBuf, u64, usize) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = PathBuf::from(args.first().map_or(out, String::as_str));
    let n = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(n);
    let size = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(150);
    (out, n, size)
}

/// Identities `0..n` in the neutral setting, and the render options (2x supersampling).
pub fn neutral_people(n: u64, size: usize) -> (Vec<FaceLatent>, RenderOptions) {
    let cfg = SampleConfig {
        vary: vec![Factor::Identity],
        ..SampleConfig::default()
    };
    let people = (0..n).map(|b| sample_latent(b, 0, 0, &cfg)).collect();
    (people, options(size, 0))
}

/// The probes' render options: `size` px, 2x supersampling, synthetic style, image seed `seed`.
pub fn options(size: usize, seed: u64) -> RenderOptions {
    RenderOptions {
        size,
        supersample: 2,
        style: Style::Synthetic,
        seed,
        ..RenderOptions::default()
    }
}

/// Render `lats` into `dir`, image `i` as `name(i).png`.
pub fn write(
    dir: &Path,
    lats: &[FaceLatent],
    opts: &RenderOptions,
    name: impl Fn(usize) -> String,
) {
    std::fs::create_dir_all(dir).expect("create output folder");
    let faces = render_batch(lats, opts, &|| false, &|_| {}).expect("render");
    for (i, f) in faces.into_iter().enumerate() {
        let s = opts.size as u32;
        let img = image::RgbImage::from_raw(s, s, f.rgb).expect("image size");
        img.save(dir.join(format!("{}.png", name(i))))
            .expect("write png");
    }
}
