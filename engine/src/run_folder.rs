//! The run layout (docs/design.md §7): `runs/<name>/results.json`,
//! `points/<id>-<slug>/<stage>/<file>` for published files (the slug names the point's
//! values, `crate::point_name`), a gather stage's published files directly
//! in `runs/<name>/`, `events.jsonl` (written by [`crate::events::JsonlLog`]) and
//! `.synface-published.json`, the list of what synface wrote there ([`published`]): a run
//! removes only its own stale files. Every file is written atomically. Also where a runs
//! directory may be ([`check_runs_dir`]).

pub mod published;
mod runs_dir;
pub(crate) mod temps;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cache::{parse_hex, Cache, CacheError, OutputEntry};
use crate::plan::Plan;
use crate::registry::Registry;
use crate::scheduler::Outcome;
use published::{Entry, Published};
pub use runs_dir::{check_runs_dir, outside_cwd, resolve, RunsDirError};

/// Errors writing or reading the run layout (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The I/O error is part of the message, not a `source`, so that a chain printed with
    /// `{:#}` names it once.
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error(transparent)]
    Cache(#[from] CacheError),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LayoutError + '_ {
    move |error| LayoutError::Io {
        path: path.to_path_buf(),
        error,
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
/// An existing file with the same contents is left alone. On any error the temporary file
/// is removed (a full disk leaves nothing behind).
pub fn write_file(dest: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
    write_file_with(dest, bytes, |tmp, bytes| fs::write(tmp, bytes))
}

/// [`write_file`] with the step that fills the temporary file given (tests inject failures).
fn write_file_with(
    dest: &Path,
    bytes: &[u8],
    fill: impl FnOnce(&Path, &[u8]) -> io::Result<()>,
) -> Result<(), LayoutError> {
    if fs::read(dest).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = temps::temp_for(dir, name);
    let written = fill(&tmp, bytes)
        .map_err(io_err(dest))
        .and_then(|()| fs::rename(&tmp, dest).map_err(io_err(dest)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

fn is_gather(reg: &Registry, kind: &str) -> bool {
    reg.get(kind)
        .is_some_and(|s| s.inputs().iter().any(|p| p.gather))
}

/// Write the layout of a finished (or partly finished) run; returns the run directory.
/// Files synface published before and no longer publishes are removed (see
/// [`published`]); anything else in the run directory is left alone.
pub fn write_layout(
    runs_dir: &Path,
    plan: &Plan,
    reg: &Registry,
    outcomes: &[Outcome],
    cache: &Cache,
) -> Result<PathBuf, LayoutError> {
    let dir = run_dir(runs_dir, &plan.name);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    temps::remove_dead(&dir);
    let old = Published::read(&dir);
    let copies = planned_copies(plan, reg, outcomes);
    let mut new = new_list(&dir, &old, &copies, plan, reg, outcomes);
    old.union(&new).write(&dir)?;
    for c in &copies {
        copy_output(&dir, c, cache)?;
    }
    published::prune(&dir, &old, &mut new)?;
    new.write(&dir)?;
    let rows = result_rows(plan, reg, outcomes);
    let json = serde_json::to_vec_pretty(&rows).expect("result rows always serialise");
    write_file(&dir.join(RESULTS), &json)?;
    Ok(dir)
}

const RESULTS: &str = "results.json";
const EVENTS: &str = "events.jsonl";

/// One published output of a completed instance and where it goes (relative paths).
struct Publication<'a> {
    stage: &'a str,
    output: &'a OutputEntry,
    /// `(relative destination, point)`; the point is none for a gather stage.
    dests: Vec<(String, Option<String>)>,
}

/// Every published output of the completed instances, with its destinations.
fn planned_copies<'a>(
    plan: &'a Plan,
    reg: &Registry,
    outcomes: &'a [Outcome],
) -> Vec<Publication<'a>> {
    let mut out = Vec::new();
    let folders: BTreeMap<&str, String> = plan
        .points
        .iter()
        .map(|p| (p.id.as_str(), p.dir_name()))
        .collect();
    for (inst, outcome) in plan.instances.iter().zip(outcomes) {
        let Some(m) = outcome.manifest() else {
            continue;
        };
        let gather = is_gather(reg, &inst.kind);
        for o in m.outputs.iter().filter(|o| o.published) {
            let file = safe_name(&o.name);
            let dests = if gather {
                vec![(file, None)]
            } else {
                inst.points
                    .iter()
                    .map(|p| {
                        let folder = folders.get(p.as_str()).cloned();
                        let folder = folder.unwrap_or_else(|| safe_name(p));
                        (point_file(&folder, &inst.stage, &file), Some(p.clone()))
                    })
                    .collect()
            };
            out.push(Publication {
                stage: &inst.stage,
                output: o,
                dests,
            });
        }
    }
    out
}

/// `points/<folder>/<stage>/<file>`, relative to the run directory; the folder is the
/// point's `<id>-<slug>` ([`crate::plan::Point::dir_name`], already file-system safe).
fn point_file(folder: &str, stage: &str, file: &str) -> String {
    format!("points/{folder}/{}/{file}", safe_name(stage))
}

/// The published list of this run: its copies, `results.json`, `events.jsonl`, and the old
/// entries of instances that did not complete this time (their files stay until they do).
fn new_list(
    dir: &Path,
    old: &Published,
    copies: &[Publication],
    plan: &Plan,
    reg: &Registry,
    outcomes: &[Outcome],
) -> Published {
    let mut new = Published {
        files: BTreeMap::new(),
        dirs: old.dirs.clone(),
    };
    for name in [RESULTS, EVENTS] {
        new.files.insert(name.into(), Entry::run_file());
    }
    for c in copies {
        for (rel, point) in &c.dests {
            new.note_missing_dirs(dir, rel);
            let entry = Entry {
                stage: Some(c.stage.to_string()),
                point: point.clone(),
                blake3: Some(c.output.digest.clone()),
            };
            new.files.insert(rel.clone(), entry);
        }
    }
    let unfinished = incomplete_instances(plan, reg, outcomes);
    for (rel, e) in &old.files {
        let owner = e.stage.clone().map(|s| (s, e.point.clone()));
        if owner.is_some_and(|o| unfinished.contains(&o)) {
            new.files.entry(rel.clone()).or_insert_with(|| e.clone());
        }
    }
    new
}

/// `(stage, point)` of every instance that did not complete (point none for gather stages).
fn incomplete_instances(
    plan: &Plan,
    reg: &Registry,
    outcomes: &[Outcome],
) -> BTreeSet<(String, Option<String>)> {
    let mut out = BTreeSet::new();
    for (inst, outcome) in plan.instances.iter().zip(outcomes) {
        if outcome.manifest().is_some() {
            continue;
        }
        if is_gather(reg, &inst.kind) {
            out.insert((inst.stage.clone(), None));
        } else {
            out.extend(
                inst.points
                    .iter()
                    .map(|p| (inst.stage.clone(), Some(p.clone()))),
            );
        }
    }
    out
}

/// Copy one cached output to its destinations that do not hold it already.
fn copy_output(dir: &Path, c: &Publication, cache: &Cache) -> Result<(), LayoutError> {
    let Some(d) = parse_hex(&c.output.digest) else {
        return Ok(());
    };
    let dests: Vec<PathBuf> = c
        .dests
        .iter()
        .map(|(rel, _)| dir.join(rel))
        .filter(|dest| !already_there(dest, &d, c.output.size))
        .collect();
    if dests.is_empty() {
        return Ok(());
    }
    let bytes = cache
        .load_output(c.output)?
        .ok_or_else(|| LayoutError::Format {
            path: cache.blobs().path(&d),
            message: format!(
                "cached output `{}` of `{}` is missing or corrupt",
                c.output.name, c.stage
            ),
        })?;
    for dest in dests {
        write_file(&dest, &bytes)?;
    }
    Ok(())
}

/// One row per sweep point: axis values, each completed stage's metrics, and the stages of
/// the point that did not complete.
fn result_rows(plan: &Plan, reg: &Registry, outcomes: &[Outcome]) -> Vec<ResultRow> {
    let mut rows: Vec<ResultRow> = plan.points.iter().map(empty_row).collect();
    let row_of: BTreeMap<&str, usize> = plan
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    for (inst, outcome) in plan.instances.iter().zip(outcomes) {
        if is_gather(reg, &inst.kind) {
            continue;
        }
        for r in inst.points.iter().filter_map(|p| row_of.get(p.as_str())) {
            match outcome.manifest() {
                Some(m) => {
                    let metrics = m.metrics.clone().unwrap_or(serde_json::Value::Null);
                    rows[*r].stages.insert(inst.stage.clone(), metrics);
                }
                None => rows[*r].incomplete.push(inst.stage.clone()),
            }
        }
    }
    rows
}

fn empty_row(p: &crate::plan::Point) -> ResultRow {
    ResultRow {
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
    }
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

    fn files_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn write_file_removes_its_temporary_when_writing_fails() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("metrics.json");
        let failing = |tmp: &Path, bytes: &[u8]| {
            fs::write(tmp, &bytes[..1])?;
            Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
        };
        let err = write_file_with(&dest, b"{}", failing).unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert!(
            files_in(dir.path()).is_empty(),
            "{:?}",
            files_in(dir.path())
        );
    }

    #[test]
    fn write_file_removes_its_temporary_when_the_rename_fails() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        fs::create_dir_all(dest.join("occupied")).unwrap();
        assert!(write_file(&dest, b"x").is_err());
        assert_eq!(files_in(dir.path()), ["out"]);
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
