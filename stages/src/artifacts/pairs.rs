//! The `pairs` artifact: a verification protocol as `pairs.json` ([`PairSet`]: fold, i, j,
//! label) for the stages, and the same pairs as the published LFW-format `pairs.txt` for people.

use synface_engine::{Artifact, StageError};

use crate::verify::pairs::PairSet;

const JSON: &str = "pairs.json";
const TEXT: &str = "pairs.txt";

/// Encode a protocol and its LFW text.
pub fn encode(set: &PairSet, lfw_text: String) -> Result<Artifact, StageError> {
    let mut a = Artifact::new();
    a.add(JSON, serde_json::to_vec(set).map_err(StageError::msg)?);
    a.publish(TEXT, lfw_text.into_bytes());
    Ok(a)
}

/// Decode the pair list of a `pairs` artifact.
pub fn decode(a: &Artifact) -> Result<PairSet, StageError> {
    serde_json::from_slice(a.get(JSON)?).map_err(|e| StageError::Input(format!("{JSON}: {e}")))
}

/// The published LFW text of a `pairs` artifact.
pub fn lfw_text(a: &Artifact) -> Result<&[u8], StageError> {
    a.get(TEXT)
}
