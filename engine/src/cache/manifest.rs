//! Action manifests: what one committed stage instance produced (stored as
//! `actions/<key-hex>.json` and mirrored in the sled index), and run records (gc pins).

use serde::{Deserialize, Serialize};

use super::blobs::{hex, parse_hex, Digest};
use crate::artifact::Artifact;

/// One output file of an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputEntry {
    pub name: String,
    /// blake3 of the bytes, hex.
    pub digest: String,
    pub size: u64,
    /// Copied into the run layout.
    pub published: bool,
}

/// Wall-clock timings of an action, seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub run_secs: f64,
    pub commit_secs: f64,
}

/// The manifest of a committed action (one stage instance run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionManifest {
    /// Cache key, hex.
    pub key: String,
    /// Stage name in the pipeline file, and kind.
    pub stage: String,
    pub kind: String,
    /// The key's components (`keys::KeyComponents` as JSON) so `plan --explain` can diff them.
    pub components: serde_json::Value,
    /// Outputs sorted by name.
    pub outputs: Vec<OutputEntry>,
    /// Content digest of the artifact (blake3 over the sorted (name, digest) list), hex:
    /// downstream keys chain on this.
    pub artifact_digest: String,
    /// Parsed `metrics.json`, if the artifact has one.
    pub metrics: Option<serde_json::Value>,
    pub timings: Timings,
    /// Seconds since the Unix epoch.
    pub created: u64,
}

impl ActionManifest {
    pub fn key_digest(&self) -> Option<Digest> {
        parse_hex(&self.key)
    }
    pub fn artifact_digest(&self) -> Option<Digest> {
        parse_hex(&self.artifact_digest)
    }
    /// Digests of every output blob (None if a manifest entry is malformed).
    pub fn blob_digests(&self) -> Option<Vec<(Digest, u64)>> {
        self.outputs
            .iter()
            .map(|o| parse_hex(&o.digest).map(|d| (d, o.size)))
            .collect()
    }
    pub fn total_size(&self) -> u64 {
        self.outputs.iter().map(|o| o.size).sum()
    }
}

/// Content digest of an artifact given its sorted (name, blob digest) list: blake3 over a
/// length-prefixed encoding, so names cannot run into digests.
pub fn artifact_digest<'a>(entries: impl IntoIterator<Item = (&'a str, &'a Digest)>) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(b"synface-artifact-v1");
    for (name, d) in entries {
        h.update(&(name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(d);
    }
    *h.finalize().as_bytes()
}

/// The content digest of an in-memory artifact (same value as its manifest's).
pub fn digest_of(artifact: &Artifact) -> Digest {
    let digests: Vec<(String, Digest)> = artifact
        .files
        .iter()
        .map(|(n, b)| (n.clone(), *blake3::hash(b).as_bytes()))
        .collect();
    artifact_digest(digests.iter().map(|(n, d)| (n.as_str(), d)))
}

/// A run of a pipeline: the keys it used (gc keeps what kept runs reference).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub pipeline: String,
    /// Nanoseconds since the Unix epoch when the run finished.
    pub time_ns: u128,
    /// Cache keys (hex) of every instance the run used.
    pub keys: Vec<String>,
}

impl RunRecord {
    /// Index key: pipeline name, NUL, big-endian time (sorted by time within a pipeline).
    pub fn index_key(&self) -> Vec<u8> {
        let mut k = self.pipeline.as_bytes().to_vec();
        k.push(0);
        k.extend_from_slice(&self.time_ns.to_be_bytes());
        k
    }
    /// File name under `records/`.
    pub fn file_name(&self) -> String {
        let h = blake3::hash(self.pipeline.as_bytes());
        format!("{}-{:032x}.json", &hex(h.as_bytes())[..16], self.time_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_digest_depends_on_names_and_contents() {
        let mut a = Artifact::new();
        a.add("x", b"1".to_vec()).add("y", b"2".to_vec());
        let mut b = Artifact::new();
        b.add("y", b"2".to_vec()).add("x", b"1".to_vec());
        assert_eq!(digest_of(&a), digest_of(&b));
        let mut c = Artifact::new();
        c.add("x", b"1".to_vec()).add("z", b"2".to_vec());
        assert_ne!(digest_of(&a), digest_of(&c));
    }

    #[test]
    fn run_record_keys_sort_by_time() {
        let r1 = RunRecord {
            pipeline: "p".into(),
            time_ns: 5,
            keys: vec![],
        };
        let r2 = RunRecord {
            pipeline: "p".into(),
            time_ns: 300,
            keys: vec![],
        };
        assert!(r1.index_key() < r2.index_key());
        assert_ne!(r1.file_name(), r2.file_name());
    }
}
