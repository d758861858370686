//! Instance building: every stage at every sweep point, with resolved params, a derived seed
//! and its producers' instances, deduplicated by plan key (one instance serves every point
//! whose work is identical). Gather stages get one instance over all points. Runs each
//! distinct instance's declared rules (`params::rule`), its plan-time `check`, and
//! `check_inputs` against the facts its producers' outputs are known by
//! (`Stage::output_facts`, e.g. an image size).

use std::collections::{BTreeSet, HashMap};

use super::sweep::Sweep;
use super::tree::Sources;
use super::validate::Bound;
use crate::params::ParamTable;
use crate::plan::REPLICATE_AXIS;
use crate::plan::{Instance, InstanceId};
use crate::stage::{Facts, ParamIssue};

/// Seed of a stage instance: from the pipeline seed, the stage name and the replicate value.
pub fn derive_seed(pipeline_seed: u64, stage: &str, replicate: u64) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(b"synface-seed\x00");
    h.update(&pipeline_seed.to_le_bytes());
    h.update(&(stage.len() as u64).to_le_bytes());
    h.update(stage.as_bytes());
    h.update(&replicate.to_le_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.finalize().as_bytes()[..8]);
    u64::from_le_bytes(b)
}

struct Builder<'a> {
    sweep: &'a Sweep,
    pipeline_seed: u64,
    instances: Vec<Instance>,
    by_key: HashMap<[u8; 32], InstanceId>,
    /// Per stage index: the instance serving each point.
    inst_of: Vec<Vec<InstanceId>>,
    /// Per instance: what its output is known to be at plan time (see `Stage::output_facts`).
    facts: Vec<Facts>,
}

/// Build the instances of `bound` (indexed like the file's stages) in `order`.
pub(crate) fn build(
    bound: &[Bound],
    order: &[usize],
    sweep: &Sweep,
    pipeline_seed: u64,
    srcs: &mut Sources,
) -> Vec<Instance> {
    let mut b = Builder {
        sweep,
        pipeline_seed,
        instances: Vec::new(),
        by_key: HashMap::new(),
        inst_of: vec![Vec::new(); bound.len()],
        facts: Vec::new(),
    };
    let rep_idx = sweep
        .axes
        .iter()
        .position(|a| a == REPLICATE_AXIS)
        .filter(|_| sweep.replicate);
    for &si in order {
        let st = &bound[si];
        let first_new = b.instances.len();
        let ids = if st.gather {
            let ids = b.gather_instance(st, srcs);
            for &i in &ids {
                b.instances[i].gathered = Some(b.gathered_digest(i));
            }
            ids
        } else {
            b.point_instances(st, rep_idx, srcs)
        };
        b.inst_of[si] = ids;
        // Plan-time checks, once per distinct instance and message.
        let mut seen = BTreeSet::new();
        for i in first_new..b.instances.len() {
            let (facts, issues) = b.facts_and_issues(st, i);
            b.facts.push(facts);
            for issue in issues {
                if seen.insert((issue.param.clone(), issue.message.clone())) {
                    report_issue(st, &issue, srcs);
                }
            }
        }
    }
    b.instances
}

/// A stage's plan-time issue as a diagnostic at the parameter's value (in the file or in a
/// `--set` argument), or at the stage header when it names no parameter.
fn report_issue(st: &Bound, issue: &ParamIssue, srcs: &mut Sources) {
    let loc = st
        .params
        .iter()
        .find(|p| p.name == issue.param)
        .and_then(|p| p.loc.clone())
        .unwrap_or_else(|| st.loc.clone());
    let what = if issue.param.is_empty() {
        String::new()
    } else {
        format!(" param `{}`", issue.param)
    };
    let d = srcs.at(
        &loc,
        format!("stage `{}`{what}: {}", st.name, issue.message),
    );
    srcs.push(d.label("rejected by the stage's check"));
}

impl Builder<'_> {
    /// What gather instance `i` is told about the results it gathers (see
    /// [`Instance::gathered`]); its producers are complete, their stages built before it.
    fn gathered_digest(&self, i: InstanceId) -> [u8; 32] {
        let values: HashMap<&str, _> = self
            .sweep
            .points
            .iter()
            .map(|p| (p.id.as_str(), &p.values))
            .collect();
        let value_of = |id: &str| values.get(id).copied();
        let ports: Vec<(&str, Vec<crate::keys::GatheredMeta<'_>>)> = self.instances[i]
            .inputs
            .iter()
            .map(|(port, ids)| {
                let metas = ids
                    .iter()
                    .map(|&j| crate::keys::GatheredMeta {
                        stage: &self.instances[j].stage,
                        points: self.instances[j]
                            .points
                            .iter()
                            .filter_map(|id| value_of(id).map(|v| (id.as_str(), v)))
                            .collect(),
                    })
                    .collect();
                (port.as_str(), metas)
            })
            .collect();
        crate::keys::gathered_digest(&ports)
    }

    /// The output facts of instance `i` (from its inputs' facts) and its plan-time issues:
    /// its own `check` and the check of its inputs' facts.
    fn facts_and_issues(&self, st: &Bound, i: InstanceId) -> (Facts, Vec<ParamIssue>) {
        let inst = &self.instances[i];
        let inputs: Vec<(&str, &Facts)> = inst
            .inputs
            .iter()
            .flat_map(|(port, ids)| ids.iter().map(move |&j| (port.as_str(), &self.facts[j])))
            .collect();
        let facts = st.stage.output_facts(&inst.params, &inputs);
        let specs = st.stage.params();
        let mut issues = crate::params::rule::rule_issues(&specs, &inst.params);
        let axes: Vec<&str> = self
            .sweep
            .axes
            .iter()
            .map(String::as_str)
            .filter(|a| *a != REPLICATE_AXIS)
            .collect();
        issues.extend(crate::params::rule::axis_issues(
            &specs,
            &inst.params,
            &axes,
        ));
        issues.extend(st.stage.check(&inst.params));
        issues.extend(st.stage.check_inputs(&inst.params, &inputs));
        (facts, issues)
    }

    fn resolve(&self, st: &Bound, values: &[toml::Value]) -> ParamTable {
        st.params
            .iter()
            .map(|p| (p.name.clone(), p.tpl.resolve(values)))
            .collect()
    }

    /// Add (or find) the instance; returns its id.
    #[allow(clippy::too_many_arguments)]
    fn intern(
        &mut self,
        st: &Bound,
        params: ParamTable,
        seed: u64,
        inputs: Vec<(String, Vec<InstanceId>)>,
        point: Option<usize>,
        srcs: &mut Sources,
    ) -> Option<InstanceId> {
        let input_keys: Vec<(String, Vec<[u8; 32]>)> = inputs
            .iter()
            .map(|(p, ids)| {
                (
                    p.clone(),
                    ids.iter().map(|&i| self.instances[i].plan_key).collect(),
                )
            })
            .collect();
        let unkeyed = crate::params::rule::unkeyed(&st.stage.params());
        let key = match crate::keys::plan_key(
            &st.name,
            st.stage.kind(),
            st.stage.version(),
            &crate::plan::keyed(&params, &unkeyed),
            seed,
            &input_keys,
        ) {
            Ok(k) => k,
            Err(e) => {
                srcs.error(&st.loc, format!("stage `{}`: {e}", st.name));
                return None;
            }
        };
        if let Some(&id) = self.by_key.get(&key) {
            if let Some(p) = point {
                self.instances[id]
                    .points
                    .push(self.sweep.points[p].id.clone());
            }
            return Some(id);
        }
        let points = match point {
            Some(p) => vec![self.sweep.points[p].id.clone()],
            None => self.sweep.points.iter().map(|p| p.id.clone()).collect(),
        };
        let id = self.instances.len();
        let (resources, gpus) = st.resources.apply(st.stage.resources(&params));
        self.instances.push(Instance {
            stage: st.name.clone(),
            kind: st.stage.kind().to_string(),
            version: st.stage.version(),
            resources,
            gpus,
            time_limit: st.resources.time.clone(),
            external: st.stage.external_inputs(&params),
            unkeyed,
            gathered: None,
            params,
            seed,
            inputs,
            points,
            plan_key: key,
        });
        self.by_key.insert(key, id);
        Some(id)
    }

    fn point_instances(
        &mut self,
        st: &Bound,
        rep_idx: Option<usize>,
        srcs: &mut Sources,
    ) -> Vec<InstanceId> {
        let n = self.sweep.points.len();
        if st
            .ports
            .iter()
            .any(|(_, prod, _)| self.inst_of[*prod].len() != n)
        {
            return Vec::new(); // a producer failed (already reported)
        }
        let mut ids = Vec::with_capacity(n);
        // Params and seeds repeat across points: resolve once per distinct case.
        let mut seeds: HashMap<u64, u64> = HashMap::new();
        let constant = st.refs.is_empty().then(|| self.resolve(st, &[]));
        for p in 0..n {
            let values = &self.sweep.values[p];
            let params = match &constant {
                Some(c) => c.clone(),
                None => self.resolve(st, values),
            };
            let rep = rep_idx
                .and_then(|i| values.get(i))
                .and_then(toml::Value::as_integer)
                .unwrap_or(0) as u64;
            let seed = match st.seed {
                Some(s) => s,
                None => *seeds
                    .entry(rep)
                    .or_insert_with(|| derive_seed(self.pipeline_seed, &st.name, rep)),
            };
            let inputs = st
                .ports
                .iter()
                .map(|(port, prod, _)| (port.clone(), vec![self.inst_of[*prod][p]]))
                .collect();
            match self.intern(st, params, seed, inputs, Some(p), srcs) {
                Some(id) => ids.push(id),
                None => return Vec::new(),
            }
        }
        ids
    }

    fn gather_instance(&mut self, st: &Bound, srcs: &mut Sources) -> Vec<InstanceId> {
        let n = self.sweep.points.len();
        let params = self.resolve(
            st,
            self.sweep.values.first().map(Vec::as_slice).unwrap_or(&[]),
        );
        let seed = st
            .seed
            .unwrap_or_else(|| derive_seed(self.pipeline_seed, &st.name, 0));
        let mut inputs = Vec::new();
        for (port, prod, gather) in &st.ports {
            let mut seen = BTreeSet::new();
            let list: Vec<InstanceId> = self.inst_of[*prod]
                .iter()
                .copied()
                .filter(|i| seen.insert(*i))
                .collect();
            if !gather && list.len() > 1 {
                let d = srcs.at(&st.loc, format!("stage `{}` gathers every sweep point, but its port `{port}` would receive {} different instances", st.name, list.len()));
                srcs.push(d.help("connect that port to a stage that does not vary over the sweep"));
                return Vec::new();
            }
            inputs.push((port.clone(), list));
        }
        match self.intern(st, params, seed, inputs, None, srcs) {
            Some(id) => vec![id; n],
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_depend_on_all_parts() {
        let a = derive_seed(7, "train", 0);
        assert_eq!(a, derive_seed(7, "train", 0));
        assert_ne!(a, derive_seed(8, "train", 0));
        assert_ne!(a, derive_seed(7, "trains", 0));
        assert_ne!(a, derive_seed(7, "train", 1));
    }
}
