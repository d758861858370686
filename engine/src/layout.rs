//! The run layout (DESIGN.md §7): `runs/<name>/results.json`, `points/<id>/<stage>/<file>`
//! for published files, a gather stage's published files directly in `runs/<name>/`, and
//! `events.jsonl` (written by [`crate::events::JsonlLog`]). Every file is written atomically.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cache::{parse_hex, Cache, CacheError};
use crate::plan::Plan;
use crate::registry::Registry;
use crate::scheduler::Outcome;

/// Errors writing or reading the run layout (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error(transparent)]
    Cache(#[from] CacheError),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LayoutError + '_ {
    move |source| LayoutError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One row of `results.json`: a sweep point and the metrics of each of its stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub point: String,
    pub arm: Option<String>,
    /// Axis values.
    pub values: BTreeMap<String, serde_json::Value>,
    /// Stage name -> its `metrics.json` (null when it published none).
    pub stages: BTreeMap<String, serde_json::Value>,
    /// Stages of this point that did not complete (failed, skipped or cancelled).
    #[serde(default)]
    pub incomplete: Vec<String>,
}

/// A file-system-safe version of a pipeline or stage name.
pub fn safe_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

/// `runs_dir/<pipeline name>`.
pub fn run_dir(runs_dir: &Path, pipeline: &str) -> PathBuf {
    runs_dir.join(safe_name(pipeline))
}

/// Write `bytes` to `dest` via a temporary file in the same directory and a rename.
/// An existing file with the same contents is left alone.
pub fn write_file(dest: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
    if fs::read(dest).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    fs::rename(&tmp, dest).map_err(io_err(dest))
}

fn is_gather(reg: &Registry, kind: &str) -> bool {
    reg.get(kind)
        .is_some_and(|s| s.inputs().iter().any(|p| p.gather))
}

/// Write the layout of a finished (or partly finished) run; returns the run directory.
pub fn write_layout(
    runs_dir: &Path,
    plan: &Plan,
    reg: &Registry,
    outcomes: &[Outcome],
    cache: &Cache,
) -> Result<PathBuf, LayoutError> {
    let dir = run_dir(runs_dir, &plan.name);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let mut rows: Vec<ResultRow> = plan
        .points
        .iter()
        .map(|p| ResultRow {
            point: p.id.clone(),
            arm: p.arm.clone(),
            values: p
                .values
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
                    )
                })
                .collect(),
            stages: BTreeMap::new(),
            incomplete: Vec::new(),
        })
        .collect();
    let row_of: BTreeMap<&str, usize> = plan
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    for (inst, outcome) in plan.instances.iter().zip(outcomes) {
        let gather = is_gather(reg, &inst.kind);
        let Some(m) = outcome.manifest() else {
            if !gather {
                for p in &inst.points {
                    if let Some(&r) = row_of.get(p.as_str()) {
                        rows[r].incomplete.push(inst.stage.clone());
                    }
                }
            }
            continue;
        };
        let stage_dir = safe_name(&inst.stage);
        let targets: Vec<PathBuf> = if gather {
            vec![dir.clone()]
        } else {
            inst.points
                .iter()
                .map(|p| dir.join("points").join(safe_name(p)).join(&stage_dir))
                .collect()
        };
        for o in m.outputs.iter().filter(|o| o.published) {
            let Some(d) = parse_hex(&o.digest) else {
                continue;
            };
            let dests: Vec<PathBuf> = targets
                .iter()
                .map(|t| t.join(safe_name(&o.name)))
                .filter(|dest| !already_there(dest, &d, o.size))
                .collect();
            if dests.is_empty() {
                continue;
            }
            let bytes = cache.load_output(o)?.ok_or_else(|| LayoutError::Format {
                path: cache.blobs().path(&d),
                message: format!(
                    "cached output `{}` of `{}` is missing or corrupt",
                    o.name, inst.stage
                ),
            })?;
            for dest in dests {
                write_file(&dest, &bytes)?;
            }
        }
        if !gather {
            for p in &inst.points {
                if let Some(&r) = row_of.get(p.as_str()) {
                    rows[r].stages.insert(
                        inst.stage.clone(),
                        m.metrics.clone().unwrap_or(serde_json::Value::Null),
                    );
                }
            }
        }
    }
    prune_points(&dir.join("points"), plan)?;
    let results = dir.join("results.json");
    let json = serde_json::to_vec_pretty(&rows).expect("result rows always serialise");
    write_file(&results, &json)?;
    Ok(dir)
}

/// Remove `points/<id>/` directories of points the plan no longer has (an axis value was
/// dropped or renamed), so the run directory shows the latest run only.
fn prune_points(points_dir: &Path, plan: &Plan) -> Result<(), LayoutError> {
    let Ok(rd) = fs::read_dir(points_dir) else {
        return Ok(());
    };
    let keep: std::collections::BTreeSet<String> =
        plan.points.iter().map(|p| safe_name(&p.id)).collect();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !keep.contains(&name) && e.path().is_dir() {
            fs::remove_dir_all(e.path()).map_err(io_err(&e.path()))?;
        }
    }
    Ok(())
}

fn already_there(dest: &Path, d: &[u8; 32], size: u64) -> bool {
    fs::metadata(dest).is_ok_and(|m| m.len() == size)
        && fs::read(dest).is_ok_and(|b| blake3::hash(&b).as_bytes() == d)
}

/// Read `results.json` of a run directory.
pub fn read_results(run_dir: &Path) -> Result<Vec<ResultRow>, LayoutError> {
    let path = run_dir.join("results.json");
    let bytes = fs::read(&path).map_err(io_err(&path))?;
    serde_json::from_slice(&bytes).map_err(|e| LayoutError::Format {
        path,
        message: e.to_string(),
    })
}

/// The `[pipeline] name` of a pipeline file's text, without planning it.
pub fn pipeline_name(src: &str) -> Option<String> {
    let t: toml::Table = toml::from_str(src).ok()?;
    t.get("pipeline")?.get("name")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_safe() {
        assert_eq!(safe_name("width-depth"), "width-depth");
        assert_eq!(safe_name("a/b c"), "a_b_c");
        assert_eq!(safe_name("../x"), "_.._x");
        assert_eq!(safe_name(""), "_");
    }

    #[test]
    fn write_file_replaces_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/c.txt");
        write_file(&p, b"one").unwrap();
        write_file(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::read_dir(p.parent().unwrap()).unwrap().count(),
            1,
            "no temporary left behind"
        );
    }

    #[test]
    fn pipeline_name_is_read_without_planning() {
        assert_eq!(
            pipeline_name("[pipeline]\nname = \"q\"\n").as_deref(),
            Some("q")
        );
        assert_eq!(pipeline_name("x = 1").as_deref(), None);
    }
}
