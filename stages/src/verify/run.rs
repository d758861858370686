//! The verify pipeline, independent of the stage plumbing: embed the images the pairs use
//! (optionally adding each image's mirror's embedding), L2-normalise and score the pairs
//! with synface-kernels, compute the metrics, and encode the published files.

use std::collections::BTreeSet;

use safetensors::tensor::{Dtype, TensorView};
use synface_engine::StageError;
use synface_kernels::Backend;

use super::metrics::{evaluate, Metrics, Roc, Scored};
use super::pairs::PairSet;
use crate::dataset::{Dataset, DatasetInfo};

/// Anything that turns u8 NHWC images into raw embeddings `[n, dim]` (the trained model, or
/// a stand-in in tests).
pub trait Embed {
    fn dim(&self) -> usize;
    fn embed(&self, images: &[u8], n: usize, h: usize, w: usize) -> Result<Vec<f32>, StageError>;
}

impl Embed for crate::nn::embedder::Embedder {
    fn dim(&self) -> usize {
        crate::nn::embedder::Embedder::dim(self)
    }
    fn embed(&self, images: &[u8], n: usize, h: usize, w: usize) -> Result<Vec<f32>, StageError> {
        crate::nn::embedder::Embedder::embed(self, images, n, h, w)
    }
}

/// Images per call to [`Embed::embed`] (bounds the memory of the gathered batch).
const CHUNK: usize = 256;

/// Everything the verify stage publishes.
#[derive(Debug, Clone)]
pub struct Verified {
    /// One score per pair, in pair order.
    pub scores: Vec<f32>,
    pub metrics: Metrics,
    pub roc: Roc,
    pub dim: usize,
    /// Normalised embeddings of the first (by image index) used images, and their labels.
    pub embeddings: Vec<f32>,
    pub labels: Vec<i64>,
}

/// Mirror each `h`x`w` RGB image left-right.
pub fn flip_horizontal(images: &[u8], h: usize, w: usize) -> Vec<u8> {
    let mut out = vec![0u8; images.len()];
    for (src, dst) in images.chunks_exact(w * 3).zip(out.chunks_exact_mut(w * 3)) {
        for x in 0..w {
            dst[x * 3..x * 3 + 3].copy_from_slice(&src[(w - 1 - x) * 3..(w - x) * 3]);
        }
    }
    let _ = h;
    out
}

/// Raw embeddings `[idx.len(), dim]` of the images `idx` of `data` (plus their mirrors' when
/// `flip`).
pub fn embed_images(
    model: &dyn Embed,
    data: &Dataset,
    idx: &[u32],
    flip: bool,
) -> Result<Vec<f32>, StageError> {
    let (h, w) = (data.info.height, data.info.width);
    let mut out = Vec::with_capacity(idx.len() * model.dim());
    for chunk in idx.chunks(CHUNK) {
        let imgs: Vec<u8> = chunk
            .iter()
            .flat_map(|&k| data.image(k as usize).iter().copied())
            .collect();
        let mut e = model.embed(&imgs, chunk.len(), h, w)?;
        if e.len() != chunk.len() * model.dim() {
            return Err(StageError::msg(format!(
                "model returned {} values for {} images of dim {}",
                e.len(),
                chunk.len(),
                model.dim()
            )));
        }
        if flip {
            let f = model.embed(&flip_horizontal(&imgs, h, w), chunk.len(), h, w)?;
            e.iter_mut().zip(&f).for_each(|(a, b)| *a += b);
        }
        out.extend(e);
    }
    Ok(out)
}

/// Embed, score and evaluate `pairs` on `data`.
pub fn verify(
    model: &dyn Embed,
    data: &Dataset,
    pairs: &PairSet,
    flip: bool,
    backend: &Backend,
    max_embeddings: usize,
) -> Result<Verified, StageError> {
    pairs
        .check_range(data.len())
        .map_err(|e| StageError::Input(e.to_string()))?;
    let used: Vec<u32> = pairs
        .pairs
        .iter()
        .flat_map(|p| [p.i, p.j])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let dim = model.dim();
    let mut emb = embed_images(model, data, &used, flip)?;
    let kerr = |e: synface_kernels::KernelError| StageError::msg(format!("kernels: {e}"));
    backend.l2_normalize(&mut emb, dim).map_err(kerr)?;
    let pos = |k: u32| {
        used.binary_search(&k)
            .map(|p| p as u32)
            .map_err(|_| StageError::msg("pair index not embedded"))
    };
    let local: Vec<(u32, u32)> = pairs
        .pairs
        .iter()
        .map(|p| Ok((pos(p.i)?, pos(p.j)?)))
        .collect::<Result<_, StageError>>()?;
    let scores = backend.cosine_pairs(&emb, dim, &local).map_err(kerr)?;
    let scored: Vec<Scored> = pairs
        .pairs
        .iter()
        .zip(&scores)
        .map(|(p, &score)| Scored {
            fold: p.fold as usize,
            same: p.label == 1,
            score,
        })
        .collect();
    let (metrics, roc) = evaluate(&scored).map_err(|e| StageError::msg(format!("metrics: {e}")))?;
    let keep = used.len().min(max_embeddings);
    Ok(Verified {
        scores,
        metrics,
        roc,
        dim,
        embeddings: emb[..keep * dim].to_vec(),
        labels: used[..keep]
            .iter()
            .map(|&k| data.label_a[k as usize])
            .collect(),
    })
}

impl Verified {
    /// `scores.csv`: `fold,label,score`, one line per pair.
    pub fn scores_csv(&self, pairs: &PairSet) -> String {
        let mut s = String::from("fold,label,score\n");
        for (p, v) in pairs.pairs.iter().zip(&self.scores) {
            s.push_str(&format!("{},{},{}\n", p.fold, p.label, v));
        }
        s
    }

    /// `embeddings.safetensors`: `embeddings` f32 `[n, dim]` and `labels` i64 `[n]`.
    pub fn embeddings_safetensors(&self) -> Result<Vec<u8>, StageError> {
        let n = self.labels.len();
        let e: Vec<u8> = self
            .embeddings
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let l: Vec<u8> = self.labels.iter().flat_map(|x| x.to_le_bytes()).collect();
        let st = |e: safetensors::SafeTensorError| StageError::msg(format!("safetensors: {e}"));
        let tensors = vec![
            (
                "embeddings",
                TensorView::new(Dtype::F32, vec![n, self.dim], &e).map_err(st)?,
            ),
            (
                "labels",
                TensorView::new(Dtype::I64, vec![n], &l).map_err(st)?,
            ),
        ];
        safetensors::serialize(tensors, None)
            .map_err(|e| StageError::msg(format!("safetensors: {e}")))
    }
}

/// Identity ids shared by the test images and the training set, when both datasets carry
/// `identity_ids` (empty otherwise). Only classes that appear in `test_labels` count.
pub fn shared_identities(test: &DatasetInfo, test_labels: &[i64], train: &DatasetInfo) -> Vec<u64> {
    if test.identity_ids.is_empty() || train.identity_ids.is_empty() {
        return Vec::new();
    }
    let train_ids: BTreeSet<u64> = train.identity_ids.iter().copied().collect();
    let test_ids: BTreeSet<u64> = test_labels
        .iter()
        .filter_map(|&l| test.identity_ids.get(usize::try_from(l).ok()?))
        .copied()
        .collect();
    test_ids.intersection(&train_ids).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Domain;
    use crate::verify::pairs::Pair;

    /// A stand-in model: the embedding of an image is its mean colour per channel, minus 100.
    struct MeanColour;
    impl Embed for MeanColour {
        fn dim(&self) -> usize {
            3
        }
        fn embed(
            &self,
            images: &[u8],
            n: usize,
            h: usize,
            w: usize,
        ) -> Result<Vec<f32>, StageError> {
            Ok(images
                .chunks_exact(h * w * 3)
                .take(n)
                .flat_map(|img| {
                    (0..3).map(move |c| {
                        img.iter()
                            .skip(c)
                            .step_by(3)
                            .map(|&v| v as f32)
                            .sum::<f32>()
                            / (h * w) as f32
                            - 100.0
                    })
                })
                .collect())
        }
    }

    fn dataset() -> Dataset {
        // 4 classes x 3 images, 2x2 pixels; class c has colour c-dependent, images vary a bit.
        let (n, hw) = (12, 4);
        let mut images = Vec::new();
        for k in 0..n {
            let c = k / 3;
            for p in 0..hw {
                let base = [40 + 60 * c, 200 - 50 * c, 100 + 30 * (c % 2)];
                images.extend(base.iter().map(|&b| (b + (k % 3) * 3 + p) as u8));
            }
        }
        Dataset {
            info: DatasetInfo {
                domain: Domain::Synthetic,
                num_classes: 4,
                height: 2,
                width: 2,
                class_names: vec![],
                identity_ids: vec![10, 11, 12, 13],
                sources: vec![],
            },
            images,
            label_a: (0..n as i64).map(|k| k / 3).collect(),
            label_b: (0..n as i64).map(|k| k / 3).collect(),
            phi: vec![1.0; n],
            landmarks: None,
        }
    }

    #[test]
    fn verify_on_fixed_embeddings() {
        let d = dataset();
        let pairs = PairSet {
            folds: 2,
            per_fold: 2,
            pairs: vec![
                Pair {
                    fold: 0,
                    i: 0,
                    j: 1,
                    label: 1,
                },
                Pair {
                    fold: 0,
                    i: 3,
                    j: 5,
                    label: 1,
                },
                Pair {
                    fold: 0,
                    i: 0,
                    j: 3,
                    label: 0,
                },
                Pair {
                    fold: 0,
                    i: 1,
                    j: 4,
                    label: 0,
                },
                Pair {
                    fold: 1,
                    i: 6,
                    j: 7,
                    label: 1,
                },
                Pair {
                    fold: 1,
                    i: 9,
                    j: 11,
                    label: 1,
                },
                Pair {
                    fold: 1,
                    i: 6,
                    j: 9,
                    label: 0,
                },
                Pair {
                    fold: 1,
                    i: 8,
                    j: 10,
                    label: 0,
                },
            ],
        };
        let v = verify(&MeanColour, &d, &pairs, false, &Backend::Cpu, 5).unwrap();
        // Scores equal the cosine of the stand-in embeddings computed here independently.
        let all = MeanColour.embed(&d.images, 12, 2, 2).unwrap();
        let mut expect = Vec::new();
        for (p, s) in pairs.pairs.iter().zip(&v.scores) {
            let (a, b) = (&all[p.i as usize * 3..][..3], &all[p.j as usize * 3..][..3]);
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let n = |x: &[f32]| x.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((s - dot / n(a) / n(b)).abs() < 1e-5);
            expect.push(Scored {
                fold: p.fold as usize,
                same: p.label == 1,
                score: *s,
            });
        }
        // Matched pairs score above every mismatched pair here: AUC 1, EER 0.
        assert_eq!(v.metrics.auc, 1.0);
        assert_eq!(v.metrics.eer, 0.0);
        assert_eq!(
            v.metrics.fold_accuracy,
            crate::verify::metrics::kfold(&expect).unwrap().0
        );
        assert_eq!((v.labels.len(), v.embeddings.len()), (5, 15));
        assert_eq!(v.labels, vec![0, 0, 1, 1, 1]);
        let csv = v.scores_csv(&pairs);
        assert!(csv.starts_with("fold,label,score\n0,1,"));
        assert_eq!(csv.lines().count(), 9);
        let st = v.embeddings_safetensors().unwrap();
        let parsed = safetensors::SafeTensors::deserialize(&st).unwrap();
        assert_eq!(parsed.tensor("embeddings").unwrap().shape(), &[5, 3]);
        // Flip: the stand-in's mean colour is mirror-invariant, so the sum doubles it and the
        // cosines are unchanged.
        let vf = verify(&MeanColour, &d, &pairs, true, &Backend::Cpu, 5).unwrap();
        for (a, b) in v.scores.iter().zip(&vf.scores) {
            assert!((a - b).abs() < 1e-5);
        }
        let bad = PairSet {
            folds: 1,
            per_fold: 1,
            pairs: vec![Pair {
                fold: 0,
                i: 0,
                j: 12,
                label: 1,
            }],
        };
        assert!(verify(&MeanColour, &d, &bad, false, &Backend::Cpu, 5).is_err());
    }

    #[test]
    fn flip_and_disjointness() {
        // 1x2 image: pixels (1,2,3) (4,5,6) -> (4,5,6) (1,2,3).
        assert_eq!(
            flip_horizontal(&[1, 2, 3, 4, 5, 6], 1, 2),
            vec![4, 5, 6, 1, 2, 3]
        );
        let d = dataset();
        let mut train = d.info.clone();
        train.identity_ids = vec![1, 2, 12];
        assert_eq!(shared_identities(&d.info, &d.label_a, &train), vec![12]);
        assert!(shared_identities(&d.info, &d.label_a[..6], &train).is_empty());
        train.identity_ids.clear();
        assert!(shared_identities(&d.info, &d.label_a, &train).is_empty());
    }
}
