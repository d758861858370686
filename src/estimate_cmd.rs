//! `synface plan --estimate`: each stage instance's expected work, peak memory and cache
//! bytes from its kind's cost model (`Stage::estimate`), then per-stage and whole-run
//! totals. The plan-time facts the models read (`images`, `image_size`) are recomputed here
//! along the plan with `Stage::output_facts`, as the planner does.

use std::fmt::Write;

use synface_engine::estimate::Estimate;
use synface_engine::{Facts, Plan, Registry};

/// `1.2 GFLOP`, `-` when unknown.
fn ops_words(flops: Option<f64>) -> String {
    let Some(f) = flops else {
        return "-".into();
    };
    let units = ["", "k", "M", "G", "T", "P", "E"];
    let mut x = f;
    let mut u = 0;
    while x >= 1000.0 && u + 1 < units.len() {
        x /= 1000.0;
        u += 1;
    }
    format!("{x:.1} {}FLOP", units[u])
}

/// `3.4 GiB`, `-` when unknown.
fn bytes_words(bytes: Option<u64>) -> String {
    let Some(b) = bytes else {
        return "-".into();
    };
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut x = b as f64;
    let mut u = 0;
    while x >= 1024.0 && u + 1 < units.len() {
        x /= 1024.0;
        u += 1;
    }
    format!("{x:.1} {}", units[u])
}

/// Every instance's estimate, in plan order (memory falls back to the kind's declared
/// resource estimate).
pub fn estimates(plan: &Plan, reg: &Registry) -> Vec<Estimate> {
    let mut facts: Vec<Facts> = Vec::with_capacity(plan.instances.len());
    let mut out = Vec::with_capacity(plan.instances.len());
    for inst in &plan.instances {
        let inputs: Vec<(&str, &Facts)> = inst
            .inputs
            .iter()
            .flat_map(|(port, ids)| ids.iter().map(move |&j| (port.as_str(), j)))
            .filter_map(|(port, j)| Some((port, facts.get(j)?)))
            .collect();
        let (f, mut e) = match reg.get(&inst.kind) {
            Some(s) => (
                s.output_facts(&inst.params, &inputs),
                s.estimate(&inst.params, &inputs),
            ),
            None => (Facts::new(), Estimate::default()),
        };
        e.mem_mb = e.mem_mb.or(Some(inst.resources.mem_mb));
        facts.push(f);
        out.push(e);
    }
    out
}

fn line(out: &mut String, name: &str, what: &str, e: &Estimate, width: usize) {
    let mem = bytes_words(e.mem_mb.map(|m| m << 20));
    let _ = writeln!(
        out,
        "{name:<width$}  {what:<24}  {:>12}  {mem:>10}  {:>10}",
        ops_words(e.flops),
        bytes_words(e.disk_bytes)
    );
}

/// The text `synface plan --estimate` appends to the plan.
pub fn render(plan: &Plan, reg: &Registry) -> String {
    let est = estimates(plan, reg);
    let width = plan
        .instances
        .iter()
        .map(|i| i.stage.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out =
        String::from("\nestimate (rough, from each kind's cost model; not a measurement)\n");
    let _ = writeln!(
        out,
        "{:<width$}  {:<24}  {:>12}  {:>10}  {:>10}",
        "stage", "points", "compute", "peak mem", "disk"
    );
    // Per stage, in plan order: (stage, instances, totals).
    let mut per_stage: Vec<(&str, usize, Estimate)> = Vec::new();
    let mut total = Estimate::default();
    for (inst, e) in plan.instances.iter().zip(&est) {
        let served: Vec<&synface_engine::Point> =
            inst.points.iter().filter_map(|p| plan.point(p)).collect();
        let label = match synface_engine::point_name::common_label(&served) {
            l if l.is_empty() => format!("{} points", served.len()),
            l => l,
        };
        line(&mut out, &inst.stage, &label, e, width);
        match per_stage.iter_mut().find(|(s, _, _)| *s == inst.stage) {
            Some((_, n, t)) => {
                *n += 1;
                t.add(e);
            }
            None => per_stage.push((&inst.stage, 1, *e)),
        }
        total.add(e);
    }
    out.push_str("\nper stage (compute and disk summed, memory the largest instance):\n");
    for (stage, n, e) in &per_stage {
        line(&mut out, stage, &format!("{n} instances"), e, width);
    }
    let what = format!("{} instances", plan.instances.len());
    line(&mut out, "total", &what, &total, width);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_read_in_units() {
        assert_eq!(ops_words(Some(1.5e9)), "1.5 GFLOP");
        assert_eq!(ops_words(Some(12.0)), "12.0 FLOP");
        assert_eq!(ops_words(None), "-");
        assert_eq!(bytes_words(Some(3 << 20)), "3.0 MiB");
        assert_eq!(bytes_words(Some(512)), "512.0 B");
    }
}
