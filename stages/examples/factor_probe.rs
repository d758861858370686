//! Which part of an identity does a face recogniser see? For N pairs of identities (A, B),
//! renders A next to A with one group of its identity coefficients taken from B (all shape,
//! semantic shape, shape fields, all albedo, albedo look, albedo traits, albedo fields), every
//! other factor neutral; `bench/judge/pair_probe.py OUT` prints the recogniser's mean distance
//! per group, so the groups' contributions to the different-identity distance can be compared.
//! Distances combine far below additively, so the same tool with `FP_SCALE` (a wider population
//! for one group) and `FP_ONLY=all` measures what widening a group buys on the whole identity,
//! paired on the same people (much less noise than a fresh judge run).
//! `[FP_SCALE=s:0:20:1.5] [FP_ONLY=all] cargo run --release -p synface-stages --example
//! factor_probe -- OUT [N] [SIZE]`

use std::ops::Range;
use std::path::Path;

use synface_stages::face::latent::FaceLatent;
use synface_stages::face::traits::Traits;

mod probe_common;

use probe_common::{args, neutral_people, write};

/// Coefficient groups: name, shape dims taken from B, albedo dims taken from B.
const GROUPS: [(&str, Range<usize>, Range<usize>); 21] = [
    ("all", 0..80, 0..80),
    ("shape", 0..80, 0..0),
    ("shape_semantic", 0..20, 0..0),
    ("shape_fields", 20..80, 0..0),
    ("albedo", 0..0, 0..80),
    ("albedo_look", 0..0, 0..16),
    ("albedo_traits", 0..0, 16..32),
    ("albedo_fields", 0..0, 32..80),
    ("s_sex", 0..1, 0..0),
    ("s_sex_face", 0..3, 0..0),
    ("s_jaw_chin", 3..5, 0..0),
    ("s_nose", 5..9, 0..0),
    ("s_eyes", 9..11, 0..0),
    ("s_mouth", 11..13, 0..0),
    ("s_brow_cheek", 13..16, 0..0),
    ("s_head", 16..20, 0..0),
    ("a_age", 0..0, 16..17),
    ("a_hair", 0..0, 17..21),
    ("a_beard", 0..0, 21..23),
    ("a_brows", 0..0, 23..26),
    ("a_eyes", 0..0, 28..31),
];

fn main() {
    let (out, n, size) = args("/tmp/factor-probe", 40);
    let (mut people, opts) = neutral_people(2 * n, size);
    for spec in env_list("FP_SCALE") {
        scale(&mut people, &spec);
    }
    write_traits(&out, &people);
    let only = env_list("FP_ONLY");
    for (name, shape, albedo) in GROUPS {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        let mut lats = Vec::new();
        for pair in people.chunks(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let mut mixed = a.clone();
            mixed.shape[shape.clone()].copy_from_slice(&b.shape[shape.clone()]);
            mixed.albedo[albedo.clone()].copy_from_slice(&b.albedo[albedo.clone()]);
            lats.extend([a.clone(), mixed]);
        }
        write(&out.join(name), &lats, &opts, |i| {
            format!("{}_{}", i / 2, ["a", "b"][i % 2])
        });
    }
}

/// A comma-separated environment variable as a list (empty when unset).
fn env_list(name: &str) -> Vec<String> {
    let v = std::env::var(name).unwrap_or_default();
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// `FP_SCALE` entries `s:LO:HI:K` / `a:LO:HI:K` multiply shape / albedo dims LO..HI of everyone
/// by K: the population a wider (or narrower) spread of that group would draw.
fn scale(people: &mut [FaceLatent], spec: &str) {
    let f: Vec<&str> = spec.split(':').collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f32>().ok());
    let (Some(lo), Some(hi), Some(k)) = (num(1), num(2), num(3)) else {
        panic!("FP_SCALE entry `{spec}`: expected s|a:LO:HI:FACTOR, e.g. s:9:11:1.5");
    };
    for p in people {
        let dims = if f[0] == "s" {
            &mut p.shape[..]
        } else {
            &mut p.albedo[..]
        };
        dims[lo as usize..hi as usize]
            .iter_mut()
            .for_each(|c| *c *= k);
    }
}

/// `traits.csv`: each pair's sex and age traits (for splitting distances by them).
fn write_traits(out: &Path, people: &[FaceLatent]) {
    std::fs::create_dir_all(out).expect("create output folder");
    let mut csv = String::from("pair,sex,age,sex_b,age_b\n");
    for (k, p) in people.chunks(2).enumerate() {
        let (a, b) = (trait_of(&p[0]), trait_of(&p[1]));
        csv += &format!("{k},{:.3},{:.3},{:.3},{:.3}\n", a.sex, a.age, b.sex, b.age);
    }
    std::fs::write(out.join("traits.csv"), csv).expect("write traits.csv");
}

fn trait_of(p: &FaceLatent) -> Traits {
    Traits::derive(&p.shape, &p.albedo)
}
