//! A stage's `resources = { threads = 8, mem_mib = 64000, gpus = 1, time = "12:00:00" }`:
//! per-stage overrides of what its kind declares (docs/pipelines.md "Resources"), checked at
//! plan time with positions. Both executors honour them (docs/design.md §5): threads and
//! memory are what the local scheduler accounts and what a Slurm job requests; `gpus` is
//! `--gres=gpu:N` on Slurm and "use a GPU" (N > 0) or "stay on the CPU" (0) locally; `time` is
//! the Slurm time limit (`--time`), ignored locally. Values are fixed: sweep axes cannot
//! change where a stage runs. None of them is part of a cache key.

use super::tree::{Entry, Loc, Node, Sources, Val};
use crate::diag::did_you_mean;
use crate::stage::Resources;

const KEYS: [&str; 4] = ["threads", "mem_mib", "gpus", "time"];

/// The overrides written for one stage (unset fields keep the kind's declaration).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Overrides {
    pub threads: Option<usize>,
    pub mem_mib: Option<u64>,
    pub gpus: Option<usize>,
    pub time: Option<String>,
}

impl Overrides {
    /// The kind's declared resources with these overrides applied, and the GPU count
    /// (declared: 1 when the kind wants a GPU).
    pub fn apply(&self, declared: Resources) -> (Resources, usize) {
        let gpus = self.gpus.unwrap_or(usize::from(declared.gpu));
        let r = Resources {
            threads: self.threads.unwrap_or(declared.threads),
            gpu: gpus > 0,
            mem_mb: self.mem_mib.unwrap_or(declared.mem_mb),
        };
        (r, gpus)
    }
}

/// Parse the `resources` entry of a stage; problems are reported and those fields ignored.
pub(crate) fn parse(e: &Entry, srcs: &mut Sources) -> Overrides {
    let mut o = Overrides::default();
    let Some(fields) = e.node.table() else {
        if !matches!(e.node.v, Val::Invalid) {
            let d = srcs.at(&e.node.loc, "`resources` must be a table");
            srcs.push(
                d.label(format!("found {}", e.node.type_name()))
                    .help("write `resources = { threads = 8, mem_mib = 64000, gpus = 1, time = \"12:00:00\" }`"),
            );
        }
        return o;
    };
    for f in fields {
        match f.key.as_str() {
            "threads" => o.threads = int(&f.node, "threads", 1, 4096, srcs).map(|v| v as usize),
            "mem_mib" => o.mem_mib = int(&f.node, "mem_mib", 1, 1 << 40, srcs),
            "gpus" => o.gpus = int(&f.node, "gpus", 0, 64, srcs).map(|v| v as usize),
            "time" => o.time = time(&f.node, srcs),
            other => {
                let d = srcs.at(&f.key_loc, format!("unknown resource `{other}`"));
                let help = did_you_mean(other, KEYS).unwrap_or_else(|| {
                    "resources are `threads`, `mem_mib`, `gpus` and `time`".into()
                });
                srcs.push(d.label("unknown key").help(help));
            }
        }
    }
    o
}

/// An integer in `lo..=hi`.
fn int(n: &Node, what: &str, lo: u64, hi: u64, srcs: &mut Sources) -> Option<u64> {
    match n.v {
        Val::Int(i) if i >= 0 && (lo..=hi).contains(&(i as u64)) => Some(i as u64),
        Val::Invalid => None,
        Val::Int(_) => {
            let d = srcs.at(&n.loc, format!("resource `{what}` is out of range"));
            srcs.push(d.label(format!("expected {lo} to {hi}")));
            None
        }
        _ => {
            let d = srcs.at(&n.loc, format!("resource `{what}` must be an integer"));
            let help = (matches!(n.v, Val::Str(_))).then(|| {
                "resources take fixed values, not sweep axes or quoted numbers".to_string()
            });
            srcs.push(d.label(format!("found {}", n.type_name())).maybe_help(help));
            None
        }
    }
}

fn time(n: &Node, srcs: &mut Sources) -> Option<String> {
    let loc: &Loc = &n.loc;
    match &n.v {
        Val::Str(s) if is_slurm_time(s) => Some(s.clone()),
        Val::Invalid => None,
        _ => {
            let d = srcs.at(loc, "resource `time` must be a Slurm time limit");
            srcs.push(d.label("expected a string such as \"12:00:00\"").help(
                "formats: \"MM\", \"MM:SS\", \"HH:MM:SS\", \"D-HH\", \"D-HH:MM\", \"D-HH:MM:SS\"",
            ));
            None
        }
    }
}

/// Whether `s` is one of Slurm's time formats ("MM", "MM:SS", "HH:MM:SS", "D-HH",
/// "D-HH:MM", "D-HH:MM:SS"), all numbers, minutes and seconds below 60, not all zero.
pub fn is_slurm_time(s: &str) -> bool {
    let (days, rest) = match s.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, s),
    };
    let num = |p: &str| (1..=4).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    if days.is_some_and(|d| !num(d)) {
        return false;
    }
    let parts: Vec<&str> = rest.split(':').collect();
    if parts.is_empty() || parts.len() > 3 || !parts.iter().all(|p| num(p)) {
        return false;
    }
    let vals: Vec<u64> = parts.iter().map(|p| p.parse().unwrap_or(0)).collect();
    // Without days: MM, MM:SS, HH:MM:SS; with days: D-HH, D-HH:MM, D-HH:MM:SS.
    let sub60 = match (days.is_some(), vals.len()) {
        (false, 1) => true,
        (false, 2) => vals[1] < 60,
        (_, 3) => vals[1] < 60 && vals[2] < 60,
        (true, 2) => vals[1] < 60,
        _ => true,
    };
    let total: u64 = vals.iter().sum::<u64>() + days.map_or(0, |d| d.parse().unwrap_or(0));
    sub60 && total > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_time_formats() {
        for ok in ["30", "30:15", "12:00:00", "1-00", "2-12:30", "1-00:00:00"] {
            assert!(is_slurm_time(ok), "{ok}");
        }
        for bad in [
            "", "0", "12:61:00", "1:2:3:4", "x", "-1", "1-", "12h", "00:00:00",
        ] {
            assert!(!is_slurm_time(bad), "{bad}");
        }
    }

    #[test]
    fn overrides_replace_declared_resources() {
        let declared = Resources {
            threads: 4,
            gpu: true,
            mem_mb: 4096,
        };
        let o = Overrides {
            threads: Some(8),
            gpus: Some(0),
            ..Overrides::default()
        };
        let (r, gpus) = o.apply(declared);
        assert_eq!((r.threads, r.gpu, r.mem_mb, gpus), (8, false, 4096, 0));
        assert_eq!(Overrides::default().apply(declared).1, 1);
    }
}
