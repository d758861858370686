//! `synface render` (faces straight from the model) and `synface export` (a cached dataset
//! artifact written out as an image folder or a safetensors file).

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use synface_engine::cache::{hex, parse_hex, ActionManifest, Cache};
use synface_engine::run::Keyer;
use synface_engine::scheduler::{preview, PreviewStatus};
use synface_stages::dataset::Dataset;
use synface_stages::face::{Factor, Style};
use synface_stages::render_command::{cli_render, OutputFormat, RenderOpts};

use crate::{load, registry, CacheArgs, Failure};

/// Options of `synface render`.
#[derive(Args)]
pub struct RenderArgs {
    /// Identities (rows of the sheet)
    #[arg(long, default_value_t = 8)]
    ids: usize,
    /// Images per identity (columns of the sheet)
    #[arg(long, default_value_t = 8)]
    per_id: usize,
    /// Vary only this factor along each row: identity, expression, illumination, pose,
    /// background, mixup
    #[arg(long, value_name = "FACTOR")]
    vary: Option<String>,
    /// Image side in pixels
    #[arg(long, default_value_t = 112)]
    size: usize,
    /// Largest |yaw| in degrees
    #[arg(long, default_value_t = 30.0)]
    max_yaw: f32,
    /// Scale of the identity shape coefficients (1 = the model's default spread)
    #[arg(long, default_value_t = 1.0)]
    shape_scale: f32,
    /// Scale of the identity albedo coefficients
    #[arg(long, default_value_t = 1.0)]
    albedo_scale: f32,
    /// Scale of the per-image expression variation
    #[arg(long, default_value_t = 1.0)]
    expression_scale: f32,
    /// Scale of the per-image illumination variation
    #[arg(long, default_value_t = 1.0)]
    illumination_scale: f32,
    /// Seed of the per-image factors (expression, light, pose, background)
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Which people are drawn (default: the --seed value, so each seed shows new people)
    #[arg(long, value_name = "N")]
    identity_seed: Option<u64>,
    /// Appearance: synthetic, or photo (the real-photo proxy)
    #[arg(long, default_value = "synthetic")]
    style: String,
    /// Face model version: 9 (the newest), 8 (without 9's skin sheen), 7 (mottle also on the
    /// sides of the head) or 6 (without version 7's skin mottle and eye finish)
    #[arg(long, value_name = "N", default_value_t = synface_stages::face::MODEL_VERSION)]
    face_model: u32,
    #[arg(long, value_enum, default_value_t = RenderFormat::Sheet)]
    format: RenderFormat,
    /// Output: a PNG file (sheet) or a directory (imagefolder)
    #[arg(short = 'o', long = "out", value_name = "PATH")]
    out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum RenderFormat {
    Sheet,
    Imagefolder,
}

/// Options of `synface export`.
#[derive(Args)]
pub struct ExportArgs {
    /// A pipeline file, or a cache key (hex prefix) of a dataset- or model-producing instance
    target: String,
    /// The stage whose output to export (with a pipeline file)
    #[arg(long, value_name = "NAME")]
    stage: Option<String>,
    /// Only this sweep point: its id or folder name (default: every point, one subdirectory
    /// each, named `<id>-<values>`)
    #[arg(long, value_name = "ID")]
    point: Option<String>,
    #[arg(long, value_enum, default_value_t = ExportFormat::Imagefolder)]
    format: ExportFormat,
    /// Output directory (new or empty, unless --force)
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    out: PathBuf,
    /// Write into a non-empty output directory: overwrite the files export writes there
    /// (labels.csv, <identity>/<n>.png, dataset.safetensors, model.onnx) and keep everything else
    #[arg(long)]
    force: bool,
    /// Pipeline overrides `stage.param=value` (with a pipeline file)
    #[arg(long = "set", value_name = "K=V")]
    set: Vec<String>,
    /// Runs directory holding the run history (`--format mlflow`)
    #[arg(long, value_name = "DIR", default_value = "runs")]
    runs: PathBuf,
    /// Only this recorded run (`--format mlflow`; default: every run in `synface runs FILE`)
    #[arg(long, value_name = "ID")]
    run: Option<u64>,
}

/// `imagefolder` and `safetensors` write a dataset; `onnx` a trained model (`model.onnx`);
/// `mlflow` the pipeline's run history as an MLflow file store.
#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Imagefolder,
    Safetensors,
    Onnx,
    Mlflow,
}

pub fn cmd_render(a: RenderArgs) -> Result<(), Failure> {
    let usage = |e: synface_stages::face::FaceError| Failure::Usage(format!("render: {e}"));
    let vary = a
        .vary
        .as_deref()
        .map(str::parse::<Factor>)
        .transpose()
        .map_err(usage)?;
    let style = a.style.parse::<Style>().map_err(usage)?;
    for (name, v) in [
        ("shape-scale", a.shape_scale),
        ("albedo-scale", a.albedo_scale),
    ] {
        if !(0.0..=4.0).contains(&v) {
            return Err(Failure::Usage(format!(
                "render: --{name} {v} outside 0..=4"
            )));
        }
    }
    let identity_seed = a.identity_seed.unwrap_or(a.seed);
    if identity_seed >= 1 << 31 {
        return Err(Failure::Usage(format!(
            "render: identity seed {identity_seed} is too large (at most 2147483647; \
             pass a smaller --identity-seed)"
        )));
    }
    if !(16..=1024).contains(&a.size) {
        return Err(Failure::Usage(format!(
            "render: --size {} outside 16..=1024",
            a.size
        )));
    }
    let opts = RenderOpts {
        ids: a.ids,
        per_id: a.per_id,
        vary,
        size: a.size,
        max_yaw: a.max_yaw,
        shape_scale: a.shape_scale,
        albedo_scale: a.albedo_scale,
        expression_scale: a.expression_scale,
        illumination_scale: a.illumination_scale,
        seed: a.seed,
        identity_seed,
        format: match a.format {
            RenderFormat::Sheet => OutputFormat::Sheet,
            RenderFormat::Imagefolder => OutputFormat::ImageFolder,
        },
        out: a.out.clone(),
        style,
        face_model: a.face_model,
    };
    cli_render(&opts).map_err(|e| match e {
        synface_stages::face::FaceError::Invalid(_) => usage(e),
        other => Failure::Io(anyhow::anyhow!("render: {other}")),
    })?;
    println!("wrote {}", a.out.display());
    Ok(())
}

/// The manifests to export: `(subdirectory name, manifest)`.
fn targets(a: &ExportArgs, cache: &Cache) -> Result<Vec<(String, ActionManifest)>, Failure> {
    let path = Path::new(&a.target);
    if !path.is_file() {
        return by_key(&a.target, cache).map(|m| vec![(String::new(), m)]);
    }
    let Some(stage) = &a.stage else {
        return Err(Failure::Usage(
            "export: --stage NAME is required with a pipeline file".into(),
        ));
    };
    let reg = registry();
    let plan = load(path, &a.set, &reg)?;
    if !plan.instances.iter().any(|i| &i.stage == stage) {
        let names: std::collections::BTreeSet<&str> =
            plan.instances.iter().map(|i| i.stage.as_str()).collect();
        return Err(Failure::Usage(format!(
            "export: no stage `{}` in {} (stages: {})",
            synface_engine::diag::escape(stage),
            path.display(),
            names.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let keyer = Keyer::new(cache.dir(), false);
    let rows = preview(&plan, cache, &|i, d| keyer.key(i, d)).map_err(|e| Failure::Io(e.into()))?;
    let mut out = Vec::new();
    for row in rows.iter().filter(|r| &r.stage == stage) {
        if let Some(p) = &a.point {
            let id = synface_engine::point_name::id_of(p);
            if !row.points.iter().any(|x| x == id) {
                continue;
            }
        }
        let found = match (row.status == PreviewStatus::Cached, row.key) {
            (true, Some(k)) => cache.manifest(&k).map_err(|e| Failure::Io(e.into()))?,
            _ => None,
        };
        let Some(m) = found else {
            return Err(Failure::Io(anyhow::anyhow!(
                "export: `{stage}` (points {}) is not cached: run `synface run {}` first",
                row.points.join(", "),
                path.display()
            )));
        };
        let served: Vec<&synface_engine::Point> =
            row.points.iter().filter_map(|p| plan.point(p)).collect();
        out.push((synface_engine::point_name::common_dir_name(&served), m));
    }
    if out.is_empty() {
        return Err(Failure::Usage(format!(
            "export: stage `{stage}` has no instance at point {:?}",
            a.point.as_deref().unwrap_or("")
        )));
    }
    if out.len() == 1 {
        out[0].0.clear();
    }
    Ok(out)
}

/// The one cached manifest whose key starts with `prefix`.
fn by_key(prefix: &str, cache: &Cache) -> Result<ActionManifest, Failure> {
    let p = prefix.to_ascii_lowercase();
    if p.len() < 6 || !p.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Failure::Usage(format!(
            "export: `{}` is neither a pipeline file nor a cache key (6 or more hex digits)",
            synface_engine::diag::escape(prefix)
        )));
    }
    let dir = cache.dir().join("actions");
    let mut hits = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(k) = name.strip_suffix(".json").filter(|k| k.starts_with(&p)) {
                hits.extend(parse_hex(k));
            }
        }
    }
    match hits.as_slice() {
        [k] => cache
            .manifest(k)
            .map_err(|e| Failure::Io(e.into()))?
            .ok_or_else(|| {
                Failure::Io(anyhow::anyhow!(
                    "export: key {} is not in the index: run `synface cache rebuild`",
                    hex(k)
                ))
            }),
        [] => Err(Failure::Usage(format!(
            "export: no cached instance has a key starting with `{p}` (`synface plan FILE` lists keys)"
        ))),
        _ => Err(Failure::Usage(format!(
            "export: key prefix `{p}` matches {} instances; give more digits",
            hits.len()
        ))),
    }
}

/// Refuse an output directory that holds anything unless `force` (exit 2), and a path that
/// is not a directory. Checked before anything is written.
fn check_out_dir(out: &Path, force: bool) -> Result<(), Failure> {
    let shown = synface_engine::diag::escape(&out.display().to_string());
    let io = |e: std::io::Error| Failure::Io(anyhow::anyhow!("export: {shown}: {e}"));
    let meta = match std::fs::metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    if !meta.is_dir() {
        return Err(Failure::Usage(format!(
            "export: `{shown}` exists and is not a directory; give a directory with -o DIR"
        )));
    }
    let empty = std::fs::read_dir(out).map_err(io)?.next().is_none();
    if empty || force {
        return Ok(());
    }
    Err(Failure::Usage(format!(
        "export: the output directory `{shown}` is not empty, and export would overwrite \
         labels.csv, <identity>/<n>.png, dataset.safetensors or model.onnx there. Give a new or empty \
         directory, or pass --force to overwrite those files (anything else is kept)"
    )))
}

/// `cache`: the global `--cache`/`--wait` options.
pub fn cmd_export(a: ExportArgs, cache: &CacheArgs) -> Result<(), Failure> {
    if let ExportFormat::Mlflow = a.format {
        crate::model_export::check_mlflow_dir(&a.out, a.force)?;
        return crate::runs_cmd::export_mlflow(Path::new(&a.target), &a.runs, a.run, &a.out);
    }
    check_out_dir(&a.out, a.force)?;
    let cache = cache.open()?;
    for (sub, m) in targets(&a, &cache)? {
        let art = cache
            .load(&m)
            .map_err(|e| Failure::Io(e.into()))?
            .ok_or_else(|| {
                Failure::Io(anyhow::anyhow!(
                    "export: a blob of `{}` is missing or corrupt: rerun the pipeline",
                    m.stage
                ))
            })?;
        if let ExportFormat::Onnx = a.format {
            crate::model_export::write_onnx(&m.stage, &art, &a.out.join(&sub))?;
            continue;
        }
        let ds = Dataset::from_artifact(&art).map_err(|e| {
            Failure::Usage(format!(
                "export: stage `{}` did not produce a dataset ({e})",
                m.stage
            ))
        })?;
        let dir = if sub.is_empty() {
            a.out.clone()
        } else {
            a.out.join(&sub)
        };
        let written = match a.format {
            ExportFormat::Imagefolder => {
                synface_stages::export::write_imagefolder(&ds, &dir).map(|_| dir.clone())
            }
            ExportFormat::Safetensors => {
                let f = dir.join("dataset.safetensors");
                synface_stages::export::write_safetensors(&ds, &f).map(|_| f)
            }
            ExportFormat::Onnx | ExportFormat::Mlflow => unreachable!("handled above"),
        }
        .map_err(|e| Failure::Io(anyhow::anyhow!("export to {}: {e}", dir.display())))?;
        println!(
            "{}: {} images, {} classes -> {}",
            m.stage,
            ds.len(),
            ds.info.num_classes,
            written.display()
        );
    }
    Ok(())
}
