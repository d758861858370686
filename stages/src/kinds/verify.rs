//! Stage kind `verify`: embeds the test set with a trained model (optionally adding each
//! image's mirror's embedding), scores the `pairs` protocol with cosine similarity through
//! synface-kernels (GPU when the scheduler gave one and it loads, else CPU) and publishes
//! `metrics.json`, `scores.csv`, `roc.csv` and `embeddings.safetensors` (artifact type
//! `"verification"`). Checks that test identities are disjoint from training identities when
//! an optional `train` dataset is connected and both carry `identity_ids`.

use synface_engine::estimate::Estimate;
use synface_engine::{
    Artifact, Device, Facts, ParamRule, PortSpec, Resources, RunCtx, StageError, TypedStage,
};
use synface_kernels::Backend;

use crate::artifacts::{pairs, DATASET, MODEL, PAIRS, VERIFICATION};
use crate::dataset::Dataset;
use crate::verify::run::{shared_identities, verify, Embed, Verified};

synface_engine::stage_params! {
    /// Parameters of `verify`.
    pub struct VerifyParams {
        /// add the embedding of each image's horizontal mirror
        flip: bool = true,
        /// at most this many embeddings in embeddings.safetensors
        max_embeddings: u64 = 1000u64,
        /// test identities seen in training: "fail", "warn" or "off"
        disjoint: Disjoint = Disjoint::Fail => ParamRule::one_of(Disjoint::NAMES),
    }
}

synface_engine::param_enum! {
    /// What `verify` does when test identities occur in training.
    pub enum Disjoint {
        /// refuse to score
        Fail = "fail",
        /// score, with a warning
        Warn = "warn",
        /// do not check
        Off = "off",
    }
}

/// The `verify` stage kind.
pub struct Verify;

fn publish(
    a: &mut Artifact,
    v: &Verified,
    set: &crate::verify::pairs::PairSet,
    extra: serde_json::Value,
) -> Result<(), StageError> {
    let mut m = v.metrics.to_json();
    if let (Some(o), serde_json::Value::Object(e)) = (m.as_object_mut(), extra) {
        o.extend(e);
    }
    a.set_metrics(&m);
    a.publish("scores.csv", v.scores_csv(set).into_bytes());
    a.publish("roc.csv", v.roc.to_csv().into_bytes());
    a.publish("embeddings.safetensors", v.embeddings_safetensors()?);
    Ok(())
}

impl TypedStage for Verify {
    type Params = VerifyParams;
    const KIND: &'static str = "verify";
    const VERSION: u32 = 1;
    const ABOUT: &'static str =
        "LFW-protocol verification of a model on a test set: accuracy, ROC, AUC, EER, TAR@FAR";
    const INPUTS: &'static [PortSpec] = &[
        PortSpec::new("model", MODEL),
        PortSpec::new("data", DATASET),
        PortSpec::new("pairs", PAIRS),
        PortSpec::new("train", DATASET).optional(),
    ];
    const OUTPUT: &'static str = VERIFICATION;
    const RESOURCES: Resources = Resources {
        threads: 2,
        gpu: true,
        mem_mb: 2048,
    };

    fn estimate(&self, p: &VerifyParams, inputs: &[(&str, &Facts)]) -> Estimate {
        super::cost::verify(p.flip, inputs)
    }
    fn run(&self, p: VerifyParams, ctx: &RunCtx) -> Result<Artifact, StageError> {
        let data = Dataset::from_artifact(ctx.input("data")?)?;
        let set = pairs::decode(ctx.input("pairs")?)?;
        if p.disjoint != Disjoint::Off {
            if let Some(t) = ctx.input_opt("train") {
                check_disjoint(&data, &Dataset::from_artifact(t)?, p.disjoint)?;
            }
        }
        ctx.progress.set_message("embedding test images");
        let model = crate::nn::embedder::Embedder::from_artifact(ctx.input("model")?, ctx.device)?;
        let backend = Backend::select(match ctx.device {
            Device::Cuda(i) => Some(i),
            Device::Cpu => None,
        });
        ctx.cancel.check()?;
        let v = verify(
            &model as &dyn Embed,
            &data,
            &set,
            p.flip,
            &backend,
            p.max_embeddings as usize,
        )?;
        let mut a = Artifact::new();
        let extra = serde_json::json!({
            "test_domain": serde_json::to_value(data.info.domain).map_err(StageError::msg)?,
            "pairs": set.pairs.len(),
            "folds": set.folds,
            "flip": p.flip,
            "kernels": backend.describe(),
        });
        publish(&mut a, &v, &set, extra)?;
        Ok(a)
    }
}

/// Test identities that also occur in training: an error (`fail`) or a warning (`warn`).
fn check_disjoint(test: &Dataset, train: &Dataset, mode: Disjoint) -> Result<(), StageError> {
    let shared = shared_identities(&test.info, &test.label_a, &train.info);
    if shared.is_empty() {
        return Ok(());
    }
    let msg = format!(
        "{} test identities also occur in training (e.g. {:?}); test pairs must use unseen identities",
        shared.len(),
        &shared[..shared.len().min(5)]
    );
    if mode == Disjoint::Fail {
        return Err(StageError::Input(msg));
    }
    tracing::warn!("{msg}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use synface_engine::ParamTable;

    #[test]
    fn schema_and_checks() {
        use synface_engine::Stage;
        assert_eq!(Verify.inputs().len(), 4);
        assert_eq!(Verify.output(), "verification");
        let bad: ParamTable =
            [("disjoint".to_string(), toml::Value::String("maybe".into()))].into();
        let issues =
            |t: &ParamTable| synface_engine::params::rule::rule_issues(&Verify.params(), t);
        assert_eq!(issues(&bad).len(), 1);
        let ok: ParamTable = [("disjoint".to_string(), toml::Value::String("warn".into()))].into();
        assert!(issues(&ok).is_empty());
    }
}
