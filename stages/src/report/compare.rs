//! The report's headline and its evidence: the best group by mean accuracy, compared with
//! every other group by Welch's t-test over their replicate accuracies ([`super::stats`]),
//! with the 95% confidence interval of each difference, and said to be within noise when
//! the test cannot tell them apart (p >= 0.05, uncorrected) or there are too few replicates.

use super::stats::Welch;
use super::table::Group;
use super::RunResult;

/// One group against the best.
#[derive(Debug, Clone, PartialEq)]
pub struct VersusBest {
    pub label: String,
    pub mean: f64,
    pub n: usize,
    /// `None` without two replicates on both sides (or no spread).
    pub welch: Option<Welch>,
}

fn accuracies(g: &Group, runs: &[RunResult]) -> Vec<f64> {
    g.runs.iter().map(|&i| runs[i].metrics.accuracy).collect()
}

/// The best group (index) and every other group against it, runner-up first.
pub fn versus_best(groups: &[Group], runs: &[RunResult]) -> Option<(usize, Vec<VersusBest>)> {
    let best = (0..groups.len()).max_by(|&a, &b| {
        groups[a]
            .accuracy
            .mean
            .total_cmp(&groups[b].accuracy.mean)
            .then(b.cmp(&a))
    })?;
    let top = accuracies(&groups[best], runs);
    let mut others: Vec<VersusBest> = groups
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != best)
        .map(|(_, g)| VersusBest {
            label: g.label.clone(),
            mean: g.accuracy.mean,
            n: g.runs.len(),
            welch: Welch::test(&top, &accuracies(g, runs)),
        })
        .collect();
    others.sort_by(|a, b| b.mean.total_cmp(&a.mean));
    Some((best, others))
}

/// Whether a comparison shows a difference at the 5% level.
fn significant(w: &Option<Welch>) -> bool {
    w.is_some_and(|w| w.p < 0.05)
}

fn pct(x: f64) -> String {
    format!("{:.2}", 100.0 * x)
}

/// `Best: ... at 81.20% ± 1.10 (n = 3); against the runner-up ...`.
pub fn headline(groups: &[Group], runs: &[RunResult]) -> Option<String> {
    let (best, others) = versus_best(groups, runs)?;
    let b = &groups[best];
    let mut s = format!(
        "Best: {} at {}% ± {} accuracy (n = {}).",
        b.label,
        pct(b.accuracy.mean),
        pct(b.accuracy.std),
        b.runs.len()
    );
    let Some(r) = others.first() else {
        return Some(s);
    };
    s.push_str(&format!(
        " Against the runner-up, {} ({}%): ",
        r.label,
        pct(r.mean)
    ));
    match &r.welch {
        Some(w) => s.push_str(&format!(
            "{:+.2} points, 95% CI [{:+.2}, {:+.2}], Welch t = {:.2} (df {:.1}), p = {:.3}: {}.",
            100.0 * w.diff,
            100.0 * w.ci95.0,
            100.0 * w.ci95.1,
            w.t,
            w.df,
            w.p,
            if significant(&r.welch) {
                "a significant difference at the 5% level (two-sided, not corrected for \
                 multiple comparisons)"
            } else {
                "the difference is within noise"
            }
        )),
        None => s.push_str(&format!(
            "{:+.2} points; no significance test (it needs at least two replicates with some \
             spread in each group: add `seeds = N` to the sweep), so treat the ranking as \
             unconfirmed.",
            100.0 * (b.accuracy.mean - r.mean)
        )),
    }
    Some(s)
}

/// The comparison table: header and one row per other group.
pub fn table(groups: &[Group], runs: &[RunResult]) -> (Vec<String>, Vec<Vec<String>>) {
    let header = [
        "group",
        "accuracy %",
        "n",
        "best − group",
        "95% CI",
        "Welch t",
        "p",
        "verdict",
    ]
    .map(String::from)
    .to_vec();
    let rows = versus_best(groups, runs)
        .map(|(_, others)| others)
        .unwrap_or_default()
        .into_iter()
        .map(|o| {
            let (diff, ci, t, p) = match &o.welch {
                Some(w) => (
                    format!("{:+.2}", 100.0 * w.diff),
                    format!("[{:+.2}, {:+.2}]", 100.0 * w.ci95.0, 100.0 * w.ci95.1),
                    format!("{:.2}", w.t),
                    format!("{:.3}", w.p),
                ),
                None => ("-".into(), "-".into(), "-".into(), "-".into()),
            };
            let verdict = match (&o.welch, significant(&o.welch)) {
                (None, _) => "untested",
                (Some(_), true) => "different (p < 0.05)",
                (Some(_), false) => "within noise",
            };
            vec![
                o.label,
                pct(o.mean),
                o.n.to_string(),
                diff,
                ci,
                t,
                p,
                verdict.into(),
            ]
        })
        .collect();
    (header, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::table::group_runs;
    use crate::report::Metrics;

    fn run(arm: &str, seed: i64, acc: f64) -> RunResult {
        RunResult {
            point: [
                ("mixup".to_string(), toml::Value::String(arm.into())),
                ("seed".to_string(), toml::Value::Integer(seed)),
            ]
            .into(),
            metrics: Metrics {
                accuracy: acc,
                ..Metrics::default()
            },
            ..RunResult::default()
        }
    }

    #[test]
    fn a_small_gap_between_noisy_groups_is_called_noise() {
        let runs = vec![
            run("none", 0, 0.80),
            run("none", 1, 0.86),
            run("identity", 0, 0.79),
            run("identity", 1, 0.85),
        ];
        let groups = group_runs(&runs);
        let h = headline(&groups, &runs).unwrap();
        assert!(h.starts_with("Best: mixup=none"), "{h}");
        assert!(h.contains("within noise") && h.contains("95% CI"), "{h}");
        let (_, rows) = table(&groups, &runs);
        assert_eq!(rows[0][7], "within noise");
    }

    #[test]
    fn a_clear_gap_is_significant_and_single_runs_are_untested() {
        let runs: Vec<RunResult> = (0..4)
            .flat_map(|s| {
                let e = 0.001 * s as f64;
                [run("none", s, 0.90 + e), run("identity", s, 0.70 + e)]
            })
            .collect();
        let groups = group_runs(&runs);
        assert!(headline(&groups, &runs)
            .unwrap()
            .contains("significant difference"));
        let single = vec![run("none", 0, 0.9), run("identity", 0, 0.8)];
        let groups = group_runs(&single);
        let h = headline(&groups, &single).unwrap();
        assert!(h.contains("no significance test"), "{h}");
    }
}
