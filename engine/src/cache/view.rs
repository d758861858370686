//! Reading a cache without the writer's lock. [`CacheRead`] is what read-only commands need
//! (`plan`, the scheduler's preview, `gc --dry-run`); [`Cache`] implements it from its sled
//! index, and [`CacheView`] from the files alone (`actions/*.json`, `records/*.json`,
//! `last/*.json`, `blobs/`), so it works while a run holds the cache. sled 0.34 cannot be
//! opened by two processes, and a view never opens it: it takes no lock, creates no
//! directory, and writes or deletes nothing.

use std::path::{Path, PathBuf};

use super::blobs::{BlobStore, Digest};
use super::files::{self, ManifestFile};
use super::manifest::{ActionManifest, RunRecord};
use super::{last, marker, Cache, CacheError};

/// What a read-only command reads from a cache.
pub trait CacheRead {
    /// The cache directory.
    fn dir(&self) -> &Path;
    /// The manifest recorded for `key` (blobs are not checked).
    fn manifest(&self, key: &Digest) -> Result<Option<ActionManifest>, CacheError>;
    /// The key last used for (pipeline, stage, point), if any.
    fn last_key(
        &self,
        pipeline: &str,
        stage: &str,
        point: &str,
    ) -> Result<Option<Digest>, CacheError>;
    /// Every run record, by pipeline then time.
    fn runs(&self) -> Result<Vec<RunRecord>, CacheError>;
}

/// A read-only view of a cache directory, from its files (see the module doc). The directory
/// need not exist: a missing one reads as an empty cache.
#[derive(Debug, Clone)]
pub struct CacheView {
    dir: PathBuf,
    blobs: BlobStore,
}

impl CacheView {
    /// A view of the cache at `dir`; refuses a directory that is not a synface cache
    /// ([`CacheError::NotACache`]), exactly as [`Cache::open`] would, but writes nothing.
    pub fn open(dir: &Path) -> Result<CacheView, CacheError> {
        marker::inspect(dir)?;
        Ok(CacheView {
            dir: dir.to_path_buf(),
            blobs: BlobStore::new(dir.join("blobs"), dir.join("tmp")),
        })
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }
}

impl CacheRead for CacheView {
    fn dir(&self) -> &Path {
        &self.dir
    }

    fn manifest(&self, key: &Digest) -> Result<Option<ActionManifest>, CacheError> {
        Ok(match files::read_action(&self.dir, key)? {
            ManifestFile::Parsed(m) => Some(*m),
            ManifestFile::Missing | ManifestFile::Unusable => None,
        })
    }

    fn last_key(
        &self,
        pipeline: &str,
        stage: &str,
        point: &str,
    ) -> Result<Option<Digest>, CacheError> {
        last::read(&self.dir, pipeline, stage, point)
    }

    fn runs(&self) -> Result<Vec<RunRecord>, CacheError> {
        files::records(&self.dir)
    }
}

impl CacheRead for Cache {
    fn dir(&self) -> &Path {
        Cache::dir(self)
    }

    fn manifest(&self, key: &Digest) -> Result<Option<ActionManifest>, CacheError> {
        Cache::manifest(self, key)
    }

    fn last_key(
        &self,
        pipeline: &str,
        stage: &str,
        point: &str,
    ) -> Result<Option<Digest>, CacheError> {
        Cache::last_key(self, pipeline, stage, point)
    }

    fn runs(&self) -> Result<Vec<RunRecord>, CacheError> {
        Cache::runs(self)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::artifact::Artifact;

    fn tree(dir: &Path) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let m = e.metadata().unwrap();
                if m.is_dir() {
                    stack.push(e.path());
                }
                out.push((e.path(), m.len()));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn view_reads_what_a_locked_cache_holds_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), Duration::ZERO).unwrap();
        let key = [9u8; 32];
        let mut a = Artifact::new();
        a.add("x", b"abc".to_vec());
        let m = cache
            .commit(&key, "s", "k", serde_json::json!({}), &a, 0.0)
            .unwrap();
        let r = RunRecord {
            pipeline: "p".into(),
            time_ns: 3,
            keys: vec![m.key.clone()],
        };
        cache
            .record_run(&r, &[("s".into(), "pt".into(), key)])
            .unwrap();
        let before = tree(dir.path());
        let view = CacheView::open(dir.path()).unwrap();
        assert_eq!(CacheRead::manifest(&view, &key).unwrap(), Some(m));
        assert_eq!(CacheRead::manifest(&view, &[1u8; 32]).unwrap(), None);
        assert_eq!(view.last_key("p", "s", "pt").unwrap(), Some(key));
        assert_eq!(CacheRead::runs(&view).unwrap(), vec![r]);
        assert_eq!(tree(dir.path()), before);
    }

    #[test]
    fn view_of_a_missing_directory_is_empty_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let view = CacheView::open(&missing).unwrap();
        assert_eq!(CacheRead::manifest(&view, &[1u8; 32]).unwrap(), None);
        assert!(CacheRead::runs(&view).unwrap().is_empty());
        assert!(!missing.exists());
    }
}
