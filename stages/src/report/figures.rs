//! Which figures a report shows, built from grouped runs: accuracy heatmaps over width x depth
//! (one per combination of the other axes; mean ± std per cell), accuracy vs every numeric
//! axis, ROC curves and training curves (every replicate drawn faintly, the mean over
//! replicates bold with a ± std band; training curves smoothed, see [`super::curves`]),
//! same/different-identity score distributions and 2-D MDS embedding maps (a few identities
//! coloured, with a legend). Drawing itself is in [`super::plots`].

use super::curves::{mean_band, on_grid, smooth};
use super::decode::pair_cosines;
use super::mds::{classical_mds, squared_distances};
use super::plots::{render, Chart, Figure, Series};
use super::table::{cmp_keys, cmp_values, label_of, slug_of, Group};
use super::{numeric, Options, PointValues, ReportError, ReportInput, REPLICATE_AXES};

/// Every figure the inputs support, in report order.
pub fn all_figures(
    opts: &Options,
    input: &ReportInput,
    groups: &[Group],
) -> Result<Vec<Figure>, ReportError> {
    let mut out = Vec::new();
    out.extend(heatmaps(opts, groups)?);
    out.extend(accuracy_lines(groups)?);
    if let Some(f) = roc(input, groups)? {
        out.push(f);
    }
    out.extend(training(input)?);
    out.extend(score_distributions(opts, input, groups)?);
    out.extend(mds_maps(opts, input, groups)?);
    Ok(out)
}

/// Key without the named axes.
fn without(key: &PointValues, axes: &[&str]) -> PointValues {
    key.iter()
        .filter(|(k, _)| !axes.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Distinct values, sorted.
fn distinct(mut v: Vec<toml::Value>) -> Vec<toml::Value> {
    v.sort_by(cmp_values);
    v.dedup_by(|a, b| cmp_values(a, b).is_eq());
    v
}

/// Panels (remaining keys) with their groups, sorted.
fn panels<'a>(groups: &'a [Group], axes: &[&str]) -> Vec<(PointValues, Vec<&'a Group>)> {
    let mut p: Vec<(PointValues, Vec<&Group>)> = Vec::new();
    for g in groups {
        let k = without(&g.key, axes);
        match p.iter_mut().find(|(kk, _)| *kk == k) {
            Some((_, v)) => v.push(g),
            None => p.push((k, vec![g])),
        }
    }
    p.sort_by(|a, b| cmp_keys(&a.0, &b.0));
    p
}

fn stem(base: &str, panel: &PointValues) -> String {
    if panel.is_empty() {
        base.to_string()
    } else {
        format!("{base}_{}", slug_of(panel))
    }
}

fn heatmaps(opts: &Options, groups: &[Group]) -> Result<Vec<Figure>, ReportError> {
    let (wa, da) = (opts.width_axis.as_str(), opts.depth_axis.as_str());
    let usable: Vec<Group> = groups
        .iter()
        .filter(|g| g.key.contains_key(wa) && g.key.contains_key(da))
        .cloned()
        .collect();
    let mut out = Vec::new();
    for (panel, gs) in panels(&usable, &[wa, da]) {
        let xs = distinct(gs.iter().map(|g| g.key[wa].clone()).collect());
        let ys = distinct(gs.iter().map(|g| g.key[da].clone()).collect());
        if xs.len() * ys.len() < 2 {
            continue;
        }
        let mut cells = vec![None; xs.len() * ys.len()];
        for g in &gs {
            let i = xs.iter().position(|x| cmp_values(x, &g.key[wa]).is_eq());
            let j = ys.iter().position(|y| cmp_values(y, &g.key[da]).is_eq());
            if let (Some(i), Some(j)) = (i, j) {
                cells[j * xs.len() + i] = Some((g.accuracy.mean, g.accuracy.std));
            }
        }
        let title = if panel.is_empty() {
            "Accuracy (%, mean ± std over seeds)".to_string()
        } else {
            format!("Accuracy (%, mean ± std over seeds) — {}", label_of(&panel))
        };
        let chart = Chart::Heatmap {
            xs: xs.iter().map(super::show_value).collect(),
            ys: ys.iter().map(super::show_value).collect(),
            cells,
            x_desc: format!("{wa} (width: identities)"),
            y_desc: format!("{da} (depth: images per identity)"),
        };
        out.push(render(&stem("heatmap", &panel), &title, &chart)?);
    }
    Ok(out)
}

fn accuracy_lines(groups: &[Group]) -> Result<Vec<Figure>, ReportError> {
    let mut out = Vec::new();
    for axis in super::table::axes(groups) {
        let on_axis: Vec<Group> = groups
            .iter()
            .filter(|g| g.key.get(&axis).and_then(numeric).is_some())
            .cloned()
            .collect();
        if distinct(on_axis.iter().map(|g| g.key[&axis].clone()).collect()).len() < 2 {
            continue;
        }
        let series: Vec<Series> = panels(&on_axis, &[axis.as_str()])
            .into_iter()
            .map(|(panel, gs)| {
                let mut pts: Vec<(f64, f64, f64)> = gs
                    .iter()
                    .filter_map(|g| {
                        numeric(&g.key[&axis])
                            .map(|x| (x, 100.0 * g.accuracy.mean, 100.0 * g.accuracy.std))
                    })
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                Series {
                    name: if panel.is_empty() {
                        String::new()
                    } else {
                        label_of(&panel)
                    },
                    points: pts.iter().map(|p| (p.0, p.1)).collect(),
                    err: pts.iter().map(|p| p.2).collect(),
                    ..Series::default()
                }
            })
            .collect();
        if !series.iter().any(|s| s.points.len() >= 2) {
            continue;
        }
        let chart = Chart::Lines {
            series,
            x_desc: axis.clone(),
            y_desc: "accuracy % (mean ± std)".into(),
            log_x: false,
            markers: true,
        };
        let safe: String = axis
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        out.push(render(
            &format!("accuracy_vs_{safe}"),
            &format!("Verification accuracy vs {axis}"),
            &chart,
        )?);
    }
    Ok(out)
}

/// FAR grid of the ROC figure: log10 FAR from -4 to 0.
fn far_grid() -> Vec<f64> {
    (0..=80).map(|k| -4.0 + k as f64 * 0.05).collect()
}

fn roc(input: &ReportInput, groups: &[Group]) -> Result<Option<Figure>, ReportError> {
    let grid = far_grid();
    let mut series = Vec::new();
    for (c, g) in groups.iter().enumerate() {
        let curves: Vec<Vec<(f64, f64)>> = g
            .runs
            .iter()
            .map(|&i| &input.runs[i])
            .filter(|r| !r.roc.is_empty())
            .map(|r| {
                r.roc
                    .iter()
                    .map(|&(far, tar)| (far.max(1e-4).log10(), tar))
                    .collect()
            })
            .collect();
        if curves.is_empty() {
            continue;
        }
        let sampled: Vec<Vec<f64>> = curves.iter().map(|c| on_grid(c, &grid)).collect();
        series.extend(replicates_and_mean(&g.label, c, &grid, &curves, &sampled));
    }
    if series.is_empty() {
        return Ok(None);
    }
    let chart = Chart::Lines {
        series,
        x_desc: "FAR (log10)".into(),
        y_desc: "TAR".into(),
        log_x: true,
        markers: false,
    };
    render(
        "roc",
        "ROC: every replicate (faint), mean over replicates ± std (bold, band)",
        &chart,
    )
    .map(Some)
}

/// Faint series for each replicate's raw curve, then the bold mean of the `sampled` values
/// (one row per replicate, on `grid`) with a ± std band when there are several.
fn replicates_and_mean(
    name: &str,
    colour: usize,
    grid: &[f64],
    raw: &[Vec<(f64, f64)>],
    sampled: &[Vec<f64>],
) -> Vec<Series> {
    let mut out: Vec<Series> = raw
        .iter()
        .map(|points| Series {
            points: points.clone(),
            colour: Some(colour),
            faint: true,
            ..Series::default()
        })
        .collect();
    let (mean, band) = mean_band(sampled);
    let n = sampled.len();
    out.push(Series {
        name: if n > 1 {
            format!("{name} (n = {n})")
        } else {
            name.to_string()
        },
        points: grid.iter().copied().zip(mean).collect(),
        band: if n > 1 { band } else { Vec::new() },
        colour: Some(colour),
        ..Series::default()
    });
    out
}

fn training(input: &ReportInput) -> Result<Vec<Figure>, ReportError> {
    // Every replicate's curve, grouped by the non-replicate axes.
    let mut groups: Vec<(PointValues, Vec<&super::Curve>)> = Vec::new();
    for c in input.curves.iter().filter(|c| !c.rows.is_empty()) {
        let key: PointValues = without(&c.point, &REPLICATE_AXES);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(c),
            None => groups.push((key, vec![c])),
        }
    }
    groups.sort_by(|a, b| cmp_keys(&a.0, &b.0));
    let mut out = Vec::new();
    for (name, desc, get) in [
        (
            "train_loss",
            "loss",
            (|r: &super::CurveRow| r.loss) as fn(&super::CurveRow) -> f64,
        ),
        ("train_acc", "train accuracy", |r| r.train_acc),
    ] {
        let mut series = Vec::new();
        for (colour, (key, curves)) in groups.iter().enumerate() {
            let raw: Vec<Vec<(f64, f64)>> = curves
                .iter()
                .map(|c| {
                    c.rows
                        .iter()
                        .filter(|r| get(r).is_finite())
                        .map(|r| (r.step, get(r)))
                        .collect::<Vec<_>>()
                })
                .filter(|p| !p.is_empty())
                .collect();
            let Some(first) = raw.first() else { continue };
            let grid: Vec<f64> = first.iter().map(|p| p.0).collect();
            let sampled: Vec<Vec<f64>> = raw.iter().map(|c| smooth(&on_grid(c, &grid))).collect();
            series.extend(replicates_and_mean(
                &label_of(key),
                colour,
                &grid,
                &raw,
                &sampled,
            ));
        }
        if series.is_empty() {
            continue;
        }
        let chart = Chart::Lines {
            series,
            x_desc: "step".into(),
            y_desc: desc.into(),
            log_x: false,
            markers: false,
        };
        let title =
            format!("Training curve: {desc} (raw per replicate faint; smoothed mean ± std bold)");
        out.push(render(name, &title, &chart)?);
    }
    Ok(out)
}

/// Normalised histogram of `values` over `[lo, hi]` in `bins` bins, as (bin centre, density).
pub fn histogram(values: &[f32], lo: f64, hi: f64, bins: usize) -> Vec<(f64, f64)> {
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for &v in values {
        let k = (((f64::from(v) - lo) / width).floor().max(0.0) as usize).min(bins - 1);
        counts[k] += 1;
    }
    let total = values.len().max(1) as f64;
    counts
        .iter()
        .enumerate()
        .map(|(k, &c)| (lo + (k as f64 + 0.5) * width, c as f64 / (total * width)))
        .collect()
}

fn score_distributions(
    opts: &Options,
    input: &ReportInput,
    groups: &[Group],
) -> Result<Vec<Figure>, ReportError> {
    let mut out = Vec::new();
    for g in groups.iter().take(opts.max_group_plots) {
        let runs: Vec<_> = g.runs.iter().map(|&i| &input.runs[i]).collect();
        let (scores, source) = match runs.iter().find(|r| !r.scores.is_empty()) {
            Some(r) => (r.scores.clone(), "verification pairs"),
            None => match runs.iter().find_map(|r| r.embeddings.as_ref()) {
                Some(e) => (pair_cosines(e, 400), "all embedding pairs"),
                None => continue,
            },
        };
        let same: Vec<f32> = scores.iter().filter(|s| s.0).map(|s| s.1).collect();
        let diff: Vec<f32> = scores.iter().filter(|s| !s.0).map(|s| s.1).collect();
        if same.is_empty() || diff.is_empty() {
            continue;
        }
        let lo = scores
            .iter()
            .map(|s| f64::from(s.1))
            .fold(f64::INFINITY, f64::min);
        let hi = scores
            .iter()
            .map(|s| f64::from(s.1))
            .fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, hi + 0.5)
        };
        let series = vec![
            Series {
                name: format!("same identity ({})", same.len()),
                points: histogram(&same, lo, hi, 40),
                ..Series::default()
            },
            Series {
                name: format!("different identities ({})", diff.len()),
                points: histogram(&diff, lo, hi, 40),
                ..Series::default()
            },
        ];
        let chart = Chart::Lines {
            series,
            x_desc: "cosine similarity".into(),
            y_desc: "density".into(),
            log_x: false,
            markers: false,
        };
        let title = format!("Intra- vs inter-class cosine ({source}) — {}", g.label);
        out.push(render(&format!("cosine_{}", g.slug), &title, &chart)?);
    }
    Ok(out)
}

fn mds_maps(
    opts: &Options,
    input: &ReportInput,
    groups: &[Group],
) -> Result<Vec<Figure>, ReportError> {
    let mut out = Vec::new();
    for g in groups.iter().take(opts.max_group_plots) {
        let Some(e) = g
            .runs
            .iter()
            .find_map(|&i| input.runs[i].embeddings.as_ref())
        else {
            continue;
        };
        let n = e.len();
        let m = n.min(opts.mds_points.max(2));
        if m < 3 || e.dim == 0 {
            continue;
        }
        let idx: Vec<usize> = (0..m).map(|k| k * n / m).collect();
        let pts: Vec<f32> = idx
            .iter()
            .flat_map(|&i| e.data[i * e.dim..(i + 1) * e.dim].iter().copied())
            .collect();
        let xy = classical_mds(&squared_distances(&pts, e.dim), m, 2);
        let shown_labels: Vec<i64> = idx.iter().map(|&i| e.labels[i]).collect();
        let highlighted = most_frequent(&shown_labels, MDS_IDENTITIES);
        let points: Vec<(f64, f64, Option<usize>)> = idx
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                let class = highlighted.iter().position(|&l| l == e.labels[i]);
                (xy[2 * k], xy[2 * k + 1], class)
            })
            .collect();
        let mut all = shown_labels.clone();
        all.sort_unstable();
        all.dedup();
        let title = format!(
            "MDS of {m} test embeddings ({} identities, {} coloured) — {}",
            all.len(),
            highlighted.len(),
            g.label
        );
        let legend = highlighted
            .iter()
            .map(|l| format!("identity {l}"))
            .collect();
        out.push(render(
            &format!("mds_{}", g.slug),
            &title,
            &Chart::Scatter { points, legend },
        )?);
    }
    Ok(out)
}

/// Identities coloured in an MDS map (the rest are grey).
const MDS_IDENTITIES: usize = 12;

/// Up to `k` labels with the most occurrences (ties: smaller label first), in label order.
fn most_frequent(labels: &[i64], k: usize) -> Vec<i64> {
    let mut counts: std::collections::BTreeMap<i64, usize> = std::collections::BTreeMap::new();
    for &l in labels {
        *counts.entry(l).or_default() += 1;
    }
    let mut by_count: Vec<(i64, usize)> = counts.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut top: Vec<i64> = by_count.into_iter().take(k).map(|(l, _)| l).collect();
    top.sort_unstable();
    top
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mds_colours_the_most_frequent_identities_only() {
        let labels = [5, 5, 5, 1, 1, 9, 2, 2, 2, 2];
        assert_eq!(most_frequent(&labels, 2), vec![2, 5]);
        assert_eq!(most_frequent(&labels, 12), vec![1, 2, 5, 9]);
    }

    #[test]
    fn histogram_is_a_density() {
        let h = histogram(&[0.0, 0.1, 0.9, 1.0], 0.0, 1.0, 4);
        let area: f64 = h.iter().map(|(_, d)| d * 0.25).sum();
        assert!((area - 1.0).abs() < 1e-12);
        assert_eq!(h[0].1, 2.0);
    }
}
