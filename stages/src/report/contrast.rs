//! Contrasts along one sweep axis (the `report` stage's `contrast` parameter): each level of the
//! axis against its reference level (the first in sweep order) within every combination of the
//! other axes, where "against the best group" would compare across conditions that should not
//! be compared. Axes that move with the contrast axis (zipped with it, or set together by arms)
//! are carried with it instead of splitting the runs. Each difference gets Welch's t-test over
//! the replicates and, when replicates can be matched by their seed (in synface's pipelines
//! the arms of one replicate share their people), the paired t-test ([`super::stats`]).

use super::stats::{paired, Welch};
use super::table::{label_of, Group};
use super::{PointValues, RunResult, REPLICATE_AXES};

/// One level against the reference, within one stratum.
#[derive(Debug, Clone, PartialEq)]
pub struct ContrastRow {
    /// The other axes' values (`all` when there are none).
    pub stratum: String,
    /// The level's group label and the reference's (the contrast axis with what moves with it).
    pub level: String,
    pub reference: String,
    pub mean: f64,
    pub reference_mean: f64,
    pub n: usize,
    pub reference_n: usize,
    pub welch: Option<Welch>,
    /// The paired test and its number of matched replicates.
    pub paired: Option<(usize, Welch)>,
}

/// Every contrast along `axis`, strata and levels in sweep order.
#[derive(Debug, Clone, PartialEq)]
pub struct Contrasts {
    pub axis: String,
    /// Axes carried with the contrast axis (functions of it over these runs).
    pub tied: Vec<String>,
    pub rows: Vec<ContrastRow>,
}

/// The contrasts along `axis`, or why there are none to make.
pub fn contrasts(axis: &str, groups: &[Group], runs: &[RunResult]) -> Result<Contrasts, String> {
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
            rows.push(row(label_of(s), g, reference, axis, &tied, runs));
        }
    }
    Ok(Contrasts {
        axis: axis.to_string(),
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

fn row(
    stratum: String,
    g: &Group,
    reference: &Group,
    axis: &str,
    tied: &[String],
    runs: &[RunResult],
) -> ContrastRow {
    let acc =
        |g: &Group| -> Vec<f64> { g.runs.iter().map(|&i| runs[i].metrics.accuracy).collect() };
    ContrastRow {
        stratum,
        level: level_label(g, axis, tied),
        reference: level_label(reference, axis, tied),
        mean: g.accuracy.mean,
        reference_mean: reference.accuracy.mean,
        n: g.runs.len(),
        reference_n: reference.runs.len(),
        welch: Welch::test(&acc(g), &acc(reference)),
        paired: matched(g, reference, runs),
    }
}

/// The paired test over replicates present in both groups (matched by their replicate axis
/// values), when at least two match.
fn matched(g: &Group, reference: &Group, runs: &[RunResult]) -> Option<(usize, Welch)> {
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
        if let Some(&j) = reference.runs.iter().find(|&&j| replicate(j) == r) {
            a.push(runs[i].metrics.accuracy);
            b.push(runs[j].metrics.accuracy);
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
        let c = contrasts("mixup", &groups, &runs).unwrap();
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
    fn an_unknown_axis_is_named_with_the_axes_there_are() {
        let runs = shift_runs();
        let e = contrasts("mixp", &group_runs(&runs), &runs).unwrap_err();
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
        let c = contrasts("mixup", &group_runs(&runs), &runs).unwrap();
        assert!(c
            .rows
            .iter()
            .all(|r| r.paired.is_none() && r.welch.is_some()));
    }
}
