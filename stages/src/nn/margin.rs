//! Additive-margin softmax heads (CosFace, ArcFace) with SynFace's mixed labels.
//!
//! Every sample carries up to three `(label, weight)` pairs whose weights sum to 1: identity
//! mixup gives `(y_a, phi), (y_b, 1 - phi)`; domain mixup scales those by `psi` and adds
//! `(y_real, 1 - psi)`. With `T` the dense `[B, C]` matrix of those weights,
//!
//! - logits `= sum_k w_k M(f, y_k)`, which for both margins is `s * (cos + T * (g(cos) - cos))`
//!   with `g(c) = c - m` (CosFace) or `g(c) = cos(acos(c) + m)` (ArcFace, with the usual
//!   fallback `c - m sin(m)` past `theta + m > pi`);
//! - loss `= sum_k w_k CE(logits, y_k) = -mean_b sum_c T[b, c] log_softmax(logits)[b, c]`.

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;

use super::{NnError, Result};

synface_engine::param_enum! {
    /// Which additive margin.
    pub enum MarginKind {
        /// `s * (cos - m)` at the target (default s = 30, m = 0.4).
        CosFace = "cosface",
        /// `s * cos(theta + m)` at the target (default s = 30, m = 0.5).
        ArcFace = "arcface",
    }
}

impl MarginKind {
    /// The default `(s, m)` of this margin.
    pub fn defaults(self) -> (f64, f64) {
        match self {
            MarginKind::CosFace => (30.0, 0.4),
            MarginKind::ArcFace => (30.0, 0.5),
        }
    }
}

/// Mixed targets of a batch: per sample, up to three `(label, weight)` pairs summing to 1.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Targets {
    pub rows: Vec<Vec<(usize, f32)>>,
}

impl Targets {
    /// Plain labels (weight 1).
    pub fn plain(labels: &[usize]) -> Self {
        Targets {
            rows: labels.iter().map(|&l| vec![(l, 1.0)]).collect(),
        }
    }
    /// Identity-mixup labels: `(a, phi), (b, 1 - phi)`.
    pub fn mixed(a: &[usize], b: &[usize], phi: &[f32]) -> Self {
        let rows = a
            .iter()
            .zip(b)
            .zip(phi)
            .map(|((&a, &b), &p)| vec![(a, p), (b, 1.0 - p)])
            .collect();
        Targets { rows }
    }
    /// Domain mixup on top: synthetic weights scaled by `psi`, plus `(real, 1 - psi)`.
    pub fn with_domain(mut self, real: &[usize], psi: f32) -> Result<Self> {
        if real.len() != self.rows.len() {
            return Err(NnError::Input(format!(
                "{} real labels for {} samples",
                real.len(),
                self.rows.len()
            )));
        }
        for (row, &r) in self.rows.iter_mut().zip(real) {
            row.iter_mut().for_each(|(_, w)| *w *= psi);
            row.push((r, 1.0 - psi));
        }
        Ok(self)
    }
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    /// The label with the largest weight of each sample (first on ties).
    pub fn primary(&self) -> Vec<usize> {
        self.rows
            .iter()
            .map(|r| {
                r.iter()
                    .fold((usize::MAX, f32::NEG_INFINITY), |best, &(l, w)| {
                        if w > best.1 {
                            (l, w)
                        } else {
                            best
                        }
                    })
                    .0
            })
            .collect()
    }
    /// Dense `[B, classes]` weight matrix (f32); checks labels and weights.
    pub fn dense(&self, classes: usize, device: &Device) -> Result<Tensor> {
        let mut t = vec![0f32; self.rows.len() * classes];
        for (i, row) in self.rows.iter().enumerate() {
            if row.is_empty() || row.len() > 3 {
                return Err(NnError::Input(format!(
                    "sample {i}: {} labels (1-3)",
                    row.len()
                )));
            }
            let mut sum = 0f32;
            for &(l, w) in row {
                if l >= classes || !(0.0..=1.0).contains(&w) {
                    return Err(NnError::Input(format!(
                        "sample {i}: label {l} / weight {w} out of range ({classes} classes)"
                    )));
                }
                t[i * classes + l] += w;
                sum += w;
            }
            if (sum - 1.0).abs() > 1e-3 {
                return Err(NnError::Input(format!(
                    "sample {i}: weights sum to {sum}, not 1"
                )));
            }
        }
        Ok(Tensor::from_vec(t, (self.rows.len(), classes), device)?)
    }
}

/// Row-wise L2 normalisation of a `[N, D]` tensor.
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = (x.sqr()?.sum_keepdim(D::Minus1)? + 1e-12)?.sqrt()?;
    Ok(x.broadcast_div(&norm)?)
}

/// Margin logits from cosines `[B, C]` and dense targets `T` `[B, C]` (see the module docs).
pub fn margin_logits(cos: &Tensor, t: &Tensor, kind: MarginKind, s: f64, m: f64) -> Result<Tensor> {
    let target = match kind {
        MarginKind::CosFace => (cos - m)?,
        MarginKind::ArcFace => {
            let sin = (1.0 - cos.sqr()?)?.clamp(1e-9, 1.0)?.sqrt()?;
            let shifted = ((cos * m.cos())? - (sin * m.sin())?)?;
            let fallback = (cos - (std::f64::consts::PI - m).sin() * m)?;
            let th = (std::f64::consts::PI - m).cos();
            cos.gt(th)?.where_cond(&shifted, &fallback)?
        }
    };
    let delta = (target - cos)?;
    Ok(((cos + (t * delta)?)? * s)?)
}

/// Weighted cross-entropy `-mean_b sum_c T log_softmax(logits)`.
pub fn mixed_cross_entropy(logits: &Tensor, t: &Tensor) -> Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    Ok((t * logp)?.sum(D::Minus1)?.mean_all()?.neg()?)
}

/// The classification head: a `[classes, dim]` weight matrix and a margin.
#[derive(Debug, Clone)]
pub struct MarginHead {
    weight: Tensor,
    pub kind: MarginKind,
    pub s: f64,
    pub m: f64,
}

/// Loss of a batch and the plain cosines (for training accuracy).
pub struct HeadOutput {
    pub loss: Tensor,
    pub cos: Tensor,
}

impl MarginHead {
    /// `weight` `[classes, dim]` under `vb`.
    pub fn new(
        vb: VarBuilder,
        dim: usize,
        classes: usize,
        kind: MarginKind,
        s: f64,
        m: f64,
    ) -> Result<Self> {
        if classes == 0 || s <= 0.0 || !(0.0..std::f64::consts::FRAC_PI_2).contains(&m) {
            return Err(NnError::Config(format!(
                "margin head needs classes > 0, s > 0 and 0 <= m < pi/2 (got {classes}, {s}, {m})"
            )));
        }
        let weight = vb.get_with_hints(
            (classes, dim),
            "weight",
            candle_nn::init::DEFAULT_KAIMING_NORMAL,
        )?;
        Ok(MarginHead { weight, kind, s, m })
    }
    pub fn classes(&self) -> usize {
        self.weight.dims()[0]
    }
    /// Cosines between normalised embeddings `[B, D]` and normalised class weights.
    pub fn cosine(&self, emb: &Tensor) -> Result<Tensor> {
        let f = l2_normalize(emb)?;
        let w = l2_normalize(&self.weight)?;
        Ok(f.matmul(&w.t()?)?)
    }
    /// Mixed-label margin loss of a batch.
    pub fn forward(&self, emb: &Tensor, targets: &Targets) -> Result<HeadOutput> {
        let cos = self.cosine(emb)?;
        let t = targets
            .dense(self.classes(), emb.device())?
            .to_dtype(cos.dtype())?;
        let logits = margin_logits(&cos, &t, self.kind, self.s, self.m)?;
        let loss = mixed_cross_entropy(&logits, &t)?;
        Ok(HeadOutput { loss, cos })
    }
}

/// Fraction of rows whose argmax equals `labels`.
pub fn accuracy(scores: &Tensor, labels: &[usize]) -> Result<f64> {
    let pred: Vec<u32> = scores.argmax(D::Minus1)?.to_dtype(DType::U32)?.to_vec1()?;
    let hits = pred
        .iter()
        .zip(labels)
        .filter(|(&p, &l)| p as usize == l)
        .count();
    Ok(hits as f64 / labels.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(t: &Tensor) -> f64 {
        t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
    }

    /// `ln(sum exp(z)) - z[y]` for one row.
    fn ce(z: &[f64], y: usize) -> f64 {
        let mx = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        mx + z.iter().map(|v| (v - mx).exp()).sum::<f64>().ln() - z[y]
    }

    fn cos_tensor(rows: &[[f32; 3]]) -> Tensor {
        Tensor::from_vec(rows.concat(), (rows.len(), 3), &Device::Cpu).unwrap()
    }

    #[test]
    fn cosface_by_hand() {
        // cos = [0.5, 0.2, -0.1], label 0: logits 30*[0.1, 0.2, -0.1] = [3, 6, -3].
        let cos = cos_tensor(&[[0.5, 0.2, -0.1]]);
        let t = Targets::plain(&[0]).dense(3, &Device::Cpu).unwrap();
        let z = margin_logits(&cos, &t, MarginKind::CosFace, 30.0, 0.4).unwrap();
        let zv: Vec<f32> = z.flatten_all().unwrap().to_vec1().unwrap();
        for (a, b) in zv.iter().zip([3.0, 6.0, -3.0]) {
            assert!((a - b).abs() < 1e-4, "{zv:?}");
        }
        let want = (3f64.exp() + 6f64.exp() + (-3f64).exp()).ln() - 3.0;
        let got = scalar(&mixed_cross_entropy(&z, &t).unwrap());
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }

    #[test]
    fn arcface_by_hand() {
        // cos 0.5 = cos(pi/3) at the target: cos(pi/3 + 0.5) = 0.5 cos 0.5 - (sqrt 3 / 2) sin 0.5.
        let cos = cos_tensor(&[[0.2, 0.5, 0.0]]);
        let t = Targets::plain(&[1]).dense(3, &Device::Cpu).unwrap();
        let z = margin_logits(&cos, &t, MarginKind::ArcFace, 30.0, 0.5).unwrap();
        let target = 0.5 * 0.5f64.cos() - 3f64.sqrt() / 2.0 * 0.5f64.sin();
        let want_z = [6.0, 30.0 * target, 0.0];
        let zv: Vec<f32> = z.flatten_all().unwrap().to_vec1().unwrap();
        for (a, b) in zv.iter().zip(want_z) {
            assert!((*a as f64 - b).abs() < 1e-3, "{zv:?} vs {want_z:?}");
        }
        let got = scalar(&mixed_cross_entropy(&z, &t).unwrap());
        assert!((got - ce(&want_z, 1)).abs() < 1e-3);
        // Past theta + m > pi the fallback cos - m sin(m) applies: cos = -0.95 at the target.
        let cos = cos_tensor(&[[-0.95, 0.0, 0.0]]);
        let t = Targets::plain(&[0]).dense(3, &Device::Cpu).unwrap();
        let z = margin_logits(&cos, &t, MarginKind::ArcFace, 1.0, 0.5).unwrap();
        let z0: Vec<f32> = z.flatten_all().unwrap().to_vec1().unwrap();
        assert!((z0[0] as f64 - (-0.95 - 0.5 * 0.5f64.sin())).abs() < 1e-5);
    }

    #[test]
    fn mixed_labels_by_hand_and_at_phi_one() {
        let cos = cos_tensor(&[[0.5, 0.2, -0.1], [0.1, 0.3, 0.6]]);
        let (a, b) = ([0usize, 2], [1usize, 1]);
        // phi = 1: identical to the plain loss.
        let plain = Targets::plain(&a).dense(3, &Device::Cpu).unwrap();
        let mixed = Targets::mixed(&a, &b, &[1.0, 1.0])
            .dense(3, &Device::Cpu)
            .unwrap();
        for kind in [MarginKind::CosFace, MarginKind::ArcFace] {
            let lp = mixed_cross_entropy(
                &margin_logits(&cos, &plain, kind, 30.0, 0.4).unwrap(),
                &plain,
            );
            let lm = mixed_cross_entropy(
                &margin_logits(&cos, &mixed, kind, 30.0, 0.4).unwrap(),
                &mixed,
            );
            assert!((scalar(&lp.unwrap()) - scalar(&lm.unwrap())).abs() < 1e-6);
        }
        // phi = 0.7 on row 0 (CosFace): logits = 30 * (cos - 0.4 * [0.7, 0.3, 0]).
        let t = Targets::mixed(&[0], &[1], &[0.7])
            .dense(3, &Device::Cpu)
            .unwrap();
        let cos0 = cos_tensor(&[[0.5, 0.2, -0.1]]);
        let z = margin_logits(&cos0, &t, MarginKind::CosFace, 30.0, 0.4).unwrap();
        let zh = [30.0 * (0.5 - 0.28), 30.0 * (0.2 - 0.12), -3.0];
        let want = 0.7 * ce(&zh, 0) + 0.3 * ce(&zh, 1);
        let got = scalar(&mixed_cross_entropy(&z, &t).unwrap());
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }

    #[test]
    fn domain_term_at_psi_one_is_the_synthetic_loss() {
        let cos = cos_tensor(&[[0.5, 0.2, -0.1], [0.1, 0.3, 0.6]]);
        let syn = Targets::mixed(&[0, 2], &[1, 0], &[0.6, 0.8]);
        let dom = syn.clone().with_domain(&[2, 1], 1.0).unwrap();
        let half = syn.clone().with_domain(&[2, 1], 0.5).unwrap();
        for kind in [MarginKind::CosFace, MarginKind::ArcFace] {
            let loss = |tg: &Targets| {
                let t = tg.dense(3, &Device::Cpu).unwrap();
                scalar(
                    &mixed_cross_entropy(&margin_logits(&cos, &t, kind, 30.0, 0.5).unwrap(), &t)
                        .unwrap(),
                )
            };
            assert!((loss(&syn) - loss(&dom)).abs() < 1e-6);
            assert!((loss(&syn) - loss(&half)).abs() > 1e-3);
        }
        let want = [(0, 0.3), (1, 0.2), (2, 0.5)];
        for (&(l, w), (wl, ww)) in half.rows[0].iter().zip(want) {
            assert!(l == wl && (w - ww).abs() < 1e-6, "{:?}", half.rows[0]);
        }
        assert_eq!(half.primary(), vec![2, 1]);
    }

    #[test]
    fn bad_targets_are_errors() {
        assert!(Targets::plain(&[3]).dense(3, &Device::Cpu).is_err());
        let t = Targets {
            rows: vec![vec![(0, 0.5)]],
        };
        assert!(t.dense(3, &Device::Cpu).is_err());
        assert!(Targets::plain(&[0]).with_domain(&[1, 2], 0.5).is_err());
    }
}
