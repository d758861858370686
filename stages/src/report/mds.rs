//! Classical (Torgerson) multidimensional scaling of embeddings into 2-D for the report's
//! embedding maps, with a small deterministic power-iteration eigensolver (no LAPACK).
//!
//! For squared distances D², the doubly centred matrix B = -1/2 J D² J has eigenvectors whose
//! scaled top components (v_k * sqrt(lambda_k)) are the MDS coordinates. All sums run
//! sequentially in a fixed order, so the result is bit-identical across runs.

/// Squared Euclidean distance matrix (n x n, row-major) of `n` points of dimension `dim`.
pub fn squared_distances(points: &[f32], dim: usize) -> Vec<f64> {
    let n = points.len().checked_div(dim).unwrap_or(0);
    let mut d = vec![0.0f64; n * n];
    for i in 0..n {
        let pi = &points[i * dim..(i + 1) * dim];
        for j in (i + 1)..n {
            let pj = &points[j * dim..(j + 1) * dim];
            let s: f64 = pi
                .iter()
                .zip(pj)
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum();
            d[i * n + j] = s;
            d[j * n + i] = s;
        }
    }
    d
}

/// Classical MDS of an `n` x `n` squared-distance matrix into `k` dimensions.
/// Returns `n * k` coordinates (row-major); components with non-positive eigenvalues are 0.
pub fn classical_mds(d2: &[f64], n: usize, k: usize) -> Vec<f64> {
    if n == 0 || d2.len() != n * n {
        return Vec::new();
    }
    // B = -1/2 J D2 J: subtract row and column means, add the grand mean.
    let row_mean: Vec<f64> = (0..n)
        .map(|i| d2[i * n..(i + 1) * n].iter().sum::<f64>() / n as f64)
        .collect();
    let grand = row_mean.iter().sum::<f64>() / n as f64;
    let mut b = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            // D2 is symmetric, so the column mean of j equals the row mean of j.
            b[i * n + j] = -0.5 * (d2[i * n + j] - row_mean[i] - row_mean[j] + grand);
        }
    }
    let eig = top_eigenpairs(&mut b, n, k, 500, 1e-12);
    let mut coords = vec![0.0f64; n * k];
    for (c, (lambda, v)) in eig.iter().enumerate() {
        let s = if *lambda > 0.0 { lambda.sqrt() } else { 0.0 };
        for i in 0..n {
            coords[i * k + c] = v[i] * s;
        }
    }
    coords
}

/// The `k` largest eigenpairs of the symmetric matrix `a` (n x n, row-major) by power
/// iteration with deflation (`a` is deflated in place). Eigenvectors have unit norm and a
/// fixed sign (largest-magnitude component positive).
pub fn top_eigenpairs(
    a: &mut [f64],
    n: usize,
    k: usize,
    max_iter: usize,
    tol: f64,
) -> Vec<(f64, Vec<f64>)> {
    let mut out = Vec::with_capacity(k);
    for comp in 0..k.min(n) {
        // Deterministic, non-degenerate start vector.
        let mut v: Vec<f64> = (0..n)
            .map(|i| 1.0 + ((i * 7919 + comp * 104_729) % 1000) as f64 / 1000.0)
            .collect();
        normalise(&mut v);
        let mut lambda = 0.0;
        for _ in 0..max_iter {
            let w = mat_vec(a, n, &v);
            let new_lambda = dot(&v, &w);
            let norm = dot(&w, &w).sqrt();
            if norm == 0.0 {
                break;
            }
            let next: Vec<f64> = w.iter().map(|x| x / norm).collect();
            let diff: f64 = next
                .iter()
                .zip(&v)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            // A negative dominant eigenvalue flips the sign every step; compare up to sign.
            let diff_flip: f64 = next
                .iter()
                .zip(&v)
                .map(|(a, b)| (a + b).abs())
                .fold(0.0, f64::max);
            v = next;
            let converged = diff.min(diff_flip) < tol
                || (new_lambda - lambda).abs() <= tol * new_lambda.abs().max(1.0);
            lambda = new_lambda;
            if converged {
                break;
            }
        }
        lambda = dot(&v, &mat_vec(a, n, &v));
        let (mut best, mut idx) = (0.0f64, 0);
        for (i, x) in v.iter().enumerate() {
            if x.abs() > best {
                best = x.abs();
                idx = i;
            }
        }
        if v[idx] < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
        // Deflate: A <- A - lambda v v^T.
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] -= lambda * v[i] * v[j];
            }
        }
        out.push((lambda, v));
    }
    out
}

fn mat_vec(a: &[f64], n: usize, v: &[f64]) -> Vec<f64> {
    (0..n).map(|i| dot(&a[i * n..(i + 1) * n], v)).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalise(v: &mut [f64]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigenpairs_of_a_known_matrix() {
        // diag(5, 2, 1) rotated by a Givens rotation in the (0, 1) plane.
        let (c, s) = (0.6f64, 0.8f64);
        let mut a = vec![
            5.0 * c * c + 2.0 * s * s,
            (5.0 - 2.0) * c * s,
            0.0,
            (5.0 - 2.0) * c * s,
            5.0 * s * s + 2.0 * c * c,
            0.0,
            0.0,
            0.0,
            1.0,
        ];
        let e = top_eigenpairs(&mut a, 3, 2, 1000, 1e-14);
        assert!((e[0].0 - 5.0).abs() < 1e-8, "{}", e[0].0);
        assert!((e[1].0 - 2.0).abs() < 1e-8, "{}", e[1].0);
        assert!((e[0].1[0] - c).abs() < 1e-6 && (e[0].1[1] - s).abs() < 1e-6);
    }

    #[test]
    fn mds_recovers_planar_distances() {
        // A planar configuration embedded in 5-D with a rotation: MDS must preserve distances.
        let planar = [
            [0.0f32, 0.0],
            [3.0, 0.0],
            [0.0, 4.0],
            [3.0, 4.0],
            [1.0, 2.5],
            [-2.0, 1.0],
        ];
        let (c, s) = (0.6f32, 0.8f32);
        let pts: Vec<f32> = planar
            .iter()
            .flat_map(|p| [c * p[0], s * p[0], p[1] * c, p[1] * s, 7.0])
            .collect();
        let d2 = squared_distances(&pts, 5);
        let xy = classical_mds(&d2, planar.len(), 2);
        for i in 0..planar.len() {
            for j in 0..planar.len() {
                let want = ((planar[i][0] - planar[j][0]).powi(2)
                    + (planar[i][1] - planar[j][1]).powi(2)) as f64;
                let got = (xy[2 * i] - xy[2 * j]).powi(2) + (xy[2 * i + 1] - xy[2 * j + 1]).powi(2);
                assert!((want - got).abs() < 1e-4, "pair ({i},{j}): {want} vs {got}");
            }
        }
        // Deterministic.
        assert_eq!(classical_mds(&d2, planar.len(), 2), xy);
    }

    #[test]
    fn degenerate_inputs() {
        assert!(classical_mds(&[], 0, 2).is_empty());
        let xy = classical_mds(&[0.0], 1, 2);
        assert_eq!(xy, vec![0.0, 0.0]);
    }
}
