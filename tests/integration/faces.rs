//! The face stages through the binary: every shipped pipeline plans, a whole toy pipeline runs
//! to a report, byte-identically at one and two threads, then `export` and `render` write
//! datasets and sheets a user can open.

use std::path::Path;

use crate::cli::{code, text, tree, Sandbox};

const TINY: &str = include_str!("tiny_faces.toml");

#[test]
fn every_shipped_pipeline_plans() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .expect("pipelines/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.iter().any(|p| p.ends_with("quick.toml")), "{files:?}");
    let sb = Sandbox::new("");
    for f in &files {
        let o = sb.synface(&["plan", f.to_str().expect("utf-8 path")]);
        assert_eq!(code(&o), 0, "{}: {}", f.display(), text(&o));
        let out = text(&o);
        let last = out.lines().last().unwrap_or_default();
        assert!(
            last.ends_with("pending") && last.contains(" instances: 0 cached, "),
            "{}: {out}",
            f.display()
        );
    }
}

#[test]
fn toy_face_pipeline_is_deterministic_cached_and_exportable() {
    let a = Sandbox::new(TINY);
    let b = Sandbox::new(TINY);
    let ra = a.synface(&["run", "p.toml", "--jobs", "1"]);
    assert_eq!(code(&ra), 0, "{}", text(&ra));
    let rb = b.synface(&["run", "p.toml", "--jobs", "2"]);
    assert_eq!(code(&rb), 0, "{}", text(&rb));
    let ta = tree(&a.path().join("runs/tiny"));
    let tb = tree(&b.path().join("runs/tiny"));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (k, v) in &ta {
        assert!(tb[k] == *v, "{k} differs between --jobs 1 and --jobs 2");
    }
    for f in ["report.md", "report.html", "results.csv", "roc.png"] {
        assert!(ta.contains_key(f), "report lacks {f}: {:?}", ta.keys());
    }

    // Every point has a verification accuracy in [0, 1] and a trained model.
    let rows: serde_json::Value =
        serde_json::from_slice(&ta["results.json"]).expect("results.json");
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    for r in rows {
        let acc = r["stages"]["verify"]["accuracy"]["mean"]
            .as_f64()
            .unwrap_or_else(|| panic!("no verify accuracy in {r}"));
        assert!((0.0..=1.0).contains(&acc), "{acc}");
        assert_eq!(r["stages"]["train"]["train_images"], 32);
    }
    assert_eq!(
        rows.iter()
            .filter(|r| r["stages"]["mix"]["mixed"].as_u64() > Some(0))
            .count(),
        1,
        "only the identity arm mixes"
    );

    // A second run computes nothing.
    let again = a.synface(&["run", "p.toml"]);
    assert_eq!(code(&again), 0);
    assert!(
        text(&again).contains("ran 0, cached 13"),
        "{}",
        text(&again)
    );

    // Export the rendered training sets: one folder per sweep point.
    let ex = a.synface(&["export", "p.toml", "--stage", "render", "-o", "out"]);
    assert_eq!(code(&ex), 0, "{}", text(&ex));
    let mut folders: Vec<String> = std::fs::read_dir(a.path().join("out"))
        .expect("out/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort_by(|x, y| x[12..].cmp(&y[12..]));
    let values: Vec<&str> = folders.iter().map(|f| &f[12..]).collect();
    assert_eq!(
        values,
        ["-mixup=identity", "-mixup=none"],
        "export folders are named by the points' values: {folders:?}"
    );
    let labels: Vec<_> = std::fs::read_dir(a.path().join("out"))
        .expect("out/")
        .flatten()
        .map(|e| std::fs::read_to_string(e.path().join("labels.csv")).expect("labels.csv"))
        .collect();
    assert_eq!(labels.len(), 2);
    for l in &labels {
        assert_eq!(l.lines().next(), Some("image,id_a,id_b,phi"));
        assert_eq!(l.lines().count(), 1 + 32);
    }
    assert!(
        labels
            .iter()
            .any(|l| l.lines().skip(1).any(|x| !x.ends_with(",1"))),
        "the mixup arm has soft labels"
    );

    // The shared test set, by point-free stage, as one safetensors file.
    let ex = a.synface(&[
        "export",
        "p.toml",
        "--stage",
        "test_render",
        "--format",
        "safetensors",
        "-o",
        "st",
    ]);
    assert_eq!(code(&ex), 0, "{}", text(&ex));
    let st = std::fs::read(a.path().join("st/dataset.safetensors")).expect("safetensors");
    assert!(st.len() > 18 * 16 * 16 * 3, "{} bytes", st.len());

    // The same instance by its key prefix, as `synface plan` prints it.
    let plan = text(&a.synface(&["plan", "p.toml"]));
    let key = plan
        .lines()
        .find(|l| l.starts_with("test_render "))
        .and_then(|l| {
            // `stage  points  key  status`: the key is the word before `cached`.
            let w: Vec<&str> = l.split_whitespace().collect();
            let at = w.iter().position(|x| *x == "cached")?;
            w.get(at.checked_sub(1)?).copied()
        })
        .unwrap_or_else(|| panic!("no key for test_render in {plan}"))
        .to_string();
    let ex = a.synface(&["export", &key, "--format", "safetensors", "-o", "by-key"]);
    assert_eq!(code(&ex), 0, "{}", text(&ex));
    assert_eq!(
        std::fs::read(a.path().join("by-key/dataset.safetensors")).expect("by key"),
        st
    );

    // A stage that is not a dataset is refused with exit 2.
    let ex = a.synface(&["export", "p.toml", "--stage", "train", "-o", "m"]);
    assert_eq!(code(&ex), 2, "{}", text(&ex));
    assert!(
        text(&ex).contains("did not produce a dataset"),
        "{}",
        text(&ex)
    );
}

#[test]
fn render_writes_a_sheet_and_rejects_unknown_factors() {
    let sb = Sandbox::new("");
    let o = sb.synface(&[
        "render",
        "--ids",
        "2",
        "--per-id",
        "3",
        "--vary",
        "pose",
        "--size",
        "24",
        "-o",
        "s/sheet.png",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let png = std::fs::read(sb.path().join("s/sheet.png")).expect("sheet");
    assert_eq!(&png[1..4], b"PNG");
    // IHDR width and height: 3 columns and 2 rows of 24 px cells (plus borders).
    let w = u32::from_be_bytes(png[16..20].try_into().expect("4 bytes"));
    let h = u32::from_be_bytes(png[20..24].try_into().expect("4 bytes"));
    assert!((72..100).contains(&w) && (48..70).contains(&h), "{w}x{h}");

    let o = sb.synface(&["render", "--vary", "hairstyle", "-o", "x.png"]);
    assert_eq!(code(&o), 2);
    assert!(text(&o).contains("unknown factor"), "{}", text(&o));
    assert!(!sb.path().join("x.png").exists());
}

/// Issue bar: a small end-to-end pipeline whose verification accuracy on disjoint rendered
/// identities is far above chance (>= 0.75), so the network learns identity from the pixels.
#[test]
fn a_small_network_learns_identity_from_rendered_faces() {
    let sb = Sandbox::new(include_str!("learn_faces.toml"));
    let o = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let rows: serde_json::Value = serde_json::from_slice(
        &std::fs::read(sb.path().join("runs/learn/results.json")).expect("results.json"),
    )
    .expect("json");
    let v = &rows[0]["stages"]["verify"];
    let acc = v["accuracy"]["mean"].as_f64().expect("accuracy");
    let auc = v["auc"].as_f64().expect("auc");
    assert_eq!(v["pairs"], 600);
    assert!(acc >= 0.75, "verification accuracy {acc} (AUC {auc})");
    assert!(auc >= 0.8, "AUC {auc}");
}
