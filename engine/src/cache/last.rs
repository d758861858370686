//! The last key used per (pipeline, stage, point), as files: `last/<h>.json`, `<h>` the first
//! 16 hex characters of blake3 of the pipeline name, holding
//! `{"pipeline": NAME, "keys": {STAGE: {POINT: KEY-HEX}}}`. Written atomically at the end of
//! each run (beside the sled index's copy) so `plan --explain` can read it without opening
//! sled, that is without the writer's lock.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::blobs::{hex, parse_hex, write_atomic, Digest};
use super::CacheError;

#[derive(Debug, Default, Serialize, Deserialize)]
struct LastKeys {
    pipeline: String,
    keys: BTreeMap<String, BTreeMap<String, String>>,
}

/// The file of `pipeline` in the cache at `dir`.
fn file(dir: &Path, pipeline: &str) -> PathBuf {
    let h = hex(blake3::hash(pipeline.as_bytes()).as_bytes());
    dir.join("last").join(format!("{}.json", &h[..16]))
}

/// The file's content; `None` if it is missing, unreadable as ours, or another pipeline's.
fn load(dir: &Path, pipeline: &str) -> Result<Option<LastKeys>, CacheError> {
    let path = file(dir, pipeline);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CacheError::io(&path, e)),
    };
    match serde_json::from_slice::<LastKeys>(&bytes) {
        Ok(l) if l.pipeline == pipeline => Ok(Some(l)),
        _ => {
            tracing::warn!(file = %path.display(), "unusable last-key file ignored");
            Ok(None)
        }
    }
}

/// The key last used for (pipeline, stage, point), read from the file.
pub fn read(
    dir: &Path,
    pipeline: &str,
    stage: &str,
    point: &str,
) -> Result<Option<Digest>, CacheError> {
    Ok(load(dir, pipeline)?
        .and_then(|l| l.keys.get(stage)?.get(point).cloned())
        .and_then(|k| parse_hex(&k)))
}

/// Merge `entries` (stage, point, key) into the pipeline's file and write it atomically
/// (`tmp` is the cache's temporary directory). The caller holds the cache lock.
pub fn record<'a>(
    dir: &Path,
    tmp: &Path,
    pipeline: &str,
    entries: impl IntoIterator<Item = (&'a str, &'a str, &'a Digest)>,
) -> Result<(), CacheError> {
    let mut l = load(dir, pipeline)?.unwrap_or_else(|| LastKeys {
        pipeline: pipeline.to_string(),
        ..LastKeys::default()
    });
    for (stage, point, key) in entries {
        l.keys
            .entry(stage.to_string())
            .or_default()
            .insert(point.to_string(), hex(key));
    }
    let path = file(dir, pipeline);
    let parent = path.parent().expect("last-key files have a parent");
    fs::create_dir_all(parent).map_err(|e| CacheError::io(parent, e))?;
    let json = serde_json::to_vec_pretty(&l).expect("last keys always serialise");
    write_atomic(tmp, &path, &json).map_err(|e| CacheError::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_keys_merge_and_read_back() {
        let d = tempfile::tempdir().unwrap();
        let tmp = d.path().join("tmp");
        fs::create_dir_all(&tmp).unwrap();
        assert_eq!(read(d.path(), "p", "s", "").unwrap(), None);
        record(
            d.path(),
            &tmp,
            "p",
            [("s", "", &[1u8; 32]), ("t", "a", &[2u8; 32])],
        )
        .unwrap();
        record(d.path(), &tmp, "p", [("s", "", &[3u8; 32])]).unwrap();
        assert_eq!(read(d.path(), "p", "s", "").unwrap(), Some([3u8; 32]));
        assert_eq!(read(d.path(), "p", "t", "a").unwrap(), Some([2u8; 32]));
        assert_eq!(read(d.path(), "q", "s", "").unwrap(), None);
        fs::write(file(d.path(), "p"), "{trunc").unwrap();
        assert_eq!(read(d.path(), "p", "s", "").unwrap(), None);
    }
}
