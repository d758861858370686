//! Content-addressed blob files (`blobs/ab/cdef...`, blake3 of the bytes) and the atomic
//! write helpers (tmp file, fsync, rename, fsync dir) the rest of the cache uses.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Blobs larger than this are hashed on a second thread while they are written.
const PARALLEL_HASH_MIN: usize = 4 << 20;

/// A blake3 digest.
pub type Digest = [u8; 32];

/// Lower-case hex of a digest.
pub fn hex(d: &Digest) -> String {
    use std::fmt::Write;
    d.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Parse 64 hex characters into a digest.
pub fn parse_hex(s: &str) -> Option<Digest> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut d = [0u8; 32];
    for (i, byte) in d.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(d)
}

/// Fsync a directory so a rename inside it is durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique temporary path inside `tmp_dir`.
pub fn tmp_path(tmp_dir: &Path, hint: &str) -> PathBuf {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let hint: String = hint
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(24)
        .collect();
    tmp_dir.join(format!("{}-{n}-{hint}.tmp", std::process::id()))
}

/// Whether `name` is one of the cache's own temporary file names (see [`tmp_path`]):
/// `<pid>-<n>-<hint>.tmp`, digits, digits, up to 24 ASCII letters or digits. Only such files
/// are ever removed from `tmp/`.
pub fn is_tmp_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".tmp") else {
        return false;
    };
    let mut parts = stem.splitn(3, '-');
    let digits =
        |s: Option<&str>| s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    let (pid, n, hint) = (parts.next(), parts.next(), parts.next());
    digits(pid)
        && digits(n)
        && hint.is_some_and(|h| h.len() <= 24 && h.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Whether `s` is lower-case hex of exactly `len` characters (how [`hex`] writes digests).
pub fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Write `bytes` to `dest` atomically: write a temporary file in `tmp_dir` (same file system),
/// fsync it, rename it over `dest`, fsync `dest`'s directory.
pub fn write_atomic(tmp_dir: &Path, dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = tmp_path(
        tmp_dir,
        dest.file_name().and_then(|n| n.to_str()).unwrap_or("f"),
    );
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dest)?;
        if let Some(parent) = dest.parent() {
            fsync_dir(parent)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The content-addressed blob directory.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
    tmp: PathBuf,
}

impl BlobStore {
    pub fn new(root: PathBuf, tmp: PathBuf) -> Self {
        BlobStore { root, tmp }
    }

    /// The `blobs/` directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this digest lives.
    pub fn path(&self, d: &Digest) -> PathBuf {
        let h = hex(d);
        self.root.join(&h[..2]).join(&h[2..])
    }

    /// Store `bytes`; returns their digest. An existing blob of the right size is kept.
    pub fn put(&self, bytes: &[u8]) -> io::Result<Digest> {
        let tmp = tmp_path(&self.tmp, "blob");
        let digest = if bytes.len() >= PARALLEL_HASH_MIN {
            // Hash on a second thread while this one writes the temporary file.
            std::thread::scope(|s| {
                let hasher = s.spawn(|| hash(bytes));
                let written = write_synced(&tmp, bytes);
                let digest = hasher
                    .join()
                    .map_err(|_| io::Error::other("hash thread panicked"))?;
                written.map(|()| digest)
            })
        } else {
            write_synced(&tmp, bytes).map(|()| *blake3::hash(bytes).as_bytes())
        };
        let digest = match digest {
            Ok(d) => d,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let dest = self.path(&digest);
        if fs::metadata(&dest)
            .map(|m| m.len() == bytes.len() as u64)
            .unwrap_or(false)
        {
            fs::remove_file(&tmp)?;
            return Ok(digest);
        }
        let dir = dest.parent().expect("blob paths have a parent");
        if !dir.exists() {
            fs::create_dir_all(dir)?;
            fsync_dir(&self.root)?;
        }
        fs::rename(&tmp, &dest)?;
        fsync_dir(dir)?;
        Ok(digest)
    }

    /// Read a blob and verify its digest. `Ok(None)` when it is missing or corrupt.
    pub fn get(&self, d: &Digest) -> io::Result<Option<Vec<u8>>> {
        let path = self.path(d);
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = f.metadata()?.len() as usize;
        let mut bytes = Vec::with_capacity(len);
        f.read_to_end(&mut bytes)?;
        let digest = hash(&bytes);
        if &digest != d {
            tracing::warn!(blob = %path.display(), "blob digest mismatch: treating as a miss");
            return Ok(None);
        }
        Ok(Some(bytes))
    }

    /// Whether the blob exists with the expected size (cheap check, no hashing).
    pub fn has(&self, d: &Digest, size: u64) -> bool {
        fs::metadata(self.path(d))
            .map(|m| m.len() == size)
            .unwrap_or(false)
    }

    /// Verify a blob's digest without keeping its bytes.
    pub fn verify(&self, d: &Digest) -> io::Result<bool> {
        let mut f = match File::open(self.path(d)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher.finalize().as_bytes() == d)
    }

    /// Every file on disk named like a blob, with its size (for gc): a regular file in a
    /// two-hex-character directory whose name is the other 62 hex characters of a digest.
    /// Anything else under `blobs/` is not ours and is never listed (so never removed).
    /// The contents are not checked here: see [`BlobStore::verify`].
    pub fn list(&self) -> io::Result<Vec<(Digest, u64)>> {
        let mut out = Vec::new();
        let Ok(dirs) = fs::read_dir(&self.root) else {
            return Ok(out);
        };
        for dir in dirs {
            let dir = dir?;
            let prefix = dir.file_name().to_string_lossy().into_owned();
            if !is_lower_hex(&prefix, 2) || !dir.file_type()?.is_dir() {
                continue;
            }
            for f in fs::read_dir(dir.path())? {
                let f = f?;
                let rest = f.file_name().to_string_lossy().into_owned();
                if !is_lower_hex(&rest, 62) || !f.file_type()?.is_file() {
                    continue;
                }
                if let Some(d) = parse_hex(&format!("{prefix}{rest}")) {
                    out.push((d, f.metadata()?.len()));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Remove a blob (gc).
    pub fn remove(&self, d: &Digest) -> io::Result<()> {
        match fs::remove_file(self.path(d)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// blake3 of `bytes`, on all cores (rayon) for large buffers.
pub fn hash(bytes: &[u8]) -> Digest {
    if bytes.len() >= PARALLEL_HASH_MIN {
        *blake3::Hasher::new()
            .update_rayon(bytes)
            .finalize()
            .as_bytes()
    } else {
        *blake3::hash(bytes).as_bytes()
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let s = BlobStore::new(dir.path().join("blobs"), dir.path().join("tmp"));
        (dir, s)
    }

    #[test]
    fn put_get_roundtrip_and_dedup() {
        let (_d, s) = store();
        let a = s.put(b"hello").unwrap();
        assert_eq!(&a, blake3::hash(b"hello").as_bytes());
        assert_eq!(s.put(b"hello").unwrap(), a);
        assert_eq!(s.get(&a).unwrap().unwrap(), b"hello");
        assert_eq!(s.list().unwrap(), vec![(a, 5)]);
        let big = vec![7u8; PARALLEL_HASH_MIN + 3];
        let b = s.put(&big).unwrap();
        assert_eq!(s.get(&b).unwrap().unwrap(), big);
    }

    #[test]
    fn corrupt_or_missing_blob_is_none() {
        let (_d, s) = store();
        let a = s.put(b"hello").unwrap();
        fs::write(s.path(&a), b"jello").unwrap();
        assert!(s.get(&a).unwrap().is_none());
        assert!(!s.verify(&a).unwrap());
        s.remove(&a).unwrap();
        assert!(s.get(&a).unwrap().is_none());
        assert!(!s.has(&a, 5));
    }

    #[test]
    fn only_own_temp_names_and_blob_names_are_recognised() {
        let tmp = tmp_path(Path::new("/t"), "a.json");
        let name = tmp.file_name().unwrap().to_str().unwrap();
        assert!(is_tmp_name(name), "{name}");
        for foreign in [
            "notes.tmp",
            "1-2-a.txt",
            "x-2-a.tmp",
            "1-2-a-b.tmp",
            "12-3.tmp",
            "1--a.tmp",
        ] {
            assert!(!is_tmp_name(foreign), "{foreign}");
        }
        let (d, s) = store();
        let a = s.put(b"hello").unwrap();
        let h = hex(&a);
        fs::write(
            d.path()
                .join("blobs")
                .join(&h[..2])
                .join(h[2..].to_uppercase()),
            b"x",
        )
        .unwrap();
        fs::create_dir_all(d.path().join("blobs/zz")).unwrap();
        fs::write(d.path().join("blobs/zz").join(&h[2..]), b"x").unwrap();
        fs::write(d.path().join("blobs/README"), b"x").unwrap();
        assert_eq!(s.list().unwrap(), vec![(a, 5)]);
    }

    #[test]
    fn hex_roundtrip() {
        let d = *blake3::hash(b"x").as_bytes();
        assert_eq!(parse_hex(&hex(&d)), Some(d));
        assert_eq!(parse_hex("zz"), None);
    }
}
