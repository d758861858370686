//! Stage kind `pairs`: the verification protocol of a test set, as an artifact of type
//! `"pairs"`: `pairs.json` ([`PairSet`]: fold, i, j, label) and the published `pairs.txt`
//! (LFW format). Either generated LFW-style from the dataset's labels (seeded, scaled down
//! for small sets) or read from an LFW `pairs.txt` resolved through the dataset's `sources`.

use std::path::Path;

use super::path_params;
use synface_engine::inputs::ExternalInput;
use synface_engine::{
    Artifact, ParamIssue, ParamRule, PortSpec, Resources, RunCtx, StageError, TypedStage,
};

use crate::artifacts::{pairs, DATASET, PAIRS};

use crate::dataset::Dataset;
use crate::verify::lfw::{self, ImageRef};
use crate::verify::pairs::{from_lfw, generate, pair_line_numbers, PairSet};

synface_engine::stage_params! {
    /// Parameters of `pairs`.
    pub struct PairsParams {
        /// number of identity-disjoint folds (generated protocol)
        folds: u64 = 10u64 => ParamRule::at_least(1.0),
        /// matched (and mismatched) pairs per fold; scaled down when the set is small
        per_fold: u64 = 300u64 => ParamRule::at_least(1.0),
        /// LFW pairs.txt to read instead of generating ("" = generate)
        file: String = "",
    }
}

/// The `pairs` stage kind.
pub struct Pairs;

/// LFW-style names of a dataset's images: class name (or `id<identity>` / `class<label>`) and
/// the 1-based position of the image within its class.
fn image_names(d: &Dataset) -> Vec<ImageRef> {
    let mut count = vec![0u32; d.info.num_classes];
    d.label_a
        .iter()
        .map(|&l| {
            let c = l as usize;
            count[c] += 1;
            let name = match (d.info.class_names.get(c), d.info.identity_ids.get(c)) {
                (Some(n), _) => n.replace(char::is_whitespace, "_"),
                (None, Some(id)) => format!("id{id}"),
                (None, None) => format!("class{c}"),
            };
            ImageRef {
                name,
                number: count[c],
            }
        })
        .collect()
}

impl TypedStage for Pairs {
    type Params = PairsParams;
    const KIND: &'static str = "pairs";
    const VERSION: u32 = 1;
    const ABOUT: &'static str =
        "LFW-style verification pairs of a test set (generated, or read from pairs.txt)";
    const INPUTS: &'static [PortSpec] = &[PortSpec::new("input", DATASET)];
    const OUTPUT: &'static str = PAIRS;
    const RESOURCES: Resources = Resources {
        mem_mb: 512,
        ..Resources::DEFAULT
    };

    fn check(&self, p: &PairsParams) -> Vec<ParamIssue> {
        match p.file.is_empty() || Path::new(&p.file).is_file() {
            true => Vec::new(),
            false => vec![ParamIssue::new(
                "file",
                format!("pairs file `{}` does not exist", p.file),
            )],
        }
    }
    fn external_inputs(&self, p: &PairsParams) -> Vec<ExternalInput> {
        path_params(&[("file", &p.file)])
    }
    fn run(&self, p: PairsParams, ctx: &RunCtx) -> Result<Artifact, StageError> {
        let d = Dataset::from_artifact(ctx.input("input")?)?;
        let (set, text) = if p.file.is_empty() {
            // Unmixed images only: their class is label_a.
            let classes: Vec<Option<i64>> = (0..d.len())
                .map(|k| (d.phi[k] >= 1.0 || d.label_a[k] == d.label_b[k]).then_some(d.label_a[k]))
                .collect();
            let set = generate(&classes, p.folds as usize, p.per_fold as usize, ctx.seed)
                .map_err(|e| StageError::Input(e.to_string()))?;
            let text = set.to_lfw(&image_names(&d)).to_text();
            (set, text)
        } else {
            read_pairs_txt(&p.file, &d)?
        };
        pairs::encode(&set, text)
    }
}

/// The protocol of an LFW `pairs.txt`, its names resolved through the dataset's `sources`.
fn read_pairs_txt(file: &str, d: &Dataset) -> Result<(PairSet, String), StageError> {
    let text = super::read_text_input(Path::new(file))?;
    let l = lfw::parse(&text)
        .map_err(|e| StageError::Input(format!("{file}:{}: {}", e.line, e.message)))?;
    if d.info.sources.len() != d.len() {
        return Err(StageError::Input(
            "the dataset has no image sources (`sources`) to resolve pairs.txt names against"
                .into(),
        ));
    }
    let set = from_lfw(&l, &pair_line_numbers(&text), &d.info.sources)
        .map_err(|e| StageError::Input(format!("{file}: {e}")))?;
    Ok((set, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{DatasetInfo, Domain};
    use std::collections::BTreeMap;
    use synface_engine::ParamsSchema;
    use synface_engine::{
        CancelToken, InputArtifact, NoCheckpoints, NoProgress, ParamTable, Stage,
    };

    pub(crate) fn small_dataset(sources: bool) -> Dataset {
        let n = 24; // 8 classes x 3 images, 2x2
        Dataset {
            info: DatasetInfo {
                domain: Domain::Real,
                num_classes: 8,
                height: 2,
                width: 2,
                class_names: (0..8).map(|c| format!("P{c}")).collect(),
                identity_ids: vec![],
                sources: if sources {
                    (0..n)
                        .map(|k| format!("P{0}/P{0}_{1:04}.jpg", k / 3, k % 3 + 1))
                        .collect()
                } else {
                    vec![]
                },
            },
            images: (0..n * 12).map(|v| v as u8).collect(),
            label_a: (0..n as i64).map(|k| k / 3).collect(),
            label_b: (0..n as i64).map(|k| k / 3).collect(),
            phi: vec![1.0; n],
            landmarks: None,
        }
    }

    fn run(d: &Dataset, params: ParamTable, seed: u64) -> Result<Artifact, StageError> {
        let mut inputs = BTreeMap::new();
        inputs.insert(
            "input".to_string(),
            vec![InputArtifact {
                stage: "data".into(),
                point_ids: vec![],
                point: BTreeMap::new(),
                artifact: d.to_artifact()?,
            }],
        );
        let mut full: ParamTable = PairsParams::specs()
            .into_iter()
            .filter_map(|s| Some((s.name.to_string(), s.default?)))
            .collect();
        full.extend(params);
        let cancel = CancelToken::new();
        let ctx = RunCtx {
            stage: "pairs",
            params: &full,
            inputs,
            seed,
            device: synface_engine::Device::Cpu,
            threads: 1,
            progress: &NoProgress,
            cancel: &cancel,
            checkpoints: &NoCheckpoints,
        };
        Stage::run(&Pairs, &ctx)
    }

    #[test]
    fn generates_and_round_trips_through_pairs_txt() {
        let d = small_dataset(true);
        let mut p = ParamTable::new();
        p.insert("folds".into(), toml::Value::Integer(2));
        let a = run(&d, p.clone(), 3).unwrap();
        let set = pairs::decode(&a).unwrap();
        assert_eq!(set.folds, 2);
        assert!(set.per_fold >= 1 && set.per_fold <= 300);
        assert!(a.published.contains("pairs.txt"));
        // Reading the published pairs.txt back through the sources gives the same pairs.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pairs.txt");
        std::fs::write(&f, pairs::lfw_text(&a).unwrap()).unwrap();
        p.insert("file".into(), toml::Value::String(f.display().to_string()));
        let b = run(&d, p, 99).unwrap();
        assert_eq!(pairs::decode(&b).unwrap(), set);
        // The default 10 folds need 20 classes; this set has 8.
        let e = run(&d, ParamTable::new(), 3).map(|_| ()).unwrap_err();
        assert!(e.to_string().contains("10 folds"), "{e}");
    }

    #[test]
    fn pairs_txt_needs_sources() {
        let d = small_dataset(false);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pairs.txt");
        std::fs::write(&f, "1 1\nP0 1 2\nP0 1 P1 1\n").unwrap();
        let mut p = ParamTable::new();
        p.insert("file".into(), toml::Value::String(f.display().to_string()));
        assert!(run(&d, p, 0).unwrap_err().to_string().contains("sources"));
        assert!(!Stage::check(
            &Pairs,
            &[(
                "file".to_string(),
                toml::Value::String("/nonexistent/pairs.txt".into())
            )]
            .into()
        )
        .is_empty());
    }
}
