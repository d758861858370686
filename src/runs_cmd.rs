//! Run history at the command line: recording an entry after each `synface run`, and
//! `synface runs` (the list), `synface show --run ID` (one entry's results), `synface diff`
//! (two entries side by side) and `synface export FILE --format mlflow` (entries into an
//! MLflow store). The entries themselves are `synface_engine::history`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use synface_engine::history::{self, Comparison, HistoryError, RunEntry, RunFacts};
use synface_engine::run::RunSummary;
use synface_engine::run_folder::{self, ResultRow};
use synface_engine::Plan;

use crate::show::{aligned, csv_lines};
use crate::{Failure, Format};

/// Metrics a run is headlined by, in preference order (suffixes of `stage.metric`).
const HEADLINE: [&str; 3] = ["accuracy.mean", "auc", "best_accuracy"];

fn history_failure(e: HistoryError) -> Failure {
    match e {
        HistoryError::NoSuchRun { .. } => Failure::Usage(format!("error: {e}")),
        other => Failure::Io(other.into()),
    }
}

/// Record the finished run in `runs/<name>/history/`; prints where. A failure to record is
/// a warning: the run itself is done.
pub fn record(plan: &Plan, summary: &RunSummary, file: &Path, set: &[String]) {
    let rows = run_folder::read_results(&summary.run_dir).unwrap_or_default();
    let facts = RunFacts {
        source: file.display().to_string(),
        overrides: set.to_vec(),
        producer: history::Producer {
            version: synface_stages::provenance::VERSION.into(),
            commit: synface_stages::provenance::commit().map(str::to_string),
        },
        exit_code: summary.exit_code(),
        headline: HEADLINE.iter().map(|s| s.to_string()).collect(),
    };
    let mut entry = RunEntry::new(plan, &summary.report, rows, facts);
    match history::record(&summary.run_dir, &mut entry) {
        Ok(id) => println!(
            "history: run {id} (`synface runs {}` lists them)",
            file.display()
        ),
        Err(e) => eprintln!("warning: could not record the run in its history: {e}"),
    }
}

/// The run directory of the pipeline `file` under `runs`.
fn run_dir(file: &Path, runs: &Path) -> Result<PathBuf, Failure> {
    crate::check_runs(runs)?;
    let name = crate::show_pipeline_name(file)?;
    Ok(run_folder::run_dir(runs, &name))
}

/// Every entry, oldest first; unreadable files are warned about. None at all is exit 3.
fn entries(file: &Path, runs: &Path) -> Result<Vec<RunEntry>, Failure> {
    let dir = run_dir(file, runs)?;
    let listing = history::list(&dir).map_err(history_failure)?;
    for u in &listing.unreadable {
        eprintln!("warning: skipping {u}");
    }
    if listing.entries.is_empty() {
        return Err(Failure::Io(anyhow::anyhow!(
            "no recorded runs in {}: run `synface run {}` first",
            history::store::history_dir(&dir).display(),
            file.display()
        )));
    }
    Ok(listing.entries)
}

/// `synface runs FILE`: one line per recorded run.
pub fn cmd_runs(file: &Path, runs: &Path, format: Format) -> Result<(), Failure> {
    let list = entries(file, runs)?;
    if let Format::Json = format {
        let json = serde_json::to_string_pretty(&list).context("serialising the history")?;
        println!("{json}");
        return Ok(());
    }
    let header: Vec<String> = [
        "run",
        "finished (UTC)",
        "exit",
        "ran",
        "cached",
        "changed",
        "headline",
    ]
    .map(String::from)
    .to_vec();
    let body: Vec<Vec<String>> = list
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let prev = i.checked_sub(1).map(|j| &list[j]);
            vec![
                e.id.to_string(),
                history::utc(e.finished_unix_ms),
                e.outcome.exit_code.to_string(),
                e.outcome.ran.to_string(),
                e.outcome.cached.to_string(),
                changed(prev, e),
                headline(e, prev),
            ]
        })
        .collect();
    print!("{}", render(format, &header, &body));
    Ok(())
}

fn render(format: Format, header: &[String], body: &[Vec<String>]) -> String {
    match format {
        Format::Csv => csv_lines(header, body),
        _ => aligned(header, body),
    }
}

/// What changed since the previous entry, in a few words.
fn changed(prev: Option<&RunEntry>, e: &RunEntry) -> String {
    let Some(prev) = prev else {
        return "first recorded run".into();
    };
    if prev.pipeline_digest == e.pipeline_digest {
        return "same plan".into();
    }
    let c = Comparison::of(prev, e);
    let mut parts: Vec<String> = c
        .params
        .iter()
        .take(2)
        .map(|p| format!("{} {} -> {}", p.name, p.old, p.new))
        .collect();
    if c.params.len() > 2 {
        parts.push(format!("{} more params", c.params.len() - 2));
    }
    if !c.points_added.is_empty() || !c.points_removed.is_empty() {
        parts.push(format!(
            "points +{} -{}",
            c.points_added.len(),
            c.points_removed.len()
        ));
    }
    parts.join("; ")
}

/// `verify.accuracy.mean 0.8123 (+0.0100) best 0.8400 at mixup=none seed=1`.
fn headline(e: &RunEntry, prev: Option<&RunEntry>) -> String {
    let Some(h) = &e.headline else {
        return "-".into();
    };
    let delta = prev
        .and_then(|p| p.headline.as_ref())
        .filter(|p| p.metric == h.metric)
        .map(|p| format!(" ({:+.4})", h.mean - p.mean))
        .unwrap_or_default();
    format!(
        "{} {:.4}{delta} best {:.4} at {}",
        h.metric,
        h.mean,
        h.best,
        point_label(e, &h.best_point)
    )
}

/// A point's axis values as `k=v` words (its id when it has none).
fn point_label(e: &RunEntry, id: &str) -> String {
    let Some(p) = e.point(id).filter(|p| !p.values.is_empty()) else {
        return id.to_string();
    };
    p.values
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn read_one(file: &Path, runs: &Path, id: u64) -> Result<RunEntry, Failure> {
    let dir = run_dir(file, runs)?;
    history::read(&dir, id).map_err(history_failure)
}

/// `synface show FILE --run ID`: the results rows recorded with that run.
pub fn results_of(file: &Path, runs: &Path, id: u64) -> Result<Vec<ResultRow>, Failure> {
    Ok(read_one(file, runs, id)?.results)
}

/// `synface diff FILE [A [B]]`: run A against run B (default: the last two).
pub fn cmd_diff(file: &Path, runs: &Path, ids: &[u64], format: Format) -> Result<(), Failure> {
    let (old, new) = match ids {
        [a, b] => (read_one(file, runs, *a)?, read_one(file, runs, *b)?),
        [a] => {
            let last = entries(file, runs)?.pop().expect("entries are never empty");
            (read_one(file, runs, *a)?, last)
        }
        _ => {
            let mut list = entries(file, runs)?;
            if list.len() < 2 {
                return Err(Failure::Usage(
                    "diff: only one run is recorded; name two runs, or run again".into(),
                ));
            }
            let new = list.pop().expect("two entries");
            (list.pop().expect("two entries"), new)
        }
    };
    let c = Comparison::of(&old, &new);
    let out = match format {
        Format::Json => serde_json::to_string_pretty(&c).context("serialising the diff")? + "\n",
        _ => diff_text(&c, &new, format),
    };
    print!("{out}");
    Ok(())
}

fn number(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into())
}

fn diff_text(c: &Comparison, new: &RunEntry, format: Format) -> String {
    let (a, b) = (format!("run {}", c.old), format!("run {}", c.new));
    let mut out = String::new();
    if c.same_plan {
        out.push_str("same plan (equal pipeline digests)\n");
    }
    let header = vec!["param".to_string(), a.clone(), b.clone()];
    let body: Vec<Vec<String>> = c
        .params
        .iter()
        .map(|p| vec![p.name.clone(), p.old.clone(), p.new.clone()])
        .collect();
    if !body.is_empty() {
        out.push_str(&render(format, &header, &body));
        out.push('\n');
    }
    for (what, pts) in [("added", &c.points_added), ("removed", &c.points_removed)] {
        if !pts.is_empty() {
            out.push_str(&format!("points {what}: {}\n", pts.join(", ")));
        }
    }
    let header = ["point", "metric", &a, &b, "change"]
        .map(String::from)
        .to_vec();
    let body: Vec<Vec<String>> = c
        .metrics
        .iter()
        .map(|m| {
            let change = m.change().map(|d| format!("{d:+.4}")).unwrap_or_default();
            vec![
                point_label(new, &m.point),
                m.metric.clone(),
                number(m.old),
                number(m.new),
                change,
            ]
        })
        .collect();
    if !body.is_empty() {
        out.push_str(&render(format, &header, &body));
    }
    out.push_str(&format!(
        "{} metrics changed, {} unchanged\n",
        c.metrics.len(),
        c.unchanged_metrics
    ));
    out
}

/// `synface export FILE --format mlflow -o DIR [--run ID]`.
pub fn export_mlflow(
    file: &Path,
    runs: &Path,
    only: Option<u64>,
    out: &Path,
) -> Result<(), Failure> {
    let mut list = entries(file, runs)?;
    if let Some(id) = only {
        list = vec![read_one(file, runs, id)?];
    }
    let pipeline = list[0].pipeline.clone();
    let done = history::mlflow::export(out, &pipeline, &list)
        .map_err(|e| Failure::Io(anyhow::anyhow!("export to {}: {e}", out.display())))?;
    println!(
        "{pipeline}: {} runs ({} sweep-point runs) -> {} (experiment {}); view with \
         `MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri {}`",
        done.runs,
        done.point_runs,
        out.display(),
        done.experiment_id,
        out.display()
    );
    Ok(())
}
