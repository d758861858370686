//! Cache safety end to end: a corrupt or truncated action manifest is a miss (recomputed,
//! never a wrong result); `--cache DIR` never touches a folder that is not a synface cache
//! (exit 2) and never deletes user files in `tmp/`, `blobs/`, `actions/` or `records/`;
//! pre-marker caches are adopted; read-only commands (`plan`, `gc --dry-run`) work while a
//! run holds the cache and create nothing; cache options are accepted anywhere.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::cli::{code, stages_with, stats, text, tree, Sandbox, TOY};

/// The manifest file of the (first) action of `stage` in the cache at `cache`.
fn manifest_of(cache: &Path, stage: &str) -> PathBuf {
    for e in std::fs::read_dir(cache.join("actions")).unwrap().flatten() {
        let Ok(m) = serde_json::from_slice::<serde_json::Value>(&std::fs::read(e.path()).unwrap())
        else {
            continue;
        };
        if m["stage"] == stage {
            return e.path();
        }
    }
    panic!("no action for {stage}");
}

fn run_ok(sb: &Sandbox, args: &[&str]) {
    let r = sb.synface(args);
    assert_eq!(code(&r), 0, "{args:?}: {}", text(&r));
}

fn write(p: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn truncated_action_manifest_is_a_miss_and_recomputed() {
    let sb = Sandbox::new(TOY);
    run_ok(&sb, &["run", "p.toml"]);
    let before = tree(&sb.path().join("runs/toy"));
    let file = manifest_of(&sb.cache_dir(), "other");
    let bytes = read(&file);
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert!(text(&r).contains("manifest"), "warned: {}", text(&r));
    let ev = sb.events("toy");
    assert_eq!(stages_with(&ev, "started"), ["other"]);
    assert_eq!(stats(&ev)["cache"]["corrupt"], 1);
    assert_eq!(tree(&sb.path().join("runs/toy")), before);
    let m: serde_json::Value = serde_json::from_slice(&read(&file)).expect("rewritten whole");
    assert_eq!(m["stage"], "other");
}

#[test]
fn corrupt_action_manifest_pointing_at_other_outputs_is_never_a_wrong_result() {
    let sb = Sandbox::new(TOY);
    run_ok(&sb, &["run", "p.toml"]);
    let before = tree(&sb.path().join("runs/toy"));
    let src: serde_json::Value =
        serde_json::from_slice(&read(&manifest_of(&sb.cache_dir(), "src"))).unwrap();
    let file = manifest_of(&sb.cache_dir(), "other");
    let mut other: serde_json::Value = serde_json::from_slice(&read(&file)).unwrap();
    other["outputs"] = src["outputs"].clone();
    other["artifact_digest"] = src["artifact_digest"].clone();
    std::fs::write(&file, serde_json::to_vec_pretty(&other).unwrap()).unwrap();
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    let ev = sb.events("toy");
    assert_eq!(stages_with(&ev, "started"), ["other"]);
    assert_eq!(stats(&ev)["cache"]["corrupt"], 1);
    assert_eq!(
        tree(&sb.path().join("runs/toy")),
        before,
        "other's outputs, not src's"
    );
}

#[test]
fn deleted_action_manifest_is_recomputed() {
    let sb = Sandbox::new(TOY);
    run_ok(&sb, &["run", "p.toml"]);
    std::fs::remove_file(manifest_of(&sb.cache_dir(), "other")).unwrap();
    run_ok(&sb, &["run", "p.toml"]);
    assert_eq!(stages_with(&sb.events("toy"), "started"), ["other"]);
}

#[test]
fn cache_flag_refuses_a_non_cache_directory_with_exit_2() {
    let sb = Sandbox::new(TOY);
    let mine = sb.path().join("mine");
    write(&mine.join("notes.txt"), b"my notes");
    write(&mine.join("tmp/draft.txt"), b"draft");
    let before = tree(&mine);
    for args in [
        &["run", "p.toml", "--cache", "mine"][..],
        &["plan", "p.toml", "--cache", "mine"],
        &["gc", "--cache", "mine"],
        &["gc", "--dry-run", "--cache", "mine"],
        &["cache", "rebuild", "--cache", "mine"],
    ] {
        let r = sb.synface(args);
        assert_eq!(code(&r), 2, "{args:?}: {}", text(&r));
        let t = text(&r);
        assert!(t.contains("is not a synface cache"), "{t}");
        assert!(t.contains("notes.txt"), "says what it found: {t}");
        assert!(t.contains("--cache DIR"), "suggests another path: {t}");
    }
    assert_eq!(tree(&mine), before, "nothing written or deleted");
    let r = sb.synface(&["run", "p.toml", "--cache", "p.toml"]);
    assert_eq!(code(&r), 2, "a file is not a cache: {}", text(&r));
}

#[test]
fn cache_flag_dot_on_a_project_folder_never_touches_its_tmp() {
    let sb = Sandbox::new(TOY);
    write(
        &sb.path().join("tmp/123-4-blob.tmp"),
        b"looks like ours, is not",
    );
    write(&sb.path().join("tmp/keep.txt"), b"mine");
    let before = tree(sb.path());
    let r = sb.synface(&["run", "p.toml", "--cache", "."]);
    assert_eq!(code(&r), 2, "{}", text(&r));
    assert_eq!(tree(sb.path()), before);
}

#[test]
fn cache_flag_never_deletes_user_files_in_tmp() {
    let sb = Sandbox::new(TOY);
    run_ok(&sb, &["run", "p.toml", "--cache", "c"]);
    let tmp = sb.path().join("c/tmp");
    write(&tmp.join("notes.txt"), b"mine");
    write(&tmp.join("1-2-notes.tmp.txt"), b"mine too");
    write(
        &tmp.join("99999-7-blob.tmp"),
        b"a stale temporary file of the cache",
    );
    run_ok(&sb, &["run", "p.toml", "--cache", "c"]);
    assert_eq!(read(&tmp.join("notes.txt")), b"mine");
    assert_eq!(read(&tmp.join("1-2-notes.tmp.txt")), b"mine too");
    assert!(
        !tmp.join("99999-7-blob.tmp").exists(),
        "the cache's own stale temporary files are cleaned"
    );
}

#[test]
fn gc_never_deletes_user_files_in_blobs() {
    let sb = Sandbox::new(TOY);
    run_ok(&sb, &["run", "p.toml"]);
    run_ok(&sb, &["run", "p.toml", "--set", "src.n=8"]);
    let c = sb.cache_dir();
    let fake = "ab".to_string() + &"c".repeat(62);
    let user_files = [
        c.join("blobs/notes.txt"),
        c.join("blobs").join(&fake[..2]).join(&fake[2..]),
        c.join("blobs/zz/photo.png"),
        c.join("blobs/ab/short"),
        c.join("actions/notes.json"),
        c.join("records/notes.json"),
    ];
    for f in &user_files {
        write(f, b"{\"user\": true}");
    }
    let blobs_before = tree(&c.join("blobs")).len();
    let dry = sb.synface(&["gc", "--dry-run"]);
    assert_eq!(code(&dry), 0, "{}", text(&dry));
    assert!(text(&dry).contains("left alone"), "{}", text(&dry));
    let r = sb.synface(&["gc"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert!(text(&r).contains("freed"), "{}", text(&r));
    for f in &user_files {
        assert_eq!(read(f), b"{\"user\": true}", "{}", f.display());
    }
    assert!(
        tree(&c.join("blobs")).len() < blobs_before,
        "gc still collects the cache's own garbage"
    );
    let r = sb.synface(&["run", "p.toml", "--set", "src.n=8"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert_eq!(stats(&sb.events("toy"))["cached"], 7, "kept entries intact");
}

#[test]
fn gc_dry_run_from_the_files_predicts_the_real_gc() {
    let sb = Sandbox::new(TOY);
    run_ok(&sb, &["run", "p.toml"]);
    run_ok(&sb, &["run", "p.toml", "--set", "src.n=8"]);
    let dry = sb.synface(&["gc", "--dry-run"]);
    let real = sb.synface(&["gc"]);
    assert_eq!(code(&real), 0, "{}", text(&real));
    let dry_text = String::from_utf8_lossy(&dry.stdout).replace("would free", "freed");
    assert_eq!(
        dry_text,
        String::from_utf8_lossy(&real.stdout),
        "the lock-free dry run predicts the real gc"
    );
}

#[test]
fn rebuild_never_deletes_foreign_files_in_actions() {
    let sb = Sandbox::new(TOY);
    run_ok(&sb, &["run", "p.toml"]);
    let c = sb.cache_dir();
    let notes = c.join("actions/notes.json");
    write(&notes, b"my notes, not a manifest");
    let truncated = manifest_of(&c, "other");
    let bytes = read(&truncated);
    std::fs::write(&truncated, &bytes[..10]).unwrap();
    let r = sb.synface(&["cache", "rebuild"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert!(text(&r).contains("6 actions"), "{}", text(&r));
    assert!(text(&r).contains("1 unusable"), "{}", text(&r));
    assert_eq!(read(&notes), b"my notes, not a manifest");
    assert!(!truncated.exists(), "moved out of actions/");
    let moved: Vec<_> = std::fs::read_dir(c.join("dropped"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(moved.len(), 1, "moved aside, not deleted");
    assert_eq!(read(&moved[0].path()), &bytes[..10]);
    run_ok(&sb, &["run", "p.toml"]);
    assert_eq!(stages_with(&sb.events("toy"), "started"), ["other"]);
}

/// Start a slow run of `sb` and return once it holds the cache lock.
fn hold_cache(sb: &Sandbox) -> Child {
    let child = sb
        .cmd(&["run", "p.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = sb.cache_dir().join("lock");
    let holder = format!("pid {}", child.id());
    let start = Instant::now();
    while std::fs::read_to_string(&lock).ok().as_deref() != Some(holder.as_str()) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn slow_sandbox() -> Sandbox {
    let sb = Sandbox::new(&TOY.replace("steps = 4", "steps = 100\nsleep_ms = 50"));
    run_ok(&sb, &["run", "p.toml", "--set", "steps.sleep_ms=0"]);
    sb
}

fn release(mut child: Child) {
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run still held the cache throughout"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn plan_works_while_a_run_holds_the_cache() {
    let sb = slow_sandbox();
    let child = hold_cache(&sb);
    let all = sb.synface(&["plan", "p.toml", "--set", "steps.sleep_ms=0"]);
    let explain = sb.synface(&["plan", "p.toml", "--explain"]);
    release(child);
    assert_eq!(code(&all), 0, "{}", text(&all));
    assert!(
        text(&all).contains("7 instances: 7 cached, 0 pending"),
        "{}",
        text(&all)
    );
    assert_eq!(code(&explain), 0, "{}", text(&explain));
    let t = text(&explain);
    assert!(
        t.contains("param sleep_ms: 0 -> 50"),
        "last keys read without sled: {t}"
    );
    assert!(t.contains("4 cached, 3 pending"), "{t}");
}

#[test]
fn gc_dry_run_works_while_a_run_holds_the_cache() {
    let sb = slow_sandbox();
    run_ok(
        &sb,
        &[
            "run",
            "p.toml",
            "--set",
            "steps.sleep_ms=0",
            "--set",
            "src.n=8",
        ],
    );
    let child = hold_cache(&sb);
    let dry = sb.synface(&["gc", "--dry-run"]);
    let real = sb.synface(&["gc"]);
    release(child);
    assert_eq!(code(&dry), 0, "{}", text(&dry));
    assert!(text(&dry).contains("would free"), "{}", text(&dry));
    assert!(text(&dry).contains("1 runs"), "{}", text(&dry));
    assert_eq!(
        code(&real),
        3,
        "a real gc still takes the lock: {}",
        text(&real)
    );
}

#[test]
fn read_only_commands_create_no_cache_directory() {
    let sb = Sandbox::new(TOY);
    let r = sb.synface(&["plan", "p.toml", "--cache", "nowhere"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert!(text(&r).contains("7 instances"), "{}", text(&r));
    let r = sb.synface(&["gc", "--dry-run", "--cache", "nowhere"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert!(!sb.path().join("nowhere").exists());
    run_ok(&sb, &["run", "p.toml"]);
    let before = tree(&sb.cache_dir());
    run_ok(&sb, &["plan", "p.toml", "--explain", "--set", "src.n=9"]);
    run_ok(&sb, &["gc", "--dry-run"]);
    assert_eq!(
        tree(&sb.cache_dir()),
        before,
        "nothing written in the cache"
    );
}

#[test]
fn cache_options_are_accepted_after_the_subcommand() {
    let sb = Sandbox::new(TOY);
    run_ok(&sb, &["--cache", "c", "run", "p.toml"]);
    assert!(sb.path().join("c/synface-cache.json").is_file());
    assert!(!sb.cache_dir().exists(), "the default cache was not used");
    for args in [
        &["cache", "rebuild", "--cache", "c"][..],
        &["cache", "--cache", "c", "rebuild", "--wait", "1"],
        &["--cache", "c", "cache", "rebuild"],
    ] {
        let r = sb.synface(args);
        assert_eq!(code(&r), 0, "{args:?}: {}", text(&r));
        assert!(text(&r).contains("7 actions"), "{args:?}: {}", text(&r));
    }
    let plan = sb.synface(&["--cache", "c", "plan", "p.toml"]);
    assert!(text(&plan).contains("7 cached"), "{}", text(&plan));
    let gc = sb.synface(&["gc", "--dry-run", "--cache", "c"]);
    assert_eq!(code(&gc), 0, "{}", text(&gc));
    let env = sb
        .cmd(&["plan", "p.toml"])
        .env("SYNFACE_CACHE", "c")
        .output()
        .unwrap();
    assert!(text(&env).contains("7 cached"), "{}", text(&env));
}

#[test]
fn legacy_cache_without_marker_is_adopted() {
    let sb = Sandbox::new(TOY);
    run_ok(&sb, &["run", "p.toml"]);
    let c = sb.cache_dir();
    // A cache written before the marker and the last/ files existed.
    std::fs::remove_file(c.join("synface-cache.json")).unwrap();
    std::fs::remove_dir_all(c.join("last")).unwrap();
    let plan = sb.synface(&["plan", "p.toml"]);
    assert_eq!(code(&plan), 0, "{}", text(&plan));
    assert!(text(&plan).contains("7 cached"), "{}", text(&plan));
    assert!(
        !c.join("synface-cache.json").exists(),
        "plan writes nothing"
    );
    let r = sb.synface(&["cache", "rebuild"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert!(c.join("synface-cache.json").is_file(), "marker written");
    let explain = sb.synface(&["plan", "p.toml", "--set", "other.factor=4.0", "--explain"]);
    assert!(
        text(&explain).contains("param factor: 9.0 -> 4.0"),
        "last keys carried over from the index: {}",
        text(&explain)
    );
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert_eq!(stats(&sb.events("toy"))["cached"], 7);
}
