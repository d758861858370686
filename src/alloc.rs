//! Allocator tuning of the `synface` binary, chosen in the binary rather than in a library
//! (`stages/examples/train_bench.rs` includes this file to measure the same way). For
//! training: with glibc's defaults, every tensor buffer above the dynamic mmap threshold is
//! mmapped and unmapped on every step, and a training step then spends a large share of its
//! time in page faults and cross-core TLB shootdowns. Raising the mmap threshold
//! to glibc's maximum (32 MiB) and keeping freed memory in the heap lets those buffers be
//! reused. Measured with `bench/train/run.sh`'s example (IR-ResNet, 64x64, batch 64, 2 cores):
//! 24.4 -> 34.9 images/s. Only allocation placement changes; results are byte-identical.
//!
//! Other allocators, measured the same way (`train_bench 10 64 64`, 3 runs each, this tuning
//! vs the example rebuilt with a `#[global_allocator]`, 2026-12-02, 2-core Xeon): tuned glibc
//! 36.0-42.8 images/s (glibc defaults 24.6-27.0), mimalloc 0.1 34.9-38.9, jemalloc
//! (tikv-jemallocator 0.6, defaults) 17.4-19.2. Neither pays, so the binary keeps glibc.

/// Apply the tuning to this process (call once, early, from `main`). A no-op off glibc.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const MMAP_THRESHOLD_MAX: libc::c_int = 32 << 20;
        const KEEP: libc::c_int = 1 << 30;
        // SAFETY: mallopt only sets allocator parameters; it is called before any other
        // thread exists in the binaries that call this.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX);
            libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP);
            libc::mallopt(libc::M_TOP_PAD, 256 << 20);
        }
    }
}
