//! Declared value rules of a stage parameter beyond its type: numeric bounds, a set of
//! allowed strings, a description of a composite value's shape, and whether the value is part
//! of the keys. Declared beside each parameter in [`crate::stage_params!`] (`=> rule`); the
//! planner checks every instance against them ([`rule_issues`]) and `synface kinds` prints
//! them, so the documentation and the validation are the same data.

use super::{ParamIssue, ParamSpec, ParamTable};

/// One end of a numeric range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// The value itself is allowed.
    Incl(f64),
    /// Values up to (or down to) it, not itself.
    Excl(f64),
}

/// What a parameter's value must satisfy besides its type, and how it enters the keys.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamRule {
    /// Lower bound of a number (or of every number of an array).
    pub min: Option<Limit>,
    /// Upper bound of a number (or of every number of an array).
    pub max: Option<Limit>,
    /// Allowed strings, or of every string of an array (empty: any).
    pub choices: &'static [&'static str],
    /// The shape of a composite value, for documentation (`float list or { from, to, step }`).
    pub shape: Option<&'static str>,
    /// `false`: the value changes no output (e.g. how often to checkpoint), so it is left out
    /// of the plan and cache keys; changing it reuses cached results.
    pub keyed: bool,
    /// A string naming a (non-replicate) sweep axis of the pipeline, or empty: checked by the
    /// planner, which knows the axes ([`axis_issues`]).
    pub sweep_axis: bool,
}

impl Default for ParamRule {
    fn default() -> Self {
        ParamRule::NONE
    }
}

impl ParamRule {
    /// No constraint; part of the keys.
    pub const NONE: ParamRule = ParamRule {
        min: None,
        max: None,
        choices: &[],
        shape: None,
        keyed: true,
        sweep_axis: false,
    };

    /// `x >= lo`.
    pub const fn at_least(lo: f64) -> Self {
        ParamRule {
            min: Some(Limit::Incl(lo)),
            ..ParamRule::NONE
        }
    }

    /// `x > lo`.
    pub const fn above(lo: f64) -> Self {
        ParamRule {
            min: Some(Limit::Excl(lo)),
            ..ParamRule::NONE
        }
    }

    /// `lo <= x <= hi`.
    pub const fn within(lo: f64, hi: f64) -> Self {
        ParamRule::at_least(lo).at_most(hi)
    }

    /// Also `x <= hi`.
    pub const fn at_most(self, hi: f64) -> Self {
        ParamRule {
            max: Some(Limit::Incl(hi)),
            ..self
        }
    }

    /// Also `x < hi`.
    pub const fn below(self, hi: f64) -> Self {
        ParamRule {
            max: Some(Limit::Excl(hi)),
            ..self
        }
    }

    /// A string out of `choices`.
    pub const fn one_of(choices: &'static [&'static str]) -> Self {
        ParamRule {
            choices,
            ..ParamRule::NONE
        }
    }

    /// Document the shape of a composite value.
    pub const fn shaped(self, shape: &'static str) -> Self {
        ParamRule {
            shape: Some(shape),
            ..self
        }
    }

    /// A string naming a sweep axis of the pipeline (not the replicate axis), or `""`.
    pub const fn sweep_axis() -> Self {
        ParamRule {
            sweep_axis: true,
            ..ParamRule::NONE
        }
    }

    /// Leave the value out of the keys: it must not change any output.
    pub const fn not_in_key(self) -> Self {
        ParamRule {
            keyed: false,
            ..self
        }
    }

    /// The allowed range or choices in words (`[8, 1024]`, `>= 1`, `"a" | "b"`); empty when
    /// there is no constraint.
    pub fn describe(&self) -> String {
        if self.sweep_axis {
            return "a sweep axis, or \"\"".into();
        }
        if !self.choices.is_empty() {
            let quoted: Vec<String> = self.choices.iter().map(|c| format!("\"{c}\"")).collect();
            return quoted.join(" | ");
        }
        match (self.min, self.max) {
            (None, None) => String::new(),
            (Some(lo), None) => match lo {
                Limit::Incl(x) => format!(">= {x}"),
                Limit::Excl(x) => format!("> {x}"),
            },
            (None, Some(hi)) => match hi {
                Limit::Incl(x) => format!("<= {x}"),
                Limit::Excl(x) => format!("< {x}"),
            },
            (Some(lo), Some(hi)) => {
                let (open, a) = match lo {
                    Limit::Incl(x) => ('[', x),
                    Limit::Excl(x) => ('(', x),
                };
                let (close, b) = match hi {
                    Limit::Incl(x) => (']', x),
                    Limit::Excl(x) => (')', x),
                };
                format!("{open}{a}, {b}{close}")
            }
        }
    }

    /// Check one value of parameter `name`; `Err` says what is wrong in a sentence.
    pub fn check(&self, name: &str, v: &toml::Value) -> Result<(), String> {
        let strings: Vec<&str> = match v {
            toml::Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect(),
            other => other.as_str().into_iter().collect(),
        };
        if let (false, Some(s)) = (
            self.choices.is_empty(),
            strings.iter().find(|s| !self.choices.contains(s)),
        ) {
            return Err(format!("`{s}` is not one of {}", self.describe()));
        }
        let numbers: Vec<f64> = match v {
            toml::Value::Array(a) => a.iter().filter_map(number).collect(),
            other => number(other).into_iter().collect(),
        };
        let what = if v.is_array() {
            format!("every value of {name}")
        } else {
            name.to_string()
        };
        match numbers.iter().find(|x| !self.in_range(**x)) {
            Some(_) => Err(format!("{what} must be {}", self.range_words())),
            None => Ok(()),
        }
    }

    fn in_range(&self, x: f64) -> bool {
        let lo = match self.min {
            Some(Limit::Incl(a)) => x >= a,
            Some(Limit::Excl(a)) => x > a,
            None => true,
        };
        let hi = match self.max {
            Some(Limit::Incl(b)) => x <= b,
            Some(Limit::Excl(b)) => x < b,
            None => true,
        };
        lo && hi
    }

    fn range_words(&self) -> String {
        let d = self.describe();
        if self.min.is_some() && self.max.is_some() {
            format!("in {d}")
        } else {
            d
        }
    }
}

fn number(v: &toml::Value) -> Option<f64> {
    v.as_float().or(v.as_integer().map(|i| i as f64))
}

/// Every rule violation among `params` (resolved, defaults filled), in declaration order.
pub fn rule_issues(specs: &[ParamSpec], params: &ParamTable) -> Vec<ParamIssue> {
    specs
        .iter()
        .filter_map(|s| ParamIssue::of(s.name, s.rule.check(s.name, params.get(s.name)?)))
        .collect()
}

/// Every parameter declared [`ParamRule::sweep_axis`] whose value names none of `axes` (the
/// pipeline's non-replicate sweep axes), with a suggestion.
pub fn axis_issues(specs: &[ParamSpec], params: &ParamTable, axes: &[&str]) -> Vec<ParamIssue> {
    specs
        .iter()
        .filter(|s| s.rule.sweep_axis)
        .filter_map(|s| {
            let v = params.get(s.name)?.as_str()?;
            if v.is_empty() || axes.contains(&v) {
                return None;
            }
            let listed = if axes.is_empty() {
                "the pipeline has no sweep axes besides replicates".to_string()
            } else {
                format!("its sweep axes: {}", axes.join(", "))
            };
            let hint = crate::diag::did_you_mean(v, axes.iter().copied())
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            Some(ParamIssue::new(
                s.name,
                format!("`{v}` is not a sweep axis ({listed}){hint}"),
            ))
        })
        .collect()
}

/// Names of the declared parameters left out of the keys.
pub fn unkeyed(specs: &[ParamSpec]) -> Vec<String> {
    specs
        .iter()
        .filter(|s| !s.rule.keyed)
        .map(|s| s.name.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_axis_parameter_must_name_an_axis_or_be_empty() {
        let spec = ParamSpec {
            name: "contrast",
            doc: "",
            ty: "String",
            default: Some("".into()),
            check: |_| Ok(()),
            rule: ParamRule::sweep_axis(),
        };
        assert_eq!(spec.rule.describe(), "a sweep axis, or \"\"");
        let with =
            |v: &str| -> ParamTable { [("contrast".to_string(), v.into())].into_iter().collect() };
        let axes = ["mixup", "test"];
        assert!(axis_issues(std::slice::from_ref(&spec), &with(""), &axes).is_empty());
        assert!(axis_issues(std::slice::from_ref(&spec), &with("test"), &axes).is_empty());
        let issues = axis_issues(std::slice::from_ref(&spec), &with("mixp"), &axes);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].param, "contrast");
        assert!(issues[0]
            .message
            .contains("`mixp` is not a sweep axis (its sweep axes: mixup, test)"));
        assert!(
            issues[0].message.contains("did you mean `mixup`?"),
            "{}",
            issues[0].message
        );
        let none = axis_issues(std::slice::from_ref(&spec), &with("seed"), &[]);
        assert!(none[0].message.contains("no sweep axes besides replicates"));
    }

    #[test]
    fn ranges_are_described_and_checked() {
        let r = ParamRule::within(8.0, 1024.0);
        assert_eq!(r.describe(), "[8, 1024]");
        assert!(r.check("size", &toml::Value::Integer(8)).is_ok());
        assert_eq!(
            r.check("size", &toml::Value::Integer(7)).unwrap_err(),
            "size must be in [8, 1024]"
        );
        let open = ParamRule::at_least(0.0).below(1.0);
        assert_eq!(open.describe(), "[0, 1)");
        assert!(open.check("p", &toml::Value::Float(1.0)).is_err());
        assert_eq!(
            ParamRule::above(0.0).check("lr", &toml::Value::Float(0.0)),
            Err("lr must be > 0".into())
        );
    }

    #[test]
    fn arrays_are_checked_per_element_and_choices_by_name() {
        let r = ParamRule::at_least(1.0);
        let arr = toml::Value::Array(vec![1.into(), 0.into()]);
        assert_eq!(
            r.check("depths", &arr).unwrap_err(),
            "every value of depths must be >= 1"
        );
        let c = ParamRule::one_of(&["cosface", "arcface"]);
        assert_eq!(c.describe(), "\"cosface\" | \"arcface\"");
        assert!(c.check("margin", &"arcface".into()).is_ok());
        assert_eq!(
            c.check("margin", &"softmax".into()).unwrap_err(),
            "`softmax` is not one of \"cosface\" | \"arcface\""
        );
        let list = toml::Value::Array(vec!["arcface".into(), "softmx".into()]);
        assert_eq!(
            c.check("margins", &list).unwrap_err(),
            "`softmx` is not one of \"cosface\" | \"arcface\"",
            "every string of an array is one of the choices"
        );
    }

    #[test]
    fn not_in_key_keeps_the_constraint() {
        let r = ParamRule::at_least(0.0).not_in_key();
        assert!(!r.keyed);
        assert_eq!(r.min, Some(Limit::Incl(0.0)));
        assert!(
            ParamRule::default().keyed,
            "parameters are keyed unless declared"
        );
    }
}
