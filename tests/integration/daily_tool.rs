//! Issue 16's daily-tool items through the binary: `synface kinds` and the generated
//! `docs/stages.md`, points named by their values (`plan`, run folders, exports), progress
//! lines without a terminal and quiet dependency logs, zero-padded image folders with quoted
//! labels, parameters outside the cache key, `plan --estimate`, and labelled contact sheets.

use std::path::Path;
use std::process::Command;

use crate::cli::{code, text, Sandbox, TOY};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The binary without the testkit kinds (what a user sees).
fn shipped(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_synface"))
        .env_remove("SYNFACE_TESTKIT")
        .args(args)
        .output()
        .expect("run synface")
}

#[test]
fn kinds_lists_every_kind_and_describes_one_in_full() {
    let list = shipped(&["kinds"]);
    assert_eq!(code(&list), 0, "{}", text(&list));
    for k in ["sample_latents", "render", "train", "verify", "report"] {
        assert!(stdout(&list).lines().any(|l| l.starts_with(k)), "{k}");
    }
    let train = stdout(&shipped(&["kinds", "train"]));
    for want in [
        "inputs:    data <- dataset | mixup_dataset",
        "output:    model",
        "  margin: string\n      default \"cosface\"\n      allowed \"cosface\" | \"arcface\"",
        "  lr: float\n      default 0.1\n      allowed > 0",
        "checkpoint_every",
        "[not in the cache key]",
    ] {
        assert!(train.contains(want), "{want:?} missing:\n{train}");
    }
    let bad = shipped(&["kinds", "trian"]);
    assert_eq!(code(&bad), 2);
    assert!(
        stderr(&bad).contains("did you mean `train`?"),
        "{}",
        text(&bad)
    );
}

#[test]
fn docs_stages_md_is_generated_from_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/stages.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = stdout(&shipped(&["kinds", "--markdown"]));
    assert!(
        committed == generated,
        "docs/stages.md is stale: regenerate it with\n  \
         cargo run -- kinds --markdown > docs/stages.md"
    );
}

#[test]
fn a_declared_range_is_checked_by_the_planner() {
    let sb = Sandbox::new(include_str!("tiny_faces.toml"));
    let r = sb.synface(&["plan", "p.toml", "--set", "train.momentum=1.5"]);
    assert_eq!(code(&r), 2, "{}", text(&r));
    assert!(
        stderr(&r).contains("param `momentum`: momentum must be in [0, 1)"),
        "{}",
        text(&r)
    );
}

#[test]
fn points_are_named_by_their_values_in_plan_and_run_folders() {
    let sb = Sandbox::new(TOY);
    let plan = stdout(&sb.synface(&["plan", "p.toml"]));
    assert!(
        plan.lines()
            .any(|l| l.starts_with("map ") && l.ends_with("factor=2.0")),
        "{plan}"
    );
    assert!(plan.lines().any(|l| l.ends_with("all points")), "{plan}");
    assert_eq!(code(&sb.synface(&["run", "p.toml"])), 0);
    let mut dirs: Vec<String> = std::fs::read_dir(sb.path().join("runs/toy/points"))
        .expect("points/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    let suffixes: Vec<&str> = dirs.iter().map(|d| &d[12..]).collect();
    assert!(
        suffixes.contains(&"-factor=2.0") && suffixes.contains(&"-factor=3.0"),
        "{dirs:?}"
    );
}

#[test]
fn without_a_terminal_runs_print_start_progress_and_finish_lines() {
    let sb = Sandbox::new(TOY);
    let r = sb
        .cmd(&["run", "p.toml"])
        .env("SYNFACE_PROGRESS_SECS", "0")
        .env("RUST_LOG", "debug")
        .output()
        .expect("run");
    assert_eq!(code(&r), 0, "{}", text(&r));
    let err = stderr(&r);
    for want in [
        "start steps [factor=2.0] on Cpu",
        "      steps [factor=2.0]: ",
        "done  steps [factor=3.0] in ",
        "start src [2 points]",
    ] {
        assert!(err.contains(want), "{want:?} missing:\n{err}");
    }
    assert!(
        !err.lines().any(|l| l.contains("sled")),
        "dependency logs stay out of RUST_LOG=debug:\n{err}"
    );
}

#[test]
fn imagefolder_export_zero_pads_classes_like_labels_csv() {
    let sb = Sandbox::new("");
    let r = sb.synface(&[
        "render",
        "--ids",
        "11",
        "--per-id",
        "2",
        "--size",
        "16",
        "--format",
        "imagefolder",
        "-o",
        "faces",
    ]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    let out = sb.path().join("faces");
    let mut folders: Vec<String> = std::fs::read_dir(&out)
        .expect("faces/")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    let csv = std::fs::read_to_string(out.join("labels.csv")).expect("labels.csv");
    let mut csv_classes: Vec<String> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).expect("id_a").to_string())
        .collect();
    csv_classes.dedup();
    assert_eq!(folders.len(), 11, "{folders:?}");
    assert_eq!(
        folders, csv_classes,
        "sorted folders (torchvision's class order) = labels.csv order"
    );
    assert!(
        folders.iter().all(|f| f.len() == folders[0].len()),
        "{folders:?}"
    );
}

/// A small pipeline whose `train` can be cached quickly.
const SMALL_TRAIN: &str = r#"
[pipeline]
name = "ckpt"

[stages.latents]
kind = "sample_latents"
ids = 4
per_id = 2

[stages.render]
kind = "render"
input = "latents"
size = 16

[stages.train]
kind = "train"
input = "render"
depths = [1, 1, 1, 1]
widths = [4, 4, 4, 4]
embedding = 8
batch_size = 4
epochs = 1
val_ids = 0.0
"#;

#[test]
fn changing_checkpoint_every_keeps_the_cache_key() {
    let sb = Sandbox::new(SMALL_TRAIN);
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    let line = |args: &[&str]| -> String {
        let o = sb.synface(args);
        assert_eq!(code(&o), 0, "{}", text(&o));
        stdout(&o)
            .lines()
            .find(|l| l.starts_with("train "))
            .expect("train line")
            .to_string()
    };
    let before = line(&["plan", "p.toml"]);
    let after = line(&["plan", "p.toml", "--set", "train.checkpoint_every=7"]);
    assert!(before.contains("cached"), "{before}");
    assert_eq!(before, after, "checkpoint_every is not in the key");
    let other = line(&["plan", "p.toml", "--set", "train.lr=0.05"]);
    assert_ne!(before, other, "a keyed parameter still changes the key");
}

#[test]
fn plan_estimate_shows_instances_stages_and_a_total() {
    let sb = Sandbox::new(include_str!("tiny_faces.toml"));
    let r = sb.synface(&["plan", "p.toml", "--estimate"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    let out = stdout(&r);
    assert!(out.contains("estimate (rough"), "{out}");
    assert!(out.contains("per stage"), "{out}");
    let render = out
        .lines()
        .find(|l| l.starts_with("render ") && l.contains("FLOP"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(render.contains("mixup=none"), "{render}");
    let total = out.lines().last().unwrap_or_default();
    assert!(
        total.starts_with("total") && total.contains("13 instances"),
        "{out}"
    );
}

#[test]
fn render_contact_sheets_carry_captions() {
    let sb = Sandbox::new("");
    let r = sb.synface(&[
        "render",
        "--ids",
        "2",
        "--per-id",
        "3",
        "--size",
        "32",
        "-o",
        "sheet.png",
    ]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    let bytes = std::fs::read(sb.path().join("sheet.png")).expect("sheet");
    // PNG IHDR: width and height, big-endian, at bytes 16..24.
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    assert_eq!(be(16), 3 * 32 + 4 * 2, "width: tiles and gaps");
    assert_eq!(
        be(20),
        2 * (32 + 7) + 3 * 2,
        "height: tiles, caption strips and gaps"
    );
}
