//! Bounds and truthfulness: impossible sizes are refused at plan time (exit 2, with a
//! position) or fail their stage with a clear message (exit 1), never abort the process;
//! cross-stage constraints and every parameter problem are reported before anything runs;
//! results record the device that actually computed them.

use crate::cli::{code, text, Sandbox};

/// A tiny face pipeline: latents -> render -> train. `{size}` and `{train}` are filled in.
fn pipeline(ids: u64, per_id: u64, size: u64, train: &str) -> String {
    format!(
        r#"
[pipeline]
name = "bounds"
seed = 2

[stages.latents]
kind = "sample_latents"
ids = {ids}
per_id = {per_id}

[stages.render]
kind = "render"
input = "latents"
size = {size}
{train}"#
    )
}

const TRAIN: &str = r#"
[stages.train]
kind = "train"
input = "render"
depths = [1, 1, 1, 1]
widths = [4, 8, 8, 16]
embedding = 8
batch_size = 4
epochs = 1
val_ids = 0.0
"#;

#[test]
fn huge_ids_are_rejected_at_plan_time_with_a_position() {
    let sb = Sandbox::new(&pipeline(1_000_000_000_000, 10, 16, ""));
    for cmd in ["plan", "run"] {
        let r = sb.synface(&[cmd, "p.toml"]);
        let out = text(&r);
        assert_eq!(code(&r), 2, "{cmd}: {out}");
        assert!(out.contains("exceeds the limit"), "{out}");
        assert!(out.contains("p.toml:8:"), "position of `ids`: {out}");
    }
    assert!(!sb.path().join("runs").exists(), "nothing written");
}

#[test]
fn oversized_render_fails_the_stage_instead_of_aborting() {
    // 100,000 images at 1024 px would need about 600 GiB.
    let sb = Sandbox::new(&pipeline(20_000, 5, 1024, ""));
    let r = sb.synface(&["run", "p.toml"]);
    let out = text(&r);
    assert_eq!(code(&r), 1, "a failed stage, not an abort: {out}");
    let events = std::fs::read_to_string(sb.path().join("runs/bounds/events.jsonl")).unwrap();
    assert!(
        events.contains("size = 1024") && events.contains("GiB"),
        "the failure names the parameters and the memory: {events}"
    );
}

#[test]
fn render_size_unfit_for_train_is_rejected_at_plan_time() {
    let sb = Sandbox::new(&pipeline(4, 2, 24, TRAIN));
    let r = sb.synface(&["plan", "p.toml"]);
    let out = text(&r);
    assert_eq!(code(&r), 2, "{out}");
    assert!(
        out.contains("24x24") && out.contains("multiple of 16"),
        "{out}"
    );
}

#[test]
fn train_reports_every_problem_at_its_value() {
    let bad = TRAIN.replace("epochs = 1", "epochs = 1\nlr = -1.0\nmomentum = 2.0");
    let sb = Sandbox::new(&pipeline(4, 2, 16, &bad));
    let out = text(&sb.synface(&["plan", "p.toml"]));
    assert!(out.contains("lr must be > 0"), "{out}");
    assert!(out.contains("momentum must be in [0, 1)"), "{out}");
    assert!(
        out.contains("| lr = -1.0") && out.contains("| momentum = 2.0"),
        "each at its own value, not at the stage header: {out}"
    );

    let sb = Sandbox::new(&pipeline(4, 2, 16, TRAIN));
    let r = sb.synface(&["plan", "p.toml", "--set", "train.margin=softmax"]);
    let out = text(&r);
    assert_eq!(code(&r), 2, "{out}");
    assert!(
        out.contains("<command line>"),
        "points at the --set value: {out}"
    );
}

#[test]
fn gpus_that_are_not_there_are_a_clear_error() {
    let sb = Sandbox::new(&pipeline(4, 2, 16, TRAIN));
    let r = sb
        .cmd(&["run", "p.toml", "--gpus", "2"])
        .env("SYNFACE_NO_GPU", "1")
        .output()
        .unwrap();
    let out = text(&r);
    assert_eq!(code(&r), 2, "{out}");
    assert!(
        out.contains("--gpus 2") && out.contains("--gpus auto"),
        "{out}"
    );
    assert!(!sb.path().join("runs").exists(), "nothing ran");
}

#[test]
fn results_record_the_device_that_computed_them() {
    let sb = Sandbox::new(&pipeline(4, 2, 16, TRAIN));
    let r = sb
        .cmd(&["run", "p.toml", "--gpus", "auto"])
        .env("SYNFACE_NO_GPU", "1")
        .output()
        .unwrap();
    let out = text(&r);
    assert_eq!(code(&r), 0, "{out}");
    assert!(out.contains("running on the CPU"), "{out}");
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sb.path().join("runs/bounds/results.json")).unwrap())
            .unwrap();
    assert_eq!(results[0]["stages"]["train"]["device"], "Cpu", "{results}");
}
