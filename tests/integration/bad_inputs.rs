//! The bad-input corpus (`tests/bad/*.toml`): every file must fail to plan with positioned
//! diagnostics (line and column >= 1), and the rendered text is snapshotted so message
//! quality is reviewed like code. Planned with the testkit kinds only, so the snapshots do
//! not change when real stage kinds are added.

use std::path::{Path, PathBuf};

use synface_engine::{load_plan, testkit};

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("tests/bad")
        .expect("tests/bad exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn corpus_is_large_enough() {
    assert!(corpus().len() >= 30, "only {} bad files", corpus().len());
}

#[test]
fn every_bad_file_fails_with_positions() {
    let reg = testkit::registry();
    for path in corpus() {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_string();
        let rel = Path::new("tests/bad").join(path.file_name().expect("file name"));
        let diags = match load_plan(&rel, &[], &reg) {
            Ok(_) => panic!("{name}: planned without errors"),
            Err(d) => d,
        };
        assert!(diags.has_errors(), "{name}: no errors");
        for d in diags.iter() {
            assert!(d.line >= 1 && d.col >= 1, "{name}: bad position in {d}");
            assert!(!d.message.is_empty(), "{name}: empty message");
        }
        insta::assert_snapshot!(name, diags.to_string());
    }
}

/// With the real stage kinds registered beside the testkit ones, every file still fails
/// (messages may differ, e.g. in "did you mean", so they are not snapshotted here).
#[test]
fn bad_files_fail_with_real_kinds_too() {
    let mut reg = synface_stages::registry();
    testkit::register(&mut reg);
    for path in corpus() {
        let diags = load_plan(&path, &[], &reg).expect_err("bad file planned");
        assert!(
            diags.iter().all(|d| d.line >= 1 && d.col >= 1),
            "{}",
            path.display()
        );
    }
}

/// The corpus for the real stage kinds (`tests/bad-stages/*.toml`): bounds, cross-stage
/// constraints and external inputs, each refused at plan time with positions; snapshotted.
#[test]
fn every_bad_stage_file_fails_with_positions() {
    let reg = synface_stages::registry();
    let mut files: Vec<PathBuf> = std::fs::read_dir("tests/bad-stages")
        .expect("tests/bad-stages exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "only {} files", files.len());
    for path in files {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name");
        let rel = Path::new("tests/bad-stages").join(path.file_name().expect("file name"));
        let diags = load_plan(&rel, &[], &reg).expect_err("bad stage file planned");
        assert!(
            diags.iter().all(|d| d.line >= 1 && d.col >= 1),
            "{name}: {diags}"
        );
        insta::assert_snapshot!(format!("stages-{name}"), diags.to_string());
    }
}

/// `--set` problems point at `<command line>:N:COL` (N = the N-th override).
#[test]
fn bad_overrides_point_at_the_command_line() {
    let src = "[pipeline]\nname = \"ok\"\n[sweep]\nn = [1, 2]\n\n[stages.src]\nkind = \"toy_source\"\nn = \"${n}\"\n\n[stages.map]\nkind = \"toy_map\"\ninput = \"src\"\n";
    let sets: Vec<String> = [
        "map.factor=abc",
        "srcc.n=3",
        "map.facter=2.0",
        "sweep.n=[]",
        "nonsense",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let reg = testkit::registry();
    let diags = synface_engine::plan_from_str(src, Path::new("ok.toml"), &sets, &reg)
        .expect_err("bad overrides accepted");
    // One per override, and nothing else (the file's `${n}` is not reported again).
    let on_cli = diags
        .iter()
        .filter(|d| d.file == Path::new("<command line>"))
        .count();
    assert_eq!(on_cli, sets.len(), "{diags}");
    assert_eq!(diags.len(), sets.len(), "{diags}");
    insta::assert_snapshot!("overrides", diags.to_string());
    // The same file without overrides is fine.
    assert!(synface_engine::plan_from_str(src, Path::new("ok.toml"), &[], &reg).is_ok());
}
