//! Where a report's numbers come from: the synface that rendered it (version and commit), a
//! digest of everything it gathered (equal digests: the same results), and the full
//! parameters behind each group (the training parameters and model shape of its models;
//! those shared by every group are listed once).

use std::collections::BTreeMap;

use super::html::esc;
use super::table::{cmp_keys, label_of};
use super::PointValues;

/// Parameter name -> displayed value.
pub type Params = BTreeMap<String, String>;

/// Provenance of one report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    /// `synface 0.1.0 (commit 3ceb743a1b2c)`.
    pub producer: String,
    /// blake3 (hex) over every gathered artifact's files.
    pub inputs_digest: String,
    /// Per group (non-replicate axis values): parameter name -> value.
    pub params: Vec<(PointValues, BTreeMap<String, String>)>,
}

impl Provenance {
    /// Record `params` for the group `key` (the first set recorded for a group is kept).
    pub fn add_params(&mut self, key: PointValues, params: BTreeMap<String, String>) {
        if !self.params.iter().any(|(k, _)| *k == key) {
            self.params.push((key, params));
            self.params.sort_by(|a, b| cmp_keys(&a.0, &b.0));
        }
    }

    /// Parameters equal in every group, and per group those that are not.
    pub fn split(&self) -> (Params, Vec<(String, Params)>) {
        let mut shared = self.params.first().map(|p| p.1.clone()).unwrap_or_default();
        for (_, p) in &self.params[1.min(self.params.len())..] {
            shared.retain(|k, v| p.get(k) == Some(v));
        }
        let varying = self
            .params
            .iter()
            .map(|(key, p)| {
                let rest = p
                    .iter()
                    .filter(|(k, _)| !shared.contains_key(*k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                (label_of(key), rest)
            })
            .filter(|(_, rest): &(String, BTreeMap<String, String>)| !rest.is_empty())
            .collect();
        (shared, varying)
    }

    fn pairs(p: &BTreeMap<String, String>) -> String {
        p.iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The provenance section of `report.md`.
    pub fn markdown(&self) -> String {
        let mut md = String::from("## Provenance\n\n");
        md.push_str(&format!("- Rendered by {}.\n", self.producer));
        md.push_str(&format!(
            "- Inputs digest (blake3 of every gathered result): `{}`.\n",
            self.inputs_digest
        ));
        let (shared, varying) = self.split();
        if !shared.is_empty() {
            md.push_str(&format!(
                "- Parameters of every group: {}.\n",
                Self::pairs(&shared)
            ));
        }
        for (label, p) in &varying {
            md.push_str(&format!("- {label}: {}.\n", Self::pairs(p)));
        }
        md.push_str(
            "- The run's pipeline digest and every stage's parameters per sweep point are in \
             its history entry (`synface runs FILE`, `synface show FILE --run ID --format \
             json`).\n",
        );
        md
    }

    /// The provenance section of `report.html`.
    pub fn html(&self) -> String {
        let li = |s: String| format!("<li>{s}</li>\n");
        let mut h = String::from("<h2>Provenance</h2>\n<ul>\n");
        h.push_str(&li(format!("Rendered by {}.", esc(&self.producer))));
        h.push_str(&li(format!(
            "Inputs digest (blake3 of every gathered result): <code>{}</code>.",
            esc(&self.inputs_digest)
        )));
        let (shared, varying) = self.split();
        if !shared.is_empty() {
            h.push_str(&li(format!(
                "Parameters of every group: {}.",
                esc(&Self::pairs(&shared))
            )));
        }
        for (label, p) in &varying {
            h.push_str(&li(format!("{}: {}.", esc(label), esc(&Self::pairs(p)))));
        }
        h.push_str(&li(
            "The run's pipeline digest and every stage's parameters per sweep point are in its \
             history entry (<code>synface runs FILE</code>)."
                .into(),
        ));
        h.push_str("</ul>\n");
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(arm: &str) -> PointValues {
        [("mixup".to_string(), toml::Value::String(arm.into()))].into()
    }

    fn params(lr: &str) -> BTreeMap<String, String> {
        [
            ("train.epochs".to_string(), "10".to_string()),
            ("train.lr".to_string(), lr.into()),
        ]
        .into()
    }

    #[test]
    fn shared_parameters_are_listed_once_and_differences_per_group() {
        let mut p = Provenance {
            producer: "synface 0.1.0".into(),
            inputs_digest: "ab".into(),
            params: vec![],
        };
        p.add_params(key("none"), params("0.1"));
        p.add_params(key("identity"), params("0.2"));
        p.add_params(key("identity"), params("0.3"));
        let (shared, varying) = p.split();
        assert_eq!(shared.keys().collect::<Vec<_>>(), ["train.epochs"]);
        assert_eq!(varying.len(), 2);
        assert_eq!(varying[0].0, "mixup=identity");
        assert_eq!(varying[0].1["train.lr"], "0.2");
        let md = p.markdown();
        assert!(
            md.contains("Parameters of every group: train.epochs = 10"),
            "{md}"
        );
        assert!(p.html().contains("synface 0.1.0"));
    }
}
