//! Where runs may go: a runs directory (`--runs DIR`) must not be a system root (`/`, `/etc`,
//! `/usr`, ...) nor the user's home directory itself, since a run writes `DIR/<name>/` there.
//! Paths are compared after resolving symbolic links, `.` and `..`, so `/etc/..` or a link
//! to `/` is refused too.

use std::io;
use std::path::{Component, Path, PathBuf};

use crate::diag::escape;

/// Directories a runs directory may not be (besides `/lib*` and the home directory).
const SYSTEM_ROOTS: &[&str] = &[
    "/", "/bin", "/boot", "/dev", "/etc", "/proc", "/sbin", "/sys", "/usr", "/var",
];

/// A refused runs directory (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum RunsDirError {
    #[error(
        "refusing to use `{}` as the runs directory: it is {what} (`{}`); \
         give a directory of its own, e.g. `--runs runs`",
        escape(&.given.display().to_string()),
        escape(&.resolved.display().to_string())
    )]
    SystemRoot {
        given: PathBuf,
        resolved: PathBuf,
        what: &'static str,
    },
    #[error(
        "cannot resolve the runs directory `{}`: {error}",
        escape(&.given.display().to_string())
    )]
    Unresolvable { given: PathBuf, error: io::Error },
}

/// `path` made absolute (against the current directory) with symbolic links, `.` and `..`
/// resolved as far as it exists; the part that does not exist yet is resolved lexically.
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => {
                out.push(other);
                if let Ok(real) = out.canonicalize() {
                    out = real;
                }
            }
        }
    }
    Ok(out)
}

/// What `resolved` is, if it is a directory runs must not be written into.
fn forbidden(resolved: &Path) -> Option<&'static str> {
    let same = |root: &str| {
        let root = Path::new(root);
        resolved == root || root.canonicalize().is_ok_and(|r| r == resolved)
    };
    if SYSTEM_ROOTS.iter().any(|r| same(r)) {
        return Some("a system directory");
    }
    let lib = resolved.parent() == Some(Path::new("/"))
        && resolved
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("lib"));
    if lib || lib_link_target(resolved) {
        return Some("a system directory");
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    if home.is_some_and(|h| same(&h.to_string_lossy())) {
        return Some("your home directory");
    }
    None
}

/// Whether `resolved` is where one of `/lib*` leads (e.g. `/lib` -> `/usr/lib`).
fn lib_link_target(resolved: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir("/") else {
        return false;
    };
    rd.flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("lib"))
        .any(|e| e.path().canonicalize().is_ok_and(|r| r == resolved))
}

/// Check a runs directory before anything is written under it; returns it resolved (see
/// [`resolve`]).
pub fn check_runs_dir(runs: &Path) -> Result<PathBuf, RunsDirError> {
    let resolved = resolve(runs).map_err(|error| RunsDirError::Unresolvable {
        given: runs.to_path_buf(),
        error,
    })?;
    match forbidden(&resolved) {
        Some(what) => Err(RunsDirError::SystemRoot {
            given: runs.to_path_buf(),
            resolved,
            what,
        }),
        None => Ok(resolved),
    }
}

/// Whether a resolved runs directory lies outside the current directory.
pub fn outside_cwd(resolved: &Path) -> bool {
    resolve(Path::new(".")).is_ok_and(|cwd| !resolved.starts_with(cwd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_roots_are_refused_however_spelled() {
        for p in [
            "/", "/etc", "/etc/..", "/usr/./", "/var", "/proc", "/lib", "//",
        ] {
            if Path::new(p).exists() {
                assert!(check_runs_dir(Path::new(p)).is_err(), "{p} accepted");
            }
        }
        assert!(check_runs_dir(Path::new("/var/tmp/x")).is_ok());
        assert!(check_runs_dir(Path::new("runs")).is_ok());
    }

    #[test]
    fn links_to_a_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("up");
        std::os::unix::fs::symlink("/", &link).unwrap();
        assert!(check_runs_dir(&link).is_err());
        assert!(check_runs_dir(&link.join("tmp/runs")).is_ok());
    }

    #[test]
    fn resolve_handles_missing_parts() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        assert_eq!(
            resolve(&dir.path().join("a/b/../c")).unwrap(),
            real.join("a/c")
        );
        assert_eq!(
            resolve(&dir.path().join("a/../..")).unwrap(),
            real.parent().unwrap()
        );
    }
}
