//! External inputs: files and folders outside the cache that a stage reads (an image folder,
//! a pairs file, a landmarks file), hashed by content so that they enter cache keys
//! (docs/design.md §3). A change to any byte of any file under an input changes the key.
//!
//! Hashing a large folder on every `plan` and `run` would be slow, so a *stat cache*
//! remembers, per input path, each file's (relative path, size, mtime) and content digest;
//! a file whose size and mtime are unchanged keeps its digest, anything else is rehashed.
//! Files modified within [`RACY_SECS`] of the previous snapshot are always rehashed (the
//! "racy timestamp" problem git also guards against: a write in the same clock tick as the
//! snapshot would otherwise go unseen). The digest of an input covers relative paths, sizes
//! and content digests only, never times, so a `touch` alone does not invalidate results.
//!
//! Snapshots are stored content-addressed (`<cache>/inputs/snap-<digest>.json`) so that
//! `plan --explain` can say what changed ("input folder `root` changed: 1 file added").
//! What is walked mirrors what stages read: regular files and real directories (symbolic
//! links are not followed), sorted by name.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cache::{hex, parse_hex, write_atomic, Digest};

/// Files modified this close (seconds) before a snapshot are rehashed on the next one.
pub const RACY_SECS: u128 = 2;

/// A file or folder outside the cache that a stage instance reads, named by the parameter
/// that holds its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalInput {
    /// The parameter whose value is the path (e.g. `root`, `file`, `landmarks`).
    pub param: String,
    pub path: PathBuf,
}

impl ExternalInput {
    pub fn new(param: &str, path: impl Into<PathBuf>) -> Self {
        ExternalInput {
            param: param.to_string(),
            path: path.into(),
        }
    }
    /// The pseudo-port under which the input's digest enters a cache key.
    pub fn port(&self) -> String {
        format!("{PORT_PREFIX}{}", self.param)
    }
}

/// Prefix of the key-input ports that carry external inputs' digests.
pub const PORT_PREFIX: &str = "file:";

/// One file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the input (`""` when the input is a single file), `/`-separated.
    pub rel: String,
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch (stat cache only; not in the digest).
    pub mtime_ns: u128,
    /// blake3 of the contents, hex.
    pub digest: String,
}

/// The state of one input at one moment: every file, sorted by relative path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Whether the input is a folder (else a single file).
    pub folder: bool,
    pub files: Vec<FileEntry>,
    /// When the snapshot was taken, nanoseconds since the Unix epoch.
    pub taken_ns: u128,
}

impl Snapshot {
    /// The content digest: kind, then (relative path, size, content digest) per file.
    pub fn digest(&self) -> Digest {
        let mut h = blake3::Hasher::new();
        h.update(b"synface-external-input-v1");
        h.update(&[u8::from(self.folder)]);
        for f in &self.files {
            h.update(&(f.rel.len() as u64).to_le_bytes());
            h.update(f.rel.as_bytes());
            h.update(&f.size.to_le_bytes());
            h.update(f.digest.as_bytes());
        }
        *h.finalize().as_bytes()
    }
}

/// How `new` differs from `old`, in words: "1 file added, 2 changed".
pub fn describe_change(old: &Snapshot, new: &Snapshot) -> String {
    let old_files: BTreeMap<&str, &str> = old
        .files
        .iter()
        .map(|f| (f.rel.as_str(), f.digest.as_str()))
        .collect();
    let new_files: BTreeMap<&str, &str> = new
        .files
        .iter()
        .map(|f| (f.rel.as_str(), f.digest.as_str()))
        .collect();
    let added = new_files
        .keys()
        .filter(|k| !old_files.contains_key(*k))
        .count();
    let removed = old_files
        .keys()
        .filter(|k| !new_files.contains_key(*k))
        .count();
    let changed = new_files
        .iter()
        .filter(|(k, d)| old_files.get(*k).is_some_and(|o| o != *d))
        .count();
    let mut parts = Vec::new();
    for (n, what) in [(added, "added"), (removed, "removed"), (changed, "changed")] {
        if n > 0 {
            let files = if n == 1 { "file" } else { "files" };
            parts.push(format!("{n} {files} {what}"));
        }
    }
    if parts.is_empty() {
        "same files, different contents".into()
    } else {
        parts.join(", ")
    }
}

/// Takes snapshots of external inputs, with a stat cache and stored snapshots under `store`
/// (`<cache>/inputs/`). Read-only digesters (for `plan` while a run holds the cache) use the
/// stored stat cache but never write.
pub struct Digester {
    store: PathBuf,
    tmp: PathBuf,
    write: bool,
    /// Snapshots taken by this process, by path: each input is walked once per process.
    memo: Mutex<HashMap<PathBuf, Result<Snapshot, String>>>,
}

impl Digester {
    /// A digester for the cache at `cache_dir`; `write` says whether it may store files.
    pub fn new(cache_dir: &Path, write: bool) -> Self {
        Digester {
            store: cache_dir.join("inputs"),
            tmp: cache_dir.join("tmp"),
            write,
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// The digest of `input`, or, when it cannot be read, a digest of the error (the key is
    /// then unique to that failure and the stage reports it when it runs).
    pub fn digest(&self, input: &ExternalInput) -> Digest {
        match self.snapshot(&input.path) {
            Ok(s) => s.digest(),
            Err(e) => {
                let mut h = blake3::Hasher::new();
                h.update(b"synface-external-input-unreadable");
                h.update(e.as_bytes());
                *h.finalize().as_bytes()
            }
        }
    }

    /// The current snapshot of `path` (memoised for this process).
    pub fn snapshot(&self, path: &Path) -> Result<Snapshot, String> {
        let mut memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = memo.get(path) {
            return s.clone();
        }
        let s = self
            .take(path)
            .map_err(|e| format!("{}: {e}", path.display()));
        memo.insert(path.to_path_buf(), s.clone());
        s
    }

    /// A stored snapshot by its digest (hex), if this cache has it.
    pub fn stored(&self, digest_hex: &str) -> Option<Snapshot> {
        parse_hex(digest_hex)?;
        let bytes = fs::read(self.store.join(format!("snap-{digest_hex}.json"))).ok()?;
        let s: Snapshot = serde_json::from_slice(&bytes).ok()?;
        (hex(&s.digest()) == digest_hex).then_some(s)
    }

    fn take(&self, path: &Path) -> io::Result<Snapshot> {
        let meta = fs::metadata(path)?;
        let folder = meta.is_dir();
        if !folder && !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "neither a regular file nor a folder",
            ));
        }
        let taken_ns = now_ns();
        let stat_file = self.stat_file(path);
        let previous = stat_file.as_ref().and_then(|f| read_json::<Snapshot>(f));
        let known: HashMap<&str, &FileEntry> = previous
            .as_ref()
            .map(|s| s.files.iter().map(|f| (f.rel.as_str(), f)).collect())
            .unwrap_or_default();
        let racy_after = previous
            .as_ref()
            .map_or(0, |s| s.taken_ns.saturating_sub(RACY_SECS * 1_000_000_000));
        let listed = if folder {
            list_folder(path)?
        } else {
            vec![(String::new(), meta)]
        };
        let files = listed
            .into_par_iter()
            .map(|(rel, meta)| {
                let size = meta.len();
                let mtime_ns = mtime_ns(&meta);
                match known.get(rel.as_str()) {
                    Some(k)
                        if k.size == size && k.mtime_ns == mtime_ns && mtime_ns < racy_after =>
                    {
                        Ok((*k).clone())
                    }
                    _ => {
                        let file = if folder {
                            path.join(&rel)
                        } else {
                            path.to_path_buf()
                        };
                        Ok(FileEntry {
                            digest: hash_file(&file)?,
                            rel,
                            size,
                            mtime_ns,
                        })
                    }
                }
            })
            .collect::<io::Result<Vec<_>>>()?;
        let snap = Snapshot {
            folder,
            files,
            taken_ns,
        };
        self.store_snapshot(&snap, stat_file.as_deref());
        Ok(snap)
    }

    /// The stat-cache file of an input path (by its canonical path).
    fn stat_file(&self, path: &Path) -> Option<PathBuf> {
        let canonical = fs::canonicalize(path).ok()?;
        let h = blake3::hash(canonical.as_os_str().as_encoded_bytes());
        Some(
            self.store
                .join(format!("stat-{}.json", &hex(h.as_bytes())[..32])),
        )
    }

    /// Keep the snapshot (for explain) and the stat cache; best effort: a failure here only
    /// costs a rehash next time.
    fn store_snapshot(&self, snap: &Snapshot, stat_file: Option<&Path>) {
        if !self.write {
            return;
        }
        let json = serde_json::to_vec(snap).expect("snapshots always serialise");
        let snap_file = self
            .store
            .join(format!("snap-{}.json", hex(&snap.digest())));
        let result = fs::create_dir_all(&self.store).and_then(|()| {
            if !snap_file.exists() {
                write_atomic(&self.tmp, &snap_file, &json)?;
            }
            match stat_file {
                Some(f) => write_atomic(&self.tmp, f, &json),
                None => Ok(()),
            }
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not store an input snapshot (it is rehashed next time)");
        }
    }
}

/// Regular files under `root` (recursively, real directories only), with relative paths.
fn list_folder(root: &Path) -> io::Result<Vec<(String, fs::Metadata)>> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let ty = entry.file_type()?;
            if ty.is_dir() {
                stack.push((entry.path(), rel));
            } else if ty.is_file() {
                out.push((rel, entry.metadata()?));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn hash_file(path: &Path) -> io::Result<String> {
    let mut h = blake3::Hasher::new();
    h.update_reader(fs::File::open(path)?)?;
    Ok(hex(h.finalize().as_bytes()))
}

fn mtime_ns(meta: &fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digester() -> (tempfile::TempDir, Digester) {
        let cache = tempfile::tempdir().unwrap();
        fs::create_dir_all(cache.path().join("tmp")).unwrap();
        let d = Digester::new(cache.path(), true);
        (cache, d)
    }

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            let p = dir.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        dir
    }

    #[test]
    fn folder_digest_follows_content_not_times() {
        let dir = folder(&[("a/1.png", "x"), ("b/1.png", "y")]);
        let input = ExternalInput::new("root", dir.path());
        let (_c, d1) = digester();
        let first = d1.digest(&input);
        let (_c2, d2) = digester();
        assert_eq!(d2.digest(&input), first, "same files, same digest");
        fs::write(dir.path().join("c.png"), "z").unwrap();
        let (_c3, d3) = digester();
        assert_ne!(d3.digest(&input), first, "an added file changes the digest");
    }

    #[test]
    fn stat_cache_notices_a_same_size_rewrite() {
        let dir = folder(&[("a/1.png", "xx")]);
        let (cache, d) = digester();
        let before = d.snapshot(dir.path()).unwrap();
        // Same size, new content, written right after the snapshot (a racy timestamp).
        fs::write(dir.path().join("a/1.png"), "yy").unwrap();
        let again = Digester::new(cache.path(), true);
        let after = again.snapshot(dir.path()).unwrap();
        assert_ne!(before.digest(), after.digest());
        assert_eq!(describe_change(&before, &after), "1 file changed");
    }

    #[test]
    fn stored_snapshots_explain_changes() {
        let dir = folder(&[("a/1.png", "x")]);
        let (cache, d) = digester();
        let old = d.snapshot(dir.path()).unwrap();
        fs::write(dir.path().join("a/2.png"), "y").unwrap();
        fs::remove_file(dir.path().join("a/1.png")).unwrap();
        let d2 = Digester::new(cache.path(), true);
        let new = d2.snapshot(dir.path()).unwrap();
        let stored = d2.stored(&hex(&old.digest())).expect("old snapshot stored");
        assert_eq!(
            describe_change(&stored, &new),
            "1 file added, 1 file removed"
        );
    }

    #[test]
    fn read_only_digester_writes_nothing() {
        let dir = folder(&[("a/1.png", "x")]);
        let cache = tempfile::tempdir().unwrap();
        let d = Digester::new(cache.path(), false);
        d.snapshot(dir.path()).unwrap();
        assert!(!cache.path().join("inputs").exists());
    }

    #[test]
    fn single_file_and_missing_inputs() {
        let dir = folder(&[("pairs.txt", "1 2")]);
        let (_c, d) = digester();
        let file = ExternalInput::new("file", dir.path().join("pairs.txt"));
        let s = d.snapshot(&file.path).unwrap();
        assert!(!s.folder);
        assert_eq!(s.files.len(), 1);
        let missing = ExternalInput::new("file", dir.path().join("nope.txt"));
        assert!(d.snapshot(&missing.path).is_err());
        assert_ne!(d.digest(&missing), d.digest(&file));
    }
}
