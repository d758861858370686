//! Curve arithmetic for the report's figures: resampling a curve on a common x grid, centred
//! moving-average smoothing of per-step training curves, and the mean ± std band over
//! replicates. All sums run in a fixed order (deterministic output).

/// `curve` (x ascending) linearly interpolated at each x of `grid`, held constant beyond
/// its ends; repeated x values (ROC steps) take the last y.
pub fn on_grid(curve: &[(f64, f64)], grid: &[f64]) -> Vec<f64> {
    grid.iter()
        .map(|&x| {
            let k = curve.partition_point(|p| p.0 <= x);
            match (k.checked_sub(1).map(|i| curve[i]), curve.get(k)) {
                (None, Some(first)) => first.1,
                (Some(last), None) => last.1,
                (Some(a), Some(b)) if b.0 > a.0 => a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0),
                (Some(a), _) => a.1,
                (None, None) => f64::NAN,
            }
        })
        .collect()
}

/// Centred moving average over a window of about 1/25 of the curve (at least 1 point each
/// side when the curve has 25 points or more), shrinking at the ends.
pub fn smooth(y: &[f64]) -> Vec<f64> {
    let half = y.len() / 50;
    if half == 0 {
        return y.to_vec();
    }
    (0..y.len())
        .map(|i| {
            let (lo, hi) = (i.saturating_sub(half), (i + half + 1).min(y.len()));
            y[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
        })
        .collect()
}

/// Per grid point, the mean over `rows` (one per replicate) and the band mean ± sample std.
pub fn mean_band(rows: &[Vec<f64>]) -> (Vec<f64>, Vec<(f64, f64)>) {
    let len = rows.iter().map(Vec::len).min().unwrap_or(0);
    let n = rows.len() as f64;
    let mut mean = Vec::with_capacity(len);
    let mut band = Vec::with_capacity(len);
    for k in 0..len {
        let m = rows.iter().map(|r| r[k]).sum::<f64>() / n;
        let var = if rows.len() > 1 {
            rows.iter().map(|r| (r[k] - m) * (r[k] - m)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        mean.push(m);
        band.push((m - var.sqrt(), m + var.sqrt()));
    }
    (mean, band)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_interpolates_and_holds_the_ends() {
        let c = [(0.0, 0.0), (1.0, 1.0), (1.0, 0.5), (3.0, 1.5)];
        assert_eq!(
            on_grid(&c, &[-1.0, 0.5, 1.0, 2.0, 9.0]),
            [0.0, 0.5, 0.5, 1.0, 1.5]
        );
    }

    #[test]
    fn smoothing_averages_neighbours_and_keeps_short_curves() {
        assert_eq!(smooth(&[1.0, 2.0, 3.0]), [1.0, 2.0, 3.0]);
        let y: Vec<f64> = (0..100)
            .map(|i| if i % 2 == 0 { 1.0 } else { 0.0 })
            .collect();
        let s = smooth(&y);
        assert!(
            s[50..52].iter().all(|v| (v - 0.5).abs() < 0.21),
            "{:?}",
            &s[48..54]
        );
        assert_eq!(s.len(), 100);
    }

    #[test]
    fn band_is_mean_plus_minus_std() {
        let (m, b) = mean_band(&[vec![1.0, 2.0], vec![3.0, 2.0]]);
        assert_eq!(m, [2.0, 2.0]);
        let sd = 2f64.sqrt();
        assert!((b[0].0 - (2.0 - sd)).abs() < 1e-12 && (b[1].1 - 2.0).abs() < 1e-12);
    }
}
