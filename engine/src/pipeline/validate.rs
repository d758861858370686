//! Validation against the stage registry: kinds, parameter names and types (checked for
//! every value a sweep axis can substitute), input ports and their artifact types, and the
//! stage graph (cycles reported as their path, via petgraph). Produces one [`Bound`] per
//! valid stage and a topological order.

use std::collections::BTreeSet;
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};

use super::model::{Def, StageDef, STAGE_KEYS};
use super::template::{self, Tpl};
use super::tree::{Entry, Loc, Sources};
use crate::diag::did_you_mean;
use crate::params::ParamSpec;
use crate::registry::Registry;
use crate::stage::{PortSpec, Stage};

/// One parameter of a bound stage: given in the file, or the kind's default.
pub(crate) struct BoundParam {
    pub name: String,
    pub tpl: Tpl,
    /// Where the value was written; `None` for a default.
    pub loc: Option<Loc>,
}

/// A stage checked against its kind.
pub(crate) struct Bound {
    pub name: String,
    pub loc: Loc,
    pub stage: Arc<dyn Stage>,
    pub params: Vec<BoundParam>,
    /// Axes (indices into the axis list) any parameter refers to.
    pub refs: Vec<usize>,
    pub seed: Option<u64>,
    /// Overrides of the kind's declared resources (`resources = { .. }`).
    pub resources: super::resources::Overrides,
    /// (port, producing stage index, gather), in the kind's port order.
    pub ports: Vec<(String, usize, bool)>,
    pub gather: bool,
}

/// Check every stage; `None` entries had errors (already reported).
pub(crate) fn bind_stages(
    def: &Def,
    axes: &[String],
    domains: &[Vec<toml::Value>],
    reg: &Registry,
    srcs: &mut Sources,
) -> Vec<Option<Bound>> {
    def.stages
        .iter()
        .map(|s| bind(s, def, axes, domains, reg, srcs))
        .collect()
}

/// What binding one stage consults besides the stage: the file, the sweep and the registry.
struct Scope<'a> {
    def: &'a Def,
    axes: &'a [String],
    domains: &'a [Vec<toml::Value>],
    reg: &'a Registry,
}

fn bind(
    s: &StageDef,
    def: &Def,
    axes: &[String],
    domains: &[Vec<toml::Value>],
    reg: &Registry,
    srcs: &mut Sources,
) -> Option<Bound> {
    let (kind, kind_loc) = s.kind.as_ref()?;
    let Some(stage) = reg.get(kind).cloned() else {
        let d = srcs.at(kind_loc, format!("unknown stage kind `{kind}`"));
        let help = did_you_mean(kind, reg.kinds());
        srcs.push(d.label("unknown kind").maybe_help(help));
        return None;
    };
    let scope = Scope {
        def,
        axes,
        domains,
        reg,
    };
    let specs = stage.params();
    let ports = stage.inputs();
    let gather = ports.iter().any(|p| p.gather);
    let (mut params, refs, given_ok) = given_params(s, kind, &specs, gather, &scope, srcs);
    let defaults_ok = default_params(s, &specs, &mut params, srcs);
    let (ports, ports_ok) = bind_ports(s, kind, &ports, &scope, srcs);
    if !(given_ok && defaults_ok && ports_ok) {
        return None;
    }
    Some(Bound {
        name: s.name.clone(),
        loc: s.loc.clone(),
        stage,
        params,
        refs,
        seed: s.seed,
        resources: s.resources.clone(),
        ports,
        gather,
    })
}

/// The parameters written in the file: names, then types over every substitutable value.
/// Returns them, the axes they refer to, and whether all were valid.
fn given_params(
    s: &StageDef,
    kind: &str,
    specs: &[ParamSpec],
    gather: bool,
    scope: &Scope,
    srcs: &mut Sources,
) -> (Vec<BoundParam>, Vec<usize>, bool) {
    let (mut params, mut refs, mut ok) = (Vec::new(), Vec::new(), true);
    for e in &s.params {
        let Some(spec) = specs.iter().find(|p| p.name == e.key) else {
            unknown_param(e, kind, specs, srcs);
            ok = false;
            continue;
        };
        let Some((tpl, my_refs)) = given_param(s, e, spec, gather, scope, srcs) else {
            ok = false;
            continue;
        };
        for r in my_refs {
            if !refs.contains(&r) {
                refs.push(r);
            }
        }
        params.push(BoundParam {
            name: e.key.clone(),
            tpl,
            loc: Some(e.node.loc.clone()),
        });
    }
    (params, refs, ok)
}

/// Report a parameter the kind does not declare, with the likeliest intended name.
fn unknown_param(e: &Entry, kind: &str, specs: &[ParamSpec], srcs: &mut Sources) {
    let d = srcs.at(
        &e.key_loc,
        format!("unknown param `{}` for stage kind `{kind}`", e.key),
    );
    let names = specs.iter().map(|p| p.name).chain(STAGE_KEYS);
    let help = did_you_mean(&e.key, names).or_else(|| {
        let all: Vec<&str> = specs.iter().map(|p| p.name).collect();
        Some(if all.is_empty() {
            format!("`{kind}` takes no params")
        } else {
            format!("`{kind}` params: {}", all.join(", "))
        })
    });
    srcs.push(d.label("unknown param").maybe_help(help));
}

/// One declared parameter's template and the axes it uses, or `None` after reporting why it
/// is invalid (a bad template, sweep axes in a gathering stage, a value of the wrong type).
fn given_param(
    s: &StageDef,
    e: &Entry,
    spec: &ParamSpec,
    gather: bool,
    scope: &Scope,
    srcs: &mut Sources,
) -> Option<(Tpl, Vec<usize>)> {
    if e.node.has_invalid() {
        return None;
    }
    let axes = scope.axes;
    let mut my_refs = Vec::new();
    let tpl = template::compile(&e.node, axes, &mut my_refs, srcs)?;
    if gather && !my_refs.is_empty() {
        let names: Vec<String> = my_refs
            .iter()
            .map(|&i| format!("${{{}}}", axes[i]))
            .collect();
        let d = srcs.at(
            &e.node.loc,
            format!(
                "stage `{}` gathers every sweep point, so its params cannot use sweep axes",
                s.name
            ),
        );
        srcs.push(
            d.label(format!("uses {}", names.join(", ")))
                .help("give a fixed value"),
        );
        return None;
    }
    // A string outside a parameter's declared choices (a `param_enum!`, or a list of one) is
    // left to the rule check, which names the allowed values and reports with the other rule
    // problems; a string where a list is expected is a type error.
    let typed = |v: &toml::Value| match (spec.check)(v) {
        Err(_) if spec.rule.check(&e.key, v).is_err() && only_strings(v) => Ok(()),
        other => other,
    };
    if let Some((value, reason, via)) = type_error(&tpl, &my_refs, axes, scope.domains, &typed) {
        let label = match via {
            Some(a) => format!(
                "{reason} (when `{a}` = {})",
                crate::keys::display_value(&value)
            ),
            None => reason,
        };
        let d = srcs.at(
            &e.node.loc,
            format!("wrong type for param `{}`: expected {}", e.key, spec.ty),
        );
        srcs.push(d.label(label));
        return None;
    }
    Some((tpl, my_refs))
}

/// Add the defaults of the parameters the file leaves out; false (after reporting) when a
/// required one is missing.
fn default_params(
    s: &StageDef,
    specs: &[ParamSpec],
    params: &mut Vec<BoundParam>,
    srcs: &mut Sources,
) -> bool {
    let mut ok = true;
    for spec in specs {
        if s.params.iter().any(|e| e.key == spec.name) {
            continue;
        }
        match &spec.default {
            Some(v) => params.push(BoundParam {
                name: spec.name.into(),
                tpl: Tpl::Const(v.clone()),
                loc: None,
            }),
            None => {
                let d = srcs.at(
                    &s.loc,
                    format!(
                        "stage `{}` is missing required param `{}` ({})",
                        s.name, spec.name, spec.ty
                    ),
                );
                let doc = spec.doc.trim();
                let help = if doc.is_empty() {
                    format!("add `{} = ...`", spec.name)
                } else {
                    format!("add `{} = ...` ({doc})", spec.name)
                };
                srcs.push(d.label("missing param").help(help));
                ok = false;
            }
        }
    }
    ok
}

/// The stage's wires (`input = ..` and `inputs = { .. }`) as (port, producing stage index,
/// gather) in the kind's port order, and whether every wire and required port was valid.
fn bind_ports(
    s: &StageDef,
    kind: &str,
    ports: &[PortSpec],
    scope: &Scope,
    srcs: &mut Sources,
) -> (Vec<(String, usize, bool)>, bool) {
    let mut ok = true;
    let mut wires: Vec<(String, &Loc, &str, &Loc)> = Vec::new();
    if let Some((prod, loc)) = &s.input {
        match ports.first() {
            Some(p) => wires.push((p.name.to_string(), loc, prod, loc)),
            None => {
                let d = srcs.at(loc, format!("stage kind `{kind}` takes no inputs"));
                srcs.push(d.label("unexpected input"));
                ok = false;
            }
        }
    }
    for (port, port_loc, prod, prod_loc) in &s.inputs {
        wires.push((port.clone(), port_loc, prod, prod_loc));
    }
    let mut bound: Vec<(String, usize, bool)> = Vec::new();
    let mut named: Vec<String> = Vec::new();
    for wire in wires {
        ok &= bind_wire(wire, kind, ports, scope, &mut bound, &mut named, srcs);
    }
    let port_errors = named.len() < s.inputs.len() + usize::from(s.input.is_some());
    if !port_errors {
        ok &= required_ports(s, kind, ports, &named, srcs);
    }
    // Port declaration order.
    bound.sort_by_key(|(p, _, _)| ports.iter().position(|x| x.name == p));
    (bound, ok)
}

/// Check one wire (port, its location, producing stage, its location) and record it; false
/// after reporting an unknown port, a doubly connected port, an unknown producer or a type
/// mismatch.
fn bind_wire(
    (port, port_loc, prod, prod_loc): (String, &Loc, &str, &Loc),
    kind: &str,
    ports: &[PortSpec],
    scope: &Scope,
    bound: &mut Vec<(String, usize, bool)>,
    named: &mut Vec<String>,
    srcs: &mut Sources,
) -> bool {
    let Some(spec) = ports.iter().find(|p| p.name == port) else {
        let d = srcs.at(
            port_loc,
            format!("stage kind `{kind}` has no input port `{port}`"),
        );
        let help = did_you_mean(&port, ports.iter().map(|p| p.name)).or_else(|| {
            let all: Vec<&str> = ports.iter().map(|p| p.name).collect();
            (!all.is_empty()).then(|| format!("ports: {}", all.join(", ")))
        });
        srcs.push(d.label("unknown port").maybe_help(help));
        return false;
    };
    if bound.iter().any(|(p, _, _)| *p == port) {
        let d = srcs.at(port_loc, format!("input port `{port}` is connected twice"));
        srcs.push(d.help("`input = ..` is the kind's first port; use either it or `inputs`"));
        return false;
    }
    named.push(port.clone());
    let stages = &scope.def.stages;
    let Some(pi) = stages.iter().position(|x| x.name == prod) else {
        let d = srcs.at(prod_loc, format!("no stage named `{prod}`"));
        let help = did_you_mean(prod, stages.iter().map(|x| x.name.as_str()));
        srcs.push(d.label("unknown stage").maybe_help(help));
        return false;
    };
    let mut ok = true;
    let producer = stages[pi].kind.as_ref().and_then(|(k, _)| scope.reg.get(k));
    if let Some(p) = producer {
        let out = p.output();
        if !spec.kind.split('|').any(|k| k.trim() == out) {
            let d = srcs.at(
                prod_loc,
                format!(
                    "stage `{prod}` produces `{out}`, but port `{port}` of `{kind}` accepts `{}`",
                    spec.kind
                ),
            );
            srcs.push(d.label("type mismatch"));
            ok = false;
        }
    }
    bound.push((port, pi, spec.gather));
    ok
}

/// Report every required port that no wire connects; false when there is one.
fn required_ports(
    s: &StageDef,
    kind: &str,
    ports: &[PortSpec],
    named: &[String],
    srcs: &mut Sources,
) -> bool {
    let mut ok = true;
    for p in ports {
        if !p.optional && !named.iter().any(|b| b == p.name) {
            let d = srcs.at(
                &s.loc,
                format!(
                    "stage `{}` ({kind}) needs input port `{}` ({})",
                    s.name, p.name, p.kind
                ),
            );
            let first = ports.first().is_some_and(|f| f.name == p.name);
            let help = if first {
                "add `input = \"<stage>\"`".to_string()
            } else {
                format!("add `inputs = {{ {} = \"<stage>\" }}`", p.name)
            };
            srcs.push(d.label("missing input").help(help));
            ok = false;
        }
    }
    ok
}

/// First value (over the axes' domains) that fails `check`: (value, reason, axis name).
fn type_error(
    tpl: &Tpl,
    refs: &[usize],
    axes: &[String],
    domains: &[Vec<toml::Value>],
    check: &dyn Fn(&toml::Value) -> Result<(), String>,
) -> Option<(toml::Value, String, Option<String>)> {
    let mut vals: Vec<toml::Value> = domains
        .iter()
        .map(|d| d.first().cloned().unwrap_or(toml::Value::Integer(0)))
        .collect();
    let first = tpl.resolve(&vals);
    if let Err(e) = check(&first) {
        let via = refs.first().map(|&r| axes[r].clone());
        let shown = refs.first().map(|&r| vals[r].clone()).unwrap_or(first);
        return Some((shown, e, via));
    }
    for &r in refs {
        let keep = vals[r].clone();
        for v in domains[r].iter().skip(1) {
            vals[r] = v.clone();
            if let Err(e) = check(&tpl.resolve(&vals)) {
                return Some((v.clone(), e, Some(axes[r].clone())));
            }
        }
        vals[r] = keep;
    }
    None
}

/// A topological order of the stages (file order among independent ones), or `None` after
/// reporting every dependency cycle as its path.
pub(crate) fn order(def: &Def, bound: &[Option<Bound>], srcs: &mut Sources) -> Option<Vec<usize>> {
    let n = def.stages.len();
    let mut g: DiGraph<usize, ()> = DiGraph::with_capacity(n, n);
    let nodes: Vec<NodeIndex> = (0..n).map(|i| g.add_node(i)).collect();
    for (i, b) in bound.iter().enumerate() {
        // Unbound stages still contribute the inputs they name, so cycles are found anyway.
        let producers: Vec<usize> = match b {
            Some(b) => b.ports.iter().map(|(_, p, _)| *p).collect(),
            None => wired(&def.stages[i], def),
        };
        for p in producers {
            g.update_edge(nodes[p], nodes[i], ());
        }
    }
    let mut cyclic = false;
    let mut sccs = petgraph::algo::tarjan_scc(&g);
    sccs.sort_by_key(|c| c.iter().map(|x| g[*x]).min());
    for scc in sccs {
        let self_loop = scc.len() == 1 && g.contains_edge(scc[0], scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        cyclic = true;
        let members: BTreeSet<usize> = scc.iter().map(|x| g[*x]).collect();
        let start = *members.iter().next().unwrap_or(&0);
        let path = cycle_path(&g, &nodes, start, &members);
        let names: Vec<&str> = path.iter().map(|&i| def.stages[i].name.as_str()).collect();
        let d = srcs.at(
            &def.stages[start].loc,
            format!("dependency cycle: {}", names.join(" -> ")),
        );
        srcs.push(
            d.label("stage is part of a cycle")
                .help("a stage cannot depend on its own output"),
        );
    }
    if cyclic {
        return None;
    }
    // Kahn's algorithm, smallest file index first.
    let mut indeg: Vec<usize> = (0..n)
        .map(|i| g.neighbors_directed(nodes[i], petgraph::Incoming).count())
        .collect();
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut out = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        out.push(i);
        for m in g.neighbors_directed(nodes[i], petgraph::Outgoing) {
            let j = g[m];
            indeg[j] -= 1;
            if indeg[j] == 0 {
                ready.insert(j);
            }
        }
    }
    Some(out)
}

/// Producer stage indices a stage names (for stages that failed to bind).
fn wired(s: &StageDef, def: &Def) -> Vec<usize> {
    s.input
        .iter()
        .map(|(p, _)| p.as_str())
        .chain(s.inputs.iter().map(|(_, _, p, _)| p.as_str()))
        .filter_map(|p| def.stages.iter().position(|x| x.name == p))
        .collect()
}

/// A path `start -> .. -> start` inside one strongly connected component (BFS, shortest).
fn cycle_path(
    g: &DiGraph<usize, ()>,
    nodes: &[NodeIndex],
    start: usize,
    members: &BTreeSet<usize>,
) -> Vec<usize> {
    let mut parent: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(i) = queue.pop_front() {
        let mut next: Vec<usize> = g
            .neighbors_directed(nodes[i], petgraph::Outgoing)
            .map(|m| g[m])
            .collect();
        next.sort_unstable();
        for j in next {
            if !members.contains(&j) {
                continue;
            }
            if j == start {
                let mut path = Vec::new();
                let mut k = i;
                loop {
                    path.push(k);
                    if k == start || path.len() > members.len() {
                        break;
                    }
                    k = parent.get(&k).copied().unwrap_or(start);
                }
                path.reverse();
                path.push(start);
                return path;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = parent.entry(j) {
                e.insert(i);
                queue.push_back(j);
            }
        }
    }
    vec![start, start]
}

/// Whether `v` is a string or an array of nothing but strings.
fn only_strings(v: &toml::Value) -> bool {
    match v {
        toml::Value::String(_) => true,
        toml::Value::Array(a) => a.iter().all(|x| x.is_str()),
        _ => false,
    }
}
