//! Which identity traits does a face recogniser see? For every semantic identity dim (20 shape,
//! 32 albedo) and each of N base identities, renders the base identity twice with only that
//! coefficient changed (to -2 and +2 standard deviations), everything else neutral (frontal,
//! neutral expression and light). `bench/judge/probe.py OUT` then prints the recogniser's
//! distance between each pair, per dim, against the distance between two random identities.
//! `cargo run --release -p synface-stages --example trait_probe -- OUT [N] [SIZE]`

mod probe_common;

use synface_stages::face::bases::SHAPE_NAMES;

use probe_common::{args, neutral_people, write};

fn main() {
    let (out, n, size) = args("/tmp/trait-probe", 30);
    let (base, opts) = neutral_people(n, size);
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
