//! The cache marker: `synface-cache.json` at the top of a cache directory, written when the
//! cache is created, so synface never mistakes a user's folder for its cache (and never
//! cleans or collects files there).
//!
//! Its content is `{"format": "synface-cache", "version": 1}`. A directory is accepted as a
//! cache when it does not exist yet, is empty, holds the marker, or is a cache written before
//! the marker existed ("legacy": it has `index/`, `actions/`, `blobs/` and `lock`, and nothing
//! the cache would not write). Anything else is refused with [`CacheError::NotACache`].

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::blobs::fsync_dir;
use super::CacheError;

/// The marker's file name.
pub const MARKER: &str = "synface-cache.json";
/// The marker is written here first, then renamed into place.
const MARKER_TMP: &str = "synface-cache.json.tmp";
const FORMAT: &str = "synface-cache";
/// The cache format version this build reads and writes.
pub const VERSION: u32 = 1;

/// Every top-level entry a cache without its marker could hold (one written before the
/// marker existed, or whose marker was lost).
const LEGACY_ENTRIES: &[&str] = &[
    "blobs",
    "actions",
    "records",
    "checkpoints",
    "tmp",
    "index",
    "lock",
    "inputs",
    "last",
    "dropped",
    MARKER_TMP,
];
/// Entries every legacy cache has.
const LEGACY_REQUIRED: &[&str] = &["index", "actions", "blobs", "lock"];

#[derive(Serialize, Deserialize)]
struct Marker {
    format: String,
    version: u32,
}

/// What a cache directory looks like before it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirState {
    /// It does not exist.
    Missing,
    /// It exists and holds nothing.
    Empty,
    /// It holds a marker of a format this build reads.
    Marked,
    /// A cache written before the marker existed.
    Legacy,
}

/// Classify `dir` without writing anything; refuses a directory that is not a cache.
pub fn inspect(dir: &Path) -> Result<DirState, CacheError> {
    match fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(DirState::Missing),
        Err(e) => return Err(CacheError::io(dir, e)),
        Ok(m) if !m.is_dir() => return Err(not_a_cache(dir, "a file, not a directory".into())),
        Ok(_) => {}
    }
    if let Some(state) = read_marker(dir)? {
        return Ok(state);
    }
    let names = entry_names(dir)?;
    if names.is_empty() {
        return Ok(DirState::Empty);
    }
    let all_ours = names.iter().all(|n| LEGACY_ENTRIES.contains(&n.as_str()));
    let has = |n: &str| names.iter().any(|x| x == n);
    if all_ours && (LEGACY_REQUIRED.iter().all(|n| has(n)) || has(MARKER_TMP)) {
        return Ok(DirState::Legacy);
    }
    Err(not_a_cache(dir, describe(&names)))
}

/// `Some(Marked)` if `dir` holds a valid marker, `None` if it holds none.
fn read_marker(dir: &Path) -> Result<Option<DirState>, CacheError> {
    let path = dir.join(MARKER);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CacheError::io(&path, e)),
    };
    match serde_json::from_slice::<Marker>(&bytes) {
        Ok(m) if m.format == FORMAT && m.version <= VERSION => Ok(Some(DirState::Marked)),
        Ok(m) if m.format == FORMAT => Err(CacheError::NewerFormat {
            dir: dir.to_path_buf(),
            version: m.version,
        }),
        _ => Err(not_a_cache(
            dir,
            format!("a {MARKER} that is not a synface cache marker"),
        )),
    }
}

fn entry_names(dir: &Path) -> Result<Vec<String>, CacheError> {
    let mut names = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| CacheError::io(dir, e))? {
        let e = e.map_err(|e| CacheError::io(dir, e))?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// "it holds notes.txt, src and 4 more entries": entries a cache would not hold first.
fn describe(names: &[String]) -> String {
    let (foreign, ours): (Vec<&String>, Vec<&String>) = names
        .iter()
        .partition(|n| !LEGACY_ENTRIES.contains(&n.as_str()));
    let shown: Vec<&str> = foreign
        .iter()
        .chain(&ours)
        .take(3)
        .map(|s| s.as_str())
        .collect();
    let more = names.len().saturating_sub(shown.len());
    if more == 0 {
        format!("it holds {}", shown.join(", "))
    } else {
        format!("it holds {} and {more} more entries", shown.join(", "))
    }
}

fn not_a_cache(dir: &Path, found: String) -> CacheError {
    CacheError::NotACache {
        dir: dir.to_path_buf(),
        found,
    }
}

/// Write the marker into `dir` (which exists): a temporary file, fsynced, renamed into place.
pub fn write(dir: &Path) -> Result<(), CacheError> {
    let tmp = dir.join(MARKER_TMP);
    let dest = dir.join(MARKER);
    let json = serde_json::to_vec(&Marker {
        format: FORMAT.into(),
        version: VERSION,
    })
    .expect("the marker always serialises");
    let written = File::create(&tmp).and_then(|mut f| {
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()
    });
    written.map_err(|e| CacheError::io(&tmp, e))?;
    match fs::rename(&tmp, &dest) {
        // Another process creating the same cache renamed it first.
        Err(e) if e.kind() == io::ErrorKind::NotFound && dest.is_file() => {}
        r => r.map_err(|e| CacheError::io(&dest, e))?,
    }
    fsync_dir(dir).map_err(|e| CacheError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_empty_marked_legacy_and_foreign_directories() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(inspect(&d.path().join("new")).unwrap(), DirState::Missing);
        assert_eq!(inspect(d.path()).unwrap(), DirState::Empty);
        for sub in ["index", "actions", "blobs", "tmp"] {
            fs::create_dir(d.path().join(sub)).unwrap();
        }
        fs::write(d.path().join("lock"), "").unwrap();
        assert_eq!(inspect(d.path()).unwrap(), DirState::Legacy);
        fs::write(d.path().join("notes.txt"), "mine").unwrap();
        let err = inspect(d.path()).unwrap_err();
        assert!(matches!(err, CacheError::NotACache { .. }), "{err}");
        assert!(err.to_string().contains("notes.txt"), "{err}");
        write(d.path()).unwrap();
        assert_eq!(inspect(d.path()).unwrap(), DirState::Marked);
        assert!(!d.path().join(MARKER_TMP).exists());
    }

    #[test]
    fn a_file_or_a_newer_or_foreign_marker_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fs::write(&f, "x").unwrap();
        assert!(matches!(inspect(&f), Err(CacheError::NotACache { .. })));
        fs::write(
            d.path().join(MARKER),
            r#"{"format":"synface-cache","version":99}"#,
        )
        .unwrap();
        assert!(matches!(
            inspect(d.path()),
            Err(CacheError::NewerFormat { version: 99, .. })
        ));
        fs::write(d.path().join(MARKER), "{}").unwrap();
        assert!(matches!(
            inspect(d.path()),
            Err(CacheError::NotACache { .. })
        ));
    }
}
