//! Per-key checkpoint files (`checkpoints/<key-hex>/ckpt`): replaced atomically on each save,
//! verified on load, indexed in sled, deleted when the stage commits.

use std::fs;
use std::io;

use super::blobs::{hex, write_atomic, Digest};
use super::Cache;
use crate::stage::{CheckpointStore, StageError};

const MAGIC: &[u8; 8] = b"SFCKPT01";
const HEADER: usize = 8 + 8 + 32;

/// The [`CheckpointStore`] of one stage instance (one cache key).
pub struct KeyCheckpoints<'a> {
    pub(super) cache: &'a Cache,
    pub(super) key: Digest,
}

impl KeyCheckpoints<'_> {
    fn file(&self) -> std::path::PathBuf {
        self.cache
            .dir()
            .join("checkpoints")
            .join(hex(&self.key))
            .join("ckpt")
    }
}

fn io_err(e: io::Error) -> StageError {
    StageError::Io(e)
}

impl CheckpointStore for KeyCheckpoints<'_> {
    fn save(&self, step: u64, bytes: &[u8]) -> Result<(), StageError> {
        let file = self.file();
        let dir = file.parent().expect("checkpoint file has a parent");
        fs::create_dir_all(dir).map_err(io_err)?;
        let mut buf = Vec::with_capacity(HEADER + bytes.len());
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&step.to_le_bytes());
        buf.extend_from_slice(blake3::hash(bytes).as_bytes());
        buf.extend_from_slice(bytes);
        write_atomic(&self.cache.dir().join("tmp"), &file, &buf).map_err(io_err)?;
        self.cache
            .index
            .set_checkpoint(&self.key, step)
            .map_err(|e| StageError::msg(format!("checkpoint index: {e}")))
    }

    fn load(&self) -> Result<Option<(u64, Vec<u8>)>, StageError> {
        let buf = match fs::read(self.file()) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        if buf.len() < HEADER || &buf[..8] != MAGIC {
            tracing::warn!(key = %hex(&self.key), "malformed checkpoint ignored");
            return Ok(None);
        }
        let step = u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes"));
        let data = &buf[HEADER..];
        if blake3::hash(data).as_bytes() != &buf[16..48] {
            tracing::warn!(key = %hex(&self.key), "checkpoint digest mismatch: ignored");
            return Ok(None);
        }
        Ok(Some((step, data.to_vec())))
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
        let f = ck.file();
        let mut bytes = fs::read(&f).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&f, bytes).unwrap();
        assert_eq!(ck.load().unwrap(), None);
    }
}
