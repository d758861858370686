//! Garbage collection: drop run records beyond `--keep-last N` per pipeline (pinned
//! pipelines keep all), then every action no kept run references, then every blob no kept
//! action references, and stale temporary files.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use super::blobs::{parse_hex, Digest};
use super::{json_files, Cache, CacheError};

/// What to keep.
#[derive(Debug, Clone)]
pub struct GcOptions {
    pub dry_run: bool,
    /// Runs kept per pipeline (the most recent ones).
    pub keep_last: usize,
    /// Pipelines whose runs are all kept.
    pub pins: Vec<String>,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            dry_run: false,
            keep_last: 1,
            pins: Vec::new(),
        }
    }
}

/// What gc removed (or would remove, in a dry run).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    pub dry_run: bool,
    pub runs_removed: usize,
    pub actions_removed: usize,
    pub blobs_removed: usize,
    pub bytes_freed: u64,
    pub actions_kept: usize,
    pub blobs_kept: usize,
}

impl std::fmt::Display for GcReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.dry_run { "would free" } else { "freed" };
        write!(
            f,
            "{verb} {:.1} MiB: {} runs, {} actions, {} blobs ({} actions and {} blobs kept)",
            self.bytes_freed as f64 / (1 << 20) as f64,
            self.runs_removed,
            self.actions_removed,
            self.blobs_removed,
            self.actions_kept,
            self.blobs_kept
        )
    }
}

impl Cache {
    /// Collect garbage (see the module doc).
    pub fn gc(&self, opts: &GcOptions) -> Result<GcReport, CacheError> {
        let mut report = GcReport {
            dry_run: opts.dry_run,
            ..GcReport::default()
        };
        let mut by_pipeline: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for r in self.runs()? {
            by_pipeline.entry(r.pipeline.clone()).or_default().push(r);
        }
        let mut kept_keys: BTreeSet<String> = BTreeSet::new();
        let mut dropped_runs = Vec::new();
        for (pipeline, mut runs) in by_pipeline {
            runs.sort_by_key(|r| r.time_ns);
            let keep = if opts.pins.contains(&pipeline) {
                runs.len()
            } else {
                opts.keep_last
            };
            let split = runs.len().saturating_sub(keep);
            for r in &runs[split..] {
                kept_keys.extend(r.keys.iter().cloned());
            }
            dropped_runs.extend(runs.drain(..split));
        }
        report.runs_removed = dropped_runs.len();
        let mut kept_blobs: BTreeSet<Digest> = BTreeSet::new();
        let mut dropped_actions = Vec::new();
        for m in self.index.actions()? {
            if kept_keys.contains(&m.key) {
                kept_blobs.extend(
                    m.blob_digests()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(d, _)| d),
                );
                report.actions_kept += 1;
            } else {
                dropped_actions.push(m);
            }
        }
        // Manifest files the index does not know (a crash between file and index) count too.
        for p in json_files(&self.dir.join("actions"))? {
            let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            let orphan = parse_hex(stem).is_some()
                && !kept_keys.contains(stem)
                && !dropped_actions.iter().any(|m| m.key == stem);
            if orphan {
                if !opts.dry_run {
                    fs::remove_file(&p).map_err(|e| CacheError::io(&p, e))?;
                }
                report.actions_removed += 1;
            }
        }
        report.actions_removed += dropped_actions.len();
        let mut dropped_blobs = Vec::new();
        for (d, size) in self
            .blobs
            .list()
            .map_err(|e| CacheError::io(&self.dir.join("blobs"), e))?
        {
            if kept_blobs.contains(&d) {
                report.blobs_kept += 1;
            } else {
                report.bytes_freed += size;
                dropped_blobs.push(d);
            }
        }
        report.blobs_removed = dropped_blobs.len();
        if opts.dry_run {
            return Ok(report);
        }
        // Index first, then files: a crash midway leaves manifests the next open re-indexes
        // or that reference blobs still present.
        for m in &dropped_actions {
            if let Some(k) = m.key_digest() {
                self.index.remove_action(&k)?;
            }
        }
        for r in &dropped_runs {
            self.index.remove_run(r)?;
        }
        self.index.flush()?;
        for m in &dropped_actions {
            let p = self.dir.join("actions").join(format!("{}.json", m.key));
            match fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(CacheError::io(&p, e))
                }
                _ => {}
            }
        }
        for r in &dropped_runs {
            let p = self.dir.join("records").join(r.file_name());
            let _ = fs::remove_file(p);
        }
        for d in &dropped_blobs {
            self.blobs
                .remove(d)
                .map_err(|e| CacheError::io(&self.blobs.path(d), e))?;
        }
        tracing::info!(
            freed = report.bytes_freed,
            blobs = report.blobs_removed,
            "gc done"
        );
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::RunRecord;
    use super::*;
    use crate::stage::Artifact;

    fn commit(cache: &Cache, key: u8, data: &str) -> String {
        let mut a = Artifact::new();
        a.add("x", data.as_bytes().to_vec());
        cache
            .commit(&[key; 32], "s", "k", serde_json::json!({}), &a, 0.0)
            .unwrap()
            .key
    }

    #[test]
    fn gc_keeps_last_run_and_pins() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), Duration::ZERO).unwrap();
        let k1 = commit(&cache, 1, "old");
        let k2 = commit(&cache, 2, "new");
        let k3 = commit(&cache, 3, "pinned");
        let run = |p: &str, t, k: &str| RunRecord {
            pipeline: p.into(),
            time_ns: t,
            keys: vec![k.into()],
        };
        cache.record_run(&run("a", 1, &k1), &[]).unwrap();
        cache.record_run(&run("a", 2, &k2), &[]).unwrap();
        cache.record_run(&run("b", 1, &k3), &[]).unwrap();
        cache.record_run(&run("b", 2, &k2), &[]).unwrap();

        let opts = GcOptions {
            dry_run: true,
            keep_last: 1,
            pins: vec!["b".into()],
        };
        let dry = cache.gc(&opts).unwrap();
        assert_eq!(
            (dry.runs_removed, dry.actions_removed, dry.blobs_removed),
            (1, 1, 1)
        );
        assert_eq!(dry.bytes_freed, 3);
        assert!(
            cache.lookup(&[1; 32]).unwrap().is_some(),
            "dry run removes nothing"
        );

        let real = cache
            .gc(&GcOptions {
                dry_run: false,
                ..opts
            })
            .unwrap();
        assert_eq!(real.bytes_freed, 3);
        assert!(cache.lookup(&[1; 32]).unwrap().is_none());
        assert!(cache.lookup(&[2; 32]).unwrap().is_some());
        assert!(cache.lookup(&[3; 32]).unwrap().is_some());
        assert_eq!(cache.runs().unwrap().len(), 3);
    }
}
