//! The headline of a run: one metric, averaged over the sweep points that report it, with the
//! best point. Which metric is the caller's choice (a preference list of names); the engine
//! knows no metric by name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::run_folder::ResultRow;

/// A run summarised by one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    /// `stage.path.to.metric`, e.g. `verify.accuracy.mean`.
    pub metric: String,
    /// Mean over the points reporting it.
    pub mean: f64,
    /// The largest value, and the point holding it.
    pub best: f64,
    pub best_point: String,
    /// Points reporting the metric.
    pub points: usize,
}

/// Every numeric metric of a result row, flattened to `stage.path` (objects joined with
/// dots; arrays, strings and nulls left out).
pub fn numeric_metrics(row: &ResultRow) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (stage, m) in &row.stages {
        flatten(stage, m, &mut out);
    }
    out
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, f64>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64() {
                out.insert(prefix.to_string(), f);
            }
        }
        _ => {}
    }
}

impl Headline {
    /// The first name of `preference` that some row reports (as `<stage>.<name>`; the first
    /// such path in name order wins), summarised over the rows; none when no row has one.
    pub fn of(rows: &[ResultRow], preference: &[String]) -> Option<Headline> {
        let flat: Vec<(&str, BTreeMap<String, f64>)> = rows
            .iter()
            .map(|r| (r.point.as_str(), numeric_metrics(r)))
            .collect();
        let metric = preference.iter().find_map(|name| {
            let suffix = format!(".{name}");
            flat.iter()
                .flat_map(|(_, m)| m.keys())
                .filter(|k| k.ends_with(&suffix))
                .min()
                .cloned()
        })?;
        let values: Vec<(&str, f64)> = flat
            .iter()
            .filter_map(|(p, m)| m.get(&metric).map(|v| (*p, *v)))
            .collect();
        let (best_point, best) = values.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))?;
        Some(Headline {
            mean: values.iter().map(|v| v.1).sum::<f64>() / values.len() as f64,
            best,
            best_point: best_point.to_string(),
            points: values.len(),
            metric,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(point: &str, stages: serde_json::Value) -> ResultRow {
        ResultRow {
            point: point.into(),
            arm: None,
            values: BTreeMap::new(),
            stages: serde_json::from_value(stages).unwrap(),
            incomplete: vec![],
        }
    }

    #[test]
    fn headline_averages_the_preferred_metric_and_names_the_best_point() {
        let rows = [
            row(
                "a",
                serde_json::json!({"verify": {"accuracy": {"mean": 0.8}}, "train": {"loss": 1.0}}),
            ),
            row(
                "b",
                serde_json::json!({"verify": {"accuracy": {"mean": 0.9}}}),
            ),
            row("c", serde_json::json!({"verify": null})),
        ];
        let pref = ["auc".to_string(), "accuracy.mean".to_string()];
        let h = Headline::of(&rows, &pref).unwrap();
        assert_eq!(h.metric, "verify.accuracy.mean");
        assert!((h.mean - 0.85).abs() < 1e-12);
        assert_eq!((h.best, h.best_point.as_str(), h.points), (0.9, "b", 2));
        assert!(Headline::of(&rows, &["nope".to_string()]).is_none());
    }
}
