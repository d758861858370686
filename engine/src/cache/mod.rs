//! The content-addressed cache (docs/design.md §4): blob files, action manifests (files +
//! sled index), the commit protocol, checkpoints, exclusive access, index rebuild and gc; and
//! a read-only view for commands that must not need the writer's lock ([`CacheView`]).
//!
//! Layout under the cache directory: `synface-cache.json` (the marker: format name and
//! version, see [`marker`]), `blobs/ab/cdef...`, `actions/<key-hex>.json`, `records/<run>.json`,
//! `last/<pipeline-hash>.json` (last key per stage and point), `index/` (sled),
//! `checkpoints/<key-hex>/`, `dropped/` (unusable manifests moved aside by a rebuild), `tmp/`,
//! `lock`. Blobs live as files, not in sled: see `bench/cache/` for the measurement behind
//! that.
//!
//! Safety rules: a directory that is neither new, empty, marked nor a pre-marker cache is
//! refused ([`CacheError::NotACache`]) and left untouched; only the cache's own temporary
//! names are removed from `tmp/`; gc and rebuild delete only files that are provably the
//! cache's (see `files.rs` and [`BlobStore::list`]).

mod blobs;
mod checkpoint;
mod commit;
mod files;
mod gc;
mod index;
mod last;
mod lock;
mod manifest;
pub mod marker;
mod shared;
mod view;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use blobs::{fsync_dir, hash, hex, parse_hex, write_atomic, BlobStore, Digest};
pub use checkpoint::{FileCheckpoints, KeyCheckpoints};
pub use gc::{GcOptions, GcReport};
pub use index::{InFlight, IndexError};
pub use manifest::{artifact_digest, digest_of, ActionManifest, OutputEntry, RunRecord, Timings};
pub use shared::SharedCache;
pub use view::{CacheRead, CacheView};

use crate::artifact::Artifact;
use index::Index;
use lock::CacheLock;
use marker::DirState;

/// Errors of the cache. [`CacheError::NotACache`] is a usage error (exit code 2, see
/// [`CacheError::is_usage`]); all others map to exit code 3.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(
        "{dir} is not a synface cache ({found}, and there is no {marker} marker); refusing to \
         use it, nothing there was touched. Choose another cache directory (--cache DIR or \
         SYNFACE_CACHE): a new or empty one, or an existing synface cache",
        marker = marker::MARKER
    )]
    NotACache { dir: PathBuf, found: String },
    #[error(
        "{dir} is a synface cache of format version {version}, newer than this synface reads \
         ({supported}): use a newer synface or another cache directory",
        supported = marker::VERSION
    )]
    NewerFormat { dir: PathBuf, version: u32 },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("cache {dir} is in use by {holder} (retry later, or pass --wait SECS)")]
    Busy { dir: PathBuf, holder: String },
    #[error("cache index: {0}")]
    Index(#[from] IndexError),
}

impl CacheError {
    /// Whether this is the user's mistake (a wrong cache directory): exit code 2, not 3.
    pub fn is_usage(&self) -> bool {
        matches!(self, CacheError::NotACache { .. })
    }

    pub fn io(path: &Path, source: io::Error) -> Self {
        CacheError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Counters of one cache session (printed in the run summary).
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub corrupt: AtomicU64,
    pub bytes_written: AtomicU64,
    pub bytes_read: AtomicU64,
}

/// A snapshot of [`CacheStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStatsSnapshot {
    pub hits: u64,
    pub misses: u64,
    pub corrupt: u64,
    pub bytes_written: u64,
    pub bytes_read: u64,
}

/// What `rebuild` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebuildReport {
    pub actions: usize,
    pub runs: usize,
    /// Manifest files that could not be parsed or reference missing blobs (moved aside to
    /// `dropped/`).
    pub dropped: usize,
}

/// An open cache directory, held exclusively by this process.
pub struct Cache {
    dir: PathBuf,
    blobs: BlobStore,
    index: Index,
    stats: Arc<CacheStats>,
    _lock: CacheLock,
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// This machine's host name (for in-flight records).
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

pub(crate) fn pid_alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Subdirectories every cache has (created at open).
const SUBDIRS: [&str; 6] = ["blobs", "actions", "records", "checkpoints", "last", "tmp"];

/// Remove the cache's own temporary files from `tmp/` (by their name, see
/// [`blobs::is_tmp_name`]); anything else there is left alone. The caller holds the lock, so
/// such files were left by a dead process.
fn clear_own_tmp(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let ours = e.file_type().is_ok_and(|t| t.is_file())
            && e.file_name().to_str().is_some_and(blobs::is_tmp_name);
        if ours {
            let _ = fs::remove_file(e.path());
        } else {
            tracing::debug!(file = %e.path().display(), "not a cache temporary file: left alone");
        }
    }
}

/// Open the sled index; one that fails to open (or panics) is recreated, and `true` says it
/// must be rebuilt from the files.
fn open_index(index_dir: &Path) -> Result<(Index, bool), CacheError> {
    // sled 0.34 may panic rather than return an error on a corrupt file.
    let opened = std::panic::catch_unwind(|| Index::open(index_dir))
        .unwrap_or_else(|_| Err(IndexError::Record("sled panicked while opening".into())));
    match opened {
        Ok(i) => Ok((i, false)),
        Err(e) => {
            tracing::warn!(error = %e, "cache index failed to open: rebuilding it from actions/");
            let _ = fs::remove_dir_all(index_dir);
            Ok((Index::open(index_dir)?, true))
        }
    }
}

impl Cache {
    /// Open (creating) the cache at `dir`, waiting up to `wait` for another process's lock.
    /// `dir` must not exist, be empty, hold the cache marker, or be a cache written before the
    /// marker existed (it gets one); anything else is refused with [`CacheError::NotACache`]
    /// before anything is written. A sled index that fails to open or disagrees with
    /// `actions/` is rebuilt (with a warning); in-flight records of dead processes are cleared.
    pub fn open(dir: &Path, wait: Duration) -> Result<Cache, CacheError> {
        let state = marker::inspect(dir)?;
        if state == DirState::Missing {
            fs::create_dir_all(dir).map_err(|e| CacheError::io(dir, e))?;
        }
        if state != DirState::Marked {
            marker::write(dir)?;
        }
        for sub in SUBDIRS {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(|e| CacheError::io(&p, e))?;
        }
        let lock = CacheLock::acquire(dir, wait)?;
        let tmp = dir.join("tmp");
        clear_own_tmp(&tmp);
        let (index, needs_rebuild) = open_index(&dir.join("index"))?;
        let cache = Cache {
            blobs: BlobStore::new(dir.join("blobs"), tmp),
            dir: dir.to_path_buf(),
            index,
            stats: Arc::new(CacheStats::default()),
            _lock: lock,
        };
        cache.check_index(needs_rebuild)?;
        if state == DirState::Legacy {
            cache.export_last_keys()?;
        }
        cache.clear_dead_inflight()?;
        Ok(cache)
    }

    /// Rebuild the index if told to, or if it disagrees with the manifest files.
    fn check_index(&self, mut needs_rebuild: bool) -> Result<(), CacheError> {
        let files = files::action_files(&self.dir)?.len();
        if !needs_rebuild && files != self.index.action_count() {
            tracing::warn!(
                index = self.index.action_count(),
                files,
                "cache index disagrees with actions/: rebuilding it"
            );
            needs_rebuild = true;
        }
        if needs_rebuild {
            self.rebuild()?;
        }
        Ok(())
    }

    /// Write the sled index's last keys as `last/` files (a cache from before those files).
    fn export_last_keys(&self) -> Result<(), CacheError> {
        let mut by_pipeline: std::collections::BTreeMap<String, Vec<(String, String, Digest)>> =
            Default::default();
        for (pipeline, stage, point, key) in self.index.lasts()? {
            by_pipeline
                .entry(pipeline)
                .or_default()
                .push((stage, point, key));
        }
        let tmp = self.dir.join("tmp");
        for (pipeline, entries) in &by_pipeline {
            let it = entries.iter().map(|(s, p, k)| (s.as_str(), p.as_str(), k));
            last::record(&self.dir, &tmp, pipeline, it)?;
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    pub fn stats(&self) -> CacheStatsSnapshot {
        let s = &self.stats;
        CacheStatsSnapshot {
            hits: s.hits.load(Ordering::Relaxed),
            misses: s.misses.load(Ordering::Relaxed),
            corrupt: s.corrupt.load(Ordering::Relaxed),
            bytes_written: s.bytes_written.load(Ordering::Relaxed),
            bytes_read: s.bytes_read.load(Ordering::Relaxed),
        }
    }

    fn clear_dead_inflight(&self) -> Result<(), CacheError> {
        let host = hostname();
        for (k, f) in self.index.inflight()? {
            if f.host != host || !pid_alive(f.pid) || f.pid == std::process::id() {
                tracing::debug!(pid = f.pid, stage = %f.stage, "clearing stale in-flight record");
                self.index.remove_inflight_raw(&k)?;
            }
        }
        Ok(())
    }

    fn action_file(&self, key: &Digest) -> PathBuf {
        files::action_path(&self.dir, key)
    }

    /// The manifest recorded for `key`, without touching blobs (`plan`, `show`).
    pub fn manifest(&self, key: &Digest) -> Result<Option<ActionManifest>, CacheError> {
        Ok(self.index.action(key)?)
    }

    /// Whether the manifest file of `key` exists, parses and agrees with the index entry `m`
    /// (same key, stage, kind, components, outputs and artifact digest).
    fn manifest_file_agrees(&self, key: &Digest, m: &ActionManifest) -> Result<bool, CacheError> {
        Ok(match files::read_action(&self.dir, key)? {
            files::ManifestFile::Parsed(f) => {
                f.key == m.key
                    && f.stage == m.stage
                    && f.kind == m.kind
                    && f.components == m.components
                    && f.outputs == m.outputs
                    && f.artifact_digest == m.artifact_digest
            }
            files::ManifestFile::Missing | files::ManifestFile::Unusable => false,
        })
    }

    /// A verified hit: the manifest of `key` if its manifest file agrees with the index and
    /// every blob it lists exists and matches its digest. A missing, truncated or corrupt
    /// manifest file (the index entry is dropped) or blob is a miss counted as corrupt, with a
    /// warning: never a wrong result.
    pub fn lookup(&self, key: &Digest) -> Result<Option<ActionManifest>, CacheError> {
        let Some(m) = self.index.action(key)? else {
            self.stats.misses.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        };
        if !self.manifest_file_agrees(key, &m)? {
            tracing::warn!(
                stage = %m.stage,
                file = %self.action_file(key).display(),
                "action manifest missing, corrupt or disagreeing with the index: recomputing"
            );
            self.index.remove_action(key)?;
            self.stats.corrupt.fetch_add(1, Ordering::Relaxed);
            self.stats.misses.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        let ok = match m.blob_digests() {
            Some(ds) => {
                let mut ok = true;
                for (d, size) in ds {
                    let good = self.blobs.has(&d, size)
                        && self
                            .blobs
                            .verify(&d)
                            .map_err(|e| CacheError::io(&self.blobs.path(&d), e))?;
                    if !good {
                        tracing::warn!(stage = %m.stage, blob = %hex(&d), "cached blob missing or corrupt: recomputing");
                        self.blobs
                            .remove(&d)
                            .map_err(|e| CacheError::io(&self.blobs.path(&d), e))?;
                        ok = false;
                        break;
                    }
                    self.stats.bytes_read.fetch_add(size, Ordering::Relaxed);
                }
                ok
            }
            None => false,
        };
        if ok {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            Ok(Some(m))
        } else {
            self.stats.corrupt.fetch_add(1, Ordering::Relaxed);
            self.stats.misses.fetch_add(1, Ordering::Relaxed);
            Ok(None)
        }
    }

    /// Load the artifact of a manifest, verifying every blob. `Ok(None)` if any is missing
    /// or corrupt.
    pub fn load(&self, m: &ActionManifest) -> Result<Option<Artifact>, CacheError> {
        commit::assemble(m, |o| self.load_output(o))
    }

    /// The verified bytes of one output of a manifest.
    pub fn load_output(&self, o: &OutputEntry) -> Result<Option<Vec<u8>>, CacheError> {
        let Some(d) = parse_hex(&o.digest) else {
            return Ok(None);
        };
        let bytes = self
            .blobs
            .get(&d)
            .map_err(|e| CacheError::io(&self.blobs.path(&d), e))?;
        if let Some(b) = &bytes {
            self.stats
                .bytes_read
                .fetch_add(b.len() as u64, Ordering::Relaxed);
        }
        Ok(bytes)
    }

    /// Commit an artifact under `key`: blobs (fsynced, renamed into place), then the manifest
    /// file, then one sled transaction, then flush. Drops the key's checkpoint.
    pub fn commit(
        &self,
        key: &Digest,
        stage: &str,
        kind: &str,
        components: serde_json::Value,
        artifact: &Artifact,
        run_secs: f64,
    ) -> Result<ActionManifest, CacheError> {
        let (m, written) = commit::write_action(
            &self.dir,
            &self.blobs,
            &self.dir.join("tmp"),
            commit::Commit {
                key,
                stage,
                kind,
                components,
                artifact,
                run_secs,
            },
        )?;
        self.stats
            .bytes_written
            .fetch_add(written, Ordering::Relaxed);
        self.index.commit_action(key, &m)?;
        commit::drop_checkpoint(&self.dir, key)?;
        Ok(m)
    }

    /// Index an action a worker process committed into the shared cache (Slurm executor,
    /// docs/design.md §5): its manifest file must parse and every blob it lists must verify.
    /// Returns the manifest, or `None` when the entry is missing or not whole.
    pub fn adopt(&self, key: &Digest) -> Result<Option<ActionManifest>, CacheError> {
        let Some(m) = commit::whole_manifest(&self.dir, &self.blobs, key, true)? else {
            return Ok(None);
        };
        self.stats
            .bytes_written
            .fetch_add(m.total_size(), Ordering::Relaxed);
        self.index.commit_action(key, &m)?;
        commit::drop_checkpoint(&self.dir, key)?;
        Ok(Some(m))
    }

    /// The checkpoint store of one key.
    pub fn checkpoints(&self, key: Digest) -> KeyCheckpoints<'_> {
        KeyCheckpoints { cache: self, key }
    }

    /// The latest checkpoint step recorded for `key`, if any: the index's, else the step in
    /// the checkpoint file's header (a Slurm worker saves checkpoints without the index).
    pub fn checkpoint_step(&self, key: &Digest) -> Result<Option<u64>, CacheError> {
        match self.index.checkpoint(key)? {
            Some(s) => Ok(Some(s)),
            None => Ok(checkpoint::file_step(&self.dir, key)),
        }
    }

    /// Record that this process is computing `key`.
    pub fn begin(&self, key: &Digest, stage: &str) -> Result<(), CacheError> {
        let f = InFlight {
            pid: std::process::id(),
            host: hostname(),
            start: now_secs(),
            stage: stage.into(),
        };
        Ok(self.index.set_inflight(key, &f)?)
    }

    /// Clear the in-flight record of `key` (failed or cancelled; commit clears it itself).
    pub fn end(&self, key: &Digest) -> Result<(), CacheError> {
        Ok(self.index.clear_inflight(key)?)
    }

    pub fn inflight(&self) -> Result<Vec<InFlight>, CacheError> {
        Ok(self.index.inflight()?.into_iter().map(|(_, f)| f).collect())
    }

    /// Record a run (file under `records/` and index entry) and the last key per
    /// (pipeline, stage, point) (a `last/` file and the index); then flush.
    pub fn record_run(
        &self,
        record: &RunRecord,
        last: &[(String, String, Digest)],
    ) -> Result<(), CacheError> {
        let file = self.dir.join("records").join(record.file_name());
        let json = serde_json::to_vec_pretty(record).expect("run records always serialise");
        write_atomic(&self.dir.join("tmp"), &file, &json).map_err(|e| CacheError::io(&file, e))?;
        let entries = last.iter().map(|(s, p, k)| (s.as_str(), p.as_str(), k));
        last::record(&self.dir, &self.dir.join("tmp"), &record.pipeline, entries)?;
        self.index.put_run(record)?;
        for (stage, point, key) in last {
            self.index.set_last(&record.pipeline, stage, point, key)?;
        }
        Ok(self.index.flush()?)
    }

    /// The key last used for (pipeline, stage, point), if any: the index's, else the
    /// `last/` file's.
    pub fn last_key(
        &self,
        pipeline: &str,
        stage: &str,
        point: &str,
    ) -> Result<Option<Digest>, CacheError> {
        match self.index.last(pipeline, stage, point)? {
            Some(k) => Ok(Some(k)),
            None => last::read(&self.dir, pipeline, stage, point),
        }
    }

    pub fn runs(&self) -> Result<Vec<RunRecord>, CacheError> {
        Ok(self.index.runs()?)
    }

    /// Rebuild the action index and run records from `actions/` and `records/`. Only files
    /// named after a key (`<key-hex>.json`) are considered: one that does not parse, names
    /// another key or lists a missing blob is moved aside to `dropped/`, never deleted; any
    /// other file under `actions/` is left alone.
    pub fn rebuild(&self) -> Result<RebuildReport, CacheError> {
        let mut report = RebuildReport::default();
        self.index.clear_actions()?;
        for (p, k) in files::action_files(&self.dir)? {
            match self.usable_manifest(&k)? {
                Some(m) => {
                    self.index.insert_action(&k, &m)?;
                    report.actions += 1;
                }
                None => {
                    self.move_aside(&p)?;
                    report.dropped += 1;
                }
            }
        }
        for r in files::records(&self.dir)? {
            self.index.put_run(&r)?;
            report.runs += 1;
        }
        self.index.flush()?;
        Ok(report)
    }

    /// The manifest file of `key` if it parses and every blob it lists is present.
    fn usable_manifest(&self, key: &Digest) -> Result<Option<ActionManifest>, CacheError> {
        let files::ManifestFile::Parsed(m) = files::read_action(&self.dir, key)? else {
            return Ok(None);
        };
        let whole = m
            .blob_digests()
            .is_some_and(|ds| ds.iter().all(|(d, s)| self.blobs.has(d, *s)));
        Ok(whole.then_some(*m))
    }

    /// Move an unusable manifest file to `dropped/<time>-<name>` (kept for inspection).
    fn move_aside(&self, p: &Path) -> Result<(), CacheError> {
        let dropped = self.dir.join("dropped");
        fs::create_dir_all(&dropped).map_err(|e| CacheError::io(&dropped, e))?;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let dest = dropped.join(format!("{}-{name}", now_ns()));
        tracing::warn!(file = %p.display(), to = %dest.display(), "unusable action manifest moved aside");
        fs::rename(p, &dest).map_err(|e| CacheError::io(p, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(x: &str) -> Artifact {
        let mut a = Artifact::new();
        a.add("data.bin", x.as_bytes().to_vec());
        a.set_metrics(&serde_json::json!({"accuracy": 0.5}));
        a
    }

    #[test]
    fn commit_then_lookup_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), Duration::ZERO).unwrap();
        let key = [1u8; 32];
        assert!(cache.lookup(&key).unwrap().is_none());
        let a = artifact("abc");
        let m = cache
            .commit(&key, "s", "k", serde_json::json!({}), &a, 0.1)
            .unwrap();
        assert_eq!(m.artifact_digest, hex(&digest_of(&a)));
        assert_eq!(m.metrics, Some(serde_json::json!({"accuracy": 0.5})));
        let hit = cache.lookup(&key).unwrap().unwrap();
        assert_eq!(hit, m);
        assert_eq!(cache.load(&hit).unwrap().unwrap(), a);
        assert_eq!(cache.stats().hits, 1);
    }

    #[test]
    fn corrupt_blob_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), Duration::ZERO).unwrap();
        let key = [2u8; 32];
        let m = cache
            .commit(&key, "s", "k", serde_json::json!({}), &artifact("abc"), 0.0)
            .unwrap();
        let d = parse_hex(&m.outputs[0].digest).unwrap();
        fs::write(cache.blobs().path(&d), b"xyz").unwrap();
        assert!(cache.lookup(&key).unwrap().is_none());
        assert_eq!(cache.stats().corrupt, 1);
    }

    #[test]
    fn deleted_index_is_rebuilt_from_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let key = [4u8; 32];
        {
            let cache = Cache::open(dir.path(), Duration::ZERO).unwrap();
            cache
                .commit(&key, "s", "k", serde_json::json!({}), &artifact("abc"), 0.0)
                .unwrap();
            let r = RunRecord {
                pipeline: "p".into(),
                time_ns: 1,
                keys: vec![hex(&key)],
            };
            cache.record_run(&r, &[]).unwrap();
        }
        fs::remove_dir_all(dir.path().join("index")).unwrap();
        let cache = Cache::open(dir.path(), Duration::ZERO).unwrap();
        assert!(cache.lookup(&key).unwrap().is_some());
        assert_eq!(cache.runs().unwrap().len(), 1);
    }

    #[test]
    fn garbage_index_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let key = [5u8; 32];
        {
            let cache = Cache::open(dir.path(), Duration::ZERO).unwrap();
            cache
                .commit(&key, "s", "k", serde_json::json!({}), &artifact("abc"), 0.0)
                .unwrap();
        }
        let idx = dir.path().join("index");
        for e in fs::read_dir(&idx).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                fs::write(&p, vec![0xAB; 4096]).unwrap();
            }
        }
        let cache = Cache::open(dir.path(), Duration::ZERO).unwrap();
        assert!(cache.lookup(&key).unwrap().is_some());
    }

    #[test]
    fn second_open_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let _c = Cache::open(dir.path(), Duration::ZERO).unwrap();
        let err = Cache::open(dir.path(), Duration::ZERO).err().unwrap();
        assert!(matches!(err, CacheError::Busy { .. }), "{err}");
        assert!(err
            .to_string()
            .contains(&format!("pid {}", std::process::id())));
    }

    #[test]
    fn dead_inflight_records_are_cleared_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let cache = Cache::open(dir.path(), Duration::ZERO).unwrap();
            cache.begin(&[6u8; 32], "s").unwrap();
            assert_eq!(cache.inflight().unwrap().len(), 1);
            cache.index.flush().unwrap();
        }
        let cache = Cache::open(dir.path(), Duration::ZERO).unwrap();
        assert!(cache.inflight().unwrap().is_empty());
    }
}
