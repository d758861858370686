//! Contrasts along one sweep axis (the `report` stage's `contrast` parameter): each level of the
//! axis against its reference level (the first in sweep order) within every combination of the
//! other axes, where "against the best group" would compare across conditions that should not
//! be compared. Axes that move with the contrast axis (zipped with it, or set together by arms)
//! are carried with it instead of splitting the runs. Each difference gets Welch's t-test over
//! the replicates and, when replicates can be matched by their seed (in synface's pipelines
//! the arms of one replicate share their people), the paired t-test ([`super::stats`]). The
//! contrasts are made for each metric the report is asked for (`contrast_metrics`): accuracy,
//! AUC, EER.

use super::stats::{paired, Welch};
use super::table::{label_of, Group, Stat};
use super::{Metrics, PointValues, RunResult, REPLICATE_AXES};

synface_engine::param_enum! {
    /// A verification metric the contrasts compare.
    pub enum Metric {
        /// mean accuracy of the 10-fold protocol
        Accuracy = "accuracy",
        /// area under the ROC curve
        Auc = "auc",
        /// equal error rate
        Eer = "eer",
    }
}

impl Metric {
    /// This metric of one run, when the run reported it.
    pub fn of(self, m: &Metrics) -> Option<f64> {
        match self {
            Metric::Accuracy => Some(m.accuracy),
            Metric::Auc => m.auc,
            Metric::Eer => m.eer,
        }
    }

    /// How the metric is named in a report's headings and columns.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::Auc => "AUC",
            Metric::Eer => "EER",
        }
    }

    /// This metric over a group's replicates that reported it (`None`: none did).
    pub fn stat(self, g: &Group) -> Option<&Stat> {
        match self {
            Metric::Accuracy => Some(&g.accuracy),
            Metric::Auc => g.auc.as_ref(),
            Metric::Eer => g.eer.as_ref(),
        }
    }
}

/// One level against the reference, within one stratum.
#[derive(Debug, Clone, PartialEq)]
pub struct ContrastRow {
    /// The other axes' values (`all` when there are none).
    pub stratum: String,
    /// The level's group label and the reference's (the contrast axis with what moves with it).
    pub level: String,
    pub reference: String,
    /// The metric's mean over each group's replicates that reported it (`None`: none did).
    pub mean: Option<f64>,
    pub reference_mean: Option<f64>,
    pub n: usize,
    pub reference_n: usize,
    pub welch: Option<Welch>,
    /// The paired test and its number of matched replicates.
    pub paired: Option<(usize, Welch)>,
}

/// Every contrast along `axis` of one metric, strata and levels in sweep order.
#[derive(Debug, Clone, PartialEq)]
pub struct Contrasts {
    pub axis: String,
    pub metric: Metric,
    /// Axes carried with the contrast axis (functions of it over these runs).
    pub tied: Vec<String>,
    pub rows: Vec<ContrastRow>,
}

/// The contrasts of `metric` along `axis`, or why there are none to make.
pub fn contrasts(
    axis: &str,
    metric: Metric,
    groups: &[Group],
    runs: &[RunResult],
) -> Result<Contrasts, String> {
    let axes: Vec<&String> = groups
        .first()
        .map(|g| g.key.keys().collect())
        .unwrap_or_default();
    if !axes.iter().any(|a| *a == axis) {
        let names: Vec<&str> = axes.iter().map(|a| a.as_str()).collect();
        return Err(format!(
            "`{axis}` is not a sweep axis of the gathered runs (non-replicate axes: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ));
    }
    let tied: Vec<String> = axes
        .iter()
        .filter(|b| b.as_str() != axis && is_function_of(groups, axis, b))
        .map(|b| b.to_string())
        .collect();
    let first_run = |g: &Group| g.runs.iter().copied().min().unwrap_or(usize::MAX);
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&i| first_run(&groups[i]));
    let stratum_of = |g: &Group| -> PointValues {
        let mut k = g.key.clone();
        k.remove(axis);
        tied.iter().for_each(|t| {
            k.remove(t);
        });
        k
    };
    let mut strata: Vec<PointValues> = Vec::new();
    for &i in &order {
        let s = stratum_of(&groups[i]);
        if !strata.contains(&s) {
            strata.push(s);
        }
    }
    let mut rows = Vec::new();
    for s in &strata {
        let members: Vec<&Group> = order
            .iter()
            .map(|&i| &groups[i])
            .filter(|g| stratum_of(g) == *s)
            .collect();
        let (reference, levels) = members.split_first().expect("a stratum has a group");
        for g in levels {
            let labels = (
                level_label(g, axis, &tied),
                level_label(reference, axis, &tied),
            );
            rows.push(row(label_of(s), labels, (g, reference), metric, runs));
        }
    }
    Ok(Contrasts {
        axis: axis.to_string(),
        metric,
        tied,
        rows,
    })
}

/// Whether, over `groups`, the value of axis `b` is determined by the value of `a`.
fn is_function_of(groups: &[Group], a: &str, b: &str) -> bool {
    groups.iter().all(|g| {
        groups
            .iter()
            .filter(|h| h.key.get(a) == g.key.get(a))
            .all(|h| h.key.get(b) == g.key.get(b))
    })
}

/// The contrast axis and what is tied to it, as a label.
fn level_label(g: &Group, axis: &str, tied: &[String]) -> String {
    let k: PointValues = g
        .key
        .iter()
        .filter(|(k, _)| k.as_str() == axis || tied.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    label_of(&k)
}

/// `level` against `reference` on `metric`; `labels` are theirs in the same order.
fn row(
    stratum: String,
    labels: (String, String),
    (level, reference): (&Group, &Group),
    metric: Metric,
    runs: &[RunResult],
) -> ContrastRow {
    let values = |g: &Group| -> Option<Vec<f64>> {
        g.runs
            .iter()
            .map(|&i| metric.of(&runs[i].metrics))
            .collect()
    };
    let welch = match (values(level), values(reference)) {
        (Some(a), Some(b)) => Welch::test(&a, &b),
        _ => None,
    };
    ContrastRow {
        stratum,
        level: labels.0,
        reference: labels.1,
        mean: metric.stat(level).map(|s| s.mean),
        reference_mean: metric.stat(reference).map(|s| s.mean),
        n: level.runs.len(),
        reference_n: reference.runs.len(),
        welch,
        paired: matched(level, reference, metric, runs),
    }
}

/// The paired test over replicates present in both groups (matched by their replicate axis
/// values) that both reported `metric`, when at least two match.
fn matched(
    g: &Group,
    reference: &Group,
    metric: Metric,
    runs: &[RunResult],
) -> Option<(usize, Welch)> {
    let replicate = |i: usize| -> Vec<(String, toml::Value)> {
        let p = &runs[i].point;
        REPLICATE_AXES
            .iter()
            .filter_map(|a| p.get(*a).map(|v| (a.to_string(), v.clone())))
            .collect()
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for &i in &g.runs {
        let r = replicate(i);
        if r.is_empty() {
            return None;
        }
        let Some(&j) = reference.runs.iter().find(|&&j| replicate(j) == r) else {
            continue;
        };
        if let (Some(x), Some(y)) = (metric.of(&runs[i].metrics), metric.of(&runs[j].metrics)) {
            a.push(x);
            b.push(y);
        }
    }
    paired(&a, &b).map(|w| (a.len(), w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::table::group_runs;
    use crate::report::Metrics;

    fn run(vals: &[(&str, toml::Value)], acc: f64) -> RunResult {
        RunResult {
            point: vals
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            metrics: Metrics {
                accuracy: acc,
                ..Metrics::default()
            },
            ..RunResult::default()
        }
    }

    fn s(x: &str) -> toml::Value {
        toml::Value::String(x.into())
    }

    /// mixup (zipped with prob) x test, 3 seeds; mixup costs 0.02 in "a", 0.05 in "b".
    fn shift_runs() -> Vec<RunResult> {
        let mut runs = Vec::new();
        for (m, prob) in [("none", 0.5), ("identity", 1.0)] {
            for (t, cost) in [("a", 0.02), ("b", 0.05)] {
                for seed in 0..3i64 {
                    let base = if t == "a" { 0.97 } else { 0.92 } + 0.01 * seed as f64;
                    let acc = if m == "none" {
                        base
                    } else {
                        base - cost - 0.001 * (seed * seed) as f64
                    };
                    let vals = [
                        ("mixup", s(m)),
                        ("prob", toml::Value::Float(prob)),
                        ("test", s(t)),
                        ("seed", toml::Value::Integer(seed)),
                    ];
                    runs.push(run(&vals, acc));
                }
            }
        }
        runs
    }

    #[test]
    fn levels_are_compared_within_each_stratum_with_zipped_axes_carried() {
        let runs = shift_runs();
        let groups = group_runs(&runs);
        let c = contrasts("mixup", Metric::Accuracy, &groups, &runs).unwrap();
        assert_eq!(c.tied, vec!["prob".to_string()]);
        assert_eq!(c.rows.len(), 2, "{c:?}");
        let r = &c.rows[0];
        assert_eq!(r.stratum, "test=a");
        assert_eq!(
            r.reference, "mixup=none, prob=0.5",
            "the first level in sweep order"
        );
        assert_eq!(r.level, "mixup=identity, prob=1");
        let (n, p) = r.paired.unwrap();
        assert_eq!(n, 3);
        // differences -0.020, -0.021, -0.024 by seed: mean -0.021667
        assert!((p.diff + 0.021_667).abs() < 1e-6, "{p:?}");
        assert!(p.p < 0.01, "paired over matched seeds: {p:?}");
        assert!(
            r.welch.unwrap().p > p.p,
            "the seed-to-seed spread hides it from Welch"
        );
        assert_eq!(c.rows[1].stratum, "test=b");
        assert!((c.rows[1].paired.unwrap().1.diff + 0.051_667).abs() < 1e-6);
    }

    #[test]
    fn auc_is_paired_over_the_replicates_that_reported_it() {
        let mut runs = shift_runs();
        for r in runs.iter_mut() {
            r.metrics.auc = Some(r.metrics.accuracy / 2.0);
        }
        // seed 2 of the mixup arm in test "a" lost its AUC: two pairs remain there
        let lost = runs
            .iter()
            .position(|r| r.point["mixup"] == s("identity") && r.point["test"] == s("a"))
            .unwrap()
            + 2;
        runs[lost].metrics.auc = None;
        let c = contrasts("mixup", Metric::Auc, &group_runs(&runs), &runs).unwrap();
        assert_eq!(c.metric, Metric::Auc);
        let (n, p) = c.rows[0].paired.unwrap();
        assert_eq!(n, 2);
        // accuracy differences -0.020, -0.021 for seeds 0 and 1, halved
        assert!((p.diff + 0.010_25).abs() < 1e-9, "{p:?}");
        assert!(
            c.rows[0].welch.is_none(),
            "Welch needs every replicate's value"
        );
        assert_eq!(c.rows[1].paired.unwrap().0, 3);
        let eer = contrasts("mixup", Metric::Eer, &group_runs(&runs), &runs).unwrap();
        assert!(eer
            .rows
            .iter()
            .all(|r| r.mean.is_none() && r.paired.is_none()));
    }

    #[test]
    fn an_unknown_axis_is_named_with_the_axes_there_are() {
        let runs = shift_runs();
        let e = contrasts("mixp", Metric::Accuracy, &group_runs(&runs), &runs).unwrap_err();
        assert!(
            e.contains("`mixp` is not a sweep axis") && e.contains("mixup, prob, test"),
            "{e}"
        );
    }

    #[test]
    fn unmatched_replicates_give_no_paired_test() {
        let mut runs = shift_runs();
        for r in runs
            .iter_mut()
            .filter(|r| r.point["mixup"] == s("identity"))
        {
            let seed = r.point["seed"].as_integer().unwrap();
            r.point
                .insert("seed".into(), toml::Value::Integer(seed + 10));
        }
        let c = contrasts("mixup", Metric::Accuracy, &group_runs(&runs), &runs).unwrap();
        assert!(c
            .rows
            .iter()
            .all(|r| r.paired.is_none() && r.welch.is_some()));
    }
}
