//! Verification pair lists (`pairs.json` of a `pairs` artifact): generated LFW-style from a
//! labelled test set, or resolved from an LFW `pairs.txt` against a dataset's image sources.

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::lfw::{ImageRef, LfwPair, LfwPairs};

/// One pair of image indices into the test dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pair {
    pub fold: u32,
    pub i: u32,
    pub j: u32,
    /// 1 = same identity, 0 = different.
    pub label: u8,
}

/// The content of `pairs.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PairSet {
    pub folds: usize,
    /// Matched (= mismatched) pairs per fold.
    pub per_fold: usize,
    pub pairs: Vec<Pair>,
}

/// Why pairs cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PairsError {
    #[error("{0}")]
    TooSmall(String),
    #[error("pairs.txt line {line}: image `{path}` is not in the dataset")]
    Missing { line: usize, path: String },
    #[error("pair {at} refers to image {index} but the dataset has {len}")]
    OutOfRange { at: usize, index: u32, len: usize },
}

impl PairSet {
    /// Index pairs for the kernels.
    pub fn index_pairs(&self) -> Vec<(u32, u32)> {
        self.pairs.iter().map(|p| (p.i, p.j)).collect()
    }

    /// Check every index is below `n` images.
    pub fn check_range(&self, n: usize) -> Result<(), PairsError> {
        for (at, p) in self.pairs.iter().enumerate() {
            for index in [p.i, p.j] {
                if index as usize >= n {
                    return Err(PairsError::OutOfRange { at, index, len: n });
                }
            }
        }
        Ok(())
    }

    /// The pairs as LFW `pairs.txt` content, naming image `k` as `names[k]` (identity name,
    /// 1-based number).
    pub fn to_lfw(&self, names: &[ImageRef]) -> LfwPairs {
        let pairs = self
            .pairs
            .iter()
            .map(|p| LfwPair {
                fold: p.fold as usize,
                a: names[p.i as usize].clone(),
                b: names[p.j as usize].clone(),
                same: p.label == 1,
            })
            .collect();
        LfwPairs {
            folds: self.folds,
            per_fold: self.per_fold,
            pairs,
        }
    }
}

/// Generate an LFW-style protocol: classes are dealt (shuffled, seeded) into `folds`
/// identity-disjoint folds; each fold gets `per_fold` matched pairs (two distinct images of one
/// class) and `per_fold` mismatched pairs (images of two classes), all distinct. `classes[k]`
/// is image `k`'s class, `None` for images that must not be used (mixed images).
/// `per_fold` is scaled down to what the smallest fold can supply.
pub fn generate(
    classes: &[Option<i64>],
    folds: usize,
    per_fold: usize,
    seed: u64,
) -> Result<PairSet, PairsError> {
    let mut by_class: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for (k, c) in classes.iter().enumerate() {
        if let Some(c) = c {
            by_class.entry(*c).or_default().push(k as u32);
        }
    }
    let mut ids: Vec<i64> = by_class.keys().copied().collect();
    if folds == 0 || ids.len() < 2 * folds {
        return Err(PairsError::TooSmall(format!(
            "{} usable classes cannot make {folds} folds (each fold needs at least 2 classes)",
            ids.len()
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    ids.shuffle(&mut rng);
    let fold_classes: Vec<Vec<&Vec<u32>>> = (0..folds)
        .map(|f| {
            ids.iter()
                .skip(f)
                .step_by(folds)
                .map(|c| &by_class[c])
                .collect()
        })
        .collect();
    // Capacity of each fold: distinct matched pairs and distinct mismatched pairs.
    let cap = |cs: &Vec<&Vec<u32>>| -> usize {
        let m: usize = cs.iter().map(|v| v.len() * (v.len() - 1) / 2).sum();
        let total: usize = cs.iter().map(|v| v.len()).sum();
        let mis = (total * total - cs.iter().map(|v| v.len() * v.len()).sum::<usize>()) / 2;
        m.min(mis)
    };
    let feasible = fold_classes.iter().map(cap).min().unwrap_or(0);
    let per = per_fold.min(feasible);
    if per == 0 {
        return Err(PairsError::TooSmall(
            "a fold has no class with two images: use fewer folds or more images per class".into(),
        ));
    }
    if per < per_fold {
        tracing::info!("pairs: scaled down to {per} matched + {per} mismatched pairs per fold (asked {per_fold})");
    }
    let mut pairs = Vec::with_capacity(2 * folds * per);
    for (f, cs) in fold_classes.iter().enumerate() {
        let fold = f as u32;
        let multi: Vec<&Vec<u32>> = cs.iter().copied().filter(|v| v.len() >= 2).collect();
        let matched: Vec<(u32, u32)> = pick_distinct(
            &mut rng,
            per,
            |rng| {
                let v = multi[rng.random_range(0..multi.len())];
                let a = rng.random_range(0..v.len());
                let b = (a + rng.random_range(1..v.len())) % v.len();
                (v[a.min(b)], v[a.max(b)])
            },
            all_matched(&multi),
        );
        pairs.extend(matched.into_iter().map(|(i, j)| Pair {
            fold,
            i,
            j,
            label: 1,
        }));
        let mis = pick_distinct(
            &mut rng,
            per,
            |rng| {
                let a = rng.random_range(0..cs.len());
                let b = (a + rng.random_range(1..cs.len())) % cs.len();
                let (x, y) = (cs[a], cs[b]);
                let (i, j) = (
                    x[rng.random_range(0..x.len())],
                    y[rng.random_range(0..y.len())],
                );
                (i.min(j), i.max(j))
            },
            || all_mismatched(cs),
        );
        pairs.extend(mis.into_iter().map(|(i, j)| Pair {
            fold,
            i,
            j,
            label: 0,
        }));
    }
    Ok(PairSet {
        folds,
        per_fold: per,
        pairs,
    })
}

fn all_matched<'a>(multi: &'a [&'a Vec<u32>]) -> impl Fn() -> Vec<(u32, u32)> + 'a {
    move || {
        let mut v = Vec::new();
        for c in multi {
            for a in 0..c.len() {
                for b in a + 1..c.len() {
                    v.push((c[a], c[b]));
                }
            }
        }
        v
    }
}

fn all_mismatched(cs: &[&Vec<u32>]) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for a in 0..cs.len() {
        for b in a + 1..cs.len() {
            for &i in cs[a] {
                for &j in cs[b] {
                    v.push((i.min(j), i.max(j)));
                }
            }
        }
    }
    v
}

/// `n` distinct pairs: by rejection sampling while that is cheap, else by shuffling the full
/// candidate list (`all`). Deterministic for a given rng state. Output sorted.
fn pick_distinct(
    rng: &mut ChaCha8Rng,
    n: usize,
    mut sample: impl FnMut(&mut ChaCha8Rng) -> (u32, u32),
    all: impl Fn() -> Vec<(u32, u32)>,
) -> Vec<(u32, u32)> {
    let mut set = BTreeSet::new();
    let mut tries = 0;
    while set.len() < n && tries < 20 * n {
        set.insert(sample(rng));
        tries += 1;
    }
    if set.len() < n {
        let mut cands = all();
        cands.shuffle(rng);
        set.clear();
        set.extend(cands.into_iter().take(n));
    }
    set.into_iter().collect()
}

/// Resolve an LFW `pairs.txt` against a dataset whose image `k` came from `sources[k]`
/// (matched on the last two path components, `name/name_0001.jpg`).
pub fn from_lfw(
    lfw: &LfwPairs,
    text_lines: &[usize],
    sources: &[String],
) -> Result<PairSet, PairsError> {
    let key = |s: &str| -> String {
        let parts: Vec<&str> = s.rsplit(['/', '\\']).take(2).collect();
        parts.into_iter().rev().collect::<Vec<_>>().join("/")
    };
    let index: BTreeMap<String, u32> = sources
        .iter()
        .enumerate()
        .map(|(k, s)| (key(s), k as u32))
        .collect();
    let mut pairs = Vec::with_capacity(lfw.pairs.len());
    for (k, p) in lfw.pairs.iter().enumerate() {
        let look = |r: &ImageRef| {
            index
                .get(&r.path())
                .copied()
                .ok_or_else(|| PairsError::Missing {
                    line: text_lines.get(k).copied().unwrap_or(0),
                    path: r.path(),
                })
        };
        pairs.push(Pair {
            fold: p.fold as u32,
            i: look(&p.a)?,
            j: look(&p.b)?,
            label: u8::from(p.same),
        });
    }
    Ok(PairSet {
        folds: lfw.folds,
        per_fold: lfw.per_fold,
        pairs,
    })
}

/// 1-based line numbers of the pair lines of `text` (non-blank lines after the header).
pub fn pair_line_numbers(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .skip(1)
        .map(|(i, _)| i + 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::lfw;

    #[test]
    fn generated_protocol_is_valid_and_seeded() {
        // 40 classes of 4 images; image 3 of class 0 is mixed (excluded).
        let mut classes: Vec<Option<i64>> = (0..160).map(|k| Some(k as i64 / 4)).collect();
        classes[3] = None;
        let p = generate(&classes, 4, 10, 7).unwrap();
        assert_eq!((p.folds, p.per_fold, p.pairs.len()), (4, 10, 80));
        let mut seen = BTreeSet::new();
        let mut fold_of_class = BTreeMap::new();
        for q in &p.pairs {
            assert_ne!(q.i, q.j);
            assert!(q.i != 3 && q.j != 3, "mixed image used");
            let (ci, cj) = (
                classes[q.i as usize].unwrap(),
                classes[q.j as usize].unwrap(),
            );
            assert_eq!(q.label == 1, ci == cj);
            assert!(seen.insert((q.fold, q.i, q.j)), "duplicate pair");
            for c in [ci, cj] {
                // Folds are identity-disjoint.
                assert_eq!(*fold_of_class.entry(c).or_insert(q.fold), q.fold);
            }
        }
        for f in 0..4 {
            let n = |l| {
                p.pairs
                    .iter()
                    .filter(|q| q.fold == f && q.label == l)
                    .count()
            };
            assert_eq!((n(1), n(0)), (10, 10));
        }
        assert_eq!(generate(&classes, 4, 10, 7).unwrap(), p);
        assert_ne!(generate(&classes, 4, 10, 8).unwrap(), p);
    }

    #[test]
    fn small_sets_scale_down_or_fail() {
        // 4 classes of 2 images, 2 folds: each fold has 2 matched pairs possible.
        let classes: Vec<Option<i64>> = (0..8).map(|k| Some(k as i64 / 2)).collect();
        let p = generate(&classes, 2, 300, 1).unwrap();
        assert_eq!(p.per_fold, 2);
        assert_eq!(p.pairs.len(), 8);
        assert!(matches!(
            generate(&classes, 3, 10, 1),
            Err(PairsError::TooSmall(_))
        ));
        let singles: Vec<Option<i64>> = (0..8).map(|k| Some(k as i64)).collect();
        assert!(matches!(
            generate(&singles, 2, 10, 1),
            Err(PairsError::TooSmall(_))
        ));
    }

    #[test]
    fn lfw_file_resolves_through_sources() {
        let text = "1 1\nAnn\t1\t2\n\nAnn\t1\tBob\t1\n";
        let l = lfw::parse(text).unwrap();
        let sources: Vec<String> = [
            "lfw/Ann/Ann_0001.jpg",
            "lfw/Ann/Ann_0002.jpg",
            "Bob/Bob_0001.jpg",
        ]
        .map(String::from)
        .to_vec();
        let lines = pair_line_numbers(text);
        assert_eq!(lines, vec![2, 4]);
        let p = from_lfw(&l, &lines, &sources).unwrap();
        assert_eq!(
            p.pairs,
            vec![
                Pair {
                    fold: 0,
                    i: 0,
                    j: 1,
                    label: 1
                },
                Pair {
                    fold: 0,
                    i: 0,
                    j: 2,
                    label: 0
                }
            ]
        );
        let e = from_lfw(&l, &lines, &sources[..2]).unwrap_err();
        assert_eq!(
            e,
            PairsError::Missing {
                line: 4,
                path: "Bob/Bob_0001.jpg".into()
            }
        );
        assert!(p.check_range(3).is_ok());
        assert!(p.check_range(2).is_err());
        let names: Vec<ImageRef> = ["Ann", "Ann", "Bob"]
            .iter()
            .zip([1, 2, 1])
            .map(|(n, k)| ImageRef {
                name: n.to_string(),
                number: k,
            })
            .collect();
        assert_eq!(lfw::parse(&p.to_lfw(&names).to_text()).unwrap(), l);
    }
}
