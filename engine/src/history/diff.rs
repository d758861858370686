//! Comparing two history entries, like `dvc exp diff`: the parameters whose values differ
//! (per `stage.param`, over all instances), the sweep points added or removed, and every
//! metric of the points both runs have, side by side with its change.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::entry::RunEntry;
use super::headline::numeric_metrics;

/// A parameter whose values differ between two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamChange {
    /// `stage.param`, `stage (version)` or `pipeline.seed`.
    pub name: String,
    /// Distinct values in each run, joined with `, ` (`-` when absent).
    pub old: String,
    pub new: String,
}

/// One metric of one point in two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricDelta {
    pub point: String,
    pub metric: String,
    pub old: Option<f64>,
    pub new: Option<f64>,
}

impl MetricDelta {
    /// `new - old` when both exist.
    pub fn change(&self) -> Option<f64> {
        Some(self.new? - self.old?)
    }
}

/// Two runs compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub old: u64,
    pub new: u64,
    pub same_plan: bool,
    pub params: Vec<ParamChange>,
    pub points_added: Vec<String>,
    pub points_removed: Vec<String>,
    /// Metrics that differ (or exist in one run only), per shared point.
    pub metrics: Vec<MetricDelta>,
    /// Metrics equal in both runs.
    pub unchanged_metrics: usize,
}

/// Distinct displayed values of every `stage.param` (and stage versions, the seed).
fn param_values(e: &RunEntry) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    out.entry("pipeline.seed".into())
        .or_default()
        .insert(e.seed.to_string());
    for i in &e.instances {
        out.entry(format!("{} (version)", i.stage))
            .or_default()
            .insert(i.version.to_string());
        for (k, v) in &i.params {
            out.entry(format!("{}.{k}", i.stage))
                .or_default()
                .insert(v.to_string());
        }
    }
    out
}

fn joined(s: Option<&BTreeSet<String>>) -> String {
    match s {
        Some(s) => s.iter().cloned().collect::<Vec<_>>().join(", "),
        None => "-".into(),
    }
}

/// The parameters whose values differ between `old` and `new`.
pub fn param_changes(old: &RunEntry, new: &RunEntry) -> Vec<ParamChange> {
    let (a, b) = (param_values(old), param_values(new));
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    names
        .into_iter()
        .filter(|n| a.get(*n) != b.get(*n))
        .map(|n| ParamChange {
            name: n.clone(),
            old: joined(a.get(n)),
            new: joined(b.get(n)),
        })
        .collect()
}

impl Comparison {
    /// Compare `old` with `new`.
    pub fn of(old: &RunEntry, new: &RunEntry) -> Comparison {
        let ids =
            |e: &RunEntry| -> BTreeSet<String> { e.points.iter().map(|p| p.id.clone()).collect() };
        let (pa, pb) = (ids(old), ids(new));
        let (metrics, unchanged_metrics) = metric_deltas(old, new, &pa, &pb);
        Comparison {
            old: old.id,
            new: new.id,
            same_plan: old.pipeline_digest == new.pipeline_digest,
            params: param_changes(old, new),
            points_added: pb.difference(&pa).cloned().collect(),
            points_removed: pa.difference(&pb).cloned().collect(),
            metrics,
            unchanged_metrics,
        }
    }
}

fn metric_deltas(
    old: &RunEntry,
    new: &RunEntry,
    pa: &BTreeSet<String>,
    pb: &BTreeSet<String>,
) -> (Vec<MetricDelta>, usize) {
    let flat = |e: &RunEntry, p: &str| {
        e.results
            .iter()
            .find(|r| r.point == p)
            .map(numeric_metrics)
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    let mut same = 0;
    // Points in the new run's order.
    for p in new.points.iter().map(|p| &p.id).filter(|p| pa.contains(*p)) {
        debug_assert!(pb.contains(p));
        let (a, b) = (flat(old, p), flat(new, p));
        let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for m in names {
            let (x, y) = (a.get(m).copied(), b.get(m).copied());
            if x == y {
                same += 1;
                continue;
            }
            out.push(MetricDelta {
                point: p.clone(),
                metric: m.clone(),
                old: x,
                new: y,
            });
        }
    }
    (out, same)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::entry::{InstanceEntry, PointEntry};
    use crate::run_folder::ResultRow;

    fn entry(id: u64, lr: f64, acc: f64, points: &[&str]) -> RunEntry {
        let mut e: RunEntry = serde_json::from_value(serde_json::json!({
            "format": "synface-run", "version": 1, "id": id, "pipeline": "p",
            "source": "p.toml", "overrides": [], "finished_unix_ms": 0,
            "synface": {"version": "0", "commit": null}, "pipeline_digest": format!("{lr}"),
            "seed": 1,
            "outcome": {"exit_code": 0, "ran": 0, "cached": 0, "failed": 0, "skipped": 0,
                        "cancelled": 0, "secs": 0.0},
            "points": [], "instances": [], "results": [], "headline": null
        }))
        .unwrap();
        for p in points {
            e.points.push(PointEntry {
                id: p.to_string(),
                arm: None,
                values: BTreeMap::new(),
            });
            e.results.push(ResultRow {
                point: p.to_string(),
                arm: None,
                values: BTreeMap::new(),
                stages: [(
                    "verify".to_string(),
                    serde_json::json!({"accuracy": {"mean": acc}, "auc": 0.5}),
                )]
                .into(),
                incomplete: vec![],
            });
        }
        e.instances.push(InstanceEntry {
            stage: "train".into(),
            kind: "train".into(),
            version: 2,
            seed: 0,
            points: points.iter().map(|p| p.to_string()).collect(),
            params: [("lr".to_string(), serde_json::json!(lr))].into(),
            key: None,
            status: "ran".into(),
        });
        e
    }

    #[test]
    fn comparison_lists_changed_params_points_and_metric_deltas() {
        let a = entry(1, 0.1, 0.8, &["x", "y"]);
        let b = entry(2, 0.2, 0.9, &["x", "z"]);
        let c = Comparison::of(&a, &b);
        assert!(!c.same_plan);
        assert_eq!(
            c.params,
            [ParamChange {
                name: "train.lr".into(),
                old: "0.1".into(),
                new: "0.2".into()
            }]
        );
        assert_eq!(
            (c.points_added, c.points_removed),
            (vec!["z".into()], vec!["y".into()])
        );
        assert_eq!(c.metrics.len(), 1, "{:?}", c.metrics);
        assert_eq!(c.metrics[0].metric, "verify.accuracy.mean");
        assert!((c.metrics[0].change().unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(c.unchanged_metrics, 1, "auc is equal");
        assert!(param_changes(&a, &a).is_empty());
    }
}
