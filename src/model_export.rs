//! The export formats that are not datasets: a trained model as ONNX (`model.onnx`, see
//! `synface_stages::onnx`) and the target checks of the MLflow export (`runs_cmd`).

use std::path::Path;

use synface_engine::Artifact;
use synface_stages::nn::BackboneConfig;

use crate::Failure;

/// Write `dir/model.onnx` from a `model` artifact (`model.json` + `model.safetensors`).
pub fn write_onnx(stage: &str, art: &Artifact, dir: &Path) -> Result<(), Failure> {
    let not_model = |what: String| {
        Failure::Usage(format!(
            "export: stage `{stage}` did not produce a trained model ({what}); \
             --format onnx exports the output of a `train` stage"
        ))
    };
    let json = art
        .get("model.json")
        .map_err(|e| not_model(e.to_string()))?;
    let weights = art
        .get("model.safetensors")
        .map_err(|e| not_model(e.to_string()))?;
    let cfg: BackboneConfig =
        serde_json::from_slice(json).map_err(|e| not_model(format!("model.json: {e}")))?;
    let bytes = synface_stages::onnx::export(&cfg, weights)
        .map_err(|e| Failure::Io(anyhow::anyhow!("export: `{stage}`: {e}")))?;
    let path = dir.join("model.onnx");
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, &bytes))
        .map_err(|e| Failure::Io(anyhow::anyhow!("export to {}: {e}", path.display())))?;
    let s = cfg.input_size;
    println!(
        "{stage}: {:?} model, input `pixels` [N, 3, {s}, {s}] RGB 0..255, outputs `embedding` \
         and `embedding_flip` [N, {}] -> {}",
        cfg.arch,
        cfg.embedding,
        path.display()
    );
    Ok(())
}

/// An MLflow export goes into a new or empty directory, or into an existing MLflow store
/// (one holding `<id>/meta.yaml`); any other non-empty directory needs `--force` (exit 2).
pub fn check_mlflow_dir(out: &Path, force: bool) -> Result<(), Failure> {
    let Ok(rd) = std::fs::read_dir(out) else {
        return match out.exists() {
            true => Err(Failure::Usage(format!(
                "export: `{}` is not a directory; give the MLflow store's directory with -o DIR",
                out.display()
            ))),
            false => Ok(()),
        };
    };
    let entries: Vec<_> = rd.flatten().collect();
    let is_store = entries.iter().any(|e| e.path().join("meta.yaml").is_file());
    if entries.is_empty() || is_store || force {
        return Ok(());
    }
    Err(Failure::Usage(format!(
        "export: `{}` is neither empty nor an MLflow store (no <experiment>/meta.yaml); give \
         the store's directory (e.g. -o mlruns), or pass --force to write into it anyway",
        out.display()
    )))
}
