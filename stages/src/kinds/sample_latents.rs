//! `sample_latents`: draw face-model latents for `ids` identities x `per_id` images. Identity
//! coefficients depend only on the global identity id (`id_offset + class`), per-image factors
//! on (seed, identity id, image index). Output type `latents` (see [`LatentSet`]).

use synface_engine::{
    Artifact, ParamIssue, ParamSpec, ParamTable, ParamsSchema, PortSpec, Resources, RunCtx, Stage,
    StageError,
};

use crate::face::latent::{sample_latent, LatentSet};
use crate::face::{Factor, SampleConfig, MODEL_VERSION};

/// Which factors vary per image: `"all"`, one factor name, or a list of names.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Vary {
    One(String),
    Many(Vec<String>),
}

impl From<&str> for Vary {
    fn from(s: &str) -> Self {
        Vary::One(s.to_string())
    }
}

impl Vary {
    /// The varying factors, or an error naming the bad entry.
    pub fn factors(&self) -> Result<Vec<Factor>, String> {
        let names: Vec<&str> = match self {
            Vary::One(s) if s == "all" => return Ok(Factor::SAMPLED.to_vec()),
            Vary::One(s) if s == "none" => return Ok(Vec::new()),
            Vary::One(s) => vec![s.as_str()],
            Vary::Many(v) => v.iter().map(String::as_str).collect(),
        };
        names
            .into_iter()
            .map(|n| match n.parse::<Factor>() {
                Ok(Factor::Identity) => Ok(None),
                Ok(f) if Factor::SAMPLED.contains(&f) => Ok(Some(f)),
                _ => Err(format!(
                    "unknown factor `{n}` (all, none, expression, illumination, pose, background)"
                )),
            })
            .filter_map(Result::transpose)
            .collect()
    }
}

synface_engine::stage_params! {
    /// Parameters of `sample_latents`.
    pub struct SampleLatentsParams {
        /// number of identities (required)
        ids: u64,
        /// images per identity (required)
        per_id: u64,
        /// first global identity id (disjoint test identities: use an offset beyond training)
        id_offset: u64 = 0u64,
        /// scale of the identity shape coefficients
        shape_scale: f64 = 1.0,
        /// scale of the identity albedo coefficients
        albedo_scale: f64 = 1.0,
        /// clip every coefficient at this many standard deviations
        truncation: f64 = 3.0,
        /// expression strength
        expression_scale: f64 = 1.0,
        /// illumination variation strength (0 = the neutral light)
        illumination_scale: f64 = 1.0,
        /// background variation strength
        background_scale: f64 = 1.0,
        /// yaw range in degrees (uniform in +-max_yaw)
        max_yaw: f64 = 30.0,
        /// pitch range in degrees
        max_pitch: f64 = 10.0,
        /// roll range in degrees
        max_roll: f64 = 5.0,
        /// factors that vary per image: "all", "none", or a list like ["pose", "expression"]
        vary: Vary = "all",
    }
}

impl SampleLatentsParams {
    /// The sampling configuration these parameters describe.
    pub fn config(&self) -> Result<SampleConfig, String> {
        Ok(SampleConfig {
            shape_scale: self.shape_scale as f32,
            albedo_scale: self.albedo_scale as f32,
            truncation: self.truncation as f32,
            expression_scale: self.expression_scale as f32,
            illumination_scale: self.illumination_scale as f32,
            background_scale: self.background_scale as f32,
            max_yaw: self.max_yaw as f32,
            max_pitch: self.max_pitch as f32,
            max_roll: self.max_roll as f32,
            vary: self.vary.factors()?,
        })
    }
}

/// Sample a latent set (the stage's work, callable without an engine).
pub fn sample_set(p: &SampleLatentsParams, seed: u64) -> Result<LatentSet, StageError> {
    let cfg = p.config().map_err(StageError::Param)?;
    let n = p.ids.checked_mul(p.per_id).filter(|&n| n <= 50_000_000);
    let n = n.ok_or_else(|| StageError::Param("ids * per_id is too large".into()))? as usize;
    let mut latents = Vec::with_capacity(n);
    let mut label = Vec::with_capacity(n);
    for c in 0..p.ids {
        let id = p.id_offset + c;
        for k in 0..p.per_id {
            latents.push(sample_latent(id, k, seed, &cfg));
            label.push(c as i64);
        }
    }
    Ok(LatentSet {
        latents,
        label_b: label.clone(),
        label_a: label,
        phi: vec![1.0; n],
        identity_ids: (0..p.ids).map(|c| p.id_offset + c).collect(),
    })
}

/// The `sample_latents` stage kind.
pub struct SampleLatents;

impl Stage for SampleLatents {
    fn kind(&self) -> &'static str {
        "sample_latents"
    }
    fn version(&self) -> u32 {
        MODEL_VERSION
    }
    fn about(&self) -> &'static str {
        "sample face-model latents (identity, expression, illumination, pose, background)"
    }
    fn params(&self) -> Vec<ParamSpec> {
        SampleLatentsParams::specs()
    }
    fn inputs(&self) -> Vec<PortSpec> {
        Vec::new()
    }
    fn output(&self) -> &'static str {
        "latents"
    }
    fn check(&self, params: &ParamTable) -> Vec<ParamIssue> {
        let mut issues = Vec::new();
        let issue = |p: &str, m: String| ParamIssue {
            param: p.into(),
            message: m,
        };
        for k in ["ids", "per_id"] {
            if params.get(k).and_then(toml::Value::as_integer) == Some(0) {
                issues.push(issue(k, format!("{k} must be at least 1")));
            }
        }
        for (k, hi) in [("max_yaw", 90.0), ("max_pitch", 60.0), ("max_roll", 60.0)] {
            if let Some(v) = params
                .get(k)
                .and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64)))
            {
                if !(0.0..=hi).contains(&v) {
                    issues.push(issue(k, format!("{k} must be within 0..={hi} degrees")));
                }
            }
        }
        if let Some(v) = params.get("vary") {
            if let Ok(vary) = v.clone().try_into::<Vary>() {
                if let Err(m) = vary.factors() {
                    issues.push(issue("vary", m));
                }
            }
        }
        issues
    }
    fn resources(&self, _params: &ParamTable) -> Resources {
        Resources {
            threads: 1,
            gpu: false,
            mem_mb: 512,
        }
    }
    fn run(&self, ctx: &RunCtx) -> Result<Artifact, StageError> {
        let p: SampleLatentsParams = ctx.params()?;
        ctx.cancel.check()?;
        let set = sample_set(&p, ctx.seed)?;
        let mut a = set.to_artifact()?;
        a.set_metrics(&serde_json::json!({
            "images": set.len(),
            "identities": set.identity_ids.len(),
            "model_version": MODEL_VERSION,
        }));
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(ids: u64, per_id: u64, offset: u64) -> SampleLatentsParams {
        let mut t = ParamTable::new();
        t.insert("ids".into(), toml::Value::Integer(ids as i64));
        t.insert("per_id".into(), toml::Value::Integer(per_id as i64));
        t.insert("id_offset".into(), toml::Value::Integer(offset as i64));
        for s in SampleLatentsParams::specs() {
            if let Some(d) = s.default {
                t.entry(s.name.to_string()).or_insert(d);
            }
        }
        synface_engine::params::decode(&t).unwrap()
    }

    #[test]
    fn identity_coefficients_do_not_depend_on_the_number_of_identities() {
        let small = sample_set(&params(3, 2, 0), 5).unwrap();
        let big = sample_set(&params(10, 2, 0), 5).unwrap();
        assert_eq!(small.latents[..], big.latents[..6]);
        let test = sample_set(&params(2, 1, 100), 5).unwrap();
        assert_eq!(test.identity_ids, vec![100, 101]);
        assert_eq!(test.label_a, vec![0, 1]);
    }

    #[test]
    fn vary_parses_and_rejects_unknown_names() {
        assert_eq!(Vary::from("all").factors().unwrap().len(), 4);
        assert_eq!(
            Vary::Many(vec!["pose".into()]).factors().unwrap(),
            vec![Factor::Pose]
        );
        assert!(Vary::from("hair").factors().is_err());
        assert!(SampleLatents
            .check(&{
                let mut t = ParamTable::new();
                t.insert("vary".into(), toml::Value::String("hair".into()));
                t
            })
            .iter()
            .any(|i| i.param == "vary"));
    }
}
