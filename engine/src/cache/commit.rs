//! Writing a committed action's files (docs/design.md §4 "Commit" steps 1–2): every output as a
//! blob (temporary file, fsync, rename), then `actions/<key>.json` atomically. Shared by the
//! coordinator's [`super::Cache::commit`] (which then indexes the action in sled) and a Slurm
//! worker's [`super::SharedCache::commit`] (which never opens sled: the coordinator indexes
//! what it committed). Two processes committing one key both succeed: blobs are content
//! addressed and each manifest rename replaces the other with an equally valid one.

use std::path::Path;
use std::time::Instant;

use super::blobs::{hex, write_atomic, BlobStore, Digest};
use super::manifest::{artifact_digest, ActionManifest, OutputEntry, Timings};
use super::{files, now_secs, CacheError};
use crate::artifact::Artifact;

/// What the stage instance was and produced.
pub(crate) struct Commit<'a> {
    pub key: &'a Digest,
    pub stage: &'a str,
    pub kind: &'a str,
    pub components: serde_json::Value,
    pub artifact: &'a Artifact,
    pub run_secs: f64,
}

/// Write the blobs and the manifest file of `c` into the cache at `dir` (temporary files in
/// `tmp`); returns the manifest and the bytes written.
pub(crate) fn write_action(
    dir: &Path,
    blobs: &BlobStore,
    tmp: &Path,
    c: Commit<'_>,
) -> Result<(ActionManifest, u64), CacheError> {
    let start = Instant::now();
    let mut outputs = Vec::with_capacity(c.artifact.files.len());
    let mut digests = Vec::with_capacity(c.artifact.files.len());
    let mut written = 0;
    for (name, bytes) in &c.artifact.files {
        let d = blobs
            .put(bytes)
            .map_err(|e| CacheError::io(&dir.join("blobs"), e))?;
        written += bytes.len() as u64;
        digests.push((name.as_str(), d));
        outputs.push(OutputEntry {
            name: name.clone(),
            digest: hex(&d),
            size: bytes.len() as u64,
            published: c.artifact.published.contains(name),
        });
    }
    let m = ActionManifest {
        key: hex(c.key),
        stage: c.stage.to_string(),
        kind: c.kind.to_string(),
        components: c.components,
        outputs,
        artifact_digest: hex(&artifact_digest(digests.iter().map(|(n, d)| (*n, d)))),
        metrics: c.artifact.metrics(),
        timings: Timings {
            run_secs: c.run_secs,
            commit_secs: start.elapsed().as_secs_f64(),
        },
        created: now_secs(),
    };
    let file = files::action_path(dir, c.key);
    let json = serde_json::to_vec_pretty(&m).expect("manifests always serialise");
    write_atomic(tmp, &file, &json).map_err(|e| CacheError::io(&file, e))?;
    Ok((m, written))
}

/// Remove the checkpoint directory of `key` (after its commit); a missing one is fine.
pub(crate) fn drop_checkpoint(dir: &Path, key: &Digest) -> Result<(), CacheError> {
    use std::io::ErrorKind::{DirectoryNotEmpty, NotFound};
    let ck = dir.join("checkpoints").join(hex(key));
    match std::fs::remove_dir_all(&ck) {
        // gone already, or refilled by a worker saving a checkpoint of the same key meanwhile
        // (its own commit, or gc, removes that one): the entry is committed either way
        Err(e) if e.kind() == NotFound || e.kind() == DirectoryNotEmpty => Ok(()),
        Err(e) => Err(CacheError::io(&ck, e)),
        Ok(()) => Ok(()),
    }
}

/// The manifest file of `key` if it parses and every blob it lists is present at its size
/// and, when `verify`, re-hashes to its digest.
pub(crate) fn whole_manifest(
    dir: &Path,
    blobs: &BlobStore,
    key: &Digest,
    verify: bool,
) -> Result<Option<ActionManifest>, CacheError> {
    let files::ManifestFile::Parsed(m) = files::read_action(dir, key)? else {
        return Ok(None);
    };
    let Some(ds) = m.blob_digests() else {
        return Ok(None);
    };
    for (d, size) in ds {
        let ok = blobs.has(&d, size)
            && (!verify
                || blobs
                    .verify(&d)
                    .map_err(|e| CacheError::io(&blobs.path(&d), e))?);
        if !ok {
            return Ok(None);
        }
    }
    Ok(Some(*m))
}

/// The artifact of manifest `m` from its outputs' bytes as `load_output` reads and verifies
/// them (`None` if any is missing or corrupt); shared by [`super::Cache`] and
/// [`super::shared::SharedCache`].
pub(crate) fn assemble(
    m: &ActionManifest,
    mut load_output: impl FnMut(&OutputEntry) -> Result<Option<Vec<u8>>, CacheError>,
) -> Result<Option<Artifact>, CacheError> {
    let mut a = Artifact::new();
    for o in &m.outputs {
        let Some(bytes) = load_output(o)? else {
            return Ok(None);
        };
        if o.published {
            a.publish(o.name.clone(), bytes);
        } else {
            a.add(o.name.clone(), bytes);
        }
    }
    Ok(Some(a))
}
