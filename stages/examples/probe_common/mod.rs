//! What the recogniser probes (`trait_probe`, `factor_probe`) share: the command line (`OUT [N]
//! [SIZE]`), the neutral setting they render people in (identity only: frontal, neutral
//! expression and light, plain background) and writing renders as PNG files.

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
    let opts = RenderOptions {
        size,
        supersample: 2,
        style: Style::Synthetic,
        seed: 0,
    };
    ((0..n).map(|b| sample_latent(b, 0, 0, &cfg)).collect(), opts)
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
