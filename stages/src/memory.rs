//! Bounds on big allocations. A stage whose output grows with its parameters (images x size²)
//! checks the bytes it is about to hold against the memory this machine has available
//! *before* allocating, and allocates its big buffers fallibly, so that an impossible request
//! (say 100,000 images at 1024 px) fails the stage with a message naming the parameters
//! instead of aborting the whole process on an allocation failure.
//!
//! Available memory is Linux's `MemAvailable` (`/proc/meminfo`); where that cannot be read,
//! only the fallible allocation guards (no up-front estimate).

use synface_engine::StageError;

/// Bytes of memory available to new allocations, if the OS tells.
pub fn available_bytes() -> Option<u64> {
    proc_bytes("/proc/meminfo", "MemAvailable:")
}

/// This process's peak resident set in bytes (Linux `VmHWM`), if the OS tells; the training
/// benchmark (`stages/examples/train_bench.rs`) reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_bytes("/proc/self/status", "VmHWM:")
}

/// The `key: N kB` line of a Linux `/proc` file, in bytes.
fn proc_bytes(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// `Ok` when `bytes` (None: the size overflowed) fits in the available memory; otherwise a
/// stage error saying what needed it (`what`, naming the parameters) and what to lower.
pub fn ensure_fits(bytes: Option<u64>, what: &str) -> Result<(), StageError> {
    let Some(bytes) = bytes else {
        return Err(StageError::param(
            "",
            format!("{what} needs more memory than can be addressed: lower the parameters"),
        ));
    };
    match available_bytes() {
        Some(avail) if bytes > avail => Err(StageError::param(
            "",
            format!(
                "{what} needs {:.1} GiB of memory but only {:.1} GiB is available: lower the \
                 parameters",
                gib(bytes),
                gib(avail)
            ),
        )),
        _ => Ok(()),
    }
}

/// An empty vector with room for `n` elements, allocated fallibly.
pub fn try_with_capacity<T>(n: usize, what: &str) -> Result<Vec<T>, StageError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        let bytes = (n as u64).checked_mul(std::mem::size_of::<T>() as u64);
        let size = bytes.map_or("more than addressable".into(), |b| {
            format!("{:.1} GiB", gib(b))
        });
        StageError::param(
            "",
            format!("{what}: could not allocate {size} for {n} elements: lower the parameters"),
        )
    })?;
    Ok(v)
}

/// Bytes of `n` RGB u8 images of `side` x `side` pixels, if that fits in a u64.
pub fn image_bytes(n: usize, side: usize) -> Option<u64> {
    (n as u64)
        .checked_mul(side as u64)?
        .checked_mul(side as u64)?
        .checked_mul(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_sizes_are_errors_not_aborts() {
        let e = ensure_fits(
            image_bytes(20_000_000, 1024),
            "render of 20000000 images at size = 1024",
        );
        assert!(
            matches!(e, Err(StageError::Param { message, .. }) if message.contains("size = 1024"))
        );
        assert!(ensure_fits(None, "x").is_err());
        assert!(ensure_fits(Some(1024), "small").is_ok());
        let v: Result<Vec<u64>, _> = try_with_capacity(usize::MAX / 4, "huge");
        assert!(v.is_err());
        assert_eq!(image_bytes(2, 10), Some(600));
        assert_eq!(image_bytes(usize::MAX, 1 << 20), None);
    }

    #[test]
    fn proc_readers_parse_linux_kib_lines() {
        if cfg!(target_os = "linux") {
            assert!(available_bytes().is_some_and(|b| b > 0));
            assert!(peak_rss_bytes().is_some_and(|b| b > 0));
        }
        assert_eq!(proc_bytes("/nonexistent/synface", "VmHWM:"), None);
    }
}
