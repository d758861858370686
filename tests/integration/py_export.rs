//! Exports read back by the tools they are for, on the tiny face pipeline: a trained model as
//! ONNX run in onnxruntime (the same embeddings as synface within 1e-4: L2-normalised ones
//! absolutely, raw ones relative to their scale), and the run history
//! as an MLflow file store read with the `mlflow` client. Both Python packages come from
//! PyPI (`.ci/run` installs them and sets `SYNFACE_PY` to that interpreter and
//! `SYNFACE_REQUIRE_PY=1`); without `SYNFACE_PY` the Python halves are skipped with a message
//! and the synface halves still run.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use synface_engine::Device;
use synface_stages::nn::layers::from_safetensors;
use synface_stages::nn::{BackboneConfig, Embedder};

use crate::cli::{code, files, text, Sandbox};

const TINY: &str = include_str!("tiny_faces.toml");

/// The interpreter with onnxruntime and mlflow, or None (skipped, said on stderr) when
/// `SYNFACE_PY` is unset; with `SYNFACE_REQUIRE_PY=1` a missing interpreter fails.
fn python(what: &str) -> Option<PathBuf> {
    match std::env::var_os("SYNFACE_PY") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var("SYNFACE_REQUIRE_PY").is_ok_and(|v| v == "1") => {
            panic!("SYNFACE_REQUIRE_PY=1 but SYNFACE_PY is unset: {what} cannot be checked")
        }
        None => {
            eprintln!(
                "skipping the {what} check: set SYNFACE_PY to a python with onnxruntime and \
                 mlflow (see .ci/run)"
            );
            None
        }
    }
}

/// Run a checker script; its stdout is one JSON value.
fn run_py(py: &Path, script: &str, args: &[&str]) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/integration/py")
        .join(script);
    let out = Command::new(py)
        .arg(&path)
        .args(args)
        .output()
        .expect("run python");
    assert!(out.status.success(), "{script}: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {stdout}"))
}

/// The tiny pipeline, run once per test.
fn ran() -> Sandbox {
    let sb = Sandbox::new(TINY);
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    sb
}

/// Deterministic test images: gradients and a pattern, `n` x `side` x `side` x 3 (u8 NHWC).
fn images(n: usize, side: usize) -> Vec<u8> {
    (0..n * side * side * 3)
        .map(|i| {
            let (img, p, c) = (i / (side * side * 3), (i / 3) % (side * side), i % 3);
            let (y, x) = (p / side, p % side);
            ((x * 13 + y * 7 + c * 50 + img * 31 + (x * y) % 17) % 256) as u8
        })
        .collect()
}

fn nchw(imgs: &[u8], n: usize, side: usize) -> Vec<f32> {
    let mut out = vec![0f32; imgs.len()];
    for k in 0..n {
        for p in 0..side * side {
            for c in 0..3 {
                out[(k * 3 + c) * side * side + p] = f32::from(imgs[(k * side * side + p) * 3 + c]);
            }
        }
    }
    out
}

fn write_f32(path: &Path, v: &[f32]) {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).expect("write");
}

/// The published model files of the point `id`: (`model.json`, `model.safetensors`).
fn published_model(sb: &Sandbox, id: &str) -> (BackboneConfig, Vec<u8>) {
    let run = sb.path().join("runs/tiny");
    let rel = files(&run)
        .into_iter()
        .find(|f| f.contains(id) && f.ends_with("train/model.safetensors"))
        .unwrap_or_else(|| panic!("no published model for point {id}"));
    let weights = std::fs::read(run.join(&rel)).expect("weights");
    let json = std::fs::read(run.join(rel.replace("model.safetensors", "model.json")));
    (
        serde_json::from_slice(&json.expect("model.json")).expect("config"),
        weights,
    )
}

#[test]
fn onnx_export_gives_synfaces_embeddings_in_onnxruntime() {
    let sb = ran();
    let results: Value =
        serde_json::from_slice(&std::fs::read(sb.path().join("runs/tiny/results.json")).unwrap())
            .unwrap();
    let id = results[0]["point"].as_str().expect("point id").to_string();
    let (cfg, weights) = published_model(&sb, &id);
    let (_, meta) = from_safetensors(&weights).expect("safetensors");
    assert_eq!(meta["synface.arch"], "iresnet");
    assert!(meta["synface.preprocessing"].contains("(x - 127.5) / 128"));

    let ex = sb.synface(&[
        "export", "p.toml", "--stage", "train", "--point", &id, "--format", "onnx", "-o", "onnx",
    ]);
    assert_eq!(code(&ex), 0, "{}", text(&ex));
    let model = sb.path().join("onnx/model.onnx");
    assert!(std::fs::metadata(&model).expect("model.onnx").len() > 1000);
    let bad = sb.synface(&[
        "export", "p.toml", "--stage", "render", "--format", "onnx", "-o", "x",
    ]);
    assert_eq!(code(&bad), 2, "a dataset is not a model: {}", text(&bad));

    let (n, s, d) = (5, cfg.input_size, cfg.embedding);
    let imgs = images(n, s);
    let e = Embedder::from_parts(&cfg, &weights, Device::Cpu).expect("model");
    let plain = e.embed(&imgs, n, s, s).expect("embed");
    let mirrored = synface_stages::verify::run::flip_horizontal(&imgs, s, s);
    let mut with_flip = e.embed(&mirrored, n, s, s).expect("embed");
    with_flip.iter_mut().zip(&plain).for_each(|(a, b)| *a += b);
    let dir = sb.path();
    write_f32(&dir.join("pixels.f32"), &nchw(&imgs, n, s));
    write_f32(&dir.join("want.f32"), &plain);
    write_f32(&dir.join("want_flip.f32"), &with_flip);
    let Some(py) = python("onnxruntime") else {
        return;
    };
    let p = |f: &str| dir.join(f).display().to_string();
    let (n, s, d) = (n.to_string(), s.to_string(), d.to_string());
    let out = run_py(
        &py,
        "onnx_check.py",
        &[
            &p("onnx/model.onnx"),
            &p("pixels.f32"),
            &n,
            &s,
            &p("want.f32"),
            &p("want_flip.f32"),
            &d,
        ],
    );
    eprintln!("onnxruntime check: {out}");
    for k in [
        "max_abs_diff_normalised",
        "max_abs_diff_flip_normalised",
        "max_rel_diff_raw",
    ] {
        assert!(out[k].as_f64().expect("diff") <= 1e-4, "{k}: {out}");
    }
    assert_eq!(out["arch"], "iresnet");
}

#[test]
fn mlflow_export_reads_back_with_the_mlflow_client() {
    let sb = ran();
    let r = sb.synface(&["run", "p.toml", "--set", "pairs.folds=2"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    let runs = String::from_utf8_lossy(&sb.synface(&["runs", "p.toml"]).stdout).into_owned();
    assert!(
        runs.contains("verify.accuracy.mean"),
        "the headline: {runs}"
    );
    assert!(runs.contains("pairs.folds 3 -> 2"), "{runs}");

    let ex = sb.synface(&["export", "p.toml", "--format", "mlflow", "-o", "mlruns"]);
    assert_eq!(code(&ex), 0, "{}", text(&ex));
    // Exporting again rewrites the same runs; a non-store directory is refused.
    assert_eq!(
        code(&sb.synface(&["export", "p.toml", "--format", "mlflow", "-o", "mlruns"])),
        0
    );
    std::fs::write(sb.path().join("notes.txt"), "mine").unwrap();
    let refused = sb.synface(&["export", "p.toml", "--format", "mlflow", "-o", "."]);
    assert_eq!(code(&refused), 2, "{}", text(&refused));

    let entry: Value = serde_json::from_slice(
        &std::fs::read(sb.path().join("runs/tiny/history/0002.json")).expect("entry 2"),
    )
    .unwrap();
    let Some(py) = python("mlflow") else {
        return;
    };
    let store = sb.path().join("mlruns").display().to_string();
    let out = run_py(&py, "mlflow_check.py", &[&store, "tiny"]);
    let ml = out["runs"].as_array().expect("runs");
    assert_eq!(
        ml.len(),
        2 + 2 * 2,
        "two parents and two points each: {out}"
    );
    let parents: Vec<&Value> = ml.iter().filter(|r| r["parent"].is_null()).collect();
    assert_eq!(parents.len(), 2);
    // The second run's first point: params and metrics as synface recorded them.
    let point = entry["points"][0]["id"].as_str().unwrap();
    let child = ml
        .iter()
        .find(|r| r["tags"]["synface.point"] == point && r["tags"]["synface.run"] == "2")
        .unwrap_or_else(|| panic!("no MLflow run for point {point}: {out}"));
    assert_eq!(child["params"]["pairs.folds"], "2");
    assert_eq!(
        child["params"]["axis.mixup"],
        entry["points"][0]["values"]["mixup"]
    );
    let acc = entry["results"][0]["stages"]["verify"]["accuracy"]["mean"]
        .as_f64()
        .unwrap();
    let got = child["metrics"]["verify.accuracy.mean"]
        .as_f64()
        .expect("metric");
    assert!((got - acc).abs() < 1e-12, "{got} vs {acc}");
    assert_eq!(child["status"], "FINISHED");
}
