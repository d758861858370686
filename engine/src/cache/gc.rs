//! Garbage collection: drop run records beyond `--keep-last N` per pipeline (pinned
//! pipelines keep all), then every action no kept run references, then every blob no kept
//! action references, and the checkpoints of instances already committed (an unfinished
//! instance's checkpoint is kept: it is what a rerun resumes from).
//!
//! Only files the cache provably wrote are deleted: under `blobs/`, a file in a
//! two-hex-character directory named with the rest of a digest whose content hashes to that
//! digest (a hex-named file whose content does not match is left, with a warning); under
//! `actions/`, a file that parses as the manifest its name promises; under `records/`, a
//! record that parses as the one being dropped (see [`super::files`]). A dry run can be
//! computed from a [`CacheView`], without the writer's lock.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use super::blobs::{BlobStore, Digest};
use super::manifest::{ActionManifest, RunRecord};
use super::{files, Cache, CacheError, CacheRead, CacheView};

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
    /// Files named like unreferenced blobs whose content does not match their name: not
    /// provably the cache's, so left alone.
    pub left_alone: usize,
    /// Checkpoints of instances already committed (left by a kill between commit and cleanup).
    pub checkpoints_removed: usize,
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
        )?;
        if self.checkpoints_removed > 0 {
            write!(f, "; {} stale checkpoints", self.checkpoints_removed)?;
        }
        if self.left_alone > 0 {
            write!(
                f,
                "; {} files under blobs/ do not match their names and were left alone",
                self.left_alone
            )?;
        }
        Ok(())
    }
}

/// What one gc removes.
struct Garbage {
    runs: Vec<RunRecord>,
    actions: Vec<ActionManifest>,
    /// `checkpoints/<key>/` folders of committed keys.
    checkpoints: Vec<std::path::PathBuf>,
    blobs: Vec<Digest>,
    report: GcReport,
}

/// Split runs into the keys kept runs reference and the runs to drop.
fn split_runs(runs: Vec<RunRecord>, opts: &GcOptions) -> (BTreeSet<String>, Vec<RunRecord>) {
    let mut by_pipeline: BTreeMap<String, Vec<RunRecord>> = BTreeMap::new();
    for r in runs {
        by_pipeline.entry(r.pipeline.clone()).or_default().push(r);
    }
    let mut kept_keys = BTreeSet::new();
    let mut dropped = Vec::new();
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
        dropped.extend(runs.drain(..split));
    }
    (kept_keys, dropped)
}

/// Whether an unreferenced blob file is provably ours (its content hashes to its name).
fn blob_is_ours(blobs: &BlobStore, d: &Digest) -> bool {
    let ours = blobs.verify(d).unwrap_or(false);
    if !ours {
        tracing::warn!(
            file = %blobs.path(d).display(),
            "named like a blob but its content does not match: left alone"
        );
    }
    ours
}

/// The checkpoint folders (`<cache>/checkpoints/<key-hex>/`) of keys that are committed: a
/// kill between commit and checkpoint removal leaves them, and nothing will read them again.
fn stale_checkpoints(
    cache_dir: Option<&std::path::Path>,
    committed: &BTreeSet<String>,
) -> Vec<std::path::PathBuf> {
    let Some(dir) = cache_dir.map(|d| d.join("checkpoints")) else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| committed.contains(n))
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// Everything no kept run reaches, given every run, every action and the blob store.
fn find_garbage(
    runs: Vec<RunRecord>,
    actions: Vec<ActionManifest>,
    blobs: &BlobStore,
    opts: &GcOptions,
) -> Result<Garbage, CacheError> {
    let mut report = GcReport {
        dry_run: opts.dry_run,
        ..GcReport::default()
    };
    let committed: BTreeSet<String> = actions.iter().map(|m| m.key.clone()).collect();
    let checkpoints = stale_checkpoints(blobs.root().parent(), &committed);
    report.checkpoints_removed = checkpoints.len();
    let (kept_keys, dropped_runs) = split_runs(runs, opts);
    let mut kept_blobs: BTreeSet<Digest> = BTreeSet::new();
    let mut dropped_actions = Vec::new();
    for m in actions {
        if kept_keys.contains(&m.key) {
            let ds = m.blob_digests().unwrap_or_default();
            kept_blobs.extend(ds.into_iter().map(|(d, _)| d));
            report.actions_kept += 1;
        } else {
            dropped_actions.push(m);
        }
    }
    let listed = blobs.list().map_err(|e| CacheError::io(blobs.root(), e))?;
    let mut dropped_blobs = Vec::new();
    for (d, size) in listed {
        if kept_blobs.contains(&d) {
            report.blobs_kept += 1;
        } else if blob_is_ours(blobs, &d) {
            report.bytes_freed += size;
            dropped_blobs.push(d);
        } else {
            report.left_alone += 1;
        }
    }
    report.runs_removed = dropped_runs.len();
    report.actions_removed = dropped_actions.len();
    report.blobs_removed = dropped_blobs.len();
    Ok(Garbage {
        runs: dropped_runs,
        actions: dropped_actions,
        blobs: dropped_blobs,
        checkpoints,
        report,
    })
}

impl Cache {
    /// Collect garbage (see the module doc).
    pub fn gc(&self, opts: &GcOptions) -> Result<GcReport, CacheError> {
        let mut actions = self.index.actions()?;
        // Manifest files the index does not know (a crash between file and index) count too.
        let known: BTreeSet<String> = actions.iter().map(|m| m.key.clone()).collect();
        let orphans = files::manifests(&self.dir)?;
        actions.extend(orphans.into_iter().filter(|m| !known.contains(&m.key)));
        let garbage = find_garbage(self.runs()?, actions, &self.blobs, opts)?;
        if !opts.dry_run {
            self.collect(&garbage)?;
        }
        Ok(garbage.report)
    }

    /// Remove what [`find_garbage`] found: index first, then files, so a crash midway leaves
    /// manifests the next open re-indexes or that reference blobs still present.
    fn collect(&self, g: &Garbage) -> Result<(), CacheError> {
        let keys: Vec<Digest> = g.actions.iter().filter_map(|m| m.key_digest()).collect();
        for k in &keys {
            self.index.remove_action(k)?;
        }
        for r in &g.runs {
            self.index.remove_run(r)?;
        }
        self.index.flush()?;
        for k in &keys {
            files::remove_action(&self.dir, k)?;
        }
        for r in &g.runs {
            files::remove_record(&self.dir, r)?;
        }
        for d in &g.blobs {
            self.blobs
                .remove(d)
                .map_err(|e| CacheError::io(&self.blobs.path(d), e))?;
        }
        for c in &g.checkpoints {
            fs::remove_dir_all(c).map_err(|e| CacheError::io(c, e))?;
        }
        tracing::info!(
            freed = g.report.bytes_freed,
            blobs = g.report.blobs_removed,
            "gc done"
        );
        Ok(())
    }
}

impl CacheView {
    /// What `gc` with `opts` would remove, from the files alone (a dry run: nothing is
    /// written or deleted, no lock is taken).
    pub fn gc_dry_run(&self, opts: &GcOptions) -> Result<GcReport, CacheError> {
        let opts = GcOptions {
            dry_run: true,
            ..opts.clone()
        };
        let actions = files::manifests(self.dir())?;
        Ok(find_garbage(self.runs()?, actions, self.blobs(), &opts)?.report)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::RunRecord;
    use super::*;
    use crate::artifact::Artifact;

    fn commit(cache: &Cache, key: u8, data: &str) -> String {
        let mut a = Artifact::new();
        a.add("x", data.as_bytes().to_vec());
        cache
            .commit(&[key; 32], "s", "k", serde_json::json!({}), &a, 0.0)
            .unwrap()
            .key
    }

    #[test]
    fn gc_removes_checkpoints_of_committed_instances_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), Duration::ZERO).unwrap();
        let done = commit(&cache, 4, "done");
        let unfinished = super::super::hex(&[5u8; 32]);
        for k in [&done, &unfinished] {
            let d = dir.path().join("checkpoints").join(k);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("ckpt"), b"state").unwrap();
        }
        let report = cache.gc(&GcOptions::default()).unwrap();
        assert_eq!(report.checkpoints_removed, 1);
        assert!(!dir.path().join("checkpoints").join(&done).exists());
        assert!(dir.path().join("checkpoints").join(&unfinished).exists());
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

    #[test]
    fn gc_leaves_foreign_files_and_the_view_predicts_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), Duration::ZERO).unwrap();
        commit(&cache, 1, "old");
        let fake = dir.path().join("blobs/ab").join("c".repeat(62));
        std::fs::create_dir_all(fake.parent().unwrap()).unwrap();
        std::fs::write(&fake, b"not its digest").unwrap();
        let opts = GcOptions {
            dry_run: true,
            ..GcOptions::default()
        };
        let view = CacheView::open(dir.path())
            .unwrap()
            .gc_dry_run(&opts)
            .unwrap();
        assert_eq!(view, cache.gc(&opts).unwrap());
        assert_eq!(
            (view.actions_removed, view.blobs_removed, view.left_alone),
            (1, 1, 1)
        );
        let real = cache.gc(&GcOptions::default()).unwrap();
        assert_eq!(real.blobs_removed, 1);
        assert!(
            fake.exists(),
            "a file whose content does not match its name is left"
        );
        assert!(cache.lookup(&[1; 32]).unwrap().is_none());
    }
}
