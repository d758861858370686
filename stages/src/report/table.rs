//! The results table: runs grouped by every sweep axis except the replicate axes, with
//! mean +- std over replicates, rendered as Markdown, HTML rows and `results.csv`.

use std::cmp::Ordering;

use super::{numeric, show_value, PointValues, RunResult, PROXY_LABEL, REPLICATE_AXES};

/// Mean and sample standard deviation of some values.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
    pub n: usize,
}

impl Stat {
    /// Mean and sample (n - 1) standard deviation; std is 0 for a single value. Sums run in
    /// the given order.
    pub fn of(values: &[f64]) -> Option<Stat> {
        if values.is_empty() {
            return None;
        }
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Stat { mean, std, n })
    }
}

/// Runs that share every non-replicate axis value.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Non-replicate axis values.
    pub key: PointValues,
    /// Readable label, e.g. `ids=1000, mixup=identity`.
    pub label: String,
    /// File-name-safe label.
    pub slug: String,
    /// Indices into the run list, in input order.
    pub runs: Vec<usize>,
    pub accuracy: Stat,
    /// Mean over replicates of the per-run fold standard deviation.
    pub fold_std: f64,
    pub auc: Option<Stat>,
    pub eer: Option<Stat>,
    /// (FAR key, TAR stat), FAR keys sorted.
    pub tar: Vec<(String, Stat)>,
    /// Test-data domain when a run declared it.
    pub domain: Option<String>,
}

/// The non-replicate part of a point.
pub fn group_key(point: &PointValues) -> PointValues {
    point
        .iter()
        .filter(|(k, _)| !REPLICATE_AXES.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Human-readable label of a key (`all` when there are no axes).
pub fn label_of(key: &PointValues) -> String {
    if key.is_empty() {
        return "all".into();
    }
    key.iter()
        .map(|(k, v)| format!("{k}={}", show_value(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// File-name-safe version of a key.
pub fn slug_of(key: &PointValues) -> String {
    if key.is_empty() {
        return "all".into();
    }
    let raw: String = key
        .iter()
        .map(|(k, v)| {
            let v = match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{k}-{v}")
        })
        .collect::<Vec<_>>()
        .join("_");
    let s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.chars().take(80).collect()
}

/// Order of two axis values: numbers numerically, then everything else by display text.
pub fn cmp_values(a: &toml::Value, b: &toml::Value) -> Ordering {
    match (numeric(a), numeric(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => show_value(a).cmp(&show_value(b)),
    }
}

/// Order of two keys: axis by axis (keys are sorted by axis name).
pub fn cmp_keys(a: &PointValues, b: &PointValues) -> Ordering {
    for ((ka, va), (kb, vb)) in a.iter().zip(b.iter()) {
        let o = ka.cmp(kb).then_with(|| cmp_values(va, vb));
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// Group runs by non-replicate axes; groups sorted by key.
pub fn group_runs(runs: &[RunResult]) -> Vec<Group> {
    let mut keys: Vec<(PointValues, Vec<usize>)> = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        let k = group_key(&r.point);
        match keys.iter_mut().find(|(kk, _)| *kk == k) {
            Some((_, v)) => v.push(i),
            None => keys.push((k, vec![i])),
        }
    }
    keys.sort_by(|a, b| cmp_keys(&a.0, &b.0));
    keys.into_iter()
        .map(|(key, idx)| {
            let rs: Vec<&RunResult> = idx.iter().map(|&i| &runs[i]).collect();
            let acc: Vec<f64> = rs.iter().map(|r| r.metrics.accuracy).collect();
            let fold: Vec<f64> = rs.iter().map(|r| r.metrics.fold_std).collect();
            let auc: Vec<f64> = rs.iter().filter_map(|r| r.metrics.auc).collect();
            let eer: Vec<f64> = rs.iter().filter_map(|r| r.metrics.eer).collect();
            let mut far_keys: Vec<&String> = rs
                .iter()
                .flat_map(|r| r.metrics.tar_at_far.keys())
                .collect();
            far_keys.sort_by(|a, b| far_order(a, b));
            far_keys.dedup();
            let tar = far_keys
                .into_iter()
                .filter_map(|k| {
                    let v: Vec<f64> = rs
                        .iter()
                        .filter_map(|r| r.metrics.tar_at_far.get(k).copied())
                        .collect();
                    Stat::of(&v).map(|s| (k.clone(), s))
                })
                .collect();
            Group {
                label: label_of(&key),
                slug: slug_of(&key),
                accuracy: Stat::of(&acc).unwrap_or_default(),
                fold_std: Stat::of(&fold).map_or(0.0, |s| s.mean),
                auc: Stat::of(&auc),
                eer: Stat::of(&eer),
                tar,
                domain: rs.iter().find_map(|r| r.domain.clone()),
                key,
                runs: idx,
            }
        })
        .collect()
}

/// FAR keys ordered by value, largest first (`1e-2` before `1e-3`).
fn far_order(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => y.total_cmp(&x),
        _ => a.cmp(b),
    }
}

/// Axis names used by any group, sorted.
pub fn axes(groups: &[Group]) -> Vec<String> {
    let mut a: Vec<String> = groups.iter().flat_map(|g| g.key.keys().cloned()).collect();
    a.sort();
    a.dedup();
    a
}

fn pct(s: &Stat) -> String {
    format!("{:.2} ± {:.2}", 100.0 * s.mean, 100.0 * s.std)
}

fn opt_stat(s: &Option<Stat>) -> String {
    s.as_ref()
        .map_or("–".into(), |s| format!("{:.4} ± {:.4}", s.mean, s.std))
}

/// Display domain, with proxies labelled.
pub fn show_domain(d: &str) -> String {
    if super::is_proxy_name(d) {
        PROXY_LABEL.to_string()
    } else {
        d.to_string()
    }
}

/// The table as header + rows of display strings (shared by Markdown and HTML).
pub fn display_rows(groups: &[Group]) -> (Vec<String>, Vec<Vec<String>>) {
    let axes = axes(groups);
    let far_keys: Vec<String> = {
        let mut k: Vec<String> = groups
            .iter()
            .flat_map(|g| g.tar.iter().map(|(k, _)| k.clone()))
            .collect();
        k.sort_by(|a, b| far_order(a, b));
        k.dedup();
        k
    };
    let any_domain = groups.iter().any(|g| g.domain.is_some());
    let mut header: Vec<String> = axes.clone();
    if any_domain {
        header.push("test data".into());
    }
    header.extend([
        "n".into(),
        "accuracy % (mean ± std over seeds)".into(),
        "fold std %".into(),
        "AUC".into(),
        "EER".into(),
    ]);
    header.extend(far_keys.iter().map(|k| format!("TAR@FAR={k}")));
    let rows = groups
        .iter()
        .map(|g| {
            let mut row: Vec<String> = axes
                .iter()
                .map(|a| g.key.get(a).map_or("–".into(), show_value))
                .collect();
            if any_domain {
                row.push(g.domain.as_deref().map_or("–".into(), show_domain));
            }
            row.push(g.accuracy.n.to_string());
            row.push(pct(&g.accuracy));
            row.push(format!("{:.2}", 100.0 * g.fold_std));
            row.push(opt_stat(&g.auc));
            row.push(opt_stat(&g.eer));
            for k in &far_keys {
                let s = g.tar.iter().find(|(kk, _)| kk == k).map(|(_, s)| *s);
                row.push(opt_stat(&s));
            }
            row
        })
        .collect();
    (header, rows)
}

/// The table in Markdown.
pub fn markdown(groups: &[Group]) -> String {
    let (header, rows) = display_rows(groups);
    let esc = |s: &str| s.replace('|', "\\|");
    let mut out = format!(
        "| {} |\n",
        header
            .iter()
            .map(|h| esc(h))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for r in rows {
        out.push_str(&format!(
            "| {} |\n",
            r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
        ));
    }
    out
}

fn raw_value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `results.csv`: one row per group; accuracies as fractions.
pub fn results_csv(groups: &[Group]) -> String {
    let axes = axes(groups);
    let mut far_keys: Vec<String> = groups
        .iter()
        .flat_map(|g| g.tar.iter().map(|(k, _)| k.clone()))
        .collect();
    far_keys.sort_by(|a, b| far_order(a, b));
    far_keys.dedup();
    let mut head: Vec<String> = vec!["group".into()];
    head.extend(axes.iter().cloned());
    head.extend(
        [
            "domain", "n", "acc_mean", "acc_std", "fold_std", "auc_mean", "auc_std", "eer_mean",
            "eer_std",
        ]
        .map(String::from),
    );
    for k in &far_keys {
        head.push(format!("tar_at_far_{k}_mean"));
        head.push(format!("tar_at_far_{k}_std"));
    }
    let mut rows = vec![head];
    let opt = |s: &Option<Stat>| {
        s.map_or((String::new(), String::new()), |s| {
            (s.mean.to_string(), s.std.to_string())
        })
    };
    for g in groups {
        let mut row = vec![g.label.clone()];
        row.extend(
            axes.iter()
                .map(|a| g.key.get(a).map_or(String::new(), raw_value)),
        );
        row.push(g.domain.clone().unwrap_or_default());
        row.push(g.accuracy.n.to_string());
        row.push(g.accuracy.mean.to_string());
        row.push(g.accuracy.std.to_string());
        row.push(g.fold_std.to_string());
        let (am, asd) = opt(&g.auc);
        let (em, esd) = opt(&g.eer);
        row.extend([am, asd, em, esd]);
        for k in &far_keys {
            let (m, s) = opt(&g.tar.iter().find(|(kk, _)| kk == k).map(|(_, s)| *s));
            row.extend([m, s]);
        }
        rows.push(row);
    }
    crate::csv_text::to_csv(rows)
}

/// `runs.csv`: one row per gathered run (point ids, all axis values, headline metrics).
pub fn runs_csv(runs: &[RunResult]) -> String {
    let mut axes: Vec<String> = runs.iter().flat_map(|r| r.point.keys().cloned()).collect();
    axes.sort();
    axes.dedup();
    let mut head = vec!["point_ids".to_string()];
    head.extend(axes.iter().cloned());
    head.extend(["accuracy", "fold_std", "auc", "eer"].map(String::from));
    let mut rows = vec![head];
    for r in runs {
        let mut row = vec![r.point_ids.join("+")];
        row.extend(
            axes.iter()
                .map(|a| r.point.get(a).map_or(String::new(), raw_value)),
        );
        row.push(r.metrics.accuracy.to_string());
        row.push(r.metrics.fold_std.to_string());
        row.push(r.metrics.auc.map_or(String::new(), |x| x.to_string()));
        row.push(r.metrics.eer.map_or(String::new(), |x| x.to_string()));
        rows.push(row);
    }
    crate::csv_text::to_csv(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Metrics;

    fn run(ids: i64, seed: i64, acc: f64) -> RunResult {
        RunResult {
            point: PointValues::from([
                ("ids".to_string(), toml::Value::Integer(ids)),
                ("seed".to_string(), toml::Value::Integer(seed)),
            ]),
            point_ids: vec![format!("p{ids}-{seed}")],
            metrics: Metrics {
                accuracy: acc,
                fold_std: 0.01,
                auc: Some(acc),
                eer: None,
                tar_at_far: Default::default(),
            },
            ..Default::default()
        }
    }

    #[test]
    fn groups_over_seeds_with_sample_std() {
        let runs = vec![
            run(100, 0, 0.8),
            run(20, 0, 0.6),
            run(100, 1, 0.9),
            run(20, 1, 0.6),
        ];
        let g = group_runs(&runs);
        assert_eq!(g.len(), 2);
        // Numeric ordering: 20 before 100.
        assert_eq!(g[0].label, "ids=20");
        assert_eq!(g[1].runs, vec![0, 2]);
        assert!((g[1].accuracy.mean - 0.85).abs() < 1e-12);
        assert!((g[1].accuracy.std - (0.005f64).sqrt()).abs() < 1e-12);
        assert_eq!(g[0].accuracy.std, 0.0);
        let md = markdown(&g);
        assert!(md.contains("85.00 ± 7.07"), "{md}");
        let csv = results_csv(&g);
        assert!(
            csv.lines()
                .nth(2)
                .unwrap()
                .starts_with("ids=100,100,,2,0.85"),
            "{csv}"
        );
        assert_eq!(runs_csv(&runs).lines().count(), 5);
    }

    #[test]
    fn proxy_values_are_labelled() {
        let mut r = run(1, 0, 0.5);
        r.point
            .insert("train".into(), toml::Value::String("photo".into()));
        r.domain = Some("photo-proxy".into());
        let g = group_runs(&[r]);
        assert!(g[0].label.contains(PROXY_LABEL));
        let md = markdown(&g);
        assert!(md.contains("test data") && md.contains(PROXY_LABEL));
        assert_eq!(slug_of(&g[0].key), "ids-1_train-photo");
    }
}
