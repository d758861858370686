//! Stage keys: the canonical, length-prefixed, type-tagged encoding of parameter values, the
//! structural `plan_key` of an instance and its content-based `cache_key`, plus `explain`, which
//! says in words why two keys differ. Nothing here hashes through `std::hash` or map order.

use std::collections::BTreeMap;

use crate::cache::hex;
use crate::params::ParamTable;
use crate::plan::Instance;

/// Version of the key encoding and cache layout; part of every cache key.
pub const SCHEMA_VERSION: u32 = 1;

/// Values that have no canonical encoding.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KeyError {
    #[error("float {0} is not finite (NaN and infinities are not allowed)")]
    NonFinite(f64),
}

const T_STR: u8 = 1;
const T_INT: u8 = 2;
const T_FLOAT: u8 = 3;
const T_BOOL: u8 = 4;
const T_DATETIME: u8 = 5;
const T_ARRAY: u8 = 6;
const T_TABLE: u8 = 7;

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// Append the canonical encoding of `v` to `out`: a type tag, then a fixed-width or
/// length-prefixed body; tables in sorted key order; floats as normalised f64 bits.
pub fn encode_value(v: &toml::Value, out: &mut Vec<u8>) -> Result<(), KeyError> {
    match v {
        toml::Value::String(s) => {
            out.push(T_STR);
            put_str(out, s);
        }
        toml::Value::Integer(i) => {
            out.push(T_INT);
            out.extend_from_slice(&i.to_le_bytes());
        }
        toml::Value::Float(f) => {
            if !f.is_finite() {
                return Err(KeyError::NonFinite(*f));
            }
            let f = if *f == 0.0 { 0.0f64 } else { *f };
            out.push(T_FLOAT);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        toml::Value::Boolean(b) => {
            out.push(T_BOOL);
            out.push(u8::from(*b));
        }
        toml::Value::Datetime(d) => {
            out.push(T_DATETIME);
            put_str(out, &d.to_string());
        }
        toml::Value::Array(a) => {
            out.push(T_ARRAY);
            put_len(out, a.len());
            for x in a {
                encode_value(x, out)?;
            }
        }
        toml::Value::Table(t) => {
            out.push(T_TABLE);
            let mut entries: Vec<(&String, &toml::Value)> = t.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            put_len(out, entries.len());
            for (k, x) in entries {
                put_str(out, k);
                encode_value(x, out)?;
            }
        }
    }
    Ok(())
}

/// The canonical encoding of one value.
pub fn canonical_bytes(v: &toml::Value) -> Result<Vec<u8>, KeyError> {
    let mut out = Vec::new();
    encode_value(v, &mut out)?;
    Ok(out)
}

/// The canonical encoding of a parameter table (sorted by name).
pub fn encode_params(params: &ParamTable, out: &mut Vec<u8>) -> Result<(), KeyError> {
    out.push(T_TABLE);
    put_len(out, params.len());
    for (k, v) in params {
        put_str(out, k);
        encode_value(v, out)?;
    }
    Ok(())
}

/// A canonical, human-readable rendering of a value (TOML-like; tables sorted; floats always
/// with a decimal point or exponent, so `1` and `1.0` stay apart).
pub fn display_value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => {
            let f = if *f == 0.0 { 0.0 } else { *f };
            format!("{f:?}")
        }
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(a) => {
            let items: Vec<String> = a.iter().map(display_value).collect();
            format!("[{}]", items.join(", "))
        }
        toml::Value::Table(t) => {
            let mut entries: Vec<(&String, &toml::Value)> = t.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let items: Vec<String> = entries
                .iter()
                .map(|(k, x)| format!("{k} = {}", display_value(x)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
    }
}

/// Structural identity of an instance within a plan: stage name, kind, version, canonical
/// params, seed and the plan keys of its inputs. Equal plan keys mean the same work.
pub fn plan_key(
    stage: &str,
    kind: &str,
    version: u32,
    params: &ParamTable,
    seed: u64,
    inputs: &[(String, Vec<[u8; 32]>)],
) -> Result<[u8; 32], KeyError> {
    let mut out = Vec::with_capacity(256);
    put_str(&mut out, "synface-plan-key");
    put_str(&mut out, stage);
    put_str(&mut out, kind);
    out.extend_from_slice(&version.to_le_bytes());
    encode_params(params, &mut out)?;
    out.extend_from_slice(&seed.to_le_bytes());
    encode_inputs(&mut out, inputs);
    Ok(*blake3::hash(&out).as_bytes())
}

fn encode_inputs(out: &mut Vec<u8>, inputs: &[(String, Vec<[u8; 32]>)]) {
    put_len(out, inputs.len());
    for (port, digests) in inputs {
        put_str(out, port);
        put_len(out, digests.len());
        for d in digests {
            out.extend_from_slice(d);
        }
    }
}

/// Everything a cache key is made of, kept beside the cached result so `plan --explain`
/// can say why a key changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyComponents {
    pub schema: u32,
    pub kind: String,
    pub version: u32,
    /// Parameter name -> canonical display of its value.
    pub params: BTreeMap<String, String>,
    pub seed: u64,
    /// Port -> hex content digests of the producing instances' output manifests.
    pub inputs: Vec<(String, Vec<String>)>,
    /// Gather instances: hex digest of the gathered results' stages, point ids and values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gathered: Option<String>,
}

/// The cache key of `inst` given the content digests of its inputs (port order, one digest per
/// producing instance). The instance's params were validated at plan time, so they encode;
/// a non-finite float that slipped through is encoded by its bits rather than panicking.
pub fn cache_key(
    inst: &Instance,
    input_digests: &[(String, Vec<[u8; 32]>)],
) -> ([u8; 32], KeyComponents) {
    let mut out = Vec::with_capacity(256);
    put_str(&mut out, "synface-cache-key");
    out.extend_from_slice(&SCHEMA_VERSION.to_le_bytes());
    put_str(&mut out, &inst.kind);
    out.extend_from_slice(&inst.version.to_le_bytes());
    let keyed = inst.keyed_params();
    let mut params = Vec::new();
    if encode_params(&keyed, &mut params).is_err() {
        params.clear();
        put_str(&mut params, &format!("{keyed:?}"));
    }
    out.extend_from_slice(&params);
    out.extend_from_slice(&inst.seed.to_le_bytes());
    encode_inputs(&mut out, input_digests);
    if let Some(g) = &inst.gathered {
        put_str(&mut out, "gathered");
        out.extend_from_slice(g);
    }
    let key = *blake3::hash(&out).as_bytes();
    let comps = KeyComponents {
        schema: SCHEMA_VERSION,
        kind: inst.kind.clone(),
        version: inst.version,
        params: keyed
            .iter()
            .map(|(k, v)| (k.clone(), display_value(v)))
            .collect(),
        seed: inst.seed,
        inputs: input_digests
            .iter()
            .map(|(p, ds)| (p.clone(), ds.iter().map(hex).collect()))
            .collect(),
        gathered: inst.gathered.as_ref().map(hex),
    };
    (key, comps)
}

/// One gathered result as its gather instance is told about it: the producing stage, the
/// ids of the points it serves and each point's axis values.
pub struct GatheredMeta<'a> {
    pub stage: &'a str,
    pub points: Vec<(&'a str, &'a std::collections::BTreeMap<String, toml::Value>)>,
}

/// Digest of everything a gather instance is told about its inputs, port by port.
pub fn gathered_digest(ports: &[(&str, Vec<GatheredMeta<'_>>)]) -> [u8; 32] {
    let mut out = Vec::new();
    put_str(&mut out, "synface-gathered");
    put_len(&mut out, ports.len());
    for (port, metas) in ports {
        put_str(&mut out, port);
        put_len(&mut out, metas.len());
        for m in metas {
            put_str(&mut out, m.stage);
            put_len(&mut out, m.points.len());
            for (id, values) in &m.points {
                put_str(&mut out, id);
                let table: toml::Table =
                    values.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                if encode_value(&toml::Value::Table(table), &mut out).is_err() {
                    // Axis values are validated scalars; encode their debug text if not.
                    put_str(&mut out, &format!("{values:?}"));
                }
            }
        }
    }
    *blake3::hash(&out).as_bytes()
}

/// Human-readable reasons why `new` differs from `old` (empty when they are equal).
pub fn explain(old: &KeyComponents, new: &KeyComponents) -> Vec<String> {
    let mut out = Vec::new();
    if old.schema != new.schema {
        out.push(format!("engine schema {} -> {}", old.schema, new.schema));
    }
    if old.kind != new.kind {
        out.push(format!("stage kind {} -> {}", old.kind, new.kind));
    }
    if old.version != new.version {
        out.push(format!("stage version {} -> {}", old.version, new.version));
    }
    for (k, v) in &new.params {
        match old.params.get(k) {
            None => out.push(format!("param {k} added ({v})")),
            Some(o) if o != v => out.push(format!("param {k}: {o} -> {v}")),
            Some(_) => {}
        }
    }
    for k in old.params.keys().filter(|k| !new.params.contains_key(*k)) {
        out.push(format!("param {k} removed"));
    }
    if old.seed != new.seed {
        out.push(format!("seed {} -> {}", old.seed, new.seed));
    }
    if old.gathered != new.gathered {
        out.push(
            "the gathered results' points changed (their ids, or axis names or values)".into(),
        );
    }
    // External inputs (`file:<param>` ports) are explained by `run::Keyer::explain`, which
    // can say which files changed.
    let external = |p: &str| p.starts_with(crate::inputs::PORT_PREFIX);
    let old_inputs: BTreeMap<&str, &Vec<String>> = old
        .inputs
        .iter()
        .filter(|(p, _)| !external(p))
        .map(|(p, d)| (p.as_str(), d))
        .collect();
    let new_ports: std::collections::BTreeSet<&str> =
        new.inputs.iter().map(|(p, _)| p.as_str()).collect();
    for (port, digests) in new.inputs.iter().filter(|(p, _)| !external(p)) {
        match old_inputs.get(port.as_str()) {
            None => out.push(format!("input {port} added")),
            Some(o) if *o != digests => out.push(format!("input {port} changed")),
            Some(_) => {}
        }
    }
    for port in old_inputs.keys().filter(|p| !new_ports.contains(*p)) {
        out.push(format!("input {port} removed"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaf() -> impl Strategy<Value = toml::Value> {
        prop_oneof![
            ".{0,6}".prop_map(toml::Value::String),
            any::<i64>().prop_map(toml::Value::Integer),
            (-1e6f64..1e6).prop_map(toml::Value::Float),
            any::<bool>().prop_map(toml::Value::Boolean),
        ]
    }

    fn value() -> impl Strategy<Value = toml::Value> {
        leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
                prop::collection::btree_map("[a-c]{0,2}", inner, 0..4)
                    .prop_map(|m| toml::Value::Table(m.into_iter().collect())),
            ]
        })
    }

    /// Semantic equality with -0.0 == 0.0 (what the encoding promises to identify).
    fn same(a: &toml::Value, b: &toml::Value) -> bool {
        match (a, b) {
            (toml::Value::Float(x), toml::Value::Float(y)) => x == y,
            (toml::Value::Array(x), toml::Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
            }
            (toml::Value::Table(x), toml::Value::Table(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
            }
            _ => a == b,
        }
    }

    proptest! {
        #[test]
        fn encoding_is_injective(a in value(), b in value()) {
            let ea = canonical_bytes(&a).unwrap();
            let eb = canonical_bytes(&b).unwrap();
            prop_assert_eq!(ea == eb, same(&a, &b));
        }

        #[test]
        fn table_order_does_not_matter(m in prop::collection::btree_map("[a-z]{1,3}", leaf(), 0..6)) {
            let entries: Vec<(String, toml::Value)> = m.into_iter().collect();
            let fwd: toml::Table = entries.iter().cloned().collect();
            let rev: toml::Table = entries.iter().rev().cloned().collect();
            prop_assert_eq!(
                canonical_bytes(&toml::Value::Table(fwd)).unwrap(),
                canonical_bytes(&toml::Value::Table(rev)).unwrap()
            );
        }
    }

    #[test]
    fn floats_are_canonical_and_tagged() {
        let enc = |v| canonical_bytes(&v).unwrap();
        assert_eq!(enc(toml::Value::Float(-0.0)), enc(toml::Value::Float(0.0)));
        assert_ne!(enc(toml::Value::Float(1.0)), enc(toml::Value::Integer(1)));
        assert!(canonical_bytes(&toml::Value::Float(f64::NAN)).is_err());
        assert!(canonical_bytes(&toml::Value::Float(f64::INFINITY)).is_err());
        // Length prefixes keep ["ab", "c"] apart from ["a", "bc"].
        let arr = |a: &str, b: &str| toml::Value::Array(vec![a.into(), b.into()]);
        assert_ne!(enc(arr("ab", "c")), enc(arr("a", "bc")));
    }

    fn inst(params: &[(&str, toml::Value)], seed: u64) -> Instance {
        Instance {
            stage: "s".into(),
            kind: "k".into(),
            version: 1,
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            seed,
            inputs: vec![],
            points: vec![],
            plan_key: [0; 32],
            resources: Default::default(),
            gpus: 0,
            time_limit: None,
            external: Vec::new(),
            unkeyed: Vec::new(),
            gathered: None,
        }
    }

    #[test]
    fn gathered_points_enter_the_cache_key_and_its_explanation() {
        let mut a = inst(&[], 1);
        let (k0, c0) = cache_key(&a, &[]);
        a.gathered = Some([7; 32]);
        let (k1, c1) = cache_key(&a, &[]);
        assert_ne!(k0, k1);
        a.gathered = Some([8; 32]);
        let (k2, c2) = cache_key(&a, &[]);
        assert_ne!(k1, k2);
        assert_eq!(
            explain(&c1, &c2),
            vec![
                "the gathered results' points changed (their ids, or axis names or values)"
                    .to_string()
            ]
        );
        assert!(explain(&c0, &c0).is_empty());
        // Components stored before the field existed read back as "not a gather instance".
        let json = serde_json::to_string(&c0).unwrap();
        assert!(!json.contains("gathered"));
        assert_eq!(serde_json::from_str::<KeyComponents>(&json).unwrap(), c0);
    }

    #[test]
    fn cache_key_and_explain() {
        let a = inst(&[("phi", toml::Value::Float(0.1)), ("x", 1.into())], 3);
        let b = inst(&[("phi", toml::Value::Float(0.2)), ("y", 1.into())], 4);
        let d1 = vec![("latents".to_string(), vec![[1u8; 32]])];
        let d2 = vec![("latents".to_string(), vec![[2u8; 32]])];
        let (ka, ca) = cache_key(&a, &d1);
        let (ka2, _) = cache_key(&a, &d1);
        let (kb, cb) = cache_key(&b, &d2);
        assert_eq!(ka, ka2);
        assert_ne!(ka, kb);
        assert_ne!(ka, cache_key(&a, &d2).0);
        let why = explain(&ca, &cb);
        assert_eq!(
            why,
            vec![
                "param phi: 0.1 -> 0.2",
                "param y added (1)",
                "param x removed",
                "seed 3 -> 4",
                "input latents changed"
            ]
        );
        assert!(explain(&ca, &ca).is_empty());
        let mut newer = ca.clone();
        newer.version = 2;
        newer.schema = 2;
        assert_eq!(
            explain(&ca, &newer),
            vec!["engine schema 1 -> 2", "stage version 1 -> 2"]
        );
        assert_eq!(hex(&[0xab; 32]).len(), 64);
        assert!(hex(&[0xab; 32]).starts_with("abab"));
    }
}
