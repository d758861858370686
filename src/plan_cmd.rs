//! `synface plan [--explain]`: one line per stage instance (stage, points, key prefix,
//! cached | pending, the points' values in words) and, with `--explain`, why each pending
//! instance must run.

use std::fmt::Write;

use synface_engine::cache::{hex, CacheRead};
use synface_engine::keys::KeyComponents;
use synface_engine::run::Keyer;
use synface_engine::scheduler::{preview, PreviewRow, PreviewStatus};
use synface_engine::Plan;

fn points(p: &[String]) -> String {
    match p {
        [] => "-".into(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} +{}", rest.len()),
    }
}

/// The values of the points an instance serves, in words: one point's `margin=arcface
/// seed=0`, or what several points share (`seed=0`; `all points` when nothing is shared).
fn values(plan: &Plan, ids: &[String]) -> String {
    let served: Vec<&synface_engine::Point> = ids.iter().filter_map(|p| plan.point(p)).collect();
    let shared = synface_engine::point_name::common_label(&served);
    match (served.len(), shared.is_empty()) {
        (0 | 1, _) | (_, false) => shared,
        (n, true) if n == plan.points.len() => "all points".into(),
        (n, true) => format!("{n} points"),
    }
}

/// Why `row` (pending) must run, against the last key used for its stage and first point.
fn why(
    plan: &Plan,
    cache: &dyn CacheRead,
    keyer: &Keyer,
    row: &PreviewRow,
) -> anyhow::Result<Vec<String>> {
    let (Some(key), Some(comps)) = (&row.key, &row.components) else {
        return Ok(vec![]);
    };
    let point = row.points.first().map(String::as_str).unwrap_or("");
    let Some(last) = cache.last_key(&plan.name, &row.stage, point)? else {
        return Ok(vec!["new: never run for this point".into()]);
    };
    if &last == key {
        return Ok(vec![
            "same key as the last run, but its output is no longer cached".into(),
        ]);
    }
    let Some(old) = cache.manifest(&last)? else {
        return Ok(vec![format!(
            "key changed (the last key {} is no longer cached)",
            &hex(&last)[..12]
        )]);
    };
    let old: KeyComponents = serde_json::from_value(old.components)?;
    let new: KeyComponents = serde_json::from_value(comps.clone())?;
    let lines = keyer.explain(&plan.instances[row.id], &old, &new);
    Ok(if lines.is_empty() {
        vec!["key changed".into()]
    } else {
        lines
    })
}

/// The text `synface plan` prints. `cache` is read only (`main` passes a lock-free
/// `CacheView`, so `plan` works while a run holds the cache).
pub fn render(plan: &Plan, cache: &dyn CacheRead, with_explain: bool) -> anyhow::Result<String> {
    let keyer = Keyer::new(cache.dir(), false);
    let rows = preview(plan, cache, &|i, d| keyer.key(i, d))?;
    let width = rows.iter().map(|r| r.stage.len()).max().unwrap_or(5).max(5);
    let mut out = String::new();
    let (mut cached, mut pending) = (0, 0);
    let statuses: Vec<String> = rows.iter().map(|r| status_words(&r.status)).collect();
    let status_width = statuses.iter().map(String::len).max().unwrap_or(7);
    for (row, status) in rows.iter().zip(&statuses) {
        let key = row
            .key
            .map(|k| hex(&k)[..12].to_string())
            .unwrap_or_else(|| "?".repeat(12));
        match &row.status {
            PreviewStatus::Cached => cached += 1,
            _ => pending += 1,
        }
        let line = format!(
            "{:<width$}  {:<20}  {key}  {status:<status_width$}  {}",
            row.stage,
            points(&row.points),
            values(plan, &row.points)
        );
        writeln!(out, "{}", line.trim_end())?;
        if with_explain && row.status == PreviewStatus::Pending {
            for line in why(plan, cache, &keyer, row)? {
                writeln!(out, "{:<width$}    - {line}", "")?;
            }
        }
    }
    writeln!(
        out,
        "{} instances: {cached} cached, {pending} pending",
        rows.len()
    )?;
    Ok(out)
}

fn status_words(s: &PreviewStatus) -> String {
    match s {
        PreviewStatus::Cached => "cached".to_string(),
        PreviewStatus::Pending => "pending".to_string(),
        PreviewStatus::Blocked { upstream } => format!("pending (after {upstream})"),
    }
}
