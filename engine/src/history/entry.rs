//! The format of one run-history entry and how it is built from a plan and its outcomes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan::Plan;
use crate::run_folder::ResultRow;
use crate::scheduler::{Outcome as InstanceOutcome, RunReport};

use super::headline::Headline;

/// The `format` field of every entry.
pub const FORMAT: &str = "synface-run";
/// The entry format version.
pub const VERSION: u32 = 1;

/// Which synface made a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Producer {
    /// The crate version (`synface --version`).
    pub version: String,
    /// The git commit it was built from, when known at build time.
    pub commit: Option<String>,
}

/// Counts and exit code of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub exit_code: i32,
    pub ran: usize,
    pub cached: usize,
    pub failed: usize,
    pub skipped: usize,
    pub cancelled: usize,
    /// Wall-clock seconds of the scheduler.
    pub secs: f64,
}

/// A sweep point of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointEntry {
    pub id: String,
    pub arm: Option<String>,
    pub values: BTreeMap<String, serde_json::Value>,
}

/// A stage instance of the run: its resolved parameters and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceEntry {
    pub stage: String,
    pub kind: String,
    pub version: u32,
    pub seed: u64,
    /// The points it served.
    pub points: Vec<String>,
    pub params: BTreeMap<String, serde_json::Value>,
    /// Its cache key (hex), when it completed.
    pub key: Option<String>,
    /// `ran`, `cached`, `failed`, `skipped`, `cancelled` or `pending`.
    pub status: String,
}

/// One entry: `runs/<name>/history/<id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEntry {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`] when written by this synface.
    pub version: u32,
    /// The run number within this run directory (1, 2, ...).
    pub id: u64,
    pub pipeline: String,
    /// The pipeline file as given on the command line.
    pub source: String,
    /// `--set` overrides, as given.
    pub overrides: Vec<String>,
    /// When the run finished, milliseconds since the Unix epoch (UTC).
    pub finished_unix_ms: u64,
    pub synface: Producer,
    /// [`plan_digest`] of the plan: equal digests mean the same computations.
    pub pipeline_digest: String,
    pub seed: u64,
    pub outcome: Outcome,
    pub points: Vec<PointEntry>,
    pub instances: Vec<InstanceEntry>,
    /// The run's `results.json` rows.
    pub results: Vec<ResultRow>,
    pub headline: Option<Headline>,
}

/// blake3 over every instance's plan key in plan order: it changes with any parameter, seed,
/// stage version, sweep point or wiring, and with nothing else (not comments or formatting).
pub fn plan_digest(plan: &Plan) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"synface-plan-digest\0");
    h.update(&(plan.instances.len() as u64).to_le_bytes());
    for inst in &plan.instances {
        h.update(&inst.plan_key);
    }
    h.finalize().to_hex().to_string()
}

fn json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn status(o: &InstanceOutcome) -> &'static str {
    match o {
        InstanceOutcome::Pending => "pending",
        InstanceOutcome::Ran { .. } => "ran",
        InstanceOutcome::Cached { .. } => "cached",
        InstanceOutcome::Failed { .. } => "failed",
        InstanceOutcome::Skipped { .. } => "skipped",
        InstanceOutcome::Cancelled => "cancelled",
    }
}

/// What a run is, besides its plan and outcomes: supplied by the command line.
#[derive(Debug, Clone)]
pub struct RunFacts {
    pub source: String,
    pub overrides: Vec<String>,
    pub producer: Producer,
    pub exit_code: i32,
    /// Metric names (suffixes of `stage.metric` paths) to headline, in preference order.
    pub headline: Vec<String>,
}

impl RunEntry {
    /// The entry of a finished run (`id` 0 until [`super::store::record`] numbers it).
    pub fn new(plan: &Plan, report: &RunReport, results: Vec<ResultRow>, facts: RunFacts) -> Self {
        let s = &report.stats;
        let headline = Headline::of(&results, &facts.headline);
        RunEntry {
            format: FORMAT.into(),
            version: VERSION,
            id: 0,
            pipeline: plan.name.clone(),
            source: facts.source,
            overrides: facts.overrides,
            finished_unix_ms: now_ms(),
            synface: facts.producer,
            pipeline_digest: plan_digest(plan),
            seed: plan.seed,
            outcome: Outcome {
                exit_code: facts.exit_code,
                ran: s.ran,
                cached: s.cached,
                failed: s.failed,
                skipped: s.skipped,
                cancelled: s.cancelled,
                secs: s.secs,
            },
            points: points(plan),
            instances: instances(plan, &report.outcomes),
            results,
            headline,
        }
    }

    /// The parameters of `stage` at `point`, if an instance of it served that point.
    pub fn params_at(
        &self,
        stage: &str,
        point: &str,
    ) -> Option<&BTreeMap<String, serde_json::Value>> {
        self.instances
            .iter()
            .find(|i| i.stage == stage && i.points.iter().any(|p| p == point))
            .map(|i| &i.params)
    }

    /// The point with id `id`.
    pub fn point(&self, id: &str) -> Option<&PointEntry> {
        self.points.iter().find(|p| p.id == id)
    }
}

fn points(plan: &Plan) -> Vec<PointEntry> {
    plan.points
        .iter()
        .map(|p| PointEntry {
            id: p.id.clone(),
            arm: p.arm.clone(),
            values: p.values.iter().map(|(k, v)| (k.clone(), json(v))).collect(),
        })
        .collect()
}

fn instances(plan: &Plan, outcomes: &[InstanceOutcome]) -> Vec<InstanceEntry> {
    plan.instances
        .iter()
        .zip(outcomes)
        .map(|(inst, o)| InstanceEntry {
            stage: inst.stage.clone(),
            kind: inst.kind.clone(),
            version: inst.version,
            seed: inst.seed,
            points: inst.points.clone(),
            params: inst
                .params
                .iter()
                .map(|(k, v)| (k.clone(), json(v)))
                .collect(),
            key: o.key().map(crate::cache::hex),
            status: status(o).into(),
        })
        .collect()
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a Unix time in milliseconds.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Gregorian (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        // 2000-02-29 12:34:56 UTC = 951827696 s.
        assert_eq!(utc(951_827_696_000), "2000-02-29 12:34:56");
        assert_eq!(utc(1_796_180_975_199), "2026-12-02 03:09:35");
    }

    #[test]
    fn plan_digest_follows_parameters_only() {
        let reg = crate::testkit::registry();
        let src = "[pipeline]\nname = \"t\"\nseed = 1\n[stages.a]\nkind = \"toy_source\"\nn = 3\n";
        let path = std::path::Path::new("t.toml");
        let a = crate::plan_from_str(src, path, &[], &reg).unwrap();
        let commented = format!("# a comment\n{src}");
        let b = crate::plan_from_str(&commented, path, &[], &reg).unwrap();
        let c = crate::plan_from_str(src, path, &["a.n=4".to_string()], &reg).unwrap();
        assert_eq!(plan_digest(&a), plan_digest(&b));
        assert_ne!(plan_digest(&a), plan_digest(&c));
    }
}
