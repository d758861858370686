//! Significance of a difference between two groups of replicate accuracies: Welch's
//! unequal-variance t-test (Welch–Satterthwaite degrees of freedom), its two-sided p-value and
//! the 95% confidence interval of the difference of means; and the paired t-test, for
//! replicates matched across the two groups (same seed, same people). The Student t distribution is
//! computed from the regularised incomplete beta function (continued fraction, as in
//! Numerical Recipes §6.4), so no statistics crate is needed.

/// Welch's test of `a` against `b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Welch {
    /// `mean(a) - mean(b)`.
    pub diff: f64,
    pub t: f64,
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// 95% confidence interval of the difference.
    pub ci95: (f64, f64),
}

fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let v = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1.0);
    (m, v)
}

impl Welch {
    /// The test, when each side has at least two values and they are not all equal.
    pub fn test(a: &[f64], b: &[f64]) -> Option<Welch> {
        if a.len() < 2 || b.len() < 2 {
            return None;
        }
        let (ma, va) = mean_var(a);
        let (mb, vb) = mean_var(b);
        let (sa, sb) = (va / a.len() as f64, vb / b.len() as f64);
        let se2 = sa + sb;
        if se2 <= 0.0 || !se2.is_finite() {
            return None;
        }
        let df = se2 * se2 / (sa * sa / (a.len() as f64 - 1.0) + sb * sb / (b.len() as f64 - 1.0));
        Some(Welch::from_estimate(ma - mb, se2.sqrt(), df))
    }

    /// The t-test of a difference `diff` with standard error `se` on `df` degrees of freedom.
    fn from_estimate(diff: f64, se: f64, df: f64) -> Welch {
        let t = diff / se;
        let half = t_quantile(0.975, df) * se;
        Welch {
            diff,
            t,
            df,
            p: two_sided_p(t, df),
            ci95: (diff - half, diff + half),
        }
    }
}

/// The paired t-test of `a[i] - b[i]` (the two sides matched by index), in the same form as
/// [`Welch`] (`df` = pairs - 1).
pub fn paired(a: &[f64], b: &[f64]) -> Option<Welch> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let (m, v) = mean_var(&d);
    let se = (v / d.len() as f64).sqrt();
    if se <= 0.0 || !se.is_finite() {
        return None;
    }
    Some(Welch::from_estimate(m, se, d.len() as f64 - 1.0))
}

/// `P(|T| > |t|)` for Student's t with `df` degrees of freedom.
pub fn two_sided_p(t: f64, df: f64) -> f64 {
    incomplete_beta(df / 2.0, 0.5, df / (df + t * t)).clamp(0.0, 1.0)
}

/// The `q` quantile (q > 0.5) of Student's t, by bisection on the p-value.
pub fn t_quantile(q: f64, df: f64) -> f64 {
    let target = 2.0 * (1.0 - q);
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while two_sided_p(hi, df) > target && hi < 1e12 {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if two_sided_p(mid, df) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = C[1..]
        .iter()
        .enumerate()
        .fold(C[0], |s, (i, c)| s + c / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The regularised incomplete beta function I_x(a, b).
pub fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_fraction(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// The continued fraction of the incomplete beta function (modified Lentz).
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    d = 1.0 / if d.abs() < TINY { TINY } else { d };
    let mut h = d;
    for m in 1..300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        for aa in [
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ] {
            d = 1.0 + aa * d;
            d = 1.0 / if d.abs() < TINY { TINY } else { d };
            c = 1.0 + aa / c;
            c = if c.abs() < TINY { TINY } else { c };
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_distribution_matches_tables() {
        // Two-sided critical values: t(0.975; 1) = 12.706, t(0.975; 10) = 2.228,
        // t(0.975; 30) = 2.042.
        assert!((t_quantile(0.975, 1.0) - 12.706).abs() < 1e-3);
        assert!((t_quantile(0.975, 10.0) - 2.228).abs() < 1e-3);
        assert!((t_quantile(0.975, 30.0) - 2.042).abs() < 1e-3);
        assert!((two_sided_p(2.228, 10.0) - 0.05).abs() < 1e-3);
        assert!((two_sided_p(0.0, 5.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn welch_test_matches_a_worked_example() {
        // scipy.stats.ttest_ind(a, b, equal_var=False): t = -5.437704, df = 7.864923,
        // p = 0.000654491, 95% CI (-8.124483, -3.275517).
        let a = [19.1, 20.4, 21.9, 22.8, 23.4];
        let b = [25.1, 26.3, 27.5, 28.2, 29.0];
        let w = Welch::test(&a, &b).unwrap();
        assert!((w.t + 5.437704).abs() < 1e-5, "{w:?}");
        assert!((w.df - 7.864923).abs() < 1e-5, "{w:?}");
        assert!((w.p - 0.000654491).abs() < 1e-8, "{w:?}");
        assert!((w.ci95.0 + 8.124483).abs() < 1e-5 && (w.ci95.1 + 3.275517).abs() < 1e-5);
    }

    #[test]
    fn paired_test_matches_a_worked_example() {
        // scipy.stats.ttest_rel(a, b): t = 3.655631, df = 3, p = 0.035353; differences
        // [1, 2, 1, 3], 95% CI 1.75 -+ t(0.975; 3) x 0.4787 = (0.226520, 3.273480).
        let (a, b) = ([5.0, 7.0, 6.0, 9.0], [4.0, 5.0, 5.0, 6.0]);
        let w = paired(&a, &b).unwrap();
        assert!((w.diff - 1.75).abs() < 1e-12, "{w:?}");
        assert!((w.t - 3.655_631).abs() < 1e-5, "{w:?}");
        assert!((w.p - 0.035_353).abs() < 1e-5, "{w:?}");
        assert!((w.ci95.0 - 0.226_520).abs() < 1e-5 && (w.ci95.1 - 3.273_480).abs() < 1e-5);
        assert!(
            paired(&[1.0, 2.0], &[0.0, 1.0]).is_none(),
            "no spread of differences"
        );
        assert!(paired(&[1.0], &[0.0]).is_none());
    }

    #[test]
    fn no_test_without_replicates_or_spread() {
        assert!(Welch::test(&[0.8], &[0.7, 0.75]).is_none());
        assert!(Welch::test(&[0.8, 0.8], &[0.7, 0.7]).is_none());
    }
}
