//! Verification metrics over scored pairs (higher score = more alike, label true = same
//! identity): the LFW k-fold accuracy (threshold chosen on the other folds), ROC, AUC, EER and
//! TAR at fixed FAR. All accuracies and rates are fractions.

/// One scored pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub fold: usize,
    pub same: bool,
    pub score: f32,
}

/// A ROC curve: points from `(0, 0)` to `(1, 1)`, one per distinct score threshold
/// (pairs with `score >= threshold` are called "same"), FPR non-decreasing.
#[derive(Debug, Clone, PartialEq)]
pub struct Roc {
    pub fpr: Vec<f64>,
    pub tpr: Vec<f64>,
    /// Threshold of each point (`+inf` for the first point, where nothing is accepted).
    pub threshold: Vec<f64>,
}

/// Everything `metrics.json` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    pub fold_accuracy: Vec<f64>,
    pub fold_threshold: Vec<f64>,
    pub accuracy_mean: f64,
    /// Population standard deviation over folds (as numpy's `std`).
    pub accuracy_std: f64,
    pub auc: f64,
    pub eer: f64,
    pub tar_at_far_1e2: f64,
    pub tar_at_far_1e3: f64,
}

/// Why metrics cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    #[error("no pairs to score")]
    Empty,
    #[error("the pairs need both matched and mismatched examples")]
    OneClass,
    #[error("score {0} is not finite")]
    NotFinite(f32),
    #[error("fold {0} has no pairs (folds must be numbered 0..k)")]
    EmptyFold(usize),
}

/// ROC curve of `pairs` (ties handled by grouping equal scores into one point).
pub fn roc(pairs: &[Scored]) -> Result<Roc, MetricsError> {
    check(pairs)?;
    let pos = pairs.iter().filter(|p| p.same).count() as f64;
    let neg = pairs.len() as f64 - pos;
    let mut sorted: Vec<&Scored> = pairs.iter().collect();
    sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut r = Roc {
        fpr: vec![0.0],
        tpr: vec![0.0],
        threshold: vec![f64::INFINITY],
    };
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut k = 0;
    while k < sorted.len() {
        let s = sorted[k].score;
        while k < sorted.len() && sorted[k].score == s {
            if sorted[k].same {
                tp += 1;
            } else {
                fp += 1;
            }
            k += 1;
        }
        r.fpr.push(fp as f64 / neg);
        r.tpr.push(tp as f64 / pos);
        r.threshold.push(s as f64);
    }
    Ok(r)
}

fn check(pairs: &[Scored]) -> Result<(), MetricsError> {
    if pairs.is_empty() {
        return Err(MetricsError::Empty);
    }
    if let Some(p) = pairs.iter().find(|p| !p.score.is_finite()) {
        return Err(MetricsError::NotFinite(p.score));
    }
    let pos = pairs.iter().filter(|p| p.same).count();
    if pos == 0 || pos == pairs.len() {
        return Err(MetricsError::OneClass);
    }
    Ok(())
}

/// Area under the ROC curve (trapezoid rule).
pub fn auc(r: &Roc) -> f64 {
    r.fpr
        .windows(2)
        .zip(r.tpr.windows(2))
        .map(|(x, y)| (x[1] - x[0]) * (y[0] + y[1]) / 2.0)
        .sum()
}

/// Equal error rate: where FPR = FNR = 1 - TPR, linearly interpolated between ROC points.
pub fn eer(r: &Roc) -> f64 {
    for k in 1..r.fpr.len() {
        let (f0, f1) = (r.fpr[k - 1], r.fpr[k]);
        let (m0, m1) = (1.0 - r.tpr[k - 1], 1.0 - r.tpr[k]);
        // d = fpr - fnr goes from negative to non-negative along the curve.
        let (d0, d1) = (f0 - m0, f1 - m1);
        if d1 >= 0.0 {
            if d1 == d0 {
                return f1;
            }
            let t = -d0 / (d1 - d0);
            return f0 + t * (f1 - f0);
        }
    }
    1.0
}

/// Highest TPR among ROC points with FPR <= `far` (0 when none).
pub fn tar_at_far(r: &Roc, far: f64) -> f64 {
    r.fpr
        .iter()
        .zip(&r.tpr)
        .filter(|(f, _)| **f <= far + 1e-12)
        .map(|(_, t)| *t)
        .fold(0.0, f64::max)
}

/// Accuracy of the rule `score >= threshold` => same.
pub fn accuracy(pairs: &[Scored], threshold: f64) -> f64 {
    let ok = pairs
        .iter()
        .filter(|p| (p.score as f64 >= threshold) == p.same)
        .count();
    ok as f64 / pairs.len().max(1) as f64
}

/// The threshold maximising accuracy on `pairs`, and that accuracy. Candidates are the
/// distinct scores and `+inf`; on ties the smallest threshold wins (deterministic).
pub fn best_threshold(pairs: &[Scored]) -> (f64, f64) {
    let mut sorted: Vec<&Scored> = pairs.iter().collect();
    sorted.sort_by(|a, b| a.score.total_cmp(&b.score));
    let n = sorted.len();
    // Threshold = sorted[k].score accepts sorted[k..]: correct = negatives below + positives at/above.
    let pos_total = sorted.iter().filter(|p| p.same).count();
    let (mut neg_below, mut pos_below) = (0usize, 0usize);
    let mut best = (f64::INFINITY, (n - pos_total) as f64 / n.max(1) as f64);
    let mut k = 0;
    while k < n {
        let s = sorted[k].score;
        let acc = (neg_below + pos_total - pos_below) as f64 / n as f64;
        if acc > best.1 || (acc == best.1 && (s as f64) < best.0) {
            best = (s as f64, acc);
        }
        while k < n && sorted[k].score == s {
            if sorted[k].same {
                pos_below += 1;
            } else {
                neg_below += 1;
            }
            k += 1;
        }
    }
    best
}

/// The LFW protocol: for each fold, the accuracy-maximising threshold on the other folds,
/// applied to the fold. Folds are `0..k` with `k = max fold + 1`; every fold needs pairs.
pub fn kfold(pairs: &[Scored]) -> Result<(Vec<f64>, Vec<f64>), MetricsError> {
    check(pairs)?;
    let k = pairs.iter().map(|p| p.fold).max().unwrap_or(0) + 1;
    let (mut accs, mut thrs) = (Vec::with_capacity(k), Vec::with_capacity(k));
    for f in 0..k {
        let test: Vec<Scored> = pairs.iter().filter(|p| p.fold == f).copied().collect();
        if test.is_empty() {
            return Err(MetricsError::EmptyFold(f));
        }
        let train: Vec<Scored> = pairs.iter().filter(|p| p.fold != f).copied().collect();
        // With a single fold, the threshold is chosen on the fold itself.
        let (t, _) = best_threshold(if train.is_empty() { &test } else { &train });
        accs.push(accuracy(&test, t));
        thrs.push(t);
    }
    Ok((accs, thrs))
}

/// Mean and population standard deviation.
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    (
        m,
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt(),
    )
}

/// Every metric of a verification run.
pub fn evaluate(pairs: &[Scored]) -> Result<(Metrics, Roc), MetricsError> {
    let (fold_accuracy, fold_threshold) = kfold(pairs)?;
    let (accuracy_mean, accuracy_std) = mean_std(&fold_accuracy);
    let r = roc(pairs)?;
    let m = Metrics {
        accuracy_mean,
        accuracy_std,
        auc: auc(&r),
        eer: eer(&r),
        tar_at_far_1e2: tar_at_far(&r, 1e-2),
        tar_at_far_1e3: tar_at_far(&r, 1e-3),
        fold_accuracy,
        fold_threshold,
    };
    Ok((m, r))
}

impl Metrics {
    /// The `metrics.json` object (docs/design.md §7), plus per-fold details.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "accuracy": { "mean": self.accuracy_mean, "std": self.accuracy_std },
            "auc": self.auc,
            "eer": self.eer,
            "tar_at_far": { "1e-2": self.tar_at_far_1e2, "1e-3": self.tar_at_far_1e3 },
            "fold_accuracy": self.fold_accuracy,
            "fold_threshold": self.fold_threshold,
        })
    }
}

impl Roc {
    /// `roc.csv`: header `fpr,tpr,threshold` (the first point's threshold is written `inf`).
    pub fn to_csv(&self) -> String {
        let mut s = String::from("fpr,tpr,threshold\n");
        for k in 0..self.fpr.len() {
            s.push_str(&format!(
                "{},{},{}\n",
                self.fpr[k], self.tpr[k], self.threshold[k]
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sc(fold: usize, same: bool, score: f32) -> Scored {
        Scored { fold, same, score }
    }

    /// Brute force: try every midpoint between sorted scores and both ends.
    fn brute_best(p: &[Scored]) -> f64 {
        let mut s: Vec<f64> = p.iter().map(|x| x.score as f64).collect();
        s.sort_by(f64::total_cmp);
        let mut cands = vec![s[0] - 1.0, s[s.len() - 1] + 1.0];
        cands.extend(s.windows(2).map(|w| (w[0] + w[1]) / 2.0));
        cands
            .iter()
            .map(|&t| {
                p.iter().filter(|x| (x.score as f64 > t) == x.same).count() as f64 / p.len() as f64
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn hand_roc_auc_eer() {
        // Scores: pos 0.9, 0.8, 0.4; neg 0.7, 0.3, 0.2.
        let p = [
            sc(0, true, 0.9),
            sc(0, true, 0.8),
            sc(0, false, 0.7),
            sc(0, true, 0.4),
            sc(0, false, 0.3),
            sc(0, false, 0.2),
        ];
        let r = roc(&p).unwrap();
        let third = 1.0 / 3.0;
        assert_eq!(r.fpr, vec![0.0, 0.0, 0.0, third, third, 2.0 * third, 1.0]);
        assert_eq!(
            r.tpr,
            vec![0.0, third, 2.0 * third, 2.0 * third, 1.0, 1.0, 1.0]
        );
        // Trapezoid by hand: the only loss is the 1/3-wide step at tpr 2/3 -> 1 - 1/9.
        assert!((auc(&r) - 8.0 / 9.0).abs() < 1e-12);
        // fnr = 1/3 on the segment fpr 0 -> 1/3 at tpr 2/3: crossing at fpr = 1/3.
        assert!((eer(&r) - third).abs() < 1e-12);
        assert_eq!(tar_at_far(&r, 0.0), 2.0 * third);
        assert_eq!(tar_at_far(&r, 0.5), 1.0);
        let (t, acc) = best_threshold(&p);
        assert!((acc - brute_best(&p)).abs() < 1e-12);
        assert!((accuracy(&p, t) - acc).abs() < 1e-12);
    }

    #[test]
    fn ties_and_perfect_separation() {
        let p = [sc(0, true, 0.5), sc(0, false, 0.5)];
        let r = roc(&p).unwrap();
        assert_eq!(
            (r.fpr.clone(), r.tpr.clone()),
            (vec![0.0, 1.0], vec![0.0, 1.0])
        );
        assert!((auc(&r) - 0.5).abs() < 1e-12);
        let q = [sc(0, true, 0.9), sc(0, false, 0.1)];
        let r = roc(&q).unwrap();
        assert_eq!(auc(&r), 1.0);
        assert_eq!(eer(&r), 0.0);
        assert_eq!(best_threshold(&q).1, 1.0);
        assert_eq!(roc(&[]), Err(MetricsError::Empty));
        assert_eq!(roc(&[sc(0, true, 1.0)]), Err(MetricsError::OneClass));
        assert!(matches!(
            roc(&[sc(0, true, f32::NAN), sc(0, false, 0.0)]),
            Err(MetricsError::NotFinite(_))
        ));
    }

    #[test]
    fn kfold_matches_brute_force() {
        // 4 folds of pseudo-random scores where positives score higher on average.
        let mut p = Vec::new();
        let mut s = 12345u64;
        for f in 0..4 {
            for k in 0..30 {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (s >> 40) as f32 / (1u64 << 24) as f32;
                let same = k % 2 == 0;
                p.push(sc(f, same, if same { u * 0.8 + 0.3 } else { u * 0.8 }));
            }
        }
        let (accs, thrs) = kfold(&p).unwrap();
        for f in 0..4 {
            let train: Vec<Scored> = p.iter().filter(|x| x.fold != f).copied().collect();
            let test: Vec<Scored> = p.iter().filter(|x| x.fold == f).copied().collect();
            // The chosen threshold is optimal on the training folds...
            assert!((accuracy(&train, thrs[f]) - brute_best(&train)).abs() < 1e-12);
            // ...and the fold's accuracy is that threshold applied to the held-out fold.
            assert_eq!(accs[f], accuracy(&test, thrs[f]));
        }
        let (m, sd) = mean_std(&accs);
        let want_m = accs.iter().sum::<f64>() / 4.0;
        assert!((m - want_m).abs() < 1e-12);
        assert!(
            (sd - (accs.iter().map(|a| (a - want_m).powi(2)).sum::<f64>() / 4.0).sqrt()).abs()
                < 1e-12
        );
        let (met, r) = evaluate(&p).unwrap();
        assert_eq!(met.fold_accuracy, accs);
        assert!(met.auc > 0.5 && met.auc <= 1.0);
        assert_eq!(r.fpr.first(), Some(&0.0));
        assert_eq!(r.tpr.last(), Some(&1.0));
        let j = met.to_json();
        assert_eq!(j["accuracy"]["mean"], serde_json::json!(met.accuracy_mean));
        assert!(j["tar_at_far"]["1e-3"].is_number());
        assert!(r.to_csv().starts_with("fpr,tpr,threshold\n0,0,inf\n"));
        let missing = [sc(0, true, 0.5), sc(2, false, 0.1)];
        assert_eq!(kfold(&missing), Err(MetricsError::EmptyFold(1)));
    }
}
