//! The sled index of a cache: actions (key -> manifest), run records, in-flight records,
//! checkpoint steps and the last key used per (pipeline, stage, point). Everything in it
//! except in-flight records can be rebuilt from the files under the cache directory.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use super::blobs::Digest;
use super::manifest::{ActionManifest, RunRecord};

/// A stage instance some process is computing right now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InFlight {
    pub pid: u32,
    pub host: String,
    /// Seconds since the Unix epoch.
    pub start: u64,
    pub stage: String,
}

/// Errors of the index (sled or a malformed record).
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("malformed index record: {0}")]
    Record(String),
}

impl From<TransactionError<()>> for IndexError {
    fn from(e: TransactionError<()>) -> Self {
        match e {
            TransactionError::Storage(e) => IndexError::Sled(e),
            TransactionError::Abort(()) => IndexError::Record("transaction aborted".into()),
        }
    }
}

pub struct Index {
    db: sled::Db,
    actions: sled::Tree,
    runs: sled::Tree,
    inflight: sled::Tree,
    checkpoints: sled::Tree,
    last: sled::Tree,
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, IndexError> {
    serde_json::from_slice(bytes).map_err(|e| IndexError::Record(e.to_string()))
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("index records always serialise")
}

fn last_key(pipeline: &str, stage: &str, point: &str) -> Vec<u8> {
    format!("{pipeline}\0{stage}\0{point}").into_bytes()
}

impl Index {
    pub fn open(path: &Path) -> Result<Index, IndexError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(16 << 20)
            .open()?;
        Ok(Index {
            actions: db.open_tree("actions")?,
            runs: db.open_tree("runs")?,
            inflight: db.open_tree("inflight")?,
            checkpoints: db.open_tree("checkpoints")?,
            last: db.open_tree("last")?,
            db,
        })
    }

    pub fn flush(&self) -> Result<(), IndexError> {
        self.db.flush()?;
        Ok(())
    }

    pub fn action(&self, key: &Digest) -> Result<Option<ActionManifest>, IndexError> {
        self.actions.get(key)?.map(|v| decode(&v)).transpose()
    }

    /// Record a committed action in one transaction (dropping its checkpoint and in-flight
    /// records), then flush.
    pub fn commit_action(&self, key: &Digest, m: &ActionManifest) -> Result<(), IndexError> {
        let value = encode(m);
        (&self.actions, &self.checkpoints, &self.inflight).transaction(
            |(actions, checkpoints, inflight)| {
                actions.insert(&key[..], value.as_slice())?;
                checkpoints.remove(&key[..])?;
                inflight.remove(&key[..])?;
                Ok::<(), ConflictableTransactionError<()>>(())
            },
        )?;
        self.flush()
    }

    /// Insert without flushing (index rebuild).
    pub fn insert_action(&self, key: &Digest, m: &ActionManifest) -> Result<(), IndexError> {
        self.actions.insert(&key[..], encode(m))?;
        Ok(())
    }

    pub fn remove_action(&self, key: &Digest) -> Result<(), IndexError> {
        self.actions.remove(&key[..])?;
        Ok(())
    }

    pub fn action_count(&self) -> usize {
        self.actions.len()
    }

    pub fn actions(&self) -> Result<Vec<ActionManifest>, IndexError> {
        self.actions.iter().values().map(|v| decode(&v?)).collect()
    }

    pub fn clear_actions(&self) -> Result<(), IndexError> {
        self.actions.clear()?;
        Ok(())
    }

    pub fn put_run(&self, r: &RunRecord) -> Result<(), IndexError> {
        self.runs.insert(r.index_key(), encode(r))?;
        Ok(())
    }

    pub fn remove_run(&self, r: &RunRecord) -> Result<(), IndexError> {
        self.runs.remove(r.index_key())?;
        Ok(())
    }

    /// All run records, by pipeline then time.
    pub fn runs(&self) -> Result<Vec<RunRecord>, IndexError> {
        self.runs.iter().values().map(|v| decode(&v?)).collect()
    }

    pub fn set_inflight(&self, key: &Digest, f: &InFlight) -> Result<(), IndexError> {
        self.inflight.insert(&key[..], encode(f))?;
        Ok(())
    }

    pub fn clear_inflight(&self, key: &Digest) -> Result<(), IndexError> {
        self.inflight.remove(&key[..])?;
        Ok(())
    }

    pub fn inflight(&self) -> Result<Vec<(Vec<u8>, InFlight)>, IndexError> {
        self.inflight
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k.to_vec(), decode(&v)?))
            })
            .collect()
    }

    pub fn remove_inflight_raw(&self, key: &[u8]) -> Result<(), IndexError> {
        self.inflight.remove(key)?;
        Ok(())
    }

    pub fn set_checkpoint(&self, key: &Digest, step: u64) -> Result<(), IndexError> {
        self.checkpoints.insert(&key[..], &step.to_be_bytes())?;
        self.checkpoints.flush()?;
        Ok(())
    }

    pub fn checkpoint(&self, key: &Digest) -> Result<Option<u64>, IndexError> {
        Ok(self.checkpoints.get(&key[..])?.and_then(|v| {
            let b: [u8; 8] = v.as_ref().try_into().ok()?;
            Some(u64::from_be_bytes(b))
        }))
    }

    pub fn set_last(
        &self,
        pipeline: &str,
        stage: &str,
        point: &str,
        key: &Digest,
    ) -> Result<(), IndexError> {
        self.last
            .insert(last_key(pipeline, stage, point), &key[..])?;
        Ok(())
    }

    /// Every (pipeline, stage, point, key) of the last-key tree (malformed entries skipped).
    pub fn lasts(&self) -> Result<Vec<(String, String, String, Digest)>, IndexError> {
        let mut out = Vec::new();
        for kv in self.last.iter() {
            let (k, v) = kv?;
            let text = String::from_utf8_lossy(&k).into_owned();
            let mut parts = text.splitn(3, '\0');
            let (Some(p), Some(s), Some(pt)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            if let Ok(key) = v.as_ref().try_into() {
                out.push((p.to_string(), s.to_string(), pt.to_string(), key));
            }
        }
        Ok(out)
    }

    pub fn last(
        &self,
        pipeline: &str,
        stage: &str,
        point: &str,
    ) -> Result<Option<Digest>, IndexError> {
        Ok(self
            .last
            .get(last_key(pipeline, stage, point))?
            .and_then(|v| v.as_ref().try_into().ok()))
    }
}
