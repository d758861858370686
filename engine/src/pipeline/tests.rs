//! Tests of planning with the testkit kinds: expansion, dedup, gather, overrides, diagnostics,
//! and that no input makes the planner panic.

use std::path::Path;

use proptest::prelude::*;

use super::plan_from_str;
use crate::diag::Diagnostics;
use crate::plan::Plan;
use crate::testkit;

fn plan(src: &str, sets: &[&str]) -> Result<Plan, Diagnostics> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    plan_from_str(src, Path::new("t.toml"), &sets, &testkit::registry())
}

fn ok(src: &str) -> Plan {
    match plan(src, &[]) {
        Ok(p) => p,
        Err(d) => panic!("unexpected diagnostics:\n{d}"),
    }
}

fn err(src: &str, sets: &[&str]) -> String {
    match plan(src, sets) {
        Ok(_) => panic!("expected diagnostics for:\n{src}"),
        Err(d) => {
            assert!(d.iter().all(|x| x.line >= 1 && x.col >= 1));
            d.to_string()
        }
    }
}

/// A source, a map and a gather over two axes and two replicates (also the base of
/// `extends.rs`'s tests).
pub(crate) const CHAIN: &str = r#"
[pipeline]
name = "chain"
seed = 7

[sweep]
n = [1, 2, 3]
factor = [0.5, 2.0]
seeds = 2

[stages.src]
kind = "toy_source"
n = "${n}"

[stages.map]
kind = "toy_map"
input = "src"
factor = "${factor}"

[stages.sum]
kind = "toy_sum"
inputs = { runs = "map" }
"#;

fn count(p: &Plan, stage: &str) -> usize {
    p.instances.iter().filter(|i| i.stage == stage).count()
}

#[test]
fn expansion_dedup_and_gather() {
    let p = ok(CHAIN);
    assert_eq!(p.name, "chain");
    assert_eq!(p.points.len(), 3 * 2 * 2);
    // src varies with n and the replicate, not with factor: shared by 2 points each.
    assert_eq!(count(&p, "src"), 3 * 2);
    assert!(p
        .instances
        .iter()
        .filter(|i| i.stage == "src")
        .all(|i| i.points.len() == 2));
    assert_eq!(count(&p, "map"), 12);
    assert_eq!(count(&p, "sum"), 1);
    let sum = p.instances.iter().find(|i| i.stage == "sum").unwrap();
    assert_eq!(sum.inputs[0].0, "runs");
    assert_eq!(sum.inputs[0].1.len(), 12);
    assert_eq!(sum.points.len(), 12);
    // Topological: every input comes earlier.
    for (id, inst) in p.instances.iter().enumerate() {
        for (_, ins) in &inst.inputs {
            assert!(ins.iter().all(|&i| i < id));
        }
    }
    // Defaults filled, axis values typed.
    let map = p.instances.iter().find(|i| i.stage == "map").unwrap();
    assert_eq!(map.params["fail"], toml::Value::Boolean(false));
    assert!(map.params["factor"].is_float());
    let src = p.instances.iter().find(|i| i.stage == "src").unwrap();
    assert!(src.params["n"].is_integer());
}

#[test]
fn replicates_change_seeds_unless_pinned() {
    let p = ok(CHAIN);
    let seeds: std::collections::BTreeSet<u64> = p
        .instances
        .iter()
        .filter(|i| i.stage == "src")
        .map(|i| i.seed)
        .collect();
    assert_eq!(seeds.len(), 2);
    let pinned = CHAIN.replace("n = \"${n}\"", "n = \"${n}\"\nseed = 5");
    let p = ok(&pinned);
    assert_eq!(count(&p, "src"), 3);
    assert!(p
        .instances
        .iter()
        .filter(|i| i.stage == "src")
        .all(|i| i.seed == 5));
}

#[test]
fn two_points_sharing_upstream_make_one_instance() {
    let p = ok(r#"
[pipeline]
name = "d"
[sweep]
factor = [1.0, 2.0]
[stages.src]
kind = "toy_source"
n = 3
[stages.map]
kind = "toy_map"
input = "src"
factor = "${factor}"
"#);
    assert_eq!(count(&p, "src"), 1);
    assert_eq!(count(&p, "map"), 2);
    assert_eq!(p.instances[0].points.len(), 2);
}

#[test]
fn zip_exclude_and_arms() {
    let p = ok(r#"
[pipeline]
name = "z"
[sweep]
n = [1, 2, 3]
size = [4, 8, 16]
zip = [["n", "size"]]
exclude = [{ n = 2, size = 8 }]
[[sweep.arm]]
name = "big"
n = 100
size = 64
[stages.src]
kind = "toy_source"
n = "${n}"
size = "${size}"
"#);
    assert_eq!(p.points.len(), 3);
    assert_eq!(p.points[2].arm.as_deref(), Some("big"));
    let sizes: Vec<i64> = p
        .instances
        .iter()
        .map(|i| i.params["size"].as_integer().unwrap())
        .collect();
    assert_eq!(sizes, vec![4, 16, 64]);
}

const ZIP_REPEATS: &str = r#"
[pipeline]
name = "z"
[sweep]
n = [1, 2, 2]
size = [4, 4, 8]
zip = [["n", "size"]]
[stages.src]
kind = "toy_source"
n = "${n}"
size = "${size}"
"#;

#[test]
fn zipped_axes_may_repeat_values_when_combinations_differ() {
    let p = ok(ZIP_REPEATS);
    let pairs: Vec<(i64, i64)> = p
        .instances
        .iter()
        .map(|i| {
            let v = |k: &str| i.params[k].as_integer().unwrap();
            (v("n"), v("size"))
        })
        .collect();
    assert_eq!(pairs, vec![(1, 4), (2, 4), (2, 8)]);
}

#[test]
fn zipped_combination_listed_twice_is_an_error() {
    let e = err(
        &ZIP_REPEATS.replace("size = [4, 4, 8]", "size = [4, 8, 8]"),
        &[],
    );
    assert!(
        e.contains("zip group (n, size) lists this combination twice"),
        "{e}"
    );
    assert!(
        e.contains("t.toml:5:12"),
        "points at the repeated position: {e}"
    );
    // An unzipped axis still may not repeat a value.
    let e = err(&ZIP_REPEATS.replace("zip = [[\"n\", \"size\"]]", ""), &[]);
    assert!(e.contains("axis `n` lists this value twice"), "{e}");
    assert!(e.contains("axis `size` lists this value twice"), "{e}");
}

#[test]
fn broken_arms_are_not_reported_again_as_an_empty_sweep() {
    let e = err(
        r#"
[pipeline]
name = "a"
[sweep]
n = [1]
product = false
[[sweep.arm]]
name = "x"
[stages.src]
kind = "toy_source"
n = "${n}"
"#,
        &[],
    );
    assert!(e.contains("arm `x` gives no value for axis `n`"), "{e}");
    assert!(!e.contains("has no arms"), "{e}");
    assert!(!e.contains("no points"), "{e}");
}

#[test]
fn gather_keys_change_when_only_the_gathered_points_names_change() {
    // A report prints the gathered results' axis names and values and point ids: a renamed
    // axis value must not be served a report cached under the old name, even though every
    // producer's output (and so every input digest) is the same.
    let sum = |p: &Plan| {
        p.instances
            .iter()
            .find(|i| i.stage == "sum")
            .unwrap()
            .gathered
    };
    let base = ok(CHAIN);
    assert!(sum(&base).is_some());
    assert_eq!(sum(&base), sum(&ok(CHAIN)), "deterministic");
    let renamed = ok(&CHAIN.replace(
        "factor = [0.5, 2.0]",
        "factor = [0.5, 2.0]\nlabel = [\"x\"]",
    ));
    assert_ne!(
        sum(&base),
        sum(&renamed),
        "a new (unused) axis renames every point"
    );
    // Non-gather instances are not told, so their keys stay put.
    assert!(base
        .instances
        .iter()
        .filter(|i| i.stage != "sum")
        .all(|i| i.gathered.is_none()));
    let keys = |p: &Plan| {
        p.instances
            .iter()
            .filter(|i| i.stage == "map")
            .map(|i| i.plan_key)
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&base), keys(&renamed));
}

#[test]
fn point_ids_stable_when_axis_grows() {
    let small = ok(CHAIN);
    let big = ok(&CHAIN.replace("n = [1, 2, 3]", "n = [1, 2, 3, 4]"));
    for p in &small.points {
        assert!(big.points.iter().any(|q| q.id == p.id));
    }
    // And the instances of those points keep their plan keys.
    for i in small.instances.iter().filter(|i| i.stage == "map") {
        assert!(big.instances.iter().any(|j| j.plan_key == i.plan_key));
    }
}

#[test]
fn interpolation_makes_strings() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("in-3.bin");
    std::fs::write(&f, b"x").unwrap();
    let src = format!(
        "[pipeline]\nname = \"f\"\n[sweep]\nk = [3]\n[stages.f]\nkind = \"toy_file\"\npath = \"{}/in-${{k}}.bin\"\n",
        dir.path().display()
    );
    let p = ok(&src);
    assert_eq!(p.instances[0].params["path"].as_str(), f.to_str());
}

#[test]
fn overrides_set_params_seed_and_axes() {
    let p = plan(CHAIN, &["map.factor=3.0", "pipeline.seed=9", "sweep.n=[5]"]).unwrap();
    assert_eq!(p.seed, 9);
    // n = [5] x factor (still an axis, 2 values) x seeds = 2
    assert_eq!(p.points.len(), 4);
    assert_eq!(count(&p, "map"), 2); // factor no longer varies: one per replicate
    assert!(p
        .instances
        .iter()
        .filter(|i| i.stage == "map")
        .all(|i| i.params["factor"] == toml::Value::Float(3.0)));
    // A non-TOML value falls back to a string, then fails the type check with a position.
    let text = err(CHAIN, &["map.factor=abc"]);
    assert!(text.contains("<command line>:1:12"), "{text}");
    let text = err(CHAIN, &["mapp.factor=1.0"]);
    assert!(text.contains("did you mean `map`?"), "{text}");
    let text = err(CHAIN, &["map.factr=1.0"]);
    assert!(text.contains("did you mean `factor`?"), "{text}");
    let text = err(CHAIN, &["nonsense"]);
    assert!(text.contains("invalid override"), "{text}");
}

#[test]
fn reports_every_problem_at_once() {
    let text = err(
        r#"
[pipeline]
name = "bad"
[stages.a]
kind = "toy_sourse"
[stages.b]
kind = "toy_map"
input = "c"
factr = 2.0
"#,
        &[],
    );
    assert!(text.contains("did you mean `toy_source`?"), "{text}");
    assert!(text.contains("no stage named `c`"), "{text}");
    assert!(text.contains("did you mean `factor`?"), "{text}");
    assert!(text.contains("3 errors"), "{text}");
}

#[test]
fn cycles_show_their_path() {
    let text = err(
        r#"
[pipeline]
name = "cyc"
[stages.a]
kind = "toy_map"
input = "c"
[stages.b]
kind = "toy_map"
input = "a"
[stages.c]
kind = "toy_map"
input = "b"
"#,
        &[],
    );
    assert!(
        text.contains("dependency cycle: a -> b -> c -> a"),
        "{text}"
    );
}

#[test]
fn typed_check_of_every_axis_value() {
    let text = err(
        "[pipeline]\nname = \"t\"\n[sweep]\nn = [1, -2]\n[stages.s]\nkind = \"toy_source\"\nn = \"${n}\"\n",
        &[],
    );
    assert!(text.contains("expected u64"), "{text}");
    assert!(text.contains("when `n` = -2"), "{text}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random edits of a valid file never panic the planner.
    #[test]
    fn mutated_files_never_panic(cut in 0usize..600, len in 0usize..8, junk in "[\\[\\]{}=\"$.,a-z0-9 \n]{0,8}") {
        let mut s = CHAIN.to_string();
        let at = cut.min(s.len());
        let end = (at + len).min(s.len());
        if s.is_char_boundary(at) && s.is_char_boundary(end) {
            s.replace_range(at..end, &junk);
        }
        let _ = plan(&s, &[]);
    }

    /// Arbitrary text never panics the planner.
    #[test]
    fn random_text_never_panics(s in "\\PC{0,200}", set in "\\PC{0,20}") {
        let _ = plan(&s, &[set.as_str()]);
    }
}
