//! Cache throughput benchmark (run by `bench/cache/run.sh`).
//!
//! 1. A large artifact through the cache (commit = blob write + fsync + manifest + sled
//!    transaction; load = read + blake3 verification) against a plain `write + fsync` and a
//!    plain `read` of the same bytes in the same directory. Prints MiB/s and the ratios.
//! 2. sled itself storing large values (insert + flush, two overwrites, reopen) against plain
//!    files: the measurement behind keeping blobs as files.
//!
//! Usage: `cache_bench [--dir DIR] [--mib 256] [--sled-values 8] [--sled-mib 32]`

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use synface_engine::cache::Cache;
use synface_engine::Artifact;

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn mibs(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(p) else { return 0 };
    rd.flatten()
        .map(|e| {
            let m = e.metadata().map(|m| m.len()).unwrap_or(0);
            if e.path().is_dir() {
                dir_size(&e.path())
            } else {
                m
            }
        })
        .sum()
}

fn peak_rss_mib() -> f64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn data(len: usize, salt: u8) -> Vec<u8> {
    let mut v = vec![0u8; len];
    let mut h = blake3::Hasher::new();
    h.update(&[salt]);
    h.finalize_xof().fill(&mut v);
    v
}

fn best<T>(n: usize, mut f: impl FnMut(usize) -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for i in 0..n {
        let t = Instant::now();
        let r = f(i);
        best = best.min(t.elapsed());
        last = Some(r);
    }
    (best, last.expect("n > 0"))
}

fn artifact_bench(root: &Path, mib: usize) -> Result<(), Box<dyn std::error::Error>> {
    let len = mib << 20;
    println!("== artifact of {mib} MiB (best of 3) ==");
    let plain = root.join("plain");
    fs::create_dir_all(&plain)?;
    let mut w_plain = Duration::MAX;
    let mut w_cache = Duration::MAX;
    let cache = Cache::open(&root.join("cache"), Duration::ZERO)?;
    for i in 0..3u8 {
        let bytes = data(len, 10 + i);
        let t = Instant::now();
        let mut f = fs::File::create(plain.join(format!("g{i}")))?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        w_plain = w_plain.min(t.elapsed());
        let mut a = Artifact::new();
        a.add("blob.bin", data(len, 20 + i));
        let t = Instant::now();
        cache.commit(&[i; 32], "bench", "bench", serde_json::json!({}), &a, 0.0)?;
        w_cache = w_cache.min(t.elapsed());
    }
    let (r_plain, n1) = best(3, |_| fs::read(plain.join("g2")).expect("read").len());
    let m = cache.manifest(&[2; 32])?.ok_or("manifest missing")?;
    let (r_cache, n2) = best(3, |_| {
        cache.load(&m).expect("load").expect("verified").files.len()
    });
    assert_eq!((n1, n2), (len, 1));
    let (wp, wc, rp, rc) = (
        mibs(len, w_plain),
        mibs(len, w_cache),
        mibs(len, r_plain),
        mibs(len, r_cache),
    );
    println!(
        "write: plain write+fsync {wp:8.0} MiB/s | cache commit {wc:8.0} MiB/s | ratio {:.2}",
        wc / wp
    );
    println!(
        "read:  plain read        {rp:8.0} MiB/s | cache load   {rc:8.0} MiB/s | ratio {:.2}",
        rc / rp
    );
    Ok(())
}

fn sled_bench(root: &Path, values: usize, mib: usize) -> Result<(), Box<dyn std::error::Error>> {
    let len = mib << 20;
    let total = values * len;
    println!("== sled 0.34 vs files: {values} x {mib} MiB values ==");
    let payload: Vec<Vec<u8>> = (0..values).map(|i| data(len, i as u8)).collect();
    let files = root.join("files");
    fs::create_dir_all(&files)?;
    let t = Instant::now();
    for (i, v) in payload.iter().enumerate() {
        let mut f = fs::File::create(files.join(format!("v{i}")))?;
        f.write_all(v)?;
        f.sync_all()?;
    }
    let t_files = t.elapsed();
    println!(
        "files: write {:8.0} MiB/s, on disk {:.0} MiB",
        mibs(total, t_files),
        dir_size(&files) as f64 / 1048576.0
    );
    let sled_dir = root.join("sled");
    let rss0 = peak_rss_mib();
    {
        let db = sled::open(&sled_dir)?;
        for round in 0..3 {
            let t = Instant::now();
            for (i, v) in payload.iter().enumerate() {
                db.insert(format!("v{i}"), v.as_slice())?;
            }
            db.flush()?;
            println!(
                "sled: write round {round} {:8.0} MiB/s, on disk {:.0} MiB",
                mibs(total, t.elapsed()),
                dir_size(&sled_dir) as f64 / 1048576.0
            );
        }
    }
    let t = Instant::now();
    let db = sled::open(&sled_dir)?;
    let n = db.len();
    println!(
        "sled: reopen {:.2} s ({n} keys); peak RSS {:.0} MiB (before sled: {rss0:.0} MiB)",
        t.elapsed().as_secs_f64(),
        peak_rss_mib()
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(arg(&args, "--dir", "target/cache-bench"));
    let mib: usize = arg(&args, "--mib", "256").parse()?;
    let values: usize = arg(&args, "--sled-values", "8").parse()?;
    let sled_mib: usize = arg(&args, "--sled-mib", "32").parse()?;
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    artifact_bench(&dir, mib)?;
    if values > 0 {
        sled_bench(&dir, values, sled_mib)?;
    }
    fs::remove_dir_all(&dir)?;
    Ok(())
}
