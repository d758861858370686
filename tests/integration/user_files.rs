//! Users' files and hostile paths through the binary: `export` never silently overwrites,
//! `run` removes only what it published itself, runs never go into a system root, a full
//! disk leaves no temporary files, pipeline files are read with a size limit, and
//! diagnostics never echo file contents or raw control/bidi characters.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cli::{code, files, text, Sandbox, TOY};

/// Two identities of two 16x16 faces: the smallest dataset `export` can write.
const FACES: &str = r#"
[pipeline]
name = "faces"
seed = 1

[stages.latents]
kind = "sample_latents"
ids = 2
per_id = 2

[stages.render]
kind = "render"
input = "latents"
size = 16
"#;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn export_refuses_a_non_empty_target_without_force() {
    let sb = Sandbox::new(FACES);
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    let out = sb.path().join("out");
    let export = |extra: &[&str]| {
        let mut args = vec!["export", "p.toml", "--stage", "render", "-o", "out"];
        args.extend_from_slice(extra);
        sb.synface(&args)
    };
    assert_eq!(code(&export(&[])), 0, "a new directory is fine");
    std::fs::write(out.join("labels.csv"), "mine").unwrap();
    std::fs::write(out.join("notes.txt"), "keep me").unwrap();

    for format in [&[][..], &["--format", "safetensors"][..]] {
        let r = export(format);
        assert_eq!(code(&r), 2, "{}", text(&r));
        let msg = stderr(&r);
        assert!(msg.contains("`out`") && msg.contains("--force"), "{msg}");
        assert_eq!(read(&out.join("labels.csv")), "mine", "nothing overwritten");
        assert!(!out.join("dataset.safetensors").exists(), "nothing written");
    }

    let r = export(&["--force"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert!(read(&out.join("labels.csv")).starts_with("image,id_a,id_b,phi"));
    assert_eq!(
        read(&out.join("notes.txt")),
        "keep me",
        "other files are kept"
    );

    std::fs::write(sb.path().join("a-file"), "x").unwrap();
    let r = sb.synface(&[
        "export", "p.toml", "--stage", "render", "-o", "a-file", "--force",
    ]);
    assert_eq!(code(&r), 2, "{}", text(&r));
    assert_eq!(read(&sb.path().join("a-file")), "x");
}

/// The ids of `runs/toy/points/`, sorted.
fn point_dirs(sb: &Sandbox) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(sb.path().join("runs/toy/points"))
        .expect("points/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Rerun the toy pipeline with `factor = [2.0, 5.0]` (the 3.0 point goes away).
fn rerun_without_the_3_point(sb: &Sandbox) {
    let src = TOY.replace("factor = [2.0, 3.0]", "factor = [2.0, 5.0]");
    std::fs::write(sb.path().join("p.toml"), src).unwrap();
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
}

/// The one point of `before` that the last run's `results.json` no longer has.
fn dropped(sb: &Sandbox, before: &[String]) -> String {
    let rows: Value =
        serde_json::from_str(&read(&sb.path().join("runs/toy/results.json"))).unwrap();
    let now: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["point"].as_str())
        .collect();
    let gone: Vec<&String> = before
        .iter()
        // folders are `<id>-<values>`
        .filter(|p| !now.contains(&p.split('-').next().unwrap_or_default()))
        .collect();
    assert_eq!(gone.len(), 1, "{before:?} -> {now:?}");
    gone[0].clone()
}

#[test]
fn run_keeps_user_files_in_the_run_directory() {
    let sb = Sandbox::new(TOY);
    assert_eq!(code(&sb.synface(&["run", "p.toml"])), 0);
    let run = sb.path().join("runs/toy");
    assert!(run.join(".synface-published.json").is_file());
    let before = point_dirs(&sb);
    for p in &before {
        std::fs::write(run.join("points").join(p).join("notes.txt"), "mine").unwrap();
    }
    std::fs::create_dir_all(run.join("points/my-analysis")).unwrap();
    std::fs::write(run.join("points/my-analysis/plot.py"), "mine").unwrap();
    std::fs::write(run.join("my-summary.md"), "mine").unwrap();

    rerun_without_the_3_point(&sb);
    let gone = dropped(&sb, &before);
    let gone_dir = run.join("points").join(&gone);
    assert_eq!(
        files(&gone_dir),
        ["notes.txt"],
        "synface's own files of the dropped point are removed, the user's note stays"
    );
    for p in point_dirs(&sb).iter().filter(|p| before.contains(p)) {
        assert_eq!(read(&run.join("points").join(p).join("notes.txt")), "mine");
    }
    assert_eq!(read(&run.join("points/my-analysis/plot.py")), "mine");
    assert_eq!(read(&run.join("my-summary.md")), "mine");

    // Once the note is gone, the next run clears the empty directory synface created.
    std::fs::remove_file(gone_dir.join("notes.txt")).unwrap();
    assert_eq!(code(&sb.synface(&["run", "p.toml"])), 0);
    assert!(
        !gone_dir.exists(),
        "an empty directory synface created is removed"
    );
}

#[test]
fn run_directory_from_before_the_published_list_loses_nothing() {
    let sb = Sandbox::new(TOY);
    assert_eq!(code(&sb.synface(&["run", "p.toml"])), 0);
    let run = sb.path().join("runs/toy");
    std::fs::remove_file(run.join(".synface-published.json")).unwrap();
    let before_files = files(&run);
    let before = point_dirs(&sb);

    rerun_without_the_3_point(&sb);
    let after_files = files(&run);
    for f in &before_files {
        assert!(
            after_files.contains(f),
            "{f} was removed though no list named it"
        );
    }
    assert_eq!(
        point_dirs(&sb).len(),
        before.len() + 1,
        "the old point is kept"
    );
    assert!(
        run.join(".synface-published.json").is_file(),
        "the list is written now"
    );
}

#[test]
fn a_hand_edited_published_list_cannot_remove_files_outside_the_run_directory() {
    let sb = Sandbox::new(TOY);
    assert_eq!(code(&sb.synface(&["run", "p.toml"])), 0);
    let victim = sb.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let list_path = sb.path().join("runs/toy/.synface-published.json");
    let mut list: Value = serde_json::from_str(&read(&list_path)).unwrap();
    let entry = serde_json::json!({ "stage": "map", "point": "x", "blake3": null });
    for evil in [
        "../../victim.txt",
        "/etc/hostname",
        "points/../../../victim.txt",
    ] {
        list["files"][evil] = entry.clone();
    }
    std::fs::write(&list_path, serde_json::to_vec(&list).unwrap()).unwrap();
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert_eq!(read(&victim), "precious");
}

#[test]
fn run_and_show_refuse_a_system_root_as_runs_directory() {
    let sb = Sandbox::new(TOY);
    let home = std::env::var("HOME").unwrap_or_else(|_| "/".into());
    for root in ["/", "/etc/..", "/usr", "/var", home.as_str()] {
        let r = sb.synface(&["run", "p.toml", "--runs", root]);
        assert_eq!(code(&r), 2, "--runs {root}: {}", text(&r));
        let msg = stderr(&r);
        assert!(
            msg.contains("runs directory") && msg.contains(root),
            "{msg}"
        );
        let r = sb.synface(&["show", "p.toml", "--runs", root]);
        assert_eq!(code(&r), 2, "show --runs {root}: {}", text(&r));
    }
    assert!(!Path::new("/toy").exists(), "nothing written at /toy");
    assert!(
        !sb.cache_dir().join("actions").exists(),
        "refused before anything ran"
    );
}

#[test]
fn runs_directory_outside_the_working_directory_warns_only_when_not_given() {
    let sb = Sandbox::new(TOY);
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), sb.path().join("runs")).unwrap();
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    let warning = "outside the current directory";
    assert_eq!(stderr(&r).matches(warning).count(), 1, "{}", stderr(&r));
    assert!(elsewhere.path().join("toy/results.json").is_file());

    let other = tempfile::tempdir().unwrap();
    let given = other.path().to_string_lossy().into_owned();
    let r = sb.synface(&["run", "p.toml", "--runs", &given]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert!(!stderr(&r).contains(warning), "{}", stderr(&r));
}

/// A tmpfs mounted for one test, unmounted when dropped (even when the test fails).
struct TmpfsMount(PathBuf);

impl TmpfsMount {
    /// Mount a tmpfs of `size` at `dir`; none when not root or mounting is not allowed.
    fn new(dir: &Path, size: &str) -> Option<TmpfsMount> {
        let uid = std::process::Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return None;
        }
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| TmpfsMount(dir.to_path_buf()))
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_runs_disk_leaves_no_temporary_files_and_exits_3() {
    let big = "x".repeat(256 * 1024);
    let sb = Sandbox::new(&format!(
        "[pipeline]\nname = \"full\"\n[stages.note]\nkind = \"toy_note\"\ntext = \"{big}\"\n"
    ));
    let mnt = sb.path().join("small-disk");
    std::fs::create_dir(&mnt).unwrap();
    let Some(_mount) = TmpfsMount::new(&mnt, "64k") else {
        println!("skipped: mounting a tmpfs needs root (a unit test covers the cleanup)");
        return;
    };
    let r = sb.synface(&["run", "p.toml", "--runs", "small-disk"]);
    assert_eq!(code(&r), 3, "{}", text(&r));
    let left: Vec<String> = files(&mnt)
        .into_iter()
        .filter(|f| f.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
    let msg = stderr(&r);
    assert_eq!(
        msg.matches("No space left").count(),
        1,
        "the cause is named once: {msg}"
    );
}

#[test]
fn pipeline_files_are_read_with_a_size_limit() {
    let sb = Sandbox::new(TOY);
    let huge = sb.path().join("huge.toml");
    let line = format!("# {}\n", "x".repeat(1021));
    std::fs::write(&huge, line.repeat(17 * 1024)).unwrap();
    for file in ["/dev/zero", "huge.toml"] {
        for cmd in ["run", "plan", "show"] {
            let start = std::time::Instant::now();
            let r = sb.synface(&[cmd, file]);
            assert_eq!(code(&r), 2, "{cmd} {file}: {}", text(&r));
            let msg = stderr(&r);
            assert!(msg.contains("16 MiB"), "{cmd} {file}: {msg}");
            assert!(msg.contains(file), "{cmd} {file}: {msg}");
            assert!(start.elapsed().as_secs() < 30, "{cmd} {file} read too much");
        }
    }
}

#[test]
fn pairs_errors_name_the_position_not_the_content() {
    let sb = Sandbox::new("");
    let secret = "root:x:0:0:secret-content:/root:/bin/bash\n";
    std::fs::write(sb.path().join("secret.txt"), secret).unwrap();
    let src = format!(
        "{}\n[stages.pairs]\nkind = \"pairs\"\ninput = \"render\"\nfile = \"secret.txt\"\n",
        FACES.replace("ids = 2", "ids = 6")
    );
    std::fs::write(sb.path().join("p.toml"), src).unwrap();
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 1, "{}", text(&r));
    let failed: Vec<String> = sb
        .events("faces")
        .iter()
        .filter(|e| e["event"] == "failed")
        .map(|e| e["error"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("secret.txt:1:"), "{}", failed[0]);
    assert!(failed[0].contains("expected"), "{}", failed[0]);
    for shown in [failed[0].clone(), text(&r)] {
        assert!(!shown.contains("secret-content"), "{shown}");
        assert!(!shown.contains("/bin/bash"), "{shown}");
    }
}

#[test]
fn control_and_bidi_characters_in_names_are_escaped_in_diagnostics() {
    let sb = Sandbox::new(
        "[pipeline]\nname = \"ok\"\n[stages.\"evil\u{202e}txt.exe\"]\nkind = \"toy_source\"\n\
         [stages.\"a\u{2066}b\"]\nkind = \"toy_source\"\n",
    );
    let r = sb.synface(&["run", "p.toml", "--set", "x\u{1b}[31m.n=1"]);
    assert_eq!(code(&r), 2, "{}", text(&r));
    let msg = stderr(&r);
    for raw in ['\u{202e}', '\u{1b}', '\u{2066}'] {
        assert!(!msg.contains(raw), "raw {:?} echoed: {msg:?}", raw);
    }
    for escaped in ["evil\\u{202e}txt.exe", "a\\u{2066}b", "x\\u{1b}[31m"] {
        assert!(msg.contains(escaped), "{escaped} missing: {msg}");
    }
}

#[test]
fn show_without_results_says_so_in_one_line() {
    let sb = Sandbox::new(TOY);
    let r = sb.synface(&["show", "p.toml"]);
    assert_eq!(code(&r), 3, "{}", text(&r));
    let msg = stderr(&r);
    assert_eq!(msg.trim_end().lines().count(), 1, "{msg}");
    assert!(msg.contains("no results for `toy` yet"), "{msg}");
    assert!(msg.contains("synface run p.toml"), "{msg}");
    assert!(!msg.contains("os error"), "{msg}");
}
