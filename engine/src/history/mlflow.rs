//! Export of run-history entries into an MLflow tracking store, in MLflow's own file-store
//! layout, so `mlflow ui --backend-store-uri DIR` (or the `mlflow` client with
//! `file:DIR`) shows them:
//!
//! ```text
//! DIR/<experiment_id>/meta.yaml                  the experiment, named after the pipeline
//! DIR/<experiment_id>/<run_id>/meta.yaml         one run per history entry (the parent) ...
//! DIR/<experiment_id>/<run_id>/params/<key>      ... and one per sweep point (its children):
//! DIR/<experiment_id>/<run_id>/metrics/<key>     "<unix ms> <value> <step>" lines
//! DIR/<experiment_id>/<run_id>/tags/<key>        mlflow.runName, mlflow.parentRunId, synface.*
//! ```
//!
//! A point's run has the axis values as params `axis.<name>`, every parameter of every stage
//! serving it as `<stage>.<param>`, and its numeric metrics as `<stage>.<path>`; the parent
//! has the pipeline's seed, overrides and digest, and the headline metric. Run ids are
//! derived from the pipeline, entry and point, so exporting again rewrites the same runs
//! instead of adding copies. An experiment of the same name already in the store is reused.
//! MLflow 3 keeps the file store in maintenance mode: set `MLFLOW_ALLOW_FILE_STORE=true`, or
//! move the store into a database with `mlflow migrate-filestore`.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::entry::RunEntry;
use super::headline::numeric_metrics;

/// Errors writing an MLflow store (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> MlflowError + '_ {
    move |error| MlflowError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    pub experiment_id: String,
    /// Parent runs (one per entry).
    pub runs: usize,
    /// Child runs (one per point per entry).
    pub point_runs: usize,
}

/// One MLflow run to write.
struct MlRun {
    id: String,
    name: String,
    start_ms: u64,
    end_ms: u64,
    failed: bool,
    params: BTreeMap<String, String>,
    metrics: BTreeMap<String, f64>,
    tags: BTreeMap<String, String>,
}

/// Write `entries` of one pipeline into the store at `root` (created when missing).
pub fn export(root: &Path, pipeline: &str, entries: &[RunEntry]) -> Result<Exported, MlflowError> {
    fs::create_dir_all(root).map_err(io_err(root))?;
    let root = fs::canonicalize(root).map_err(io_err(root))?;
    let exp = match find_experiment(&root, pipeline)? {
        Some(id) => id,
        None => create_experiment(&root, pipeline)?,
    };
    let mut out = Exported {
        experiment_id: exp.clone(),
        runs: 0,
        point_runs: 0,
    };
    for e in entries {
        let parent = parent_run(e);
        for p in &e.points {
            write_run(&root, &exp, &point_run(e, &parent.id, &p.id))?;
            out.point_runs += 1;
        }
        write_run(&root, &exp, &parent)?;
        out.runs += 1;
    }
    Ok(out)
}

fn hex_id(parts: &[&str]) -> String {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().to_hex()[..32].to_string()
}

/// The id of an experiment named `name` in the store, if one exists.
fn find_experiment(root: &Path, name: &str) -> Result<Option<String>, MlflowError> {
    let want = format!("name: {}", yaml_str(name));
    for e in fs::read_dir(root).map_err(io_err(root))?.flatten() {
        let meta = e.path().join("meta.yaml");
        let Ok(text) = fs::read_to_string(&meta) else {
            continue;
        };
        if text.lines().any(|l| l.trim_end() == want) {
            return Ok(e.file_name().to_str().map(str::to_string));
        }
    }
    Ok(None)
}

/// A new experiment with an id derived from the name (digits, as MLflow's own ids).
fn create_experiment(root: &Path, name: &str) -> Result<String, MlflowError> {
    let h = blake3::hash(format!("synface-mlflow-experiment\0{name}").as_bytes());
    let n = u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes")) % 10u64.pow(15);
    let id = format!("{}", n + 10u64.pow(15));
    let dir = root.join(&id);
    let now = super::entry::now_ms();
    let meta = format!(
        "artifact_location: {}\ncreation_time: {now}\nexperiment_id: '{id}'\n\
         last_update_time: {now}\nlifecycle_stage: active\nname: {}\n",
        yaml_str(&file_uri(&dir)),
        yaml_str(name)
    );
    write(&dir.join("meta.yaml"), &meta)?;
    Ok(id)
}

fn parent_run(e: &RunEntry) -> MlRun {
    let mut params = BTreeMap::new();
    params.insert("pipeline.seed".into(), e.seed.to_string());
    params.insert("pipeline.overrides".into(), e.overrides.join(" "));
    let mut metrics = BTreeMap::new();
    let mut tags = common_tags(e);
    if let Some(h) = &e.headline {
        metrics.insert(format!("{}.mean_over_points", h.metric), h.mean);
        metrics.insert(format!("{}.best", h.metric), h.best);
        tags.insert("synface.headline".into(), h.metric.clone());
    }
    let name = format!("{} #{}", e.pipeline, e.id);
    tags.insert("mlflow.runName".into(), name.clone());
    MlRun {
        id: hex_id(&[
            "run",
            &e.pipeline,
            &e.id.to_string(),
            &e.finished_unix_ms.to_string(),
        ]),
        name,
        start_ms: start_ms(e),
        end_ms: e.finished_unix_ms,
        failed: e.outcome.exit_code != 0,
        params,
        metrics,
        tags,
    }
}

fn point_run(e: &RunEntry, parent: &str, point: &str) -> MlRun {
    let mut params = BTreeMap::new();
    if let Some(p) = e.point(point) {
        for (k, v) in &p.values {
            params.insert(format!("axis.{k}"), plain(v));
        }
        if let Some(arm) = &p.arm {
            params.insert("arm".into(), arm.clone());
        }
    }
    for i in e
        .instances
        .iter()
        .filter(|i| i.points.iter().any(|p| p == point))
    {
        for (k, v) in &i.params {
            params.insert(format!("{}.{k}", i.stage), plain(v));
        }
    }
    let row = e.results.iter().find(|r| r.point == point);
    let metrics = row.map(numeric_metrics).unwrap_or_default();
    let incomplete = row.is_some_and(|r| !r.incomplete.is_empty());
    let name = format!("{} #{} {point}", e.pipeline, e.id);
    let mut tags = common_tags(e);
    tags.insert("mlflow.runName".into(), name.clone());
    tags.insert("mlflow.parentRunId".into(), parent.to_string());
    tags.insert("synface.point".into(), point.to_string());
    MlRun {
        id: hex_id(&["point", parent, point]),
        name,
        start_ms: start_ms(e),
        end_ms: e.finished_unix_ms,
        failed: incomplete,
        params,
        metrics,
        tags,
    }
}

fn common_tags(e: &RunEntry) -> BTreeMap<String, String> {
    let mut t = BTreeMap::new();
    t.insert("synface.run".into(), e.id.to_string());
    t.insert("synface.pipeline".into(), e.pipeline.clone());
    t.insert("synface.pipeline_digest".into(), e.pipeline_digest.clone());
    t.insert("synface.version".into(), e.synface.version.clone());
    if let Some(c) = &e.synface.commit {
        t.insert("synface.commit".into(), c.clone());
    }
    t.insert("mlflow.source.name".into(), e.source.clone());
    t
}

fn start_ms(e: &RunEntry) -> u64 {
    e.finished_unix_ms
        .saturating_sub((e.outcome.secs.max(0.0) * 1000.0) as u64)
}

/// A JSON value as MLflow shows a param: strings bare, everything else as JSON.
fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn write_run(root: &Path, exp: &str, r: &MlRun) -> Result<(), MlflowError> {
    let dir = root.join(exp).join(&r.id);
    let status = if r.failed { 4 } else { 3 };
    let meta = format!(
        "artifact_uri: {}\nend_time: {}\nentry_point_name: ''\nexperiment_id: '{exp}'\n\
         lifecycle_stage: active\nrun_id: {id}\nrun_name: {}\nrun_uuid: {id}\n\
         source_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: {}\nstatus: {status}\n\
         tags: []\nuser_id: synface\n",
        yaml_str(&file_uri(&dir.join("artifacts"))),
        r.end_ms,
        yaml_str(&r.name),
        r.start_ms,
        id = r.id,
    );
    write(&dir.join("meta.yaml"), &meta)?;
    fs::create_dir_all(dir.join("artifacts")).map_err(io_err(&dir))?;
    for (k, v) in &r.params {
        write(&dir.join("params").join(key_path(k)), v)?;
    }
    for (k, v) in &r.metrics {
        let line = format!("{} {} 0\n", r.end_ms, number(*v));
        write(&dir.join("metrics").join(key_path(k)), &line)?;
    }
    for (k, v) in &r.tags {
        write(&dir.join("tags").join(key_path(k)), v)?;
    }
    Ok(())
}

/// MLflow keys may hold `/` (a sub-folder in the store); anything else unusual becomes `_`.
fn key_path(k: &str) -> PathBuf {
    let clean: String = k
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-. /:".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    clean
        .split('/')
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .collect()
}

/// A float as MLflow's reader parses it (`nan`, `inf` and `-inf` included).
fn number(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{v:?}")
    }
}

/// A YAML scalar: single-quoted, quotes doubled.
fn yaml_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn file_uri(p: &Path) -> String {
    format!("file://{}", p.display())
}

fn write(path: &Path, text: &str) -> Result<(), MlflowError> {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).map_err(io_err(d))?;
    }
    fs::write(path, text).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_inside_the_run_folder() {
        assert_eq!(key_path("train.lr"), PathBuf::from("train.lr"));
        assert_eq!(key_path("a/../b"), PathBuf::from("a/b"));
        assert_eq!(key_path("x\ny"), PathBuf::from("x_y"));
    }

    #[test]
    fn scalars_are_quoted_and_numbers_readable() {
        assert_eq!(yaml_str("it's"), "'it''s'");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(f64::NAN), "nan");
        assert_eq!(number(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn an_experiment_is_found_by_name_or_created_once() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_experiment(dir.path(), "q").unwrap(), None);
        let id = create_experiment(dir.path(), "q").unwrap();
        assert_eq!(find_experiment(dir.path(), "q").unwrap(), Some(id.clone()));
        assert!(id.chars().all(|c| c.is_ascii_digit()), "{id}");
        assert_eq!(find_experiment(dir.path(), "other").unwrap(), None);
    }
}
