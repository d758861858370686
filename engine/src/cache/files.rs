//! The cache's own files read without the index: action manifests (`actions/<key-hex>.json`)
//! and run records (`records/*.json`). A file counts as ours only if its name follows the
//! cache's scheme and it parses as what that name promises; these helpers are how lookup,
//! rebuild, gc and the read-only view tell ours from anything else, and the only way gc
//! removes such files.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::blobs::{hex, is_lower_hex, parse_hex, Digest};
use super::manifest::{ActionManifest, RunRecord};
use super::CacheError;

/// What is on disk for one action key.
#[derive(Debug, Clone, PartialEq)]
pub enum ManifestFile {
    Missing,
    /// The file exists but does not parse, or names another key.
    Unusable,
    Parsed(Box<ActionManifest>),
}

/// `actions/<key-hex>.json` of the cache at `dir`.
pub fn action_path(dir: &Path, key: &Digest) -> PathBuf {
    dir.join("actions").join(format!("{}.json", hex(key)))
}

/// The key a file under `actions/` is named after (`<64 lower-case hex>.json`), if any.
pub fn action_file_key(path: &Path) -> Option<Digest> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".json")?;
    is_lower_hex(stem, 64).then(|| parse_hex(stem)).flatten()
}

/// Parse a manifest file; `None` unless it parses and its key is `key`.
fn parse_action(bytes: &[u8], key: &Digest) -> Option<ActionManifest> {
    serde_json::from_slice::<ActionManifest>(bytes)
        .ok()
        .filter(|m| m.key_digest().as_ref() == Some(key))
}

/// Read the manifest file of `key`.
pub fn read_action(dir: &Path, key: &Digest) -> Result<ManifestFile, CacheError> {
    let path = action_path(dir, key);
    match fs::read(&path) {
        Ok(b) => Ok(parse_action(&b, key).map_or(ManifestFile::Unusable, |m| {
            ManifestFile::Parsed(Box::new(m))
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ManifestFile::Missing),
        Err(e) => Err(CacheError::io(&path, e)),
    }
}

/// Regular files with a `.json` extension directly under `dir`, sorted (none if `dir` is
/// missing).
pub fn json_files(dir: &Path) -> Result<Vec<PathBuf>, CacheError> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(CacheError::io(dir, e)),
    };
    for e in entries {
        let e = e.map_err(|e| CacheError::io(dir, e))?;
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") && e.file_type().is_ok_and(|t| t.is_file()) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Files under `actions/` named after a key (whether or not they parse).
pub fn action_files(dir: &Path) -> Result<Vec<(PathBuf, Digest)>, CacheError> {
    Ok(json_files(&dir.join("actions"))?
        .into_iter()
        .filter_map(|p| action_file_key(&p).map(|k| (p, k)))
        .collect())
}

/// Every manifest under `actions/` that is ours: named after a key, parsing, with that key.
pub fn manifests(dir: &Path) -> Result<Vec<ActionManifest>, CacheError> {
    let mut out = Vec::new();
    for (p, k) in action_files(dir)? {
        match fs::read(&p) {
            Ok(b) => out.extend(parse_action(&b, &k)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(CacheError::io(&p, e)),
        }
    }
    Ok(out)
}

/// Every run record under `records/` that parses and is named as the cache names it.
pub fn records(dir: &Path) -> Result<Vec<RunRecord>, CacheError> {
    let mut out = Vec::new();
    for p in json_files(&dir.join("records"))? {
        let r = fs::read(&p)
            .ok()
            .and_then(|b| serde_json::from_slice::<RunRecord>(&b).ok());
        out.extend(r.filter(|r| p.file_name().is_some_and(|n| n == r.file_name().as_str())));
    }
    out.sort_by_key(RunRecord::index_key);
    Ok(out)
}

/// Remove `path` if it holds exactly what `ours` says (a file that parses as `T` and passes
/// it); anything else is left alone with a warning. Returns whether it was removed.
fn remove_if<T: serde::de::DeserializeOwned>(
    path: &Path,
    ours: impl Fn(&T) -> bool,
) -> Result<bool, CacheError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(CacheError::io(path, e)),
    };
    if !serde_json::from_slice::<T>(&bytes).is_ok_and(|v| ours(&v)) {
        tracing::warn!(file = %path.display(), "not a file this cache wrote: left alone");
        return Ok(false);
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(CacheError::io(path, e)),
        _ => Ok(true),
    }
}

/// Remove the manifest file of `key` if it parses as that key's manifest.
pub fn remove_action(dir: &Path, key: &Digest) -> Result<bool, CacheError> {
    remove_if(&action_path(dir, key), |m: &ActionManifest| {
        m.key_digest().as_ref() == Some(key)
    })
}

/// Remove the file of run record `r` if it parses as that record.
pub fn remove_record(dir: &Path, r: &RunRecord) -> Result<bool, CacheError> {
    remove_if(&dir.join("records").join(r.file_name()), |x: &RunRecord| {
        x == r
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_parsing_files_named_as_ours_are_removed() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("actions")).unwrap();
        fs::create_dir_all(d.path().join("records")).unwrap();
        let key = [7u8; 32];
        fs::write(action_path(d.path(), &key), "user notes").unwrap();
        assert!(!remove_action(d.path(), &key).unwrap());
        assert!(action_path(d.path(), &key).exists());
        assert_eq!(read_action(d.path(), &key).unwrap(), ManifestFile::Unusable);
        let r = RunRecord {
            pipeline: "p".into(),
            time_ns: 1,
            keys: vec![],
        };
        let rf = d.path().join("records").join(r.file_name());
        fs::write(&rf, serde_json::to_vec(&r).unwrap()).unwrap();
        fs::write(d.path().join("records/notes.json"), "{}").unwrap();
        assert_eq!(records(d.path()).unwrap(), vec![r.clone()]);
        assert!(remove_record(d.path(), &r).unwrap());
        assert!(!rf.exists());
        assert!(d.path().join("records/notes.json").exists());
    }

    #[test]
    fn action_file_names_must_be_lower_hex_keys() {
        let k = [0xabu8; 32];
        assert_eq!(action_file_key(&action_path(Path::new("/c"), &k)), Some(k));
        let upper = format!("/c/actions/{}.json", hex(&k).to_uppercase());
        assert_eq!(action_file_key(Path::new(&upper)), None);
        assert_eq!(action_file_key(Path::new("/c/actions/notes.json")), None);
    }
}
