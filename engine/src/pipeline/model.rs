//! Interprets the positioned tree as a pipeline definition: the `[pipeline]` header, the
//! `[sweep]` (axes, `seeds`, `zip`, `exclude`, `product`, `[[sweep.arm]]`) and `[stages.*]`
//! tables. Structural problems become diagnostics; nothing here knows the stage registry.

use super::resources::Overrides;
use super::tree::{Entry, Loc, Node, Sources, Val};
use crate::diag::did_you_mean;

use crate::plan::REPLICATE_AXIS;

/// Keys of `[sweep]` that are not axes.
const SWEEP_KEYS: [&str; 5] = ["seeds", "zip", "exclude", "arm", "product"];
/// Keys of a stage table that are not parameters.
pub(crate) const STAGE_KEYS: [&str; 5] = ["kind", "input", "inputs", "seed", "resources"];

pub(crate) struct Def {
    pub name: String,
    pub seed: u64,
    pub sweep: SweepDef,
    pub stages: Vec<StageDef>,
}

pub(crate) struct AxisDef {
    pub name: String,
    pub loc: Loc,
    pub values: Vec<(toml::Value, Loc)>,
}

#[derive(Default)]
pub(crate) struct SweepDef {
    /// Product axes in file order.
    pub axes: Vec<AxisDef>,
    /// Replicate count from `seeds = N`.
    pub seeds: Option<u64>,
    /// `product = false`: only arms form points.
    pub product: bool,
    /// Zip groups as axis indices (into `axes`).
    pub zip: Vec<Vec<usize>>,
    /// Exclusion patterns: (axis index, value).
    pub exclude: Vec<Vec<(usize, toml::Value)>>,
    pub arms: Vec<ArmDef>,
    /// Axes that were declared but invalid (already reported): references to them are not
    /// reported again as unknown.
    pub broken: Vec<String>,
}

pub(crate) struct ArmDef {
    pub name: String,
    /// One value per product axis, in `axes` order.
    pub values: Vec<toml::Value>,
}

pub(crate) struct StageDef {
    pub name: String,
    /// Location of the stage's name in its header.
    pub loc: Loc,
    pub kind: Option<(String, Loc)>,
    /// `input = "stage"`: sugar for the kind's first port.
    pub input: Option<(String, Loc)>,
    /// `inputs = { port = "stage" }`: (port, port loc, producer, producer loc).
    pub inputs: Vec<(String, Loc, String, Loc)>,
    pub seed: Option<u64>,
    /// `resources = { .. }`: overrides of the kind's declared resources.
    pub resources: Overrides,
    pub params: Vec<Entry>,
}

pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn is_scalar(n: &Node) -> bool {
    matches!(
        n.v,
        Val::Str(_) | Val::Int(_) | Val::Float(_) | Val::Bool(_) | Val::Datetime(_)
    )
}

fn get_u64(n: &Node, what: &str, srcs: &mut Sources) -> Option<u64> {
    match n.v {
        Val::Int(i) if i >= 0 => Some(i as u64),
        Val::Invalid => None,
        _ => {
            let d = srcs.at(&n.loc, format!("{what} must be a non-negative integer"));
            srcs.push(d.label(format!("found {}", n.type_name())));
            None
        }
    }
}

/// Interpret the document. Returns `None` only when nothing sensible can be built.
pub(crate) fn interpret(root: &Node, srcs: &mut Sources) -> Option<Def> {
    let top = root.table()?;
    let mut pipeline = None;
    let mut sweep = None;
    let mut stages = None;
    for e in top {
        match e.key.as_str() {
            "pipeline" => pipeline = Some(e),
            "sweep" => sweep = Some(e),
            "stages" => stages = Some(e),
            other => {
                let d = srcs.at(&e.key_loc, format!("unknown top-level key `{other}`"));
                let help = did_you_mean(other, ["pipeline", "sweep", "stages"])
                    .unwrap_or_else(|| "allowed: `[pipeline]`, `[sweep]`, `[stages.NAME]`".into());
                srcs.push(d.label("unknown key").help(help));
            }
        }
    }
    let start = Loc::file(0..0);
    let (name, seed) = match pipeline {
        Some(p) => header(p, srcs),
        None => {
            let d = srcs.at(&start, "missing `[pipeline]` table");
            srcs.push(d.help("add `[pipeline]` with `name = \"...\"`"));
            (String::new(), 0)
        }
    };
    let sweep = sweep.map(|s| sweep_def(s, srcs)).unwrap_or(SweepDef {
        product: true,
        ..Default::default()
    });
    let stages = match stages {
        Some(s) => stage_defs(s, srcs),
        None => {
            let d = srcs.at(&start, "the pipeline has no stages");
            srcs.push(d.help("add a stage: `[stages.NAME]` with `kind = \"...\"`"));
            Vec::new()
        }
    };
    Some(Def {
        name,
        seed,
        sweep,
        stages,
    })
}

fn header(e: &Entry, srcs: &mut Sources) -> (String, u64) {
    let Some(t) = e.node.table() else {
        srcs.error(&e.node.loc, "`pipeline` must be a table");
        return (String::new(), 0);
    };
    let mut name = None;
    let mut seed = 0;
    for f in t {
        match (f.key.as_str(), &f.node.v) {
            ("name", Val::Str(s)) if valid_name(s) => name = Some(s.clone()),
            ("name", _) => {
                let d = srcs.at(
                    &f.node.loc,
                    "pipeline name must be a string of [A-Za-z0-9_-]",
                );
                srcs.push(d.label("invalid name"));
                name = Some(String::new());
            }
            ("seed", _) => seed = get_u64(&f.node, "pipeline seed", srcs).unwrap_or(0),
            ("description", Val::Str(_)) => {}
            // In a file, `extends` is taken out before this (`extends.rs`); here it came
            // from `--set`, too late to read another file.
            ("extends", _) => {
                let d = srcs.at(
                    &f.key_loc,
                    "`extends` can only be given in the pipeline file",
                );
                srcs.push(
                    d.label("not a file's key")
                        .help("write `extends = \"base.toml\"` under `[pipeline]`"),
                );
            }
            (other, _) => {
                let d = srcs.at(&f.key_loc, format!("unknown key `{other}` in `[pipeline]`"));
                let help = did_you_mean(other, ["name", "seed", "description", "extends"]);
                srcs.push(d.label("unknown key").maybe_help(help));
            }
        }
    }
    if name.is_none() {
        let d = srcs.at(&e.key_loc, "`[pipeline]` has no `name`");
        srcs.push(d.help("add `name = \"my-experiment\"`"));
    }
    (name.unwrap_or_default(), seed)
}

fn sweep_def(e: &Entry, srcs: &mut Sources) -> SweepDef {
    let mut def = SweepDef {
        product: true,
        ..Default::default()
    };
    let Some(t) = e.node.table() else {
        srcs.error(&e.node.loc, "`sweep` must be a table");
        return def;
    };
    // Axes first, so zip/exclude/arm can refer to them.
    for f in t.iter().filter(|f| !SWEEP_KEYS.contains(&f.key.as_str())) {
        match axis_def(f, srcs) {
            Some(axis) => def.axes.push(axis),
            None => def.broken.push(f.key.clone()),
        }
    }
    for f in t.iter().filter(|f| SWEEP_KEYS.contains(&f.key.as_str())) {
        match (f.key.as_str(), &f.node.v) {
            ("seeds", _) => def.seeds = seeds(&f.node, srcs),
            ("product", Val::Bool(b)) => def.product = *b,
            ("zip", Val::Array(groups)) => zip_groups(groups, &mut def, srcs),
            ("exclude", Val::Array(pats)) => exclusions(pats, &mut def, srcs),
            ("arm", Val::Array(arms)) => {
                for a in arms {
                    if let Some(arm) = arm_def(a, &def, srcs) {
                        if def.arms.iter().any(|x| x.name == arm.name) {
                            srcs.error(&a.loc, format!("duplicate arm name `{}`", arm.name));
                        } else {
                            def.arms.push(arm);
                        }
                    }
                }
            }
            (key, _) => {
                let want = match key {
                    "product" => "a boolean",
                    "arm" => "an array of tables (`[[sweep.arm]]`)",
                    _ => "an array",
                };
                let d = srcs.at(&f.node.loc, format!("`sweep.{key}` must be {want}"));
                srcs.push(d.label(format!("found {}", f.node.type_name())));
            }
        }
    }
    drop_repeats(&mut def, srcs);
    // Arms that were given but failed are reported already (`arm = []`, which an extending
    // file uses to drop its base's arms, gives none).
    let arms_given = t
        .iter()
        .any(|f| f.key == "arm" && !matches!(&f.node.v, Val::Array(a) if a.is_empty()));
    if !def.product && def.arms.is_empty() && !arms_given {
        let d = srcs.at(&e.key_loc, "`product = false` but the sweep has no arms");
        srcs.push(d.help("add `[[sweep.arm]]` tables, or remove `product = false`"));
    }
    def
}

/// `seeds = N`: the replicate count (1 ..= 100000), `None` after reporting a bad value.
fn seeds(node: &Node, srcs: &mut Sources) -> Option<u64> {
    match get_u64(node, "`seeds`", srcs) {
        Some(0) => {
            let d = srcs.at(&node.loc, "`seeds` must be at least 1");
            srcs.push(d.label("empty replicate axis"));
            None
        }
        Some(n) if n > 100_000 => {
            srcs.error(
                &node.loc,
                format!("`seeds = {n}` is too many (at most 100000)"),
            );
            None
        }
        n => n,
    }
}

/// The index of the sweep axis `name`, or `None` after reporting it unknown.
fn find_axis(def: &SweepDef, name: &str, loc: &Loc, srcs: &mut Sources) -> Option<usize> {
    let i = def.axes.iter().position(|a| a.name == name);
    if i.is_none() {
        let d = srcs.at(loc, format!("unknown sweep axis `{name}`"));
        let help = did_you_mean(name, def.axes.iter().map(|a| a.name.as_str()));
        srcs.push(d.label("not an axis").maybe_help(help));
    }
    i
}

/// `zip = [["a", "b"], ..]`: axes that advance together.
fn zip_groups(groups: &[Node], def: &mut SweepDef, srcs: &mut Sources) {
    for g in groups {
        let Val::Array(items) = &g.v else {
            let d = srcs.at(&g.loc, "a zip group must be a list of axis names");
            srcs.push(d.help("write `zip = [[\"lr\", \"bs\"]]`"));
            continue;
        };
        let mut group = Vec::new();
        for it in items {
            match &it.v {
                Val::Str(s) => {
                    if let Some(i) = find_axis(def, s, &it.loc, srcs) {
                        group.push((i, it.loc.clone()));
                    }
                }
                _ => {
                    srcs.error(&it.loc, "a zip group lists axis names (strings)");
                }
            }
        }
        if let Some(gr) = zip_group(def, group, &g.loc, srcs) {
            def.zip.push(gr);
        }
    }
}

/// `exclude = [{ axis = value, .. }, ..]`: combinations left out of the product.
fn exclusions(pats: &[Node], def: &mut SweepDef, srcs: &mut Sources) {
    for p in pats {
        let Some(entries) = p.table() else {
            let d = srcs.at(&p.loc, "an exclusion must be a table of axis values");
            srcs.push(d.help("write `exclude = [{ ids = 1000, per_id = 50 }]`"));
            continue;
        };
        let mut pat = Vec::new();
        for en in entries {
            let Some(i) = find_axis(def, &en.key, &en.key_loc, srcs) else {
                continue;
            };
            let Some(v) = en.node.to_value() else {
                continue;
            };
            if !def.axes[i].values.iter().any(|(x, _)| *x == v) {
                let d = srcs.at(
                    &en.node.loc,
                    format!(
                        "`{}` is not a value of axis `{}`",
                        super::template::show(&v),
                        en.key
                    ),
                );
                srcs.push(d.label("never matches"));
                continue;
            }
            pat.push((i, v));
        }
        if !pat.is_empty() {
            def.exclude.push(pat);
        }
    }
}

fn axis_def(f: &Entry, srcs: &mut Sources) -> Option<AxisDef> {
    if f.key == REPLICATE_AXIS {
        let d = srcs.at(
            &f.key_loc,
            "`seed` is the replicate axis; it cannot be listed",
        );
        srcs.push(
            d.label("reserved")
                .help("write `seeds = 3` for seeds 0, 1, 2"),
        );
        return None;
    }
    if !valid_name(&f.key) {
        srcs.error(
            &f.key_loc,
            format!("axis name `{}` must be made of [A-Za-z0-9_-]", f.key),
        );
        return None;
    }
    let Val::Array(items) = &f.node.v else {
        let d = srcs.at(
            &f.node.loc,
            format!("sweep axis `{}` must be a list of values", f.key),
        );
        let help =
            did_you_mean(&f.key, SWEEP_KEYS).unwrap_or_else(|| format!("write `{} = [..]`", f.key));
        srcs.push(d.label(format!("found {}", f.node.type_name())).help(help));
        return None;
    };
    if items.is_empty() {
        let d = srcs.at(&f.node.loc, format!("sweep axis `{}` is empty", f.key));
        srcs.push(
            d.label("no values")
                .help("give at least one value, or remove the axis"),
        );
        return None;
    }
    let mut values: Vec<(toml::Value, Loc)> = Vec::new();
    for it in items {
        if !is_scalar(it) {
            if !it.has_invalid() {
                let d = srcs.at(&it.loc, format!("axis `{}`: values must be scalars", f.key));
                srcs.push(d.label(format!("found {}", it.type_name())));
            }
            continue;
        }
        let Some(v) = it.to_value() else { continue };
        // Repeats are checked once zip groups are known (`drop_repeats`): a zipped axis may
        // repeat a value as long as the zipped combinations differ.
        values.push((v, it.loc.clone()));
    }
    if values.is_empty() {
        return None;
    }
    Some(AxisDef {
        name: f.key.clone(),
        loc: f.key_loc.clone(),
        values,
    })
}

/// Report and drop repeated values: a value listed twice by an unzipped axis, or a zip
/// group's combination of values listed twice (each of its axes may repeat a value alone).
fn drop_repeats(def: &mut SweepDef, srcs: &mut Sources) {
    let mut groups: Vec<Vec<usize>> = def.zip.clone();
    let zipped: Vec<usize> = groups.iter().flatten().copied().collect();
    groups.extend(
        (0..def.axes.len())
            .filter(|i| !zipped.contains(i))
            .map(|i| vec![i]),
    );
    for g in groups {
        let n = def.axes[g[0]].values.len();
        let tuples: Vec<Vec<&toml::Value>> = (0..n)
            .map(|j| g.iter().map(|&a| &def.axes[a].values[j].0).collect())
            .collect();
        let repeats: Vec<usize> = (1..n)
            .filter(|&j| tuples[..j].contains(&tuples[j]))
            .collect();
        for &j in &repeats {
            let first = &def.axes[g[0]];
            let d = if g.len() == 1 {
                let d = srcs.at(
                    &first.values[j].1,
                    format!("axis `{}` lists this value twice", first.name),
                );
                d.label("duplicate value")
            } else {
                let names: Vec<&str> = g.iter().map(|&a| def.axes[a].name.as_str()).collect();
                let d = srcs.at(
                    &first.values[j].1,
                    format!(
                        "zip group ({}) lists this combination twice",
                        names.join(", ")
                    ),
                );
                d.label("duplicate combination")
                    .help("zipped axes may repeat values, but no two positions may give the same combination")
            };
            srcs.push(d);
        }
        for &a in &g {
            let vals = std::mem::take(&mut def.axes[a].values);
            def.axes[a].values = vals
                .into_iter()
                .enumerate()
                .filter(|(j, _)| !repeats.contains(j))
                .map(|(_, v)| v)
                .collect();
        }
    }
}

fn zip_group(
    def: &SweepDef,
    group: Vec<(usize, Loc)>,
    loc: &Loc,
    srcs: &mut Sources,
) -> Option<Vec<usize>> {
    let mut out: Vec<usize> = Vec::new();
    for (i, l) in &group {
        if out.contains(i) || def.zip.iter().any(|g| g.contains(i)) {
            let d = srcs.at(
                l,
                format!("axis `{}` is in more than one zip group", def.axes[*i].name),
            );
            srcs.push(d.label("already zipped"));
            return None;
        }
        out.push(*i);
    }
    let lens: Vec<usize> = out.iter().map(|&i| def.axes[i].values.len()).collect();
    if lens.windows(2).any(|w| w[0] != w[1]) {
        let desc: Vec<String> = out
            .iter()
            .zip(&lens)
            .map(|(&i, n)| format!("`{}` has {n}", def.axes[i].name))
            .collect();
        let d = srcs.at(loc, "zipped axes must have the same number of values");
        srcs.push(d.label(desc.join(", ")));
        return None;
    }
    (out.len() >= 2).then_some(out)
}

fn arm_def(a: &Node, def: &SweepDef, srcs: &mut Sources) -> Option<ArmDef> {
    let entries = a.table()?;
    let mut name = None;
    let mut values: Vec<Option<toml::Value>> = vec![None; def.axes.len()];
    let mut ok = true;
    for en in entries {
        if en.key == "name" {
            match &en.node.v {
                Val::Str(s) if valid_name(s) => name = Some(s.clone()),
                _ => {
                    srcs.error(&en.node.loc, "arm name must be a string of [A-Za-z0-9_-]");
                    ok = false;
                }
            }
            continue;
        }
        let Some(i) = def.axes.iter().position(|x| x.name == en.key) else {
            let d = srcs.at(
                &en.key_loc,
                format!("arm names unknown sweep axis `{}`", en.key),
            );
            let help = did_you_mean(&en.key, def.axes.iter().map(|x| x.name.as_str()));
            srcs.push(d.label("not an axis").maybe_help(help));
            ok = false;
            continue;
        };
        if !is_scalar(&en.node) {
            if !en.node.has_invalid() {
                srcs.error(&en.node.loc, "arm values must be scalars");
            }
            ok = false;
            continue;
        }
        values[i] = en.node.to_value();
    }
    if name.is_none() && ok {
        let d = srcs.at(&a.loc, "`[[sweep.arm]]` has no `name`");
        srcs.push(d.help("add `name = \"...\"`"));
        ok = false;
    }
    let missing: Vec<&str> = def
        .axes
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(x, _)| x.name.as_str())
        .collect();
    if ok && !missing.is_empty() {
        let d = srcs.at(
            &a.loc,
            format!(
                "arm `{}` gives no value for axis `{}`",
                name.as_deref().unwrap_or(""),
                missing.join("`, `")
            ),
        );
        srcs.push(d.help("an arm must give a value for every sweep axis"));
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(ArmDef {
        name: name?,
        values: values.into_iter().collect::<Option<Vec<_>>>()?,
    })
}

fn stage_defs(e: &Entry, srcs: &mut Sources) -> Vec<StageDef> {
    let Some(t) = e.node.table() else {
        let d = srcs.at(&e.node.loc, "`stages` must be a table of stages");
        srcs.push(d.help("write `[stages.NAME]` tables"));
        return Vec::new();
    };
    if t.is_empty() {
        srcs.error(&e.key_loc, "the pipeline has no stages");
    }
    let mut out = Vec::new();
    for s in t {
        if !valid_name(&s.key) {
            srcs.error(
                &s.key_loc,
                format!("stage name `{}` must be made of [A-Za-z0-9_-]", s.key),
            );
            continue;
        }
        let Some(fields) = s.node.table() else {
            let d = srcs.at(&s.node.loc, format!("stage `{}` must be a table", s.key));
            srcs.push(d.help(format!("write `[stages.{}]` with `kind = \"...\"`", s.key)));
            continue;
        };
        let mut st = StageDef {
            name: s.key.clone(),
            loc: s.key_loc.clone(),
            kind: None,
            input: None,
            inputs: Vec::new(),
            seed: None,
            resources: Overrides::default(),
            params: Vec::new(),
        };
        for f in fields {
            match (f.key.as_str(), &f.node.v) {
                ("kind", Val::Str(k)) => st.kind = Some((k.clone(), f.node.loc.clone())),
                ("input", Val::Str(p)) => st.input = Some((p.clone(), f.node.loc.clone())),
                ("inputs", Val::Table(ports)) => {
                    for p in ports {
                        match &p.node.v {
                            Val::Str(prod) => st.inputs.push((
                                p.key.clone(),
                                p.key_loc.clone(),
                                prod.clone(),
                                p.node.loc.clone(),
                            )),
                            _ => {
                                let d =
                                    srcs.at(&p.node.loc, "an input must name a stage (a string)");
                                srcs.push(d.label(format!("found {}", p.node.type_name())));
                            }
                        }
                    }
                }
                ("seed", _) => st.seed = get_u64(&f.node, "a stage's `seed`", srcs),
                ("resources", _) => st.resources = super::resources::parse(f, srcs),
                ("kind" | "input" | "inputs", _) => {
                    let want = if f.key == "inputs" {
                        "a table `{ port = \"stage\" }`"
                    } else {
                        "a string"
                    };
                    let d = srcs.at(&f.node.loc, format!("`{}` must be {want}", f.key));
                    srcs.push(d.label(format!("found {}", f.node.type_name())));
                }
                _ => st.params.push(f.clone()),
            }
        }
        if st.kind.is_none() && !fields.iter().any(|f| f.key == "kind") {
            let d = srcs.at(&st.loc, format!("stage `{}` has no `kind`", st.name));
            srcs.push(d.label("missing `kind`").help("add `kind = \"...\"`"));
        }
        out.push(st);
    }
    out
}
