//! Model selection during training: verification accuracy on seeded pairs of held-out
//! identities (never the test pairs), with the best threshold chosen on the pairs themselves.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Pairs of validation images (indices into the validation set) and whether they match.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pairs {
    pub a: Vec<usize>,
    pub b: Vec<usize>,
    pub same: Vec<bool>,
}

impl Pairs {
    pub fn len(&self) -> usize {
        self.same.len()
    }
    pub fn is_empty(&self) -> bool {
        self.same.is_empty()
    }
}

/// Up to `per_kind` matched and `per_kind` mismatched pairs drawn from `labels`; empty when
/// there are fewer than two classes or no class with two images.
pub fn build_pairs(labels: &[usize], per_kind: usize, rng: &mut ChaCha8Rng) -> Pairs {
    let mut classes: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by_key(|&i| (labels[i], i));
    for i in order {
        match classes.last_mut() {
            Some((l, v)) if *l == labels[i] => v.push(i),
            _ => classes.push((labels[i], vec![i])),
        }
    }
    let multi: Vec<&Vec<usize>> = classes
        .iter()
        .map(|c| &c.1)
        .filter(|v| v.len() >= 2)
        .collect();
    let mut p = Pairs::default();
    if classes.len() < 2 || multi.is_empty() {
        return p;
    }
    for _ in 0..per_kind {
        let c = multi[rng.random_range(0..multi.len())];
        let i = rng.random_range(0..c.len());
        let j = (i + rng.random_range(1..c.len())) % c.len();
        p.a.push(c[i]);
        p.b.push(c[j]);
        p.same.push(true);
        let ci = rng.random_range(0..classes.len());
        let cj = (ci + rng.random_range(1..classes.len())) % classes.len();
        let (x, y) = (&classes[ci].1, &classes[cj].1);
        p.a.push(x[rng.random_range(0..x.len())]);
        p.b.push(y[rng.random_range(0..y.len())]);
        p.same.push(false);
    }
    p
}

/// Cosine similarity of rows `a` and `b` of a row-major `[n, dim]` embedding matrix.
pub fn cosine(emb: &[f32], dim: usize, a: usize, b: usize) -> f32 {
    let (x, y) = (&emb[a * dim..(a + 1) * dim], &emb[b * dim..(b + 1) * dim]);
    let dot: f64 = x
        .iter()
        .zip(y)
        .map(|(&p, &q)| f64::from(p) * f64::from(q))
        .sum();
    let nx: f64 = x.iter().map(|&p| f64::from(p).powi(2)).sum::<f64>().sqrt();
    let ny: f64 = y.iter().map(|&p| f64::from(p).powi(2)).sum::<f64>().sqrt();
    (dot / (nx * ny).max(1e-12)) as f32
}

/// Accuracy of the best threshold `score > t => same` over the given scores.
pub fn best_threshold_accuracy(scores: &[f32], same: &[bool]) -> f64 {
    let n = scores.len();
    if n == 0 {
        return 0.0;
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&i, &j| scores[i].total_cmp(&scores[j]).then(i.cmp(&j)));
    // Threshold below everything: all predicted same.
    let mut correct = same.iter().filter(|&&s| s).count();
    let mut best = correct;
    let mut k = 0;
    while k < n {
        // Move every pair with this score to "different".
        let s = scores[idx[k]];
        while k < n && scores[idx[k]] == s {
            if same[idx[k]] {
                correct -= 1;
            } else {
                correct += 1;
            }
            k += 1;
        }
        best = best.max(correct);
    }
    best as f64 / n as f64
}

/// Verification accuracy of embeddings on `pairs`.
pub fn pair_accuracy(emb: &[f32], dim: usize, pairs: &Pairs) -> f64 {
    let scores: Vec<f32> = pairs
        .a
        .iter()
        .zip(&pairs.b)
        .map(|(&a, &b)| cosine(emb, dim, a, b))
        .collect();
    best_threshold_accuracy(&scores, &pairs.same)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn pairs_respect_labels() {
        let labels = [0, 0, 1, 1, 1, 2];
        let p = build_pairs(&labels, 50, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(p.len(), 100);
        for k in 0..p.len() {
            assert_ne!(p.a[k], p.b[k]);
            assert_eq!(labels[p.a[k]] == labels[p.b[k]], p.same[k]);
        }
        assert!(build_pairs(&[0, 1], 5, &mut ChaCha8Rng::seed_from_u64(1)).is_empty());
        assert!(build_pairs(&[3, 3], 5, &mut ChaCha8Rng::seed_from_u64(1)).is_empty());
    }

    #[test]
    fn threshold_accuracy() {
        assert_eq!(
            best_threshold_accuracy(&[0.9, 0.8, 0.1, 0.2], &[true, true, false, false]),
            1.0
        );
        assert_eq!(best_threshold_accuracy(&[0.1, 0.9], &[true, false]), 0.5);
        assert_eq!(best_threshold_accuracy(&[0.5, 0.5], &[true, false]), 0.5);
        let emb = [1.0, 0.0, 2.0, 0.1, 0.0, 1.0];
        assert!((cosine(&emb, 2, 0, 1) - 0.99875).abs() < 1e-4);
        let pairs = Pairs {
            a: vec![0, 0],
            b: vec![1, 2],
            same: vec![true, false],
        };
        assert_eq!(pair_accuracy(&emb, 2, &pairs), 1.0);
    }
}
