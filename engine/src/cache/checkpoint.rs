//! Per-key checkpoint files (`checkpoints/<key-hex>/ckpt`): replaced atomically on each save,
//! verified on load, indexed in sled by the coordinator (not by Slurm workers, which use
//! [`FileCheckpoints`]), deleted when the stage commits.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::blobs::{hex, write_atomic, Digest};
use super::Cache;
use crate::artifact::{CheckpointStore, StageError};

const MAGIC: &[u8; 8] = b"SFCKPT01";
const HEADER: usize = 8 + 8 + 32;

/// `checkpoints/<key-hex>/ckpt` under the cache at `dir`.
fn ckpt_file(dir: &Path, key: &Digest) -> PathBuf {
    dir.join("checkpoints").join(hex(key)).join("ckpt")
}

fn io_err(e: io::Error) -> StageError {
    StageError::Io(e)
}

/// Replace the checkpoint of `key` with `(step, bytes)` (temporary file in `tmp`, fsync, rename).
/// A worker computing the same key may commit meanwhile and remove the checkpoint folder
/// ([`super::commit::drop_checkpoint`]) while this save makes it (`create_dir_all` then reports
/// `AlreadyExists` for a folder that is gone) or before the rename (`NotFound`): the save then
/// makes the folder again, a few times at most, and a checkpoint it leaves behind is dropped
/// by its own stage's commit or by gc.
fn save_file(dir: &Path, tmp: &Path, key: &Digest, step: u64, bytes: &[u8]) -> io::Result<()> {
    let file = ckpt_file(dir, key);
    let mut buf = Vec::with_capacity(HEADER + bytes.len());
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&step.to_le_bytes());
    buf.extend_from_slice(blake3::hash(bytes).as_bytes());
    buf.extend_from_slice(bytes);
    let mut attempt = 0;
    loop {
        let saved = fs::create_dir_all(file.parent().expect("checkpoint file has a parent"))
            .and_then(|()| write_atomic(tmp, &file, &buf));
        match saved {
            Err(e) if folder_vanished(&e) && attempt < SAVE_ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}

/// Whether an error of [`save_file`] is the checkpoint folder being removed under it.
fn folder_vanished(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::AlreadyExists
    )
}

/// Retries of a checkpoint save whose folder was removed under it (see [`save_file`]).
const SAVE_ATTEMPTS: usize = 8;

/// The verified checkpoint of `key`; a malformed one or a digest mismatch is ignored.
fn load_file(dir: &Path, key: &Digest) -> io::Result<Option<(u64, Vec<u8>)>> {
    let buf = match fs::read(ckpt_file(dir, key)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if buf.len() < HEADER || &buf[..8] != MAGIC {
        tracing::warn!(key = %hex(key), "malformed checkpoint ignored");
        return Ok(None);
    }
    let step = u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes"));
    let data = &buf[HEADER..];
    if blake3::hash(data).as_bytes() != &buf[16..48] {
        tracing::warn!(key = %hex(key), "checkpoint digest mismatch: ignored");
        return Ok(None);
    }
    Ok(Some((step, data.to_vec())))
}

/// The step in the header of `key`'s checkpoint file, without reading its payload.
pub(super) fn file_step(dir: &Path, key: &Digest) -> Option<u64> {
    use std::io::Read;
    let mut head = [0u8; 16];
    fs::File::open(ckpt_file(dir, key))
        .and_then(|mut f| f.read_exact(&mut head))
        .ok()?;
    (&head[..8] == MAGIC).then(|| u64::from_le_bytes(head[8..16].try_into().expect("8 bytes")))
}

/// The [`CheckpointStore`] of one stage instance (one cache key), indexed in sled.
pub struct KeyCheckpoints<'a> {
    pub(super) cache: &'a Cache,
    pub(super) key: Digest,
}

impl CheckpointStore for KeyCheckpoints<'_> {
    fn save(&self, step: u64, bytes: &[u8]) -> Result<(), StageError> {
        let dir = self.cache.dir();
        save_file(dir, &dir.join("tmp"), &self.key, step, bytes).map_err(io_err)?;
        self.cache
            .index
            .set_checkpoint(&self.key, step)
            .map_err(|e| StageError::msg(format!("checkpoint index: {e}")))
    }

    fn load(&self) -> Result<Option<(u64, Vec<u8>)>, StageError> {
        load_file(self.cache.dir(), &self.key).map_err(io_err)
    }
}

/// The [`CheckpointStore`] of a Slurm worker: the same files, no index (workers never open
/// sled), so a requeued or resubmitted job resumes from what an earlier one saved.
pub struct FileCheckpoints {
    pub(super) dir: PathBuf,
    pub(super) tmp: PathBuf,
    pub(super) key: Digest,
}

impl CheckpointStore for FileCheckpoints {
    fn save(&self, step: u64, bytes: &[u8]) -> Result<(), StageError> {
        save_file(&self.dir, &self.tmp, &self.key, step, bytes).map_err(io_err)
    }

    fn load(&self) -> Result<Option<(u64, Vec<u8>)>, StageError> {
        load_file(&self.dir, &self.key).map_err(io_err)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn save_load_replace_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), Duration::ZERO).unwrap();
        let key = [3u8; 32];
        let ck = cache.checkpoints(key);
        assert_eq!(ck.load().unwrap(), None);
        ck.save(1, b"one").unwrap();
        ck.save(2, b"two").unwrap();
        assert_eq!(ck.load().unwrap(), Some((2, b"two".to_vec())));
        assert_eq!(cache.index.checkpoint(&key).unwrap(), Some(2));
        let f = ckpt_file(dir.path(), &key);
        assert_eq!(file_step(dir.path(), &key), Some(2));
        let mut bytes = fs::read(&f).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&f, bytes).unwrap();
        assert_eq!(ck.load().unwrap(), None);
    }
}
