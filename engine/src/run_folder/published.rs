//! The list of what synface itself wrote into a run directory,
//! `runs/<name>/.synface-published.json`: every file (relative path, the stage instance that
//! published it, its blake3 digest) and every directory synface created for them. A run
//! removes only files on this list that it no longer publishes, and only if they still hold
//! what synface wrote, then the listed directories left empty; anything else in the run
//! directory (a user's notes, a run directory from before the list existed) is never
//! touched.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{io_err, write_file, LayoutError};

/// File name of the list, in the run directory.
pub const LIST_NAME: &str = ".synface-published.json";

/// One file synface wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The stage that published it (none for `results.json` and `events.jsonl`).
    pub stage: Option<String>,
    /// Its sweep point (none for a gather stage's files).
    pub point: Option<String>,
    /// blake3 of the bytes written, hex (none for files whose content synface keeps changing).
    pub blake3: Option<String>,
}

impl Entry {
    /// An entry for a file that belongs to the run as a whole.
    pub fn run_file() -> Entry {
        Entry {
            stage: None,
            point: None,
            blake3: None,
        }
    }
}

/// The content of `.synface-published.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Published {
    /// Relative path (`/`-separated) -> what wrote it.
    pub files: BTreeMap<String, Entry>,
    /// Directories synface created, relative (`/`-separated).
    pub dirs: BTreeSet<String>,
}

impl Published {
    /// The list of `run_dir`; empty when there is none (a run directory from before the list
    /// existed) or it is unreadable, so that nothing unknown is ever removed.
    pub fn read(run_dir: &Path) -> Published {
        let path = run_dir.join(LIST_NAME);
        let Ok(bytes) = fs::read(&path) else {
            return Published::default();
        };
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable list of published files");
            Published::default()
        })
    }

    /// Write the list atomically.
    pub fn write(&self, run_dir: &Path) -> Result<(), LayoutError> {
        let json = serde_json::to_vec_pretty(self).expect("the published list always serialises");
        write_file(&run_dir.join(LIST_NAME), &json)
    }

    /// Both lists together (for the list written before any file, so a crash never leaves a
    /// file synface wrote off the list).
    pub fn union(&self, other: &Published) -> Published {
        let mut all = self.clone();
        for (k, v) in &other.files {
            all.files.insert(k.clone(), v.clone());
        }
        all.dirs.extend(other.dirs.iter().cloned());
        all
    }

    /// Record the directories between `run_dir` and `rel`'s parent that do not exist yet
    /// (synface is about to create them).
    pub fn note_missing_dirs(&mut self, run_dir: &Path, rel: &str) {
        let mut parts: Vec<&str> = rel.split('/').collect();
        parts.pop();
        for n in 1..=parts.len() {
            let d = parts[..n].join("/");
            if fs::symlink_metadata(run_dir.join(&d)).is_err() {
                self.dirs.insert(d);
            }
        }
    }
}

/// `run_dir/rel` when `rel` is a plain relative path (no `..`, no root) and none of its
/// directories below `run_dir` is a symbolic link: a list edited by hand cannot make synface
/// remove anything outside the run directory.
fn inside(run_dir: &Path, rel: &str) -> Option<PathBuf> {
    let rel = Path::new(rel);
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let mut p = run_dir.to_path_buf();
    let mut parts = rel.components().peekable();
    while let Some(c) = parts.next() {
        p.push(c);
        if parts.peek().is_some() && !fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            return None;
        }
    }
    Some(p)
}

/// Whether the regular file at `path` still holds what synface wrote (`blake3`, when known).
fn unchanged(path: &Path, blake3: Option<&str>) -> bool {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return false;
    };
    meta.is_file()
        && blake3
            .is_none_or(|d| fs::read(path).is_ok_and(|b| blake3::hash(&b).to_hex().as_str() == d))
}

/// Remove the files of `old` that `new` does not list (when they still hold what synface
/// wrote), then the directories of `new.dirs` left empty, deepest first; directories that
/// are gone are dropped from `new.dirs`, non-empty ones (a user's files) stay.
pub fn prune(run_dir: &Path, old: &Published, new: &mut Published) -> Result<(), LayoutError> {
    for (rel, entry) in &old.files {
        if new.files.contains_key(rel) {
            continue;
        }
        let Some(path) = inside(run_dir, rel) else {
            continue;
        };
        if unchanged(&path, entry.blake3.as_deref()) {
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    let deepest_first: Vec<String> = new.dirs.iter().rev().cloned().collect();
    for rel in deepest_first {
        remove_if_empty(run_dir, &rel, new)?;
    }
    Ok(())
}

/// Remove directory `rel` if it is empty and no listed file needs it.
fn remove_if_empty(run_dir: &Path, rel: &str, new: &mut Published) -> Result<(), LayoutError> {
    let prefix = format!("{rel}/");
    if new.files.keys().any(|f| f.starts_with(&prefix)) {
        return Ok(());
    }
    let Some(path) = inside(run_dir, rel) else {
        new.dirs.remove(rel);
        return Ok(());
    };
    let is_dir = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
    let empty = is_dir && fs::read_dir(&path).is_ok_and(|mut rd| rd.next().is_none());
    if empty {
        match fs::remove_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path)(e)),
        }
    }
    if !is_dir || empty {
        new.dirs.remove(rel);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(digest_of: &[u8]) -> Entry {
        Entry {
            stage: Some("s".into()),
            point: Some("p".into()),
            blake3: Some(blake3::hash(digest_of).to_hex().to_string()),
        }
    }

    #[test]
    fn listed_paths_cannot_leave_the_run_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(inside(dir.path(), "../x").is_none());
        assert!(inside(dir.path(), "/etc/passwd").is_none());
        assert!(inside(dir.path(), "").is_none());
        fs::create_dir(dir.path().join("a")).unwrap();
        assert_eq!(inside(dir.path(), "a/b"), Some(dir.path().join("a/b")));
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        assert!(
            inside(dir.path(), "link/file").is_none(),
            "no removal through a symlink"
        );
    }

    #[test]
    fn prune_removes_only_stale_listed_unchanged_files_and_empty_created_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("points/a/s")).unwrap();
        fs::create_dir_all(d.join("points/b/s")).unwrap();
        fs::write(d.join("points/a/s/m.json"), b"old").unwrap();
        fs::write(d.join("points/b/s/m.json"), b"mine now").unwrap();
        fs::write(d.join("points/a/notes.txt"), b"user").unwrap();
        let mut old = Published::default();
        old.files.insert("points/a/s/m.json".into(), entry(b"old"));
        old.files.insert("points/b/s/m.json".into(), entry(b"old"));
        for x in ["points", "points/a", "points/a/s", "points/b", "points/b/s"] {
            old.dirs.insert(x.into());
        }
        let mut new = Published {
            files: BTreeMap::new(),
            dirs: old.dirs.clone(),
        };
        prune(d, &old, &mut new).unwrap();
        assert!(
            !d.join("points/a/s").exists(),
            "stale file and its empty dir removed"
        );
        assert!(d.join("points/a/notes.txt").exists(), "user file kept");
        assert!(d.join("points/b/s/m.json").exists(), "edited file kept");
        assert_eq!(
            new.dirs.iter().map(String::as_str).collect::<Vec<_>>(),
            ["points", "points/a", "points/b", "points/b/s"]
        );
    }

    #[test]
    fn an_unreadable_list_removes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LIST_NAME), b"{not json").unwrap();
        assert_eq!(Published::read(dir.path()), Published::default());
    }
}
