//! Temporary files of the run layout. Every file under `runs/<name>/` is written as
//! `.<file>.synface-<pid>.tmp` and renamed into place; a process killed between the two leaves
//! that temporary behind. The next layout write removes such leftovers of processes that are
//! no longer alive, and nothing else (the name pattern is synface's own).

use std::fs;
use std::path::{Path, PathBuf};

const MARK: &str = ".synface-";

/// The temporary path this process writes `dest` through.
pub(crate) fn temp_for(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}{MARK}{}.tmp", std::process::id()))
}

/// The pid in a temporary file name of this module's pattern.
fn owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (_, pid) = rest.rsplit_once(MARK)?;
    pid.parse().ok()
}

/// Remove, under `dir` (recursively), the layout temporaries of dead processes.
pub(crate) fn remove_dead(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(ty) = e.file_type() else { continue };
        let path = e.path();
        if ty.is_dir() {
            remove_dead(&path);
        } else if ty.is_file() {
            let name = e.file_name();
            let dead = name
                .to_str()
                .and_then(owner)
                .is_some_and(|pid| pid != std::process::id() && !crate::cache::pid_alive(pid));
            if dead {
                let _ = fs::remove_file(&path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_of_dead_processes_go_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("points/x");
        fs::create_dir_all(&sub).unwrap();
        // pid 0x7fff_fff0 is beyond any pid_max: never alive.
        let dead = sub.join(".metrics.json.synface-2147483632.tmp");
        let mine = temp_for(&sub, "a.json");
        let user = sub.join(".notes.123.tmp");
        for f in [&dead, &mine, &user] {
            fs::write(f, b"x").unwrap();
        }
        remove_dead(dir.path());
        assert!(!dead.exists());
        assert!(mine.exists(), "this process's own temporary stays");
        assert!(user.exists(), "other names are never touched");
        assert_eq!(owner(".a.synface-12.tmp"), Some(12));
        assert_eq!(owner(".a.12.tmp"), None);
    }
}
