//! Planning benchmark: plans a sweep of `--points N` points (default 10,000) through five
//! testkit stages (source, two maps, a checkpointed loop and a gather), and a 100-point
//! sweep as the reference measured in the same run. Prints the best-of-k times, the budget
//! ratio (time / 1 s) and the scaling ratio (time per point, large / small: ~1 = linear).
//!
//! `cargo run -p synface-engine --example plan_bench [-- --points N --reps K]`

use std::path::Path;
use std::time::{Duration, Instant};

fn pipeline(points: usize) -> String {
    // points = a * b * seeds with seeds = 4.
    let per = (points / 4).max(1);
    let a = (per as f64).sqrt().floor().max(1.0) as usize;
    let b = (per / a).max(1);
    let list = |n: usize, scale: f64| {
        (0..n)
            .map(|i| format!("{:?}", 1.0 + i as f64 * scale))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ints = (0..a)
        .map(|i| (i + 1).to_string())
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
[pipeline]
name = "bench"
seed = 1

[sweep]
n = [{ints}]
factor = [{factors}]
seeds = 4

[stages.src]
kind = "toy_source"
n = "${{n}}"

[stages.scale]
kind = "toy_map"
input = "src"
factor = "${{factor}}"

[stages.again]
kind = "toy_map"
input = "scale"
factor = 0.5

[stages.steps]
kind = "toy_steps"
input = "again"
steps = 3

[stages.sum]
kind = "toy_sum"
inputs = {{ runs = "steps" }}
"#,
        factors = list(b, 0.25)
    )
}

fn best_of(src: &str, reps: usize, reg: &synface_engine::Registry) -> (Duration, usize, usize) {
    let mut best = Duration::MAX;
    let mut shape = (0, 0);
    for _ in 0..reps {
        let t = Instant::now();
        let plan = synface_engine::plan_from_str(src, Path::new("bench.toml"), &[], reg)
            .unwrap_or_else(|d| panic!("benchmark pipeline is invalid:\n{d}"));
        best = best.min(t.elapsed());
        shape = (plan.points.len(), plan.instances.len());
    }
    (best, shape.0, shape.1)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let points = arg("--points", 10_000);
    let reps = arg("--reps", 5).max(1);
    let reg = synface_engine::testkit::registry();

    let (t_ref, p_ref, i_ref) = best_of(&pipeline(100), reps * 4, &reg);
    let (t_big, p_big, i_big) = best_of(&pipeline(points), reps, &reg);
    let per_ref = t_ref.as_secs_f64() / p_ref as f64;
    let per_big = t_big.as_secs_f64() / p_big as f64;
    println!(
        "reference: {p_ref} points, {i_ref} instances: {:.3} ms",
        t_ref.as_secs_f64() * 1e3
    );
    println!(
        "large:     {p_big} points, {i_big} instances: {:.1} ms",
        t_big.as_secs_f64() * 1e3
    );
    println!("budget ratio (large / 1 s): {:.3}", t_big.as_secs_f64());
    println!(
        "scaling ratio (per-point time, large / reference): {:.2}",
        per_big / per_ref
    );
}
