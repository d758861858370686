//! Pipeline files -> validated, expanded [`Plan`]: parsing with positions (`tree`), the files
//! a pipeline extends (`extends`), `--set` overrides (`overrides`), the file's structure (`model`), `${axis}` templates (`template`),
//! registry checks and the stage graph (`validate`), sweep expansion (`sweep`), per-stage
//! resource overrides (`resources`) and instance building (`build`). Every problem found is reported at once as [`Diagnostics`].
//!
//! The file format is documented for users in `docs/pipelines.md`.

mod build;
mod extends;
mod model;
mod overrides;
mod resources;
mod sweep;
mod template;
mod tree;
mod validate;

use std::path::Path;

use crate::diag::{Diagnostics, SourceText};
use crate::plan::{Plan, REPLICATE_AXIS};
use crate::registry::Registry;

pub use build::derive_seed;
pub use extends::{DiskSources, ShippedSources, SourceLoader};
pub use resources::is_slurm_time;

/// Read `path` and plan it (see [`plan_from_str`]). The file is read through
/// [`read_source`], so a huge or endless file fails at [`MAX_PIPELINE_BYTES`].
pub fn load_plan(path: &Path, overrides: &[String], reg: &Registry) -> Result<Plan, Diagnostics> {
    match read_source(path) {
        Ok(src) => plan_from_str(&src, path, overrides, reg),
        Err(e) => {
            let s = SourceText::new(path, "");
            let mut d = Diagnostics::new(path);
            d.push(s.error(0..0, e.to_string()).maybe_help(e.help()));
            Err(d)
        }
    }
}

/// The largest pipeline file read (16 MiB): pipeline files are small TOML texts, so anything
/// bigger is a wrong path (`/dev/zero`, a dataset) and is refused before it fills memory.
pub const MAX_PIPELINE_BYTES: u64 = 16 << 20;

/// Why a pipeline file could not be read (exit code 2: the path given is not a pipeline file).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read pipeline file: {0}")]
    Io(std::io::Error),
    #[error("pipeline file is larger than the {} MiB limit", MAX_PIPELINE_BYTES >> 20)]
    TooLarge,
    #[error("pipeline file is not UTF-8 text (invalid byte at offset {0})")]
    NotUtf8(usize),
}

impl ReadError {
    /// A suggestion to print with the error.
    pub fn help(&self) -> Option<String> {
        match self {
            ReadError::Io(_) => None,
            ReadError::TooLarge | ReadError::NotUtf8(_) => {
                Some("check the path: a pipeline file is a small TOML text file".into())
            }
        }
    }
}

/// Read a pipeline file as text, at most [`MAX_PIPELINE_BYTES`] (a bounded reader: an endless
/// file such as `/dev/zero` is cut off there, never read to the end).
pub fn read_source(path: &Path) -> Result<String, ReadError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::new();
    file.take(MAX_PIPELINE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_PIPELINE_BYTES {
        return Err(ReadError::TooLarge);
    }
    String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8(e.utf8_error().valid_up_to()))
}

/// Parse, validate and expand pipeline text. `path` is used in messages and kept in the plan.
/// `overrides` are `--set` arguments: `stage.param=value` (also `stages.stage.param=value`),
/// `pipeline.seed=N`, `sweep.axis=[..]`; values parse as TOML, else as strings.
pub fn plan_from_str(
    src: &str,
    path: &Path,
    overrides: &[String],
    reg: &Registry,
) -> Result<Plan, Diagnostics> {
    plan_with_sources(src, path, overrides, reg, &DiskSources)
}

/// [`plan_from_str`], reading the files the pipeline extends through `loader` (a Slurm
/// worker passes the texts its task file carries).
pub fn plan_with_sources(
    src: &str,
    path: &Path,
    overrides: &[String],
    reg: &Registry,
    loader: &dyn SourceLoader,
) -> Result<Plan, Diagnostics> {
    let mut srcs = tree::Sources::new(SourceText::new(path, src), overrides);
    let plan = plan_inner(src, path, overrides, reg, loader, &mut srcs);
    let mut diags = srcs.diags;
    diags.sort_dedup();
    match plan {
        Some(p) if !diags.has_errors() => Ok(p),
        _ => {
            if !diags.has_errors() {
                // Defensive: never fail without saying why.
                let s = SourceText::new(path, src);
                diags.push(s.error(0..0, "the pipeline could not be planned"));
            }
            Err(diags)
        }
    }
}

fn plan_inner(
    src: &str,
    path: &Path,
    overrides: &[String],
    reg: &Registry,
    loader: &dyn SourceLoader,
    srcs: &mut tree::Sources,
) -> Option<Plan> {
    let root = tree::parse_document(src, 0, srcs)?;
    let mut bases = Vec::new();
    let mut root = extends::resolve(root, path, loader, srcs, &mut bases)?;
    overrides::apply(&mut root, overrides, srcs);
    let def = model::interpret(&root, srcs)?;
    let axes = sweep::axis_names(&def.sweep);
    let domains = domains(&def.sweep, &axes);
    let expanded = match sweep::expand(&def.sweep) {
        // With errors already reported (arms that failed to parse), an empty sweep is their
        // consequence, not a second problem.
        Ok(s) if s.points.is_empty() && srcs.diags.has_errors() => None,
        Ok(s) if s.points.is_empty() => {
            let loc = def
                .sweep
                .axes
                .first()
                .map(|a| a.loc.clone())
                .unwrap_or(tree::Loc::file(0..0));
            let d = srcs.at(&loc, "the sweep has no points: `exclude` removes every one");
            srcs.push(d.help("remove an exclusion or add axis values"));
            None
        }
        Ok(s) => Some(s),
        Err(msg) => {
            let loc = def
                .sweep
                .axes
                .first()
                .map(|a| a.loc.clone())
                .unwrap_or(tree::Loc::file(0..0));
            srcs.error(&loc, msg);
            None
        }
    };
    let bound = validate::bind_stages(&def, &axes, &domains, reg, srcs);
    // A reference to a declared-but-invalid axis is a consequence, not a second problem.
    let echoes: Vec<String> = def
        .sweep
        .broken
        .iter()
        .map(|a| format!("unknown sweep axis `${{{a}}}`"))
        .collect();
    srcs.diags.items.retain(|d| !echoes.contains(&d.message));
    let order = validate::order(&def, &bound, srcs);
    if srcs.diags.has_errors() {
        return None;
    }
    let (sweep, order) = (expanded?, order?);
    let bound: Vec<validate::Bound> = bound.into_iter().collect::<Option<_>>()?;
    let instances = build::build(&bound, &order, &sweep, def.seed, srcs);
    Some(Plan {
        name: def.name,
        seed: def.seed,
        source: path.to_path_buf(),
        bases,
        points: sweep.points,
        instances,
    })
}

/// Every value each axis can take (product values, then arm values; the replicate axis 0..N).
fn domains(def: &model::SweepDef, axes: &[String]) -> Vec<Vec<toml::Value>> {
    axes.iter()
        .map(|name| {
            if name == REPLICATE_AXIS {
                let n = def.seeds.unwrap_or(1).min(i64::MAX as u64) as i64;
                return (0..n).map(toml::Value::Integer).collect();
            }
            let Some(i) = def.axes.iter().position(|a| &a.name == name) else {
                return Vec::new();
            };
            let mut vals: Vec<toml::Value> =
                def.axes[i].values.iter().map(|(v, _)| v.clone()).collect();
            for arm in &def.arms {
                if let Some(v) = arm.values.get(i) {
                    if !vals.contains(v) {
                        vals.push(v.clone());
                    }
                }
            }
            vals
        })
        .collect()
}

#[cfg(test)]
mod tests;
