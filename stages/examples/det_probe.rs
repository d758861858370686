//! Which faces does a real-photo face detector miss, and why? Renders N people x K images in the
//! judge's setting (every per-image factor varied, `|yaw| <= MAX_YAW`, identity seed SEED, as
//! `synface render --seed SEED` draws them) and writes `coeffs.csv`: per image its yaw and pitch,
//! the identity's semantic coefficients (shape 0..20, albedo 0..32) and derived traits.
//! `bench/judge/det_probe.py OUT [BASE]` then runs dlib's HOG detector and prints detection by
//! yaw and by quintile of each coefficient, or the paired change against BASE (the same people
//! and poses under another build or knob: docs/faces.md, "What the detector misses").
//! `cargo run --release -p synface-stages --example det_probe -- OUT [N] [SIZE] [K] [MAX_YAW]
//! [SEED]` (defaults 300 people, 150 px, 4 images each, 45 degrees, identity seed 7).

mod probe_common;

use std::fmt::Write as _;

use synface_stages::face::latent::{sample_latent, FaceLatent, SampleConfig, IDENTITY_SEED_STRIDE};
use synface_stages::face::traits::Traits;

use probe_common::{args, options, write};

fn main() {
    let (out, n, size) = args("/tmp/det-probe", 300);
    let a: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: f32| a.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
    let (k, max_yaw, seed) = (arg(4, 4.0), arg(5, 45.0), arg(6, 7.0) as u64);
    let cfg = SampleConfig {
        max_yaw,
        ..SampleConfig::default()
    };
    let lats: Vec<FaceLatent> = (0..n)
        .flat_map(|i| (0..k as u64).map(move |j| (i, j)))
        .map(|(i, j)| sample_latent(seed * IDENTITY_SEED_STRIDE + i, j, seed, &cfg))
        .collect();
    write(&out, &lats, &options(size, seed), |i| format!("{i}"));
    std::fs::write(out.join("coeffs.csv"), table(&lats)).expect("write coeffs.csv");
}

/// One CSV row per image: file, identity, yaw, pitch, coefficients, derived traits.
fn table(lats: &[FaceLatent]) -> String {
    let mut csv = String::from("file,id,yaw,pitch");
    (0..20).for_each(|i| write!(csv, ",s{i}").unwrap());
    (0..32).for_each(|i| write!(csv, ",a{i}").unwrap());
    csv += ",sex,age,hair_length,fringe,bald,beard,moustache\n";
    for (i, l) in lats.iter().enumerate() {
        let t = Traits::derive(&l.shape, &l.albedo);
        write!(csv, "{i}.png,{},{},{}", l.identity, l.pose[0], l.pose[1]).unwrap();
        l.shape[..20]
            .iter()
            .for_each(|v| write!(csv, ",{v}").unwrap());
        l.albedo[..32]
            .iter()
            .for_each(|v| write!(csv, ",{v}").unwrap());
        let tr = [
            t.sex,
            t.age,
            t.hair_length,
            t.fringe,
            t.bald,
            t.beard,
            t.moustache,
        ];
        tr.iter().for_each(|v| write!(csv, ",{v}").unwrap());
        csv.push('\n');
    }
    csv
}
