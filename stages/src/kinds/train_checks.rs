//! Plan-time checks of `train` parameters beyond their declared rules: every problem at once,
//! each naming the parameter at fault (so the diagnostic points at that value, in the file or
//! in `--set`), and the cross-stage check of the input image size against the backbone's
//! stride-2 stages.

use synface_engine::ParamIssue;

use super::train::TrainParams;
use crate::nn::backbone::Arch;

/// Every problem with `p` that its declared rules (ranges, choices: `TrainParams`) cannot
/// see: the stage layout against the input side, and `m`. `image_size` is the side of the
/// input images when known (from the producing stage at plan time, from the dataset at run
/// time).
pub fn train_issues(p: &TrainParams, image_size: Option<usize>) -> Vec<ParamIssue> {
    let mut out = Vec::new();
    out.extend(shape_issues(p, p.arch, image_size));
    if p.m >= std::f64::consts::FRAC_PI_2 {
        out.push(ParamIssue::new("m", "m must be < pi/2"));
    }
    out
}

/// The declared rules and [`train_issues`] together: what `to_config` refuses at run time.
pub fn all_issues(p: &TrainParams, image_size: Option<usize>) -> Vec<ParamIssue> {
    use synface_engine::ParamsSchema;
    let mut out = match toml::Value::try_from(p) {
        Ok(toml::Value::Table(t)) => {
            let table: synface_engine::ParamTable = t.into_iter().collect();
            synface_engine::params::rule::rule_issues(&TrainParams::specs(), &table)
        }
        _ => Vec::new(),
    };
    out.extend(train_issues(p, image_size));
    out
}

/// The number of stages and the input side.
fn shape_issues(p: &TrainParams, arch: Arch, image_size: Option<usize>) -> Vec<ParamIssue> {
    let mut out = Vec::new();
    if p.depths.is_empty() || p.depths.len() != p.widths.len() {
        out.push(ParamIssue::new(
            "depths",
            format!(
                "depths ({}) and widths ({}) must be non-empty and of equal length",
                p.depths.len(),
                p.widths.len()
            ),
        ));
    }
    if p.depths.len() > 6 {
        out.push(ParamIssue::new(
            "depths",
            format!("at most 6 stages, got {}", p.depths.len()),
        ));
    }
    let reductions = p.depths.len() + usize::from(arch == Arch::MobileFaceNet);
    let f = 1u64 << reductions.min(20);
    if p.input_size != 0 && !p.input_size.is_multiple_of(f) {
        out.push(ParamIssue::new(
            "input_size",
            format!(
                "input_size {} must be a multiple of {f} for {reductions} stride-2 stages",
                p.input_size
            ),
        ));
    }
    if let (0, Some(side)) = (p.input_size, image_size) {
        if side == 0 || !(side as u64).is_multiple_of(f) {
            out.push(ParamIssue::new(
                "input_size",
                format!(
                    "the input images are {side}x{side}, but {reductions} stride-2 stages need a \
                     side that is a multiple of {f}: render at a multiple of {f}, or set \
                     input_size (images are resized to it)"
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> TrainParams {
        use synface_engine::ParamsSchema;
        let t: synface_engine::ParamTable = TrainParams::specs()
            .into_iter()
            .filter_map(|s| Some((s.name.to_string(), s.default?)))
            .collect();
        synface_engine::params::decode(&t).unwrap()
    }

    #[test]
    fn every_problem_is_reported_with_its_parameter() {
        let mut p = defaults();
        p.lr = -1.0;
        p.momentum = 2.0;
        p.batch_size = 1;
        p.m = 2.0;
        let issues = all_issues(&p, None);
        let params: Vec<String> = issues.into_iter().map(|i| i.param).collect();
        assert_eq!(params, ["batch_size", "lr", "momentum", "m"]);
        assert!(train_issues(&defaults(), Some(112)).is_empty());
    }

    #[test]
    fn image_size_from_upstream_must_suit_the_backbone() {
        let issues = train_issues(&defaults(), Some(24));
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].param, "input_size");
        assert!(issues[0].message.contains("24x24"), "{}", issues[0].message);
    }
}
