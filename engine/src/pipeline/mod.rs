//! Pipeline files -> validated, expanded [`Plan`]: parsing with positions (`tree`), `--set`
//! overrides (`overrides`), the file's structure (`model`), `${axis}` templates (`template`),
//! registry checks and the stage graph (`validate`), sweep expansion (`sweep`) and instance
//! building (`build`). Every problem found is reported at once as [`Diagnostics`].
//!
//! The file format is documented for users in `docs/pipelines.md`.

mod build;
mod model;
mod overrides;
mod sweep;
mod template;
mod tree;
mod validate;

use std::path::Path;

use crate::diag::{Diagnostics, SourceText};
use crate::plan::Plan;
use crate::registry::Registry;

pub use build::derive_seed;
pub use model::REPLICATE_AXIS;

/// Read `path` and plan it (see [`plan_from_str`]).
pub fn load_plan(path: &Path, overrides: &[String], reg: &Registry) -> Result<Plan, Diagnostics> {
    match std::fs::read_to_string(path) {
        Ok(src) => plan_from_str(&src, path, overrides, reg),
        Err(e) => {
            let s = SourceText::new(path, "");
            let mut d = Diagnostics::new(path);
            d.push(s.error(0..0, format!("cannot read pipeline file: {e}")));
            Err(d)
        }
    }
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
    let mut srcs = tree::Sources::new(SourceText::new(path, src), overrides);
    let plan = plan_inner(src, path, overrides, reg, &mut srcs);
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
    srcs: &mut tree::Sources,
) -> Option<Plan> {
    let mut root = tree::parse_document(src, srcs)?;
    overrides::apply(&mut root, overrides, srcs);
    let def = model::interpret(&root, srcs)?;
    let axes = sweep::axis_names(&def.sweep);
    let domains = domains(&def.sweep, &axes);
    let expanded = match sweep::expand(&def.sweep) {
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
