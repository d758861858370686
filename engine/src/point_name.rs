//! Readable names of sweep points: a label (`margin=arcface seed=0`, for `plan` and progress
//! lines) and a folder name (`<id>-margin=arcface,seed=0`, for `runs/<name>/points/` and
//! exports) derived from a point's arm and axis values. Deterministic, file-system safe
//! (`[A-Za-z0-9._=,+-]` only, other characters become `_`) and capped at
//! [`SLUG_MAX`] characters, cut between pairs with a `,+N` tail counting the pairs left out
//! (never inside a value, unless one pair alone is longer than the cap); the id prefix keeps
//! folder names unique.

use crate::plan::Point;

/// Longest slug (the part after `<id>-`) of a folder name.
pub const SLUG_MAX: usize = 100;

/// A value as a word: strings bare, everything else canonical (`0.5`, `true`, `3`).
fn word(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => crate::keys::display_value(other),
    }
}

/// `key=value` pairs of the point: its arm first (`arm=NAME`), then the axes by name.
fn pairs(p: &Point) -> Vec<String> {
    p.arm
        .iter()
        .map(|a| format!("arm={a}"))
        .chain(p.values.iter().map(|(k, v)| format!("{k}={}", word(v))))
        .collect()
}

impl Point {
    /// `margin=arcface seed=0` (empty for a pipeline without a sweep).
    pub fn label(&self) -> String {
        pairs(self).join(" ")
    }

    /// The label made file-system safe: pairs joined by `,`, other characters `_`, at most
    /// [`SLUG_MAX`] characters.
    pub fn slug(&self) -> String {
        slug_of(&pairs(self))
    }

    /// The point's folder name: `<id>-<slug>`, or `<id>` when the slug is empty.
    pub fn dir_name(&self) -> String {
        folder(&self.id, &self.slug())
    }
}

fn slug_of(pairs: &[String]) -> String {
    let safe: Vec<String> = pairs.iter().map(|p| safe_chars(p)).collect();
    let whole = safe.join(",");
    if whole.len() <= SLUG_MAX {
        return whole;
    }
    // whole pairs while they fit with the `,+N` tail that counts the rest
    let mut out = String::new();
    for (i, p) in safe.iter().enumerate() {
        let tail = format!(",+{}", safe.len() - i - 1);
        let sep = usize::from(!out.is_empty());
        if out.len() + sep + p.len() + tail.len() > SLUG_MAX {
            if out.is_empty() {
                // one pair alone is longer than the cap: cut inside it
                return whole.chars().take(SLUG_MAX).collect();
            }
            return format!("{out},+{}", safe.len() - i);
        }
        if sep == 1 {
            out.push(',');
        }
        out.push_str(p);
    }
    out
}

/// `s` with every character outside `[A-Za-z0-9._=,+-]` replaced by `_`.
fn safe_chars(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=,+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn folder(id: &str, slug: &str) -> String {
    if slug.is_empty() {
        id.to_string()
    } else {
        format!("{id}-{slug}")
    }
}

/// The folder name of an instance serving `points`: the first point's id and the values all
/// of them share (`<id>-seed=0` for a stage shared across another axis).
pub fn common_dir_name(points: &[&Point]) -> String {
    let Some(first) = points.first() else {
        return String::new();
    };
    folder(&first.id, &slug_of(&common_pairs(points)))
}

/// The point id a user typed as an id or as a folder name (`<id>-<slug>`).
pub fn id_of(id_or_folder: &str) -> &str {
    id_or_folder.split('-').next().unwrap_or(id_or_folder)
}

/// The labels shared by every point of `points`: the pairs they all have in common, for an
/// instance serving several points (`seed=0` for a stage shared across another axis).
pub fn common_label(points: &[&Point]) -> String {
    common_pairs(points).join(" ")
}

fn common_pairs(points: &[&Point]) -> Vec<String> {
    let Some((first, rest)) = points.split_first() else {
        return Vec::new();
    };
    let others: Vec<Vec<String>> = rest.iter().map(|p| pairs(p)).collect();
    pairs(first)
        .into_iter()
        .filter(|kv| others.iter().all(|o| o.contains(kv)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(arm: Option<&str>, values: &[(&str, toml::Value)]) -> Point {
        Point {
            id: "af18ab910d51".into(),
            arm: arm.map(str::to_string),
            values: values
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    #[test]
    fn points_are_named_by_their_values() {
        let p = point(
            None,
            &[
                ("margin", "arcface".into()),
                ("seed", 0.into()),
                ("lr", 0.1.into()),
            ],
        );
        assert_eq!(p.label(), "lr=0.1 margin=arcface seed=0");
        assert_eq!(p.dir_name(), "af18ab910d51-lr=0.1,margin=arcface,seed=0");
        let arm = point(Some("base line"), &[("ids", 1000.into())]);
        assert_eq!(arm.label(), "arm=base line ids=1000");
        assert_eq!(arm.slug(), "arm=base_line,ids=1000");
        assert_eq!(point(None, &[]).dir_name(), "af18ab910d51");
    }

    #[test]
    fn slugs_are_file_system_safe_and_capped() {
        let p = point(None, &[("path", "../../etc/x y\u{202e}".into())]);
        assert_eq!(p.slug(), "path=.._.._etc_x_y_");
        let long = point(None, &[("name", "x".repeat(500).into())]);
        assert_eq!(long.slug().len(), SLUG_MAX);
    }

    #[test]
    fn long_slugs_are_cut_between_pairs_and_count_what_they_leave_out() {
        let axes: Vec<(String, toml::Value)> = (0..12)
            .map(|i| {
                (
                    format!("axis{i:02}"),
                    toml::Value::String("value".repeat(2)),
                )
            })
            .collect();
        let vals: Vec<(&str, toml::Value)> =
            axes.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let slug = point(None, &vals).slug();
        assert!(slug.len() <= SLUG_MAX, "{slug}");
        let (kept, tail) = slug.rsplit_once(",+").expect("a tail");
        let kept: Vec<&str> = kept.split(',').collect();
        assert!(
            kept.iter().all(|p| *p == format!("{}=valuevalue", &p[..6])),
            "{slug}"
        );
        assert_eq!(kept.len() + tail.parse::<usize>().expect("a count"), 12);
        // a slug that fits is never marked
        let short = point(None, &vals[..3]).slug();
        assert!(!short.contains('+'), "{short}");
    }

    #[test]
    fn common_label_keeps_shared_values() {
        let a = point(None, &[("margin", "arcface".into()), ("seed", 0.into())]);
        let b = point(None, &[("margin", "cosface".into()), ("seed", 0.into())]);
        assert_eq!(common_label(&[&a, &b]), "seed=0");
        assert_eq!(common_dir_name(&[&a, &b]), "af18ab910d51-seed=0");
        assert_eq!(common_label(&[]), "");
        assert_eq!(id_of("af18ab910d51-seed=0"), "af18ab910d51");
        assert_eq!(id_of("af18ab910d51"), "af18ab910d51");
    }
}
