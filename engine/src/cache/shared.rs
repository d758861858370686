//! The cache as a Slurm worker sees it (docs/design.md §4 "Shared cache"): the same files,
//! without the lock and without sled. A worker reads input blobs and manifest files, saves
//! checkpoints as files ([`FileCheckpoints`]) and commits with the same write-to-temp, fsync,
//! rename steps as the coordinator; the coordinator alone indexes what it committed
//! ([`super::Cache::adopt`]). Temporary files go to a directory of this process under `tmp/`
//! (`tmp/w-<host>-<pid>-<time>/`), so workers on many hosts never share a temporary name and a
//! coordinator clearing `tmp/` at open never removes a live worker's file.

use std::fs;
use std::path::{Path, PathBuf};

use super::blobs::{BlobStore, Digest};
use super::checkpoint::FileCheckpoints;
use super::commit::{self, Commit};
use super::manifest::{ActionManifest, OutputEntry};
use super::marker::{self, DirState};
use super::{hostname, now_ns, CacheError};
use crate::artifact::Artifact;

/// A synface cache opened by a worker: no lock, no index.
pub struct SharedCache {
    dir: PathBuf,
    tmp: PathBuf,
    blobs: BlobStore,
}

impl SharedCache {
    /// Open the existing cache at `dir` (it must hold the marker: the coordinator created it).
    pub fn open(dir: &Path) -> Result<SharedCache, CacheError> {
        if marker::inspect(dir)? != DirState::Marked {
            return Err(CacheError::NotACache {
                dir: dir.to_path_buf(),
                found: "no cache made by a coordinator".into(),
            });
        }
        let host: String = hostname()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let name = format!("w-{host}-{}-{}", std::process::id(), now_ns());
        let tmp = dir.join("tmp").join(name);
        fs::create_dir_all(&tmp).map_err(|e| CacheError::io(&tmp, e))?;
        Ok(SharedCache {
            dir: dir.to_path_buf(),
            blobs: BlobStore::new(dir.join("blobs"), tmp.clone()),
            tmp,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This worker's temporary directory.
    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// The manifest of `key` if it is committed and whole (blobs present at their sizes).
    pub fn committed(&self, key: &Digest) -> Result<Option<ActionManifest>, CacheError> {
        commit::whole_manifest(&self.dir, &self.blobs, key, false)
    }

    /// Load the artifact of a manifest, verifying every blob (`None` if one is missing or
    /// corrupt).
    pub fn load(&self, m: &ActionManifest) -> Result<Option<Artifact>, CacheError> {
        commit::assemble(m, |o| self.load_output(o))
    }

    fn load_output(&self, o: &OutputEntry) -> Result<Option<Vec<u8>>, CacheError> {
        let Some(d) = super::parse_hex(&o.digest) else {
            return Ok(None);
        };
        self.blobs
            .get(&d)
            .map_err(|e| CacheError::io(&self.blobs.path(&d), e))
    }

    /// The checkpoint store of `key` (files only).
    pub fn checkpoints(&self, key: Digest) -> FileCheckpoints {
        FileCheckpoints {
            dir: self.dir.clone(),
            tmp: self.tmp.clone(),
            key,
        }
    }

    /// Commit an artifact under `key`: blobs, then the manifest file, then drop the key's
    /// checkpoint. No index: the coordinator indexes it when it learns of the commit.
    pub fn commit(
        &self,
        key: &Digest,
        stage: &str,
        kind: &str,
        components: serde_json::Value,
        artifact: &Artifact,
        run_secs: f64,
    ) -> Result<ActionManifest, CacheError> {
        let c = Commit {
            key,
            stage,
            kind,
            components,
            artifact,
            run_secs,
        };
        let (m, _) = commit::write_action(&self.dir, &self.blobs, &self.tmp, c)?;
        commit::drop_checkpoint(&self.dir, key)?;
        Ok(m)
    }
}

impl Drop for SharedCache {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::artifact::CheckpointStore;
    use crate::cache::Cache;

    fn artifact() -> Artifact {
        let mut a = Artifact::new();
        a.add("data.bin", b"worker".to_vec());
        a.set_metrics(&serde_json::json!({"ok": true}));
        a
    }

    /// Workers computing the same key (a requeued job and its original, say) save checkpoints
    /// while another commits and drops the checkpoint folder: neither may fail for it.
    #[test]
    fn racing_workers_commit_one_valid_entry_the_coordinator_adopts() {
        let dir = tempfile::tempdir().unwrap();
        drop(Cache::open(dir.path(), Duration::ZERO).unwrap());
        let key = [9u8; 32];
        let a = artifact();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let w = SharedCache::open(dir.path()).unwrap();
                    for step in 0..25 {
                        w.checkpoints(key).save(step, b"x").unwrap();
                        w.commit(&key, "s", "k", serde_json::json!({}), &a, 0.0)
                            .unwrap();
                    }
                });
            }
        });
        let w = SharedCache::open(dir.path()).unwrap();
        let m = w.committed(&key).unwrap().expect("one whole entry");
        assert_eq!(w.load(&m).unwrap().unwrap(), a);
        let cache = Cache::open(dir.path(), Duration::ZERO).unwrap();
        let adopted = cache.adopt(&key).unwrap().expect("adopted");
        assert_eq!(adopted.artifact_digest, m.artifact_digest);
        assert!(cache.lookup(&key).unwrap().is_some());
        assert!(!dir
            .path()
            .join("checkpoints")
            .join(super::super::hex(&key))
            .exists());
    }

    #[test]
    fn a_folder_without_the_marker_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        assert!(matches!(
            SharedCache::open(dir.path()),
            Err(CacheError::NotACache { .. })
        ));
    }
}
