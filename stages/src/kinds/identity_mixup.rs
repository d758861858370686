//! `identity_mixup` (SynFace §3.2, docs/design.md §9): for each image of identity i, with probability
//! `prob`, pick a partner identity k != i and a mixing weight phi from a grid, and replace the
//! identity shape and albedo coefficients by phi * c_i + (1 - phi) * c_k, keeping every other
//! factor. Labels become (i, k, phi). `enabled = false` passes the latents through.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use synface_engine::estimate::Estimate;
use synface_engine::{
    Artifact, Facts, ParamIssue, ParamRule, PortSpec, Resources, RunCtx, StageError, TypedStage,
};

use crate::artifacts::LATENTS;
use crate::face::latent::{identity_coeffs, mix_identity, FaceLatent, LatentSet};
use crate::face::{SampleConfig, LATENT_VERSION};
use crate::kinds::grid::Grid;

/// `enabled`: a boolean, or a sweep value such as "identity"/"none".
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Switch {
    Bool(bool),
    Name(String),
}

impl From<bool> for Switch {
    fn from(b: bool) -> Self {
        Switch::Bool(b)
    }
}

impl Switch {
    pub fn on(&self) -> Result<bool, String> {
        match self {
            Switch::Bool(b) => Ok(*b),
            Switch::Name(s) => match s.as_str() {
                "true" | "on" | "identity" | "yes" => Ok(true),
                "false" | "off" | "none" | "no" => Ok(false),
                _ => Err(format!(
                    "enabled = `{s}`: expected true/false, \"identity\" or \"none\""
                )),
            },
        }
    }
}

synface_engine::stage_params! {
    /// Parameters of `identity_mixup`.
    pub struct IdentityMixupParams {
        /// probability that an image is mixed
        prob: f64 = 1.0 => ParamRule::within(0.0, 1.0),
        /// grid of mixing weights for the image's own identity
        phi: Grid = Grid::default() => ParamRule::NONE.shaped("a list of floats in [0, 1], or { from, to, step }"),
        /// false (or "none") passes the latents through unchanged
        enabled: Switch = true
            => ParamRule::NONE.shaped("true | false | \"identity\" | \"none\""),
    }
}

/// Mix a latent set (the stage's work, callable without an engine).
pub fn mix_set(
    set: &LatentSet,
    prob: f64,
    grid: &[f32],
    seed: u64,
) -> Result<LatentSet, StageError> {
    let classes = set.identity_ids.len();
    if classes < 2 {
        return Err(StageError::Input(
            "identity mixup needs at least two identities".into(),
        ));
    }
    // the partner's identity coefficients: recomputed from its global id at the latents' scale
    // would lose custom scales, so take them from its first image in the set
    let mut first: Vec<Option<usize>> = vec![None; classes];
    for (i, &l) in set.label_a.iter().enumerate() {
        let slot = &mut first[l as usize];
        if slot.is_none() && set.phi[i] == 1.0 {
            *slot = Some(i);
        }
    }
    let cfg = SampleConfig::default();
    let parent = |c: usize| -> FaceLatent {
        match first[c] {
            Some(i) => set.latents[i].clone(),
            None => FaceLatent::neutral(set.identity_ids[c], &cfg),
        }
    };
    let mut out = set.clone();
    for i in 0..set.len() {
        let mut rng =
            ChaCha8Rng::seed_from_u64(crate::face::seed_of("synface-mixup", &[seed, i as u64]));
        if !rng.random_bool(prob.clamp(0.0, 1.0)) {
            continue;
        }
        let a = set.label_a[i] as usize;
        let mut k = rng.random_range(0..classes - 1);
        if k >= a {
            k += 1;
        }
        let phi = grid[rng.random_range(0..grid.len())];
        out.latents[i] = mix_identity(&set.latents[i], &parent(k), phi);
        out.label_b[i] = k as i64;
        out.phi[i] = phi;
    }
    Ok(out)
}

/// The `identity_mixup` stage kind.
pub struct IdentityMixup;

impl TypedStage for IdentityMixup {
    type Params = IdentityMixupParams;
    const KIND: &'static str = "identity_mixup";
    const VERSION: u32 = LATENT_VERSION;
    const ABOUT: &'static str =
        "mix identity shape and albedo coefficients with a partner identity (labels i, k, phi)";
    const INPUTS: &'static [PortSpec] = &[PortSpec::new("input", LATENTS)];
    const OUTPUT: &'static str = LATENTS;
    const RESOURCES: Resources = Resources {
        mem_mb: 512,
        ..Resources::DEFAULT
    };

    fn check(&self, p: &IdentityMixupParams) -> Vec<ParamIssue> {
        [
            ParamIssue::of("phi", p.phi.values()),
            ParamIssue::of("enabled", p.enabled.on()),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
    fn estimate(&self, _p: &IdentityMixupParams, inputs: &[(&str, &Facts)]) -> Estimate {
        super::cost::latents(synface_engine::estimate::fact_u64(inputs, "images"))
    }
    fn run(&self, p: IdentityMixupParams, ctx: &RunCtx) -> Result<Artifact, StageError> {
        let set = LatentSet::from_artifact(ctx.input("input")?)?;
        let on = p
            .enabled
            .on()
            .map_err(|m| StageError::param("enabled", m))?;
        let grid = p
            .phi
            .values_f32()
            .map_err(|m| StageError::param("phi", m))?;
        let out = if on {
            mix_set(&set, p.prob, &grid, ctx.seed)?
        } else {
            set
        };
        let mixed = out.phi.iter().filter(|&&f| f < 1.0).count();
        let mut a = out.to_artifact()?;
        a.set_metrics(&serde_json::json!({ "images": out.len(), "mixed": mixed, "enabled": on }));
        Ok(a)
    }
}

/// Identity coefficients of a global id at default scales (re-exported for tests and tools).
pub fn parent_coeffs(id: u64) -> ([f32; crate::face::N_SHAPE], [f32; crate::face::N_ALBEDO]) {
    identity_coeffs(id, &SampleConfig::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::latent::sample_latent;

    fn set() -> LatentSet {
        let cfg = SampleConfig::default();
        LatentSet {
            latents: (0..6)
                .map(|i| sample_latent(i / 2, i % 2, 1, &cfg))
                .collect(),
            label_a: vec![0, 0, 1, 1, 2, 2],
            label_b: vec![0, 0, 1, 1, 2, 2],
            phi: vec![1.0; 6],
            identity_ids: vec![0, 1, 2],
        }
    }

    #[test]
    fn phi_one_and_zero_give_the_parents() {
        let s = set();
        let one = mix_set(&s, 1.0, &[1.0], 3).unwrap();
        for (a, b) in one.latents.iter().zip(&s.latents) {
            assert_eq!((a.shape, a.albedo), (b.shape, b.albedo));
        }
        let zero = mix_set(&s, 1.0, &[0.0], 3).unwrap();
        for i in 0..s.len() {
            let k = zero.label_b[i];
            assert_ne!(k, zero.label_a[i], "partner differs from self");
            let (ps, pa) = parent_coeffs(k as u64);
            assert_eq!((zero.latents[i].shape, zero.latents[i].albedo), (ps, pa));
            // every non-identity factor is the image's own
            assert_eq!(zero.latents[i].pose, s.latents[i].pose);
            assert_eq!(zero.latents[i].expression, s.latents[i].expression);
            assert_eq!(zero.phi[i], 0.0);
        }
    }

    #[test]
    fn switch_and_unmixed_pass_through() {
        assert!(!Switch::Name("none".into()).on().unwrap());
        assert!(Switch::Name("identity".into()).on().unwrap());
        let s = set();
        let none = mix_set(&s, 0.0, &[0.5], 1).unwrap();
        assert_eq!(none, s);
    }
}
