//! The experiment report: turns gathered verification and training results into `report.md`,
//! a self-contained `report.html`, plots (SVG + PNG) and `results.csv`.
//!
//! The `report` stage kind (`kinds/report.rs`) only decodes its gathered artifacts into the
//! plain types below ([`inputs`]); everything here is pure, deterministic and testable:
//! [`table`] groups runs over seed replicates, [`compare`] tests the best group against the
//! others ([`stats`]: Welch's t-test), [`contrast`] compares the levels of one axis within
//! each combination of the others (Welch and paired t), [`figures`] picks the figures ([`curves`]: smoothing
//! and bands) and [`plots`] draws them with plotters, [`mds`] embeds embeddings in 2-D,
//! [`sheet`] builds contact sheets, [`provenance`] says where the numbers come from,
//! [`html`] assembles the documents.

pub mod compare;
pub mod contrast;
pub mod curves;
pub mod decode;
pub mod figures;
pub mod html;
pub mod mds;
pub mod plots;
pub mod provenance;
pub mod sheet;
pub mod stats;
pub mod table;

use std::collections::BTreeMap;

/// Axis values of a sweep point, as the engine hands them to gathered inputs.
pub type PointValues = BTreeMap<String, toml::Value>;

/// Axis names treated as replicates: runs that differ only in these are aggregated.
pub const REPLICATE_AXES: [&str; 3] = ["seed", "seeds", "replicate"];

/// The wording every report uses for photo-proxy data.
pub const PROXY_LABEL: &str = "proxy (synthetic stand-in for real photos)";

/// Errors while building a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{file}: {msg}")]
    Parse { file: String, msg: String },
    #[error("plot `{name}`: {msg}")]
    Plot { name: String, msg: String },
    #[error("image encoding: {0}")]
    Image(String),
    #[error("nothing to report: no verification results were gathered")]
    Empty,
    #[error("contrast: {0}")]
    Contrast(String),
}

/// Verification metrics of one run (accuracies as fractions).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// Mean accuracy over the protocol's folds.
    pub accuracy: f64,
    /// Standard deviation over folds (0 when not reported).
    pub fold_std: f64,
    pub auc: Option<f64>,
    pub eer: Option<f64>,
    /// TAR at the FAR given as the key (e.g. `"1e-3"`).
    pub tar_at_far: BTreeMap<String, f64>,
}

/// Embeddings published by verify: `n` rows of `dim` floats with identity labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    pub dim: usize,
    pub data: Vec<f32>,
    pub labels: Vec<i64>,
}

impl Embeddings {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// One gathered verification result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunResult {
    pub point: PointValues,
    pub point_ids: Vec<String>,
    pub metrics: Metrics,
    /// ROC as (FAR, TAR) points, FAR ascending.
    pub roc: Vec<(f64, f64)>,
    /// Pair scores: (same identity, score).
    pub scores: Vec<(bool, f32)>,
    pub embeddings: Option<Embeddings>,
    /// Domain of the test data when known (`"synthetic"`, `"photo-proxy"`, `"real"`, ...).
    pub domain: Option<String>,
}

/// One row of a training curve (`curve.csv`: step,epoch,lr,loss,train_acc).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurveRow {
    pub step: f64,
    pub epoch: f64,
    pub lr: f64,
    pub loss: f64,
    pub train_acc: f64,
}

/// A gathered training curve.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Curve {
    pub point: PointValues,
    pub point_ids: Vec<String>,
    pub rows: Vec<CurveRow>,
}

/// A contact sheet to show (PNG bytes) with a caption.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    pub caption: String,
    pub png: Vec<u8>,
}

/// Report options (the `report` stage's parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub title: String,
    /// Axis drawn across the accuracy heatmap (dataset width: identities).
    pub width_axis: String,
    /// Axis drawn down the accuracy heatmap (dataset depth: images per identity).
    pub depth_axis: String,
    /// At most this many per-group plots (cosine distributions, MDS maps) of each kind.
    pub max_group_plots: usize,
    /// At most this many embeddings per MDS map.
    pub mds_points: usize,
    /// Sweep axis whose levels are compared within each combination of the other axes.
    pub contrast: Option<String>,
    /// The metrics compared along `contrast`, one table each, in this order.
    pub contrast_metrics: Vec<contrast::Metric>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            title: "synface report".into(),
            width_axis: "ids".into(),
            depth_axis: "per_id".into(),
            max_group_plots: 12,
            mds_points: 1000,
            contrast: None,
            contrast_metrics: vec![contrast::Metric::Accuracy],
        }
    }
}

/// One output file of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct OutFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Everything a report is made of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportInput {
    pub runs: Vec<RunResult>,
    pub curves: Vec<Curve>,
    pub sheets: Vec<Sheet>,
    pub provenance: provenance::Provenance,
}

/// Build every report file: `report.md`, `report.html`, `results.csv`, `runs.csv` and each
/// plot as `.svg` and `.png`.
pub fn build(opts: &Options, input: &ReportInput) -> Result<Vec<OutFile>, ReportError> {
    if input.runs.is_empty() {
        return Err(ReportError::Empty);
    }
    let groups = table::group_runs(&input.runs);
    let contrasts = match &opts.contrast {
        Some(axis) => opts
            .contrast_metrics
            .iter()
            .map(|&m| contrast::contrasts(axis, m, &groups, &input.runs))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ReportError::Contrast)?,
        None => Vec::new(),
    };
    let figures = figures::all_figures(opts, input, &groups)?;
    let mut files = Vec::new();
    for f in &figures {
        files.push(OutFile {
            name: format!("{}.svg", f.name),
            bytes: f.svg.clone().into_bytes(),
        });
        files.push(OutFile {
            name: format!("{}.png", f.name),
            bytes: f.png.clone(),
        });
    }
    for (i, s) in input.sheets.iter().enumerate() {
        files.push(OutFile {
            name: format!("sheet_{i}.png"),
            bytes: s.png.clone(),
        });
    }
    files.push(OutFile {
        name: "results.csv".into(),
        bytes: table::results_csv(&groups).into_bytes(),
    });
    files.push(OutFile {
        name: "runs.csv".into(),
        bytes: table::runs_csv(&input.runs).into_bytes(),
    });
    let doc = html::Document {
        title: &opts.title,
        groups: &groups,
        figures: &figures,
        sheets: &input.sheets,
        runs: &input.runs,
        contrasts: &contrasts,
        provenance: &input.provenance,
    };
    files.push(OutFile {
        name: "report.md".into(),
        bytes: doc.markdown().into_bytes(),
    });
    files.push(OutFile {
        name: "report.html".into(),
        bytes: doc.html().into_bytes(),
    });
    Ok(files)
}

/// Display a sweep value: strings bare, numbers as written, photo domains labelled as proxies.
pub fn show_value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) if is_proxy_name(s) => format!("{s} ({PROXY_LABEL})"),
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => format!("{f}"),
        toml::Value::Boolean(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// Whether a name denotes photo-proxy data.
pub fn is_proxy_name(s: &str) -> bool {
    matches!(s, "photo" | "photo-proxy" | "photo_proxy" | "proxy")
}

/// Numeric value of a sweep value, if it has one.
pub fn numeric(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        _ => None,
    }
}
