//! Plan-time checks of `train` parameters: every problem at once, each naming the parameter
//! at fault (so the diagnostic points at that value, in the file or in `--set`), and the
//! cross-stage check of the input image size against the backbone's stride-2 stages.

use synface_engine::ParamIssue;

use super::train::TrainParams;
use crate::nn::backbone::Arch;
use crate::nn::margin::MarginKind;

fn issue(param: &str, message: impl Into<String>) -> ParamIssue {
    ParamIssue {
        param: param.into(),
        message: message.into(),
    }
}

/// Every problem with `p`. `image_size` is the side of the input images when known (from the
/// producing stage at plan time, from the dataset at run time).
pub fn train_issues(p: &TrainParams, image_size: Option<usize>) -> Vec<ParamIssue> {
    let mut out = Vec::new();
    if let Err(e) = p.margin.parse::<MarginKind>() {
        out.push(issue("margin", e.to_string()));
    }
    if !matches!(p.schedule.as_str(), "cosine" | "step") {
        out.push(issue(
            "schedule",
            format!(
                "unknown schedule `{}` (expected `cosine` or `step`)",
                p.schedule
            ),
        ));
    }
    match p.arch.parse::<Arch>() {
        Ok(arch) => out.extend(shape_issues(p, arch, image_size)),
        Err(e) => out.push(issue("arch", e.to_string())),
    }
    out.extend(scalar_issues(p));
    out
}

/// Depths, widths, embedding, dropout and the input side.
fn shape_issues(p: &TrainParams, arch: Arch, image_size: Option<usize>) -> Vec<ParamIssue> {
    let mut out = Vec::new();
    if p.depths.is_empty() || p.depths.len() != p.widths.len() {
        out.push(issue(
            "depths",
            format!(
                "depths ({}) and widths ({}) must be non-empty and of equal length",
                p.depths.len(),
                p.widths.len()
            ),
        ));
    }
    if p.depths.len() > 6 {
        out.push(issue(
            "depths",
            format!("at most 6 stages, got {}", p.depths.len()),
        ));
    }
    for (name, v) in [("depths", &p.depths), ("widths", &p.widths)] {
        if v.contains(&0) {
            out.push(issue(name, format!("{name} must all be positive")));
        }
    }
    if p.embedding == 0 {
        out.push(issue("embedding", "embedding must be positive"));
    }
    if !(0.0..1.0).contains(&p.dropout) {
        out.push(issue(
            "dropout",
            format!("dropout {} must be in [0, 1)", p.dropout),
        ));
    }
    let reductions = p.depths.len() + usize::from(arch == Arch::MobileFaceNet);
    let f = 1u64 << reductions.min(20);
    if p.input_size != 0 && !p.input_size.is_multiple_of(f) {
        out.push(issue(
            "input_size",
            format!(
                "input_size {} must be a multiple of {f} for {reductions} stride-2 stages",
                p.input_size
            ),
        ));
    }
    if let (0, Some(side)) = (p.input_size, image_size) {
        if side == 0 || !(side as u64).is_multiple_of(f) {
            out.push(issue(
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

/// The scalar hyper-parameters, each on its own.
fn scalar_issues(p: &TrainParams) -> Vec<ParamIssue> {
    let checks = [
        (p.s > 0.0, "s", "s must be > 0"),
        (p.m < std::f64::consts::FRAC_PI_2, "m", "m must be < pi/2"),
        (p.lr > 0.0, "lr", "lr must be > 0"),
        (
            (0.0..1.0).contains(&p.momentum),
            "momentum",
            "momentum must be in [0, 1)",
        ),
        (
            p.weight_decay >= 0.0,
            "weight_decay",
            "weight_decay must be >= 0",
        ),
        (
            (0.0..1.0).contains(&p.val_ids),
            "val_ids",
            "val_ids must be in [0, 1)",
        ),
        (p.batch_size >= 2, "batch_size", "batch_size must be >= 2"),
        (p.epochs >= 1, "epochs", "epochs must be >= 1"),
        (p.gamma > 0.0, "gamma", "gamma must be > 0"),
    ];
    checks
        .iter()
        .filter(|(ok, _, _)| !ok)
        .map(|(_, param, msg)| issue(param, *msg))
        .collect()
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
        p.margin = "softmax".into();
        p.batch_size = 1;
        let params: Vec<String> = train_issues(&p, None)
            .into_iter()
            .map(|i| i.param)
            .collect();
        assert_eq!(params, ["margin", "lr", "momentum", "batch_size"]);
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
