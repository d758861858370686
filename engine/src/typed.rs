//! The typed face of the stage contract. A stage kind implements [`TypedStage`]: its
//! parameter struct (declared with [`crate::stage_params!`]), its ports and output type as
//! constants, its resources, and `run`, which receives the decoded parameters. One blanket
//! impl turns every `TypedStage` into the object-safe [`Stage`] the planner and scheduler use,
//! so decoding, defaults and the plan-time hooks are written once, here, not in every kind.

use crate::estimate::{first_facts, Estimate, Facts};
use crate::inputs::ExternalInput;
use crate::params::rule::rule_issues;
use crate::params::{decode, ParamIssue, ParamSpec, ParamTable, ParamsSchema};
use crate::stage::{Artifact, PortSpec, Resources, RunCtx, Stage, StageError};

/// A stage kind written against its typed parameters (see the module doc).
///
/// Every plan-time hook receives the decoded parameters; the blanket [`Stage`] impl decodes
/// them once per call. Parameters that do not decode never reach a hook: the planner reports
/// their type errors at the value's position before any hook runs.
pub trait TypedStage: Send + Sync {
    /// The parameter struct (a [`crate::stage_params!`] declaration).
    type Params: ParamsSchema + serde::de::DeserializeOwned;
    /// `kind = "..."` in pipeline files.
    const KIND: &'static str;
    /// Bump when the kind's output bytes change for the same inputs: part of the cache key
    /// (the golden-digest test in `tests/integration/stage_digests.rs` enforces it).
    const VERSION: u32;
    /// One line for `synface kinds` and did-you-mean.
    const ABOUT: &'static str;
    /// Input ports, in order (the first is the one `input = "<stage>"` connects).
    const INPUTS: &'static [PortSpec];
    /// Artifact type this kind produces.
    const OUTPUT: &'static str;
    /// What an instance asks of the scheduler unless [`TypedStage::resources`] says more.
    const RESOURCES: Resources = Resources::DEFAULT;

    /// Cross-field checks of the parameters at plan time (cheap; no I/O beyond `exists`).
    fn check(&self, _p: &Self::Params) -> Vec<ParamIssue> {
        Vec::new()
    }
    /// Checks of the parameters against the inputs' plan-time facts (port, facts).
    fn check_inputs(&self, _p: &Self::Params, _inputs: &[(&str, &Facts)]) -> Vec<ParamIssue> {
        Vec::new()
    }
    fn resources(&self, _p: &Self::Params) -> Resources {
        Self::RESOURCES
    }
    /// What the output is known to be at plan time. Default: the first input's facts.
    fn output_facts(&self, _p: &Self::Params, inputs: &[(&str, &Facts)]) -> Facts {
        first_facts(inputs)
    }
    /// Expected work, peak memory and output size (`synface plan --estimate`).
    fn estimate(&self, _p: &Self::Params, _inputs: &[(&str, &Facts)]) -> Estimate {
        Estimate::default()
    }
    /// Files and folders outside the cache that `run` reads (hashed into the cache key).
    fn external_inputs(&self, _p: &Self::Params) -> Vec<ExternalInput> {
        Vec::new()
    }
    fn run(&self, p: Self::Params, ctx: &RunCtx) -> Result<Artifact, StageError>;
}

impl<T: TypedStage> Stage for T {
    fn kind(&self) -> &'static str {
        T::KIND
    }
    fn version(&self) -> u32 {
        T::VERSION
    }
    fn about(&self) -> &'static str {
        T::ABOUT
    }
    fn params(&self) -> Vec<ParamSpec> {
        T::Params::specs()
    }
    fn inputs(&self) -> Vec<PortSpec> {
        T::INPUTS.to_vec()
    }
    fn output(&self) -> &'static str {
        T::OUTPUT
    }
    fn check(&self, params: &ParamTable) -> Vec<ParamIssue> {
        match decode::<T::Params>(params) {
            Ok(p) => TypedStage::check(self, &p),
            // A value outside a parameter's declared choices fails both its rule (reported
            // beside it by the planner) and the decoding: report it once.
            Err(_) if !rule_issues(&T::Params::specs(), params).is_empty() => Vec::new(),
            Err(message) => vec![ParamIssue::new("", message)],
        }
    }
    fn check_inputs(&self, params: &ParamTable, inputs: &[(&str, &Facts)]) -> Vec<ParamIssue> {
        decode::<T::Params>(params)
            .map(|p| TypedStage::check_inputs(self, &p, inputs))
            .unwrap_or_default()
    }
    fn resources(&self, params: &ParamTable) -> Resources {
        decode::<T::Params>(params).map_or(T::RESOURCES, |p| TypedStage::resources(self, &p))
    }
    fn output_facts(&self, params: &ParamTable, inputs: &[(&str, &Facts)]) -> Facts {
        match decode::<T::Params>(params) {
            Ok(p) => TypedStage::output_facts(self, &p, inputs),
            Err(_) => first_facts(inputs),
        }
    }
    fn estimate(&self, params: &ParamTable, inputs: &[(&str, &Facts)]) -> Estimate {
        decode::<T::Params>(params)
            .map(|p| TypedStage::estimate(self, &p, inputs))
            .unwrap_or_default()
    }
    fn external_inputs(&self, params: &ParamTable) -> Vec<ExternalInput> {
        decode::<T::Params>(params)
            .map(|p| TypedStage::external_inputs(self, &p))
            .unwrap_or_default()
    }
    fn run(&self, ctx: &RunCtx) -> Result<Artifact, StageError> {
        TypedStage::run(self, ctx.params()?, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::param_enum! {
        /// A choice.
        pub enum Mode {
            Fast = "fast",
            Slow = "slow",
        }
    }

    crate::stage_params! {
        /// Parameters of the test kind.
        pub struct ProbeParams {
            /// how
            mode: Mode = Mode::Fast => crate::ParamRule::one_of(Mode::NAMES),
            /// how many
            n: u64 = 2u64,
        }
    }

    struct Probe;

    impl TypedStage for Probe {
        type Params = ProbeParams;
        const KIND: &'static str = "probe";
        const VERSION: u32 = 7;
        const ABOUT: &'static str = "a probe";
        const INPUTS: &'static [PortSpec] = &[PortSpec::new("in", "x").optional().gather()];
        const OUTPUT: &'static str = "y";

        fn check(&self, p: &ProbeParams) -> Vec<ParamIssue> {
            ParamIssue::of(
                "n",
                (p.n > 1).then_some(()).ok_or("n must be > 1".to_string()),
            )
            .into_iter()
            .collect()
        }
        fn resources(&self, p: &ProbeParams) -> Resources {
            Resources {
                threads: p.n as usize,
                ..Self::RESOURCES
            }
        }
        fn run(&self, _p: ProbeParams, _ctx: &RunCtx) -> Result<Artifact, StageError> {
            Ok(Artifact::new())
        }
    }

    fn table(mode: &str, n: i64) -> ParamTable {
        [
            ("mode".to_string(), toml::Value::String(mode.into())),
            ("n".to_string(), toml::Value::Integer(n)),
        ]
        .into()
    }

    #[test]
    fn the_blanket_impl_is_the_typed_declaration() {
        let s: &dyn Stage = &Probe;
        assert_eq!((s.kind(), s.version(), s.output()), ("probe", 7, "y"));
        let port = &s.inputs()[0];
        assert!(port.optional && port.gather && port.name == "in");
        assert_eq!(
            s.params()[0].default,
            Some(toml::Value::String("fast".into()))
        );
        assert_eq!(s.resources(&table("slow", 3)).threads, 3);
        let issues = s.check(&table("fast", 1));
        assert_eq!((issues[0].param.as_str(), issues.len()), ("n", 1));
    }

    #[test]
    fn an_undecodable_table_is_reported_once() {
        let s: &dyn Stage = &Probe;
        // outside the declared choices: the planner's rule check reports it, not `check`
        assert!(s.check(&table("medium", 3)).is_empty());
        assert_eq!(rule_issues(&s.params(), &table("medium", 3)).len(), 1);
        // a decoding failure no rule sees is a stage-level issue
        let mut t = table("fast", 3);
        t.insert("extra".into(), toml::Value::Boolean(true));
        let issues = s.check(&t);
        assert_eq!((issues.len(), issues[0].param.as_str()), (1, ""));
        // the other hooks fall back to the declared defaults
        assert_eq!(s.resources(&t), Resources::DEFAULT);
    }

    #[test]
    fn param_errors_name_the_parameter() {
        let e = StageError::param("lr", "must be > 0");
        assert_eq!(e.to_string(), "bad parameter `lr`: must be > 0");
        assert_eq!(StageError::param("", "x").to_string(), "bad parameter: x");
    }
}
