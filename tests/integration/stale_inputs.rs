//! Inputs outside the cache (an image folder, a landmarks or pairs file) enter cache keys by
//! content: a changed folder is never served from the cache, and `plan --explain` says what
//! changed in it.

use std::path::Path;

use crate::cli::{code, text, Sandbox};

/// A pipeline reading the image folder `faces/` (written by `synface render`).
const LOAD: &str = r#"
[pipeline]
name = "load"
seed = 1

[stages.real]
kind = "load_images"
root = "faces"
size = 16
"#;

fn render_folder(sb: &Sandbox, ids: &str) {
    let r = sb.synface(&[
        "render",
        "--format",
        "imagefolder",
        "--ids",
        ids,
        "--per-id",
        "2",
        "--size",
        "32",
        "-o",
        "faces",
    ]);
    assert_eq!(code(&r), 0, "{}", text(&r));
}

fn classes(sb: &Sandbox) -> u64 {
    let results = sb.path().join("runs/load/results.json");
    let rows: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results).expect("results.json")).expect("json");
    rows[0]["stages"]["real"]["classes"]
        .as_u64()
        .unwrap_or_else(|| panic!("classes in {rows}"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn image_folder_change_is_never_served_from_the_cache() {
    let sb = Sandbox::new(LOAD);
    render_folder(&sb, "2");
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    let before = classes(&sb);

    // A new identity folder: plan must say pending and why, run must load it.
    let faces = sb.path().join("faces");
    let first = std::fs::read_dir(&faces)
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .expect("an identity folder");
    copy_dir(&first.path(), &faces.join("zz_new_identity"));
    let plan = sb.synface(&["plan", "p.toml", "--explain"]);
    let out = text(&plan);
    assert_eq!(code(&plan), 0, "{out}");
    assert!(out.contains("pending"), "{out}");
    assert!(
        out.contains("input folder `root`") && out.contains("2 files added"),
        "{out}"
    );
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert_eq!(classes(&sb), before + 1, "the new identity is loaded");

    // Same size, new bytes: still a change.
    let img = std::fs::read_dir(faces.join("zz_new_identity"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&img).unwrap();
    let last = bytes.len() - 5;
    bytes[last] ^= 0xff;
    std::fs::write(&img, &bytes).unwrap();
    let out = text(&sb.synface(&["plan", "p.toml", "--explain"]));
    assert!(out.contains("1 file changed"), "{out}");
}

#[test]
fn unchanged_image_folder_is_served_from_the_cache() {
    let sb = Sandbox::new(LOAD);
    render_folder(&sb, "2");
    assert_eq!(code(&sb.synface(&["run", "p.toml"])), 0);
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert!(text(&r).contains("ran 0, cached 1"), "{}", text(&r));
    let plan = text(&sb.synface(&["plan", "p.toml"]));
    assert!(plan.contains("1 cached, 0 pending"), "{plan}");
}

/// A landmarks line per image of `faces/`: the 112 px template scaled to 32 px, moved by `dx`.
fn landmarks(sb: &Sandbox, dx: f32) -> String {
    let template = [38.3, 51.7, 73.5, 51.5, 56.0, 71.7, 41.5, 92.4, 70.7, 92.2];
    let mut out = String::new();
    let mut ids: Vec<_> = std::fs::read_dir(sb.path().join("faces"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    for id in ids {
        for f in std::fs::read_dir(sb.path().join("faces").join(&id))
            .unwrap()
            .flatten()
        {
            let coords: Vec<String> = template
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    format!(
                        "{:.2}",
                        v * 32.0 / 112.0 + if i % 2 == 0 { dx } else { 0.0 }
                    )
                })
                .collect();
            out += &format!(
                "{id}/{} {}\n",
                f.file_name().to_string_lossy(),
                coords.join(" ")
            );
        }
    }
    out
}

#[test]
fn landmarks_file_change_is_never_served_from_the_cache() {
    let sb = Sandbox::new(&format!("{LOAD}landmarks = \"lm.txt\"\n"));
    render_folder(&sb, "2");
    std::fs::write(sb.path().join("lm.txt"), landmarks(&sb, 0.0)).unwrap();
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    std::fs::write(sb.path().join("lm.txt"), landmarks(&sb, 0.5)).unwrap();
    let out = text(&sb.synface(&["plan", "p.toml", "--explain"]));
    assert!(
        out.contains("input file `landmarks` (lm.txt) changed: 1 file changed"),
        "{out}"
    );
    let r = sb.synface(&["run", "p.toml"]);
    assert!(text(&r).contains("ran 1, cached 0"), "{}", text(&r));
}
