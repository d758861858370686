//! Where history entries live and how they are numbered: `runs/<name>/history/<id>.json`,
//! ids counting up from 1. An id is claimed by hard-linking a finished temporary file to its
//! name, which fails if another process took the name first (then the next id is tried), so
//! no entry is ever overwritten or seen half-written. Nothing here deletes an entry.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::entry::{RunEntry, FORMAT};

/// Errors writing or reading history entries (exit code 3 at the command line).
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    #[error("{path}: not a synface run entry ({message})")]
    Format { path: PathBuf, message: String },
    #[error("no run {id} in {dir} (`synface runs FILE` lists them)")]
    NoSuchRun { id: u64, dir: PathBuf },
}

/// The history folder of a run directory.
pub fn history_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("history")
}

fn entry_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:04}.json"))
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> HistoryError + '_ {
    move |error| HistoryError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Number `entry` (one more than the largest id present) and write it; returns its id.
pub fn record(run_dir: &Path, entry: &mut RunEntry) -> Result<u64, HistoryError> {
    let dir = history_dir(run_dir);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let mut id = ids(&dir)?.last().copied().unwrap_or(0) + 1;
    loop {
        entry.id = id;
        let dest = entry_path(&dir, id);
        match claim(&dir, &dest, entry) {
            Ok(()) => return Ok(id),
            Err(HistoryError::Io { error, .. }) if error.kind() == io::ErrorKind::AlreadyExists => {
                id += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Write `entry` to a temporary file and link it to `dest` (fails if `dest` exists).
fn claim(dir: &Path, dest: &Path, entry: &RunEntry) -> Result<(), HistoryError> {
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("entry");
    let tmp = crate::run_folder::temps::temp_for(dir, name);
    let bytes = serde_json::to_vec_pretty(entry).expect("entries always serialise");
    let result = fs::write(&tmp, bytes)
        .map_err(io_err(&tmp))
        .and_then(|()| fs::hard_link(&tmp, dest).map_err(io_err(dest)));
    let _ = fs::remove_file(&tmp);
    result
}

/// The ids present in a history folder, ascending.
fn ids(dir: &Path) -> Result<Vec<u64>, HistoryError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut out: Vec<u64> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            name.strip_suffix(".json")?.parse().ok()
        })
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// Read entry `id` of a run directory.
pub fn read(run_dir: &Path, id: u64) -> Result<RunEntry, HistoryError> {
    let dir = history_dir(run_dir);
    let path = entry_path(&dir, id);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(HistoryError::NoSuchRun { id, dir });
        }
        Err(e) => return Err(io_err(&path)(e)),
    };
    parse(&path, &bytes)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<RunEntry, HistoryError> {
    let bad = |message: String| HistoryError::Format {
        path: path.to_path_buf(),
        message,
    };
    let e: RunEntry = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if e.format != FORMAT {
        return Err(bad(format!("format `{}`", e.format)));
    }
    Ok(e)
}

/// Every entry of a run directory, oldest first, and the files that could not be read.
#[derive(Debug, Default)]
pub struct Listing {
    pub entries: Vec<RunEntry>,
    pub unreadable: Vec<String>,
}

/// List the history of a run directory (empty when it has none).
pub fn list(run_dir: &Path) -> Result<Listing, HistoryError> {
    let dir = history_dir(run_dir);
    let mut out = Listing::default();
    for id in ids(&dir)? {
        match read(run_dir, id) {
            Ok(e) => out.entries.push(e),
            Err(e) => out.unreadable.push(e.to_string()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::entry::{Outcome, Producer};

    fn entry() -> RunEntry {
        RunEntry {
            format: FORMAT.into(),
            version: 1,
            id: 0,
            pipeline: "p".into(),
            source: "p.toml".into(),
            overrides: vec![],
            finished_unix_ms: 1,
            synface: Producer {
                version: "0".into(),
                commit: None,
            },
            pipeline_digest: "d".into(),
            seed: 1,
            outcome: Outcome {
                exit_code: 0,
                ran: 1,
                cached: 0,
                failed: 0,
                skipped: 0,
                cancelled: 0,
                secs: 0.5,
            },
            points: vec![],
            instances: vec![],
            results: vec![],
            headline: None,
        }
    }

    #[test]
    fn entries_are_numbered_in_order_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = entry();
        assert_eq!(record(dir.path(), &mut e).unwrap(), 1);
        // A file that is not an entry (at id 2) is kept; the next entry takes id 3.
        let hist = history_dir(dir.path());
        fs::write(hist.join("0002.json"), "mine").unwrap();
        assert_eq!(record(dir.path(), &mut e).unwrap(), 3);
        assert_eq!(fs::read_to_string(hist.join("0002.json")).unwrap(), "mine");
        let l = list(dir.path()).unwrap();
        assert_eq!(
            l.entries.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert_eq!(l.unreadable.len(), 1, "{:?}", l.unreadable);
        assert_eq!(read(dir.path(), 3).unwrap().id, 3);
        assert!(matches!(
            read(dir.path(), 9),
            Err(HistoryError::NoSuchRun { id: 9, .. })
        ));
        let names: Vec<String> = fs::read_dir(&hist)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "no temporary left: {names:?}");
    }
}
