//! Stage kind `report`: gathers verification results (and optionally training curves and
//! datasets for contact sheets) from every sweep point and publishes `report.md`,
//! `report.html`, plots (`*.svg`, `*.png`), `results.csv` and `runs.csv`.
//! The report itself is built by [`crate::report`]; this file decodes the gathered artifacts.

use synface_engine::{
    Artifact, InputArtifact, ParamIssue, ParamRule, PortSpec, Resources, RunCtx, StageError,
    TypedStage,
};

use std::collections::BTreeMap;

use crate::artifacts::{DATASET, MODEL, REPORT, VERIFICATION};
use crate::dataset::Dataset;
use crate::report::contrast::Metric;
use crate::report::{
    decode, sheet, table, Curve, Options, PointValues, ReportError, ReportInput, RunResult,
};

synface_engine::stage_params! {
    /// Parameters of `report`.
    pub struct ReportParams {
        /// report title
        title: String = "synface report",
        /// sweep axis drawn across the accuracy heatmap (identities)
        width_axis: String = "ids",
        /// sweep axis drawn down the accuracy heatmap (images per identity)
        depth_axis: String = "per_id",
        /// at most this many per-group figures (score distributions, MDS maps) and sheets
        max_group_plots: u64 = 12u64,
        /// at most this many embeddings per MDS map
        mds_points: u64 = 1000u64,
        /// identities (rows) per contact sheet
        sheet_ids: u64 = 8u64,
        /// images per identity (columns) per contact sheet
        sheet_per_id: u64 = 8u64,
        /// sweep axis whose levels are compared with its first level within every combination
        /// of the other axes (Welch and paired t over replicates); "" for none
        contrast: String = "" => ParamRule::sweep_axis(),
        /// metrics compared along `contrast`, a table each, in this order (accuracy in points,
        /// AUC and EER as fractions)
        contrast_metrics: Vec<Metric> = vec![Metric::Accuracy] => ParamRule::one_of(Metric::NAMES),
    }
}

/// The `report` stage kind.
pub struct Report;

impl TypedStage for Report {
    type Params = ReportParams;
    const KIND: &'static str = "report";
    /// 2: provenance, comparisons (Welch), every replicate in ROC and training curves.
    const VERSION: u32 = 2;
    const ABOUT: &'static str =
        "tables (mean ± std over seeds) and plots of every sweep point's verification results";
    const INPUTS: &'static [PortSpec] = &[
        PortSpec::new("runs", VERIFICATION).gather(),
        PortSpec::new("models", MODEL).optional().gather(),
        PortSpec::new("datasets", DATASET).optional().gather(),
    ];
    const OUTPUT: &'static str = REPORT;
    const RESOURCES: Resources = Resources {
        mem_mb: 512,
        ..Resources::DEFAULT
    };

    fn check(&self, p: &ReportParams) -> Vec<ParamIssue> {
        contrast_metric_issues(&p.contrast_metrics)
            .into_iter()
            .collect()
    }

    fn run(&self, p: ReportParams, ctx: &RunCtx) -> Result<Artifact, StageError> {
        let opts = Options {
            title: p.title.clone(),
            width_axis: p.width_axis.clone(),
            depth_axis: p.depth_axis.clone(),
            max_group_plots: p.max_group_plots as usize,
            mds_points: p.mds_points as usize,
            contrast: (!p.contrast.is_empty()).then(|| p.contrast.clone()),
            contrast_metrics: p.contrast_metrics.clone(),
        };
        let mut input = ReportInput::default();
        let known = known_points(ctx);
        for g in distinct(ctx.gathered("runs")) {
            ctx.cancel.check()?;
            let mut run = decode_run(g)?;
            run.point = shared_point(g, &known);
            input.runs.push(run);
        }
        for g in distinct(ctx.gathered("models")) {
            if let Ok(text) = g.artifact.get("curve.csv") {
                let rows = decode::parse_curve(&String::from_utf8_lossy(text))
                    .map_err(|e| input_err(g, e))?;
                input.curves.push(Curve {
                    point: shared_point(g, &known),
                    point_ids: g.point_ids.clone(),
                    rows,
                });
            }
        }
        input.sheets = sheets(ctx.gathered("datasets"), &p)?;
        input.provenance = provenance(ctx, &known)?;
        let files =
            crate::report::build(&opts, &input).map_err(|e| StageError::Failed(e.to_string()))?;
        let groups = table::group_runs(&input.runs);
        let best = groups
            .iter()
            .max_by(|a, b| a.accuracy.mean.total_cmp(&b.accuracy.mean));
        let mut a = Artifact::new();
        for f in files {
            a.publish(f.name, f.bytes);
        }
        a.set_metrics(&serde_json::json!({
            "runs": input.runs.len(),
            "groups": groups.len(),
            "best_group": best.map(|g| g.label.clone()),
            "best_accuracy": best.map(|g| g.accuracy.mean),
        }));
        Ok(a)
    }
}

/// An empty or repeating `contrast_metrics`, in words.
fn contrast_metric_issues(metrics: &[Metric]) -> Option<ParamIssue> {
    if metrics.is_empty() {
        let names = ParamRule::one_of(Metric::NAMES).describe();
        return Some(ParamIssue::new(
            "contrast_metrics",
            format!("is empty: name at least one of {names}"),
        ));
    }
    let repeated = metrics
        .iter()
        .enumerate()
        .find(|(i, m)| metrics[..*i].contains(m));
    repeated.map(|(_, m)| {
        ParamIssue::new(
            "contrast_metrics",
            format!("names `{m}` twice: each metric gets one table"),
        )
    })
}

/// The report's provenance: who rendered it, a digest of every gathered artifact, and the
/// parameters (`params.json`, `model.json`) of the gathered models per group.
fn provenance(
    ctx: &RunCtx,
    known: &BTreeMap<String, PointValues>,
) -> Result<crate::report::provenance::Provenance, StageError> {
    let mut h = blake3::Hasher::new();
    h.update(b"synface-report-inputs\0");
    for port in ["runs", "models", "datasets"] {
        for g in distinct(ctx.gathered(port)) {
            h.update(port.as_bytes());
            for (name, bytes) in &g.artifact.files {
                h.update(&(name.len() as u64).to_le_bytes());
                h.update(name.as_bytes());
                h.update(blake3::hash(bytes).as_bytes());
            }
        }
    }
    let mut p = crate::report::provenance::Provenance {
        producer: format!("synface {}", crate::provenance::describe()),
        inputs_digest: h.finalize().to_hex().to_string(),
        params: Vec::new(),
    };
    for g in distinct(ctx.gathered("models")) {
        let mut params = BTreeMap::new();
        for (file, prefix) in [("params.json", g.stage.as_str()), ("model.json", "model")] {
            let Ok(bytes) = g.artifact.get(file) else {
                continue;
            };
            let json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)
                .map_err(|e| StageError::Input(format!("`{}` {file}: {e}", g.stage)))?;
            for (k, v) in json {
                params.insert(
                    format!("{prefix}.{k}"),
                    v.to_string().trim_matches('"').to_string(),
                );
            }
        }
        if !params.is_empty() {
            p.add_params(table::group_key(&shared_point(g, known)), params);
        }
    }
    Ok(p)
}

/// Axis values of every sweep point some gathered input names first (the engine hands each
/// input the values of its first point only).
fn known_points(ctx: &RunCtx) -> BTreeMap<String, PointValues> {
    let mut known = BTreeMap::new();
    for port in ["runs", "models", "datasets"] {
        for g in ctx.gathered(port) {
            if let Some(id) = g.point_ids.first() {
                known.entry(id.clone()).or_insert_with(|| g.point.clone());
            }
        }
    }
    known
}

/// The axis values an input's instance really depends on: for an instance serving several
/// sweep points (e.g. one model tested on two test sets), only the axes on which all of its
/// known points agree.
fn shared_point(g: &InputArtifact, known: &BTreeMap<String, PointValues>) -> PointValues {
    let mut point = g.point.clone();
    for id in g.point_ids.iter().skip(1) {
        if let Some(other) = known.get(id) {
            point.retain(|k, v| other.get(k) == Some(v));
        }
    }
    point
}

/// Gathered inputs with one entry per producing instance: an instance that serves several
/// sweep points is listed once per point, and must count once.
fn distinct(gathered: &[InputArtifact]) -> Vec<&InputArtifact> {
    let mut seen: Vec<&[String]> = Vec::new();
    let mut out = Vec::new();
    for g in gathered {
        if !seen.contains(&g.point_ids.as_slice()) {
            seen.push(&g.point_ids);
            out.push(g);
        }
    }
    out
}

fn input_err(g: &InputArtifact, e: ReportError) -> StageError {
    StageError::Input(format!(
        "from stage `{}` (points {}): {e}",
        g.stage,
        g.point_ids.join(",")
    ))
}

/// Decode one gathered verify artifact.
fn decode_run(g: &InputArtifact) -> Result<RunResult, StageError> {
    let text = |name: &str| {
        g.artifact
            .get(name)
            .ok()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    let json = g.artifact.metrics().ok_or_else(|| {
        StageError::Input(format!(
            "stage `{}` published no readable metrics.json",
            g.stage
        ))
    })?;
    let metrics = decode::parse_metrics(&json).map_err(|e| input_err(g, e))?;
    let roc = match text("roc.csv") {
        Some(t) => decode::parse_roc(&t).map_err(|e| input_err(g, e))?,
        None => Vec::new(),
    };
    let scores = match text("scores.csv") {
        Some(t) => decode::parse_scores(&t).map_err(|e| input_err(g, e))?,
        None => Vec::new(),
    };
    let embeddings = match g.artifact.get("embeddings.safetensors") {
        Ok(b) => Some(decode::parse_embeddings(b).map_err(|e| input_err(g, e))?),
        Err(_) => None,
    };
    Ok(RunResult {
        point: g.point.clone(),
        point_ids: g.point_ids.clone(),
        metrics,
        roc,
        scores,
        embeddings,
        domain: decode::declared_domain(&json),
    })
}

/// Contact sheets of the distinct gathered datasets (by content), at most `max_group_plots`.
fn sheets(
    gathered: &[InputArtifact],
    p: &ReportParams,
) -> Result<Vec<crate::report::Sheet>, StageError> {
    let mut seen: Vec<blake3::Hash> = Vec::new();
    let mut out = Vec::new();
    for g in gathered {
        if out.len() >= p.max_group_plots as usize {
            break;
        }
        let Ok(bytes) = g.artifact.get("dataset.safetensors") else {
            continue;
        };
        let h = blake3::hash(bytes);
        if seen.contains(&h) {
            continue;
        }
        seen.push(h);
        let d = Dataset::from_artifact(&g.artifact)?;
        let key = table::group_key(&g.point);
        let caption = format!("{} at {}", g.stage, table::label_of(&key));
        if let Some(s) =
            sheet::contact_sheet(&d, p.sheet_ids as usize, p.sheet_per_id as usize, &caption)
                .map_err(|e| StageError::Failed(e.to_string()))?
        {
            out.push(s);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{DatasetInfo, Domain};
    use crate::report::PROXY_LABEL;
    use safetensors::tensor::{Dtype, TensorView};
    use std::collections::BTreeMap;
    use synface_engine::{CancelToken, Device, NoCheckpoints, NoProgress};
    use synface_engine::{ParamTable, ParamsSchema};

    fn point(ids: i64, per_id: i64, mixup: &str, seed: i64) -> BTreeMap<String, toml::Value> {
        BTreeMap::from([
            ("ids".to_string(), toml::Value::Integer(ids)),
            ("per_id".to_string(), toml::Value::Integer(per_id)),
            ("mixup".to_string(), toml::Value::String(mixup.into())),
            ("seed".to_string(), toml::Value::Integer(seed)),
        ])
    }

    /// A fake verify artifact whose accuracy is `acc`, with ROC, scores and embeddings.
    fn verify_artifact(acc: f64, k: u64) -> Artifact {
        let mut a = Artifact::new();
        a.set_metrics(&serde_json::json!({
            "accuracy": {"mean": acc, "std": 0.02},
            "auc": acc + 0.05, "eer": 1.0 - acc,
            "tar_at_far": {"1e-2": acc - 0.3, "1e-3": acc - 0.5},
        }));
        a.publish("roc.csv", b"fpr,tpr,threshold\n0.0,0.0,inf\n0.001,0.3,0.8\n0.01,0.5,0.6\n0.1,0.8,0.4\n1.0,1.0,-1.0\n".to_vec());
        let mut scores = String::from("fold,label,score\n");
        for i in 0..40u64 {
            let same = i % 2;
            let s = if same == 1 {
                0.5 + (i % 7) as f64 * 0.05
            } else {
                (i % 5) as f64 * 0.05 - 0.1
            };
            scores.push_str(&format!("{},{same},{s}\n", i / 4));
        }
        a.publish("scores.csv", scores.into_bytes());
        // 12 embeddings of 3 identities in 4-D: clusters around the axes.
        let mut emb = Vec::new();
        let mut lab = Vec::new();
        for i in 0..12u64 {
            let c = (i % 3) as usize;
            let mut v = [0.1f32 * ((i + k) % 4) as f32; 4];
            v[c] += 1.0;
            emb.extend_from_slice(&v);
            lab.push(c as i64);
        }
        let eb: Vec<u8> = emb.iter().flat_map(|x| x.to_le_bytes()).collect();
        let lb: Vec<u8> = lab.iter().flat_map(|x| x.to_le_bytes()).collect();
        let st = safetensors::serialize(
            vec![
                (
                    "embeddings",
                    TensorView::new(Dtype::F32, vec![12, 4], &eb).unwrap(),
                ),
                (
                    "labels",
                    TensorView::new(Dtype::I64, vec![12], &lb).unwrap(),
                ),
            ],
            None,
        )
        .unwrap();
        a.publish("embeddings.safetensors", st);
        a
    }

    fn gathered(stage: &str, pt: BTreeMap<String, toml::Value>, a: Artifact) -> InputArtifact {
        let id = table::slug_of(&pt);
        InputArtifact {
            stage: stage.into(),
            point_ids: vec![id],
            point: pt,
            artifact: a,
        }
    }

    fn run_report(inputs: BTreeMap<String, Vec<InputArtifact>>) -> Result<Artifact, StageError> {
        run_report_with(inputs, &[])
    }

    fn default_params() -> ParamTable {
        ReportParams::specs()
            .into_iter()
            .filter_map(|s| s.default.map(|d| (s.name.to_string(), d)))
            .collect()
    }

    /// The report over `inputs` with the defaults and `title` overridden by `set`.
    fn run_report_with(
        inputs: BTreeMap<String, Vec<InputArtifact>>,
        set: &[(&str, toml::Value)],
    ) -> Result<Artifact, StageError> {
        let mut params = default_params();
        params.insert("title".into(), toml::Value::String("Width x depth".into()));
        for (k, v) in set {
            params.insert(k.to_string(), v.clone());
        }
        let cancel = CancelToken::new();
        let ctx = RunCtx {
            stage: "report",
            params: &params,
            inputs,
            seed: 0,
            device: Device::Cpu,
            threads: 1,
            progress: &NoProgress,
            cancel: &cancel,
            checkpoints: &NoCheckpoints,
        };
        synface_engine::Stage::run(&Report, &ctx)
    }

    fn proxy_dataset() -> Artifact {
        let (n, side) = (6usize, 4usize);
        Dataset {
            info: DatasetInfo {
                domain: Domain::PhotoProxy,
                num_classes: 2,
                height: side,
                width: side,
                class_names: vec![],
                identity_ids: vec![],
                sources: vec![],
            },
            images: vec![90; n * side * side * 3],
            label_a: vec![0, 0, 0, 1, 1, 1],
            label_b: vec![0, 0, 0, 1, 1, 1],
            phi: vec![1.0; n],
            landmarks: None,
        }
        .to_artifact()
        .unwrap()
    }

    #[test]
    fn report_from_fake_gathered_runs() {
        let mut runs = Vec::new();
        let mut models = Vec::new();
        for (ids, per_id) in [(10, 5), (20, 5), (10, 10), (20, 10)] {
            for mixup in ["none", "identity"] {
                for seed in 0..2 {
                    let acc = 0.6
                        + ids as f64 / 200.0
                        + per_id as f64 / 100.0
                        + if mixup == "identity" { 0.03 } else { 0.0 }
                        + seed as f64 * 0.01;
                    let pt = point(ids, per_id, mixup, seed);
                    runs.push(gathered(
                        "verify",
                        pt.clone(),
                        verify_artifact(acc, seed as u64),
                    ));
                    let mut m = Artifact::new();
                    m.publish("curve.csv", b"step,epoch,lr,loss,train_acc\n0,0,0.1,5.0,0.1\n10,1,0.1,3.5,0.4\n20,2,0.01,2.0,0.7\n".to_vec());
                    models.push(gathered("train", pt, m));
                }
            }
        }
        // An instance serving several points is gathered once per point: counted once.
        let dup = runs[0].clone();
        runs.push(dup);
        let datasets = vec![gathered("photos", point(10, 5, "none", 0), proxy_dataset())];
        let inputs = BTreeMap::from([
            ("runs".to_string(), runs),
            ("models".to_string(), models),
            ("datasets".to_string(), datasets),
        ]);
        let a = run_report(inputs).unwrap();
        for f in [
            "report.md",
            "report.html",
            "results.csv",
            "runs.csv",
            "roc.svg",
            "roc.png",
            "train_loss.svg",
            "train_acc.png",
            "accuracy_vs_ids.svg",
            "sheet_0.png",
        ] {
            assert!(a.published.contains(f), "missing {f}: {:?}", a.published);
        }
        assert!(
            a.files.contains_key("heatmap_mixup-identity.svg"),
            "{:?}",
            a.files.keys()
        );
        assert!(a
            .files
            .keys()
            .any(|k| k.starts_with("mds_") && k.ends_with(".png")));
        assert!(a
            .files
            .keys()
            .any(|k| k.starts_with("cosine_") && k.ends_with(".svg")));

        let md = String::from_utf8(a.get("report.md").unwrap().to_vec()).unwrap();
        // ids=20, per_id=10, identity: accuracy 0.6 + 0.1 + 0.1 + 0.03 + {0, 0.01} -> 83.50 ± 0.71 %.
        assert!(md.contains("83.50 ± 0.71"), "{md}");
        assert!(md.contains("# Width x depth"));
        assert!(md.contains(PROXY_LABEL), "proxy data must be labelled");
        let html = String::from_utf8(a.get("report.html").unwrap().to_vec()).unwrap();
        assert!(
            html.contains("83.50 ± 0.71")
                && html.contains("<svg")
                && html.contains("data:image/png;base64,")
        );
        assert!(
            !html.contains("src=\"http"),
            "report.html must be self-contained"
        );
        let csv = String::from_utf8(a.get("results.csv").unwrap().to_vec()).unwrap();
        assert_eq!(csv.lines().count(), 1 + 8);
        assert!(
            csv.lines().any(|l| l.contains("20,identity,10,,2,0.835")),
            "{csv}"
        );
        // Heatmap cell text is the group's accuracy.
        let heat =
            String::from_utf8(a.get("heatmap_mixup-identity.svg").unwrap().to_vec()).unwrap();
        assert!(heat.contains("83.50"));
        let m = a.metrics().unwrap();
        assert_eq!(m["groups"], 8);
        assert_eq!(m["runs"], 16);
        // Deterministic: the same inputs give byte-identical files.
        let small = || {
            BTreeMap::from([(
                "runs".to_string(),
                vec![gathered(
                    "verify",
                    point(10, 5, "none", 0),
                    verify_artifact(0.7, 0),
                )],
            )])
        };
        assert_eq!(run_report(small()).unwrap(), run_report(small()).unwrap());
    }

    /// Two mixup arms x 3 seeds; mixup costs 0.02 accuracy, give or take 0.001 x seed.
    fn mixup_runs() -> BTreeMap<String, Vec<InputArtifact>> {
        let mut runs = Vec::new();
        for mixup in ["none", "identity"] {
            for seed in 0..3 {
                let cost = if mixup == "identity" {
                    0.02 + 0.001 * seed as f64
                } else {
                    0.0
                };
                let acc = 0.9 + 0.01 * seed as f64 - cost;
                runs.push(gathered(
                    "verify",
                    point(10, 5, mixup, seed),
                    verify_artifact(acc, seed as u64),
                ));
            }
        }
        BTreeMap::from([("runs".to_string(), runs)])
    }

    fn strings(xs: &[&str]) -> toml::Value {
        toml::Value::Array(
            xs.iter()
                .map(|x| toml::Value::String(x.to_string()))
                .collect(),
        )
    }

    #[test]
    fn contrast_metrics_add_an_auc_and_an_eer_table_after_accuracy() {
        let contrast = ("contrast", toml::Value::String("mixup".into()));
        let md_of = |a: Artifact| String::from_utf8(a.get("report.md").unwrap().to_vec()).unwrap();
        let plain = md_of(run_report_with(mixup_runs(), std::slice::from_ref(&contrast)).unwrap());
        let all = ("contrast_metrics", strings(&["accuracy", "auc", "eer"]));
        let md = md_of(run_report_with(mixup_runs(), &[contrast, all]).unwrap());
        let at = |t: &str| md.find(t).unwrap_or_else(|| panic!("no {t:?} in {md}"));
        assert!(at("## Contrasts along `mixup`\n") < at("## Contrasts along `mixup`: AUC\n"));
        assert!(at("## Contrasts along `mixup`: AUC\n") < at("## Contrasts along `mixup`: EER\n"));
        assert!(
            md.starts_with(plain.split("\n## Figures").next().unwrap()),
            "the accuracy table is the one a report without contrast_metrics shows"
        );
        // the fake AUC is accuracy + 0.05, so its paired difference is the accuracy's:
        // -0.020, -0.021, -0.022 by seed
        assert!(md.contains("-0.0210 (3)"), "{md}");
        // EER = 1 - accuracy rises by as much
        assert!(md.contains("+0.0210 (3)"), "{md}");
        assert!(!plain.contains(": AUC"), "accuracy only by default");
    }

    #[test]
    fn empty_or_repeated_contrast_metrics_are_refused_when_planned() {
        let issues = |v: toml::Value| {
            let mut t = default_params();
            t.insert("contrast_metrics".into(), v);
            synface_engine::Stage::check(&Report, &t)
        };
        let e = issues(strings(&[]));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].param, "contrast_metrics");
        assert!(e[0].message.contains("\"auc\""), "{:?}", e[0]);
        let e = issues(strings(&["auc", "accuracy", "auc"]));
        assert!(e[0].message.contains("`auc` twice"), "{e:?}");
        assert!(issues(strings(&["eer", "auc"])).is_empty());
    }

    #[test]
    fn shared_instance_keeps_only_common_axes() {
        let pv = |train: &str, test: &str| {
            BTreeMap::from([
                ("train_style".to_string(), toml::Value::String(train.into())),
                ("test_style".to_string(), toml::Value::String(test.into())),
            ])
        };
        let model = InputArtifact {
            stage: "train".into(),
            point_ids: vec!["a".into(), "b".into()],
            point: pv("photo", "synthetic"),
            artifact: Artifact::new(),
        };
        let known = BTreeMap::from([
            ("a".to_string(), pv("photo", "synthetic")),
            ("b".to_string(), pv("photo", "photo")),
        ]);
        let p = shared_point(&model, &known);
        assert_eq!(p.keys().collect::<Vec<_>>(), vec!["train_style"]);
    }

    #[test]
    fn missing_metrics_is_an_input_error() {
        let inputs = BTreeMap::from([(
            "runs".to_string(),
            vec![gathered("verify", point(1, 1, "none", 0), Artifact::new())],
        )]);
        let err = run_report(inputs).unwrap_err();
        assert!(matches!(err, StageError::Input(_)), "{err}");
        let err = run_report(BTreeMap::new()).unwrap_err().to_string();
        assert!(err.contains("nothing to report"), "{err}");
    }
}
