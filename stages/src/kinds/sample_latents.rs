//! `sample_latents`: draw face-model latents for `ids` identities x `per_id` images. Identity
//! coefficients depend only on the global identity id (`identity_seed * 2^32 + id_offset +
//! class`, plus the model version and identity scales), per-image factors on (seed, identity id,
//! image index). So the stage seed alone never changes who is drawn: a replicate draws new people
//! only through `identity_seed`. Output type `latents` (see [`LatentSet`]).

use synface_engine::estimate::Estimate;
use synface_engine::{
    Artifact, Facts, ParamIssue, ParamRule, PortSpec, Resources, RunCtx, StageError, TypedStage,
};

use crate::artifacts::LATENTS;
use crate::face::latent::{sample_latent, LatentSet};
use crate::face::{Factor, SampleConfig, LATENT_VERSION};

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
        ids: u64 => ParamRule::at_least(1.0),
        /// images per identity (required)
        per_id: u64 => ParamRule::at_least(1.0),
        /// first identity id within the identity seed's draw (disjoint test identities: use an
        /// offset beyond training)
        id_offset: u64 = 0u64,
        /// which draw of people: identity `c` of this set is global identity
        /// `identity_seed * 2^32 + id_offset + c`, so different identity seeds give disjoint,
        /// independently drawn people (use `"${seed}"` to draw new people per replicate)
        identity_seed: u64 = 0u64,
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
        max_yaw: f64 = 30.0 => ParamRule::within(0.0, 90.0),
        /// pitch range in degrees
        max_pitch: f64 = 10.0 => ParamRule::within(0.0, 60.0),
        /// roll range in degrees
        max_roll: f64 = 5.0 => ParamRule::within(0.0, 60.0),
        /// factors that vary per image: "all", "none", or a list like ["pose", "expression"]
        vary: Vary = "all" => ParamRule::NONE.shaped(
            "\"all\" | \"none\" | a factor or a list of factors: \"expression\", \"illumination\", \"pose\", \"background\""
        ),
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

/// Most images (ids x per_id) one latent set may hold; checked when the plan is made.
pub const MAX_IMAGES: u64 = 50_000_000;

/// Identity ids per identity seed: each seed's draw of people owns one block of this size.
pub const IDENTITY_SEED_STRIDE: u64 = 1 << 32;

/// The global id of a set's first identity, if the set's ids fit their identity seed's block.
pub fn first_identity(p: &SampleLatentsParams) -> Option<u64> {
    let end = p.id_offset.checked_add(p.ids)?;
    if p.identity_seed > 0 && end > IDENTITY_SEED_STRIDE {
        return None;
    }
    p.identity_seed
        .checked_mul(IDENTITY_SEED_STRIDE)?
        .checked_add(p.id_offset)
        .filter(|first| first.checked_add(p.ids).is_some())
}

/// The `sample_latents` stage kind.
pub struct SampleLatents;

/// Sample a latent set (the stage's work, callable without an engine).
pub fn sample_set(p: &SampleLatentsParams, seed: u64) -> Result<LatentSet, StageError> {
    let cfg = p.config().map_err(|m| StageError::param("vary", m))?;
    let n = p.ids.checked_mul(p.per_id).filter(|&n| n <= MAX_IMAGES);
    let n = n.ok_or_else(|| StageError::param("ids", "ids * per_id is too large"))? as usize;
    let mut latents = Vec::with_capacity(n);
    let mut label = Vec::with_capacity(n);
    let first = first_identity(p).ok_or_else(|| {
        StageError::param(
            "identity_seed",
            "identity_seed, id_offset and ids exceed the identity id space",
        )
    })?;
    for c in 0..p.ids {
        let id = first + c;
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
        identity_ids: (0..p.ids).map(|c| first + c).collect(),
    })
}

/// `ids x per_id`, unless it overflows.
fn latent_count(p: &SampleLatentsParams) -> Option<u64> {
    p.ids.checked_mul(p.per_id)
}

impl TypedStage for SampleLatents {
    type Params = SampleLatentsParams;
    const KIND: &'static str = "sample_latents";
    const VERSION: u32 = LATENT_VERSION;
    const ABOUT: &'static str =
        "sample face-model latents (identity, expression, illumination, pose, background)";
    const INPUTS: &'static [PortSpec] = &[];
    const OUTPUT: &'static str = LATENTS;
    const RESOURCES: Resources = Resources {
        mem_mb: 512,
        ..Resources::DEFAULT
    };

    fn check(&self, p: &SampleLatentsParams) -> Vec<ParamIssue> {
        let mut issues = Vec::new();
        if latent_count(p).is_none_or(|n| n > MAX_IMAGES) {
            issues.push(ParamIssue::new(
                "ids",
                format!(
                    "ids x per_id = {} x {} exceeds the limit of {MAX_IMAGES} images per set",
                    p.ids, p.per_id
                ),
            ));
        }
        if first_identity(p).is_none() {
            issues.push(ParamIssue::new(
                "identity_seed",
                format!(
                    "identity ids out of range: with identity_seed = {}, id_offset + ids \
                     ({} + {}) must stay below 2^32 and the global id below 2^64",
                    p.identity_seed, p.id_offset, p.ids
                ),
            ));
        }
        issues.extend(ParamIssue::of("vary", p.vary.factors()));
        issues
    }
    fn output_facts(&self, p: &SampleLatentsParams, _inputs: &[(&str, &Facts)]) -> Facts {
        super::cost::with_images(Facts::new(), latent_count(p))
    }
    fn estimate(&self, p: &SampleLatentsParams, _inputs: &[(&str, &Facts)]) -> Estimate {
        super::cost::latents(latent_count(p))
    }
    fn run(&self, p: SampleLatentsParams, ctx: &RunCtx) -> Result<Artifact, StageError> {
        ctx.cancel.check()?;
        let set = sample_set(&p, ctx.seed)?;
        let mut a = set.to_artifact()?;
        a.set_metrics(&serde_json::json!({
            "images": set.len(),
            "identities": set.identity_ids.len(),
            "model_version": LATENT_VERSION,
        }));
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synface_engine::{ParamTable, ParamsSchema};

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
    fn identity_seeds_draw_disjoint_people_and_seed_zero_keeps_todays() {
        let base = sample_set(&params(3, 2, 0), 5).unwrap();
        let mut p = params(3, 2, 0);
        p.identity_seed = 0;
        assert_eq!(sample_set(&p, 5).unwrap().latents, base.latents);
        p.identity_seed = 2;
        let other = sample_set(&p, 5).unwrap();
        assert_eq!(
            other.identity_ids,
            vec![2 << 32, (2 << 32) + 1, (2 << 32) + 2]
        );
        for (a, b) in base.latents.iter().zip(&other.latents) {
            assert_ne!(a.shape, b.shape, "a new draw of people");
        }
        p.id_offset = u64::from(u32::MAX);
        assert!(
            first_identity(&p).is_none(),
            "ids past the seed's block are refused"
        );
    }

    #[test]
    fn vary_parses_and_rejects_unknown_names() {
        assert_eq!(Vary::from("all").factors().unwrap().len(), 4);
        assert_eq!(
            Vary::Many(vec!["pose".into()]).factors().unwrap(),
            vec![Factor::Pose]
        );
        assert!(Vary::from("hair").factors().is_err());
        let mut p = params(2, 2, 0);
        p.vary = Vary::from("hair");
        let issues = TypedStage::check(&SampleLatents, &p);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].param, "vary");
    }
}
