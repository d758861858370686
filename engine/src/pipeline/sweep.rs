//! Sweep expansion: the product of the axes (zip groups vary together, exclusions removed),
//! then the named arms, each crossed with the replicate axis `seed`. A point's id is a short
//! blake3 hash of its own values (and arm name), so adding axis values never renumbers others.

use std::collections::BTreeMap;

use super::model::SweepDef;
use crate::plan::Point;
use crate::plan::REPLICATE_AXIS;

/// Most points a sweep may expand to.
pub(crate) const MAX_POINTS: u64 = 1_000_000;

/// The expanded sweep.
pub(crate) struct Sweep {
    /// Every axis name, sorted (the replicate axis included when `seeds` is given).
    pub axes: Vec<String>,
    /// Whether `seeds = N` was given.
    pub replicate: bool,
    pub points: Vec<Point>,
    /// Per point, its value for each axis (indexed like `axes`).
    pub values: Vec<Vec<toml::Value>>,
}

/// Names of all axes (sorted), as templates see them.
pub(crate) fn axis_names(def: &SweepDef) -> Vec<String> {
    let mut names: Vec<String> = def.axes.iter().map(|a| a.name.clone()).collect();
    if def.seeds.is_some() {
        names.push(REPLICATE_AXIS.to_string());
    }
    names.sort();
    names
}

/// Stable id of a point: 12 hex digits of blake3 over the canonical encoding of its values.
pub(crate) fn point_id(values: &toml::Table, arm: Option<&str>) -> String {
    let mut bytes = Vec::with_capacity(64);
    // Values are validated scalars: encoding cannot fail; fall back to Debug if it ever did.
    if crate::keys::encode_value(&toml::Value::Table(values.clone()), &mut bytes).is_err() {
        bytes = format!("{values:?}").into_bytes();
    }
    if let Some(a) = arm {
        bytes.extend_from_slice(b"\x00arm\x00");
        bytes.extend_from_slice(a.as_bytes());
    }
    crate::cache::hex(blake3::hash(&bytes).as_bytes())[..12].to_string()
}

/// Number of product points before exclusions, or `None` on overflow.
fn product_size(def: &SweepDef, dims: &[Vec<usize>]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, d| {
        acc.checked_mul(def.axes[d[0]].values.len() as u64)
    })
}

/// Expand `def`. Errors (too many points) are returned as a message.
pub(crate) fn expand(def: &SweepDef) -> Result<Sweep, String> {
    let axes = axis_names(def);
    let pos = |name: &str| axes.iter().position(|a| a == name).unwrap_or(0);
    let axis_pos: Vec<usize> = def.axes.iter().map(|a| pos(&a.name)).collect();
    let rep_pos = def.seeds.map(|_| pos(REPLICATE_AXIS));
    let reps = def.seeds.unwrap_or(1);

    // Dimensions: each zip group is one, every other axis is its own; in file order.
    let mut dims: Vec<Vec<usize>> = Vec::new();
    for i in 0..def.axes.len() {
        match def.zip.iter().find(|g| g.contains(&i)) {
            Some(g) if g[0] == i => dims.push(g.clone()),
            Some(_) => {}
            None => dims.push(vec![i]),
        }
    }
    let product = if def.product {
        product_size(def, &dims)
    } else {
        Some(0)
    };
    let total = product
        .and_then(|p| p.checked_add(def.arms.len() as u64))
        .and_then(|p| p.checked_mul(reps))
        .filter(|&t| t <= MAX_POINTS)
        .ok_or_else(|| format!("the sweep expands to more than {MAX_POINTS} points"))?;

    let mut out = Sweep {
        axes: axes.clone(),
        replicate: def.seeds.is_some(),
        points: Vec::with_capacity(total as usize),
        values: Vec::with_capacity(total as usize),
    };
    let mut push = |base: &[toml::Value], arm: Option<&str>| {
        for r in 0..reps {
            let mut vals = base.to_vec();
            if let Some(p) = rep_pos {
                vals[p] = toml::Value::Integer(r as i64);
            }
            let table: toml::Table = axes.iter().cloned().zip(vals.iter().cloned()).collect();
            let id = point_id(&table, arm);
            let values: BTreeMap<String, toml::Value> = table.into_iter().collect();
            out.points.push(Point {
                id,
                arm: arm.map(str::to_string),
                values,
            });
            out.values.push(vals);
        }
    };

    let blank = vec![toml::Value::Integer(0); axes.len()];
    if def.product && product.unwrap_or(0) > 0 {
        let mut counter = vec![0usize; dims.len()];
        loop {
            let mut vals = blank.clone();
            for (d, &c) in dims.iter().zip(&counter) {
                for &a in d {
                    vals[axis_pos[a]] = def.axes[a].values[c].0.clone();
                }
            }
            let excluded = def
                .exclude
                .iter()
                .any(|pat| pat.iter().all(|(a, v)| vals[axis_pos[*a]] == *v));
            if !excluded {
                push(&vals, None);
            }
            // Advance the mixed-radix counter, last dimension fastest.
            let mut k = dims.len();
            let done = loop {
                if k == 0 {
                    break true;
                }
                k -= 1;
                counter[k] += 1;
                if counter[k] < def.axes[dims[k][0]].values.len() {
                    break false;
                }
                counter[k] = 0;
            };
            if done {
                break;
            }
        }
    }
    for arm in &def.arms {
        let mut vals = blank.clone();
        for (a, v) in arm.values.iter().enumerate() {
            vals[axis_pos[a]] = v.clone();
        }
        push(&vals, Some(&arm.name));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::model::{ArmDef, AxisDef};
    use super::super::tree::Loc;
    use super::*;

    fn axis(name: &str, vals: &[i64]) -> AxisDef {
        AxisDef {
            name: name.into(),
            loc: Loc::file(0..0),
            values: vals
                .iter()
                .map(|&v| (toml::Value::Integer(v), Loc::file(0..0)))
                .collect(),
        }
    }

    fn def(axes: Vec<AxisDef>) -> SweepDef {
        SweepDef {
            axes,
            product: true,
            ..Default::default()
        }
    }

    #[test]
    fn product_exclusion_replicates() {
        let mut d = def(vec![axis("a", &[1, 2, 3]), axis("b", &[10, 20])]);
        assert_eq!(expand(&d).unwrap().points.len(), 6);
        d.exclude.push(vec![(0, 1.into()), (1, 20.into())]);
        assert_eq!(expand(&d).unwrap().points.len(), 5);
        d.seeds = Some(3);
        let s = expand(&d).unwrap();
        assert_eq!(s.points.len(), 15);
        assert_eq!(s.axes, vec!["a", "b", "seed"]);
        // replicate innermost
        assert_eq!(s.points[0].values["seed"], toml::Value::Integer(0));
        assert_eq!(s.points[2].values["seed"], toml::Value::Integer(2));
        let ids: std::collections::BTreeSet<&str> =
            s.points.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids.len(), 15);
    }

    #[test]
    fn zip_and_arms() {
        let mut d = def(vec![
            axis("lr", &[1, 2, 3]),
            axis("bs", &[4, 5, 6]),
            axis("c", &[0, 1]),
        ]);
        d.zip.push(vec![0, 1]);
        let s = expand(&d).unwrap();
        assert_eq!(s.points.len(), 6);
        for (p, v) in s.points.iter().zip(&s.values) {
            let lr = v[s.axes.iter().position(|a| a == "lr").unwrap()]
                .as_integer()
                .unwrap();
            assert_eq!(p.values["bs"].as_integer().unwrap(), lr + 3);
        }
        d.arms.push(ArmDef {
            name: "x".into(),
            values: vec![9.into(), 9.into(), 9.into()],
        });
        let s = expand(&d).unwrap();
        assert_eq!(s.points.len(), 7);
        assert_eq!(s.points[6].arm.as_deref(), Some("x"));
        d.product = false;
        assert_eq!(expand(&d).unwrap().points.len(), 1);
    }

    #[test]
    fn ids_are_stable_when_an_axis_grows() {
        let small = expand(&def(vec![axis("a", &[1, 2]), axis("b", &[5])])).unwrap();
        let big = expand(&def(vec![axis("a", &[1, 2, 3]), axis("b", &[5])])).unwrap();
        for p in &small.points {
            assert!(big
                .points
                .iter()
                .any(|q| q.id == p.id && q.values == p.values));
        }
        assert_eq!(small.points[0].id.len(), 12);
    }

    #[test]
    fn no_axes_is_one_point_and_huge_is_refused() {
        assert_eq!(expand(&def(vec![])).unwrap().points.len(), 1);
        let many: Vec<i64> = (0..1000).collect();
        let d = def(vec![axis("a", &many), axis("b", &many), axis("c", &many)]);
        assert!(expand(&d).is_err());
    }
}
