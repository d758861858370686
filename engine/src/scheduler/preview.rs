//! `synface plan`: what a run would do, without running anything. An instance's key is known
//! when all its inputs are cached (keys chain on content digests); otherwise it is pending
//! behind the upstream stage that must run first.

use super::KeyFn;
use crate::cache::{CacheError, CacheRead, Digest};
use crate::plan::{InstanceId, Plan};

/// Whether an instance would be served from the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviewStatus {
    Cached,
    /// Its key is known and not in the cache.
    Pending,
    /// Its key is unknown: this upstream stage must run first.
    Blocked {
        upstream: String,
    },
}

/// One instance of the plan, as a run would see it now.
#[derive(Debug, Clone)]
pub struct PreviewRow {
    pub id: InstanceId,
    pub stage: String,
    pub points: Vec<String>,
    pub key: Option<Digest>,
    pub components: Option<serde_json::Value>,
    pub status: PreviewStatus,
}

/// Preview every instance of `plan` against `cache` (manifests only; blobs are not
/// verified). `cache` may be an open [`crate::cache::Cache`] or a lock-free
/// [`crate::cache::CacheView`].
pub fn preview(
    plan: &Plan,
    cache: &dyn CacheRead,
    keyer: &KeyFn,
) -> Result<Vec<PreviewRow>, CacheError> {
    let mut rows: Vec<PreviewRow> = Vec::with_capacity(plan.instances.len());
    let mut digests: Vec<Option<Digest>> = Vec::with_capacity(plan.instances.len());
    for (i, inst) in plan.instances.iter().enumerate() {
        let mut inputs = Vec::with_capacity(inst.inputs.len());
        let mut blocked = None;
        for (port, ids) in &inst.inputs {
            let mut ds = Vec::with_capacity(ids.len());
            for &j in ids {
                match digests[j] {
                    Some(d) => ds.push(d),
                    None => {
                        blocked.get_or_insert_with(|| plan.instances[j].stage.clone());
                    }
                }
            }
            inputs.push((port.clone(), ds));
        }
        let row = if let Some(upstream) = blocked {
            digests.push(None);
            PreviewRow {
                id: i,
                stage: inst.stage.clone(),
                points: inst.points.clone(),
                key: None,
                components: None,
                status: PreviewStatus::Blocked { upstream },
            }
        } else {
            let (key, components) = keyer(inst, &inputs);
            let m = cache.manifest(&key)?;
            digests.push(m.as_ref().and_then(|m| m.artifact_digest()));
            PreviewRow {
                id: i,
                stage: inst.stage.clone(),
                points: inst.points.clone(),
                key: Some(key),
                components: Some(components),
                status: if m.is_some() {
                    PreviewStatus::Cached
                } else {
                    PreviewStatus::Pending
                },
            }
        };
        rows.push(row);
    }
    Ok(rows)
}
