//! Exclusive access to a cache directory: an advisory lock on `<cache>/lock` held for the
//! lifetime of a [`CacheLock`], with the holder's pid written inside for error messages.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use fs4::fs_std::FileExt;

use super::CacheError;

/// Held while a process uses the cache; released on drop (and by the OS if the process dies).
#[derive(Debug)]
pub struct CacheLock {
    file: File,
}

impl CacheLock {
    /// Take the lock, retrying for up to `wait`; `CacheError::Busy` names the holder's pid.
    pub fn acquire(dir: &Path, wait: Duration) -> Result<CacheLock, CacheError> {
        let path = dir.join("lock");
        let io = |e| CacheError::io(&path, e);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let start = Instant::now();
        loop {
            if FileExt::try_lock_exclusive(&file).map_err(io)? {
                break;
            }
            if start.elapsed() >= wait {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim().to_string();
                return Err(CacheError::Busy {
                    dir: dir.to_path_buf(),
                    holder: if holder.is_empty() {
                        "another process".into()
                    } else {
                        holder
                    },
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        write!(file, "pid {}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(CacheLock { file })
    }
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = FileExt::unlock(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_with_holder_then_succeeds_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let first = CacheLock::acquire(dir.path(), Duration::ZERO).unwrap();
        match CacheLock::acquire(dir.path(), Duration::from_millis(150)) {
            Err(CacheError::Busy { holder, .. }) => {
                assert_eq!(holder, format!("pid {}", std::process::id()))
            }
            other => panic!("expected Busy, got {other:?}"),
        }
        drop(first);
        CacheLock::acquire(dir.path(), Duration::ZERO).unwrap();
    }
}
