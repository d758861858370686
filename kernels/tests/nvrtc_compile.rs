//! Every CUDA source of the crate compiles with NVRTC (no GPU needed). Runs when the NVRTC
//! library can be loaded; otherwise prints why it was skipped (or fails, with
//! `SYNFACE_REQUIRE_NVRTC=1`, as CI sets after installing it).

#[cfg(any(feature = "gpu", feature = "cuda"))]
#[test]
fn every_cu_source_compiles_with_nvrtc() {
    use synface_kernels::{gpu, GpuError, SOURCES};
    if !gpu::nvrtc_available() {
        assert!(
            std::env::var("SYNFACE_REQUIRE_NVRTC").as_deref() != Ok("1"),
            "SYNFACE_REQUIRE_NVRTC=1 but NVRTC cannot be loaded (check LD_LIBRARY_PATH)"
        );
        println!(
            "skipped: NVRTC not found (set LD_LIBRARY_PATH to a directory holding libnvrtc.so, \
             e.g. the `nvidia/cuda_nvrtc/lib` directory of PyPI's nvidia-cuda-nvrtc-cu12 wheel)"
        );
        return;
    }
    assert_eq!(SOURCES.len(), 3);
    for (name, src) in SOURCES {
        let ptx = gpu::compile(name, src).unwrap_or_else(|e| panic!("{e}"));
        assert!(ptx.contains(".entry"), "{name}: PTX has no kernel entry");
        println!("compiled {name}: {} bytes of PTX", ptx.len());
    }
    // Every kernel the host code loads is in the PTX.
    let ptx = gpu::ptx_all().expect("all sources compile");
    let all: String = ptx.iter().map(|(_, p)| p.as_str()).collect();
    for k in [
        "cosine_pairs_f32",
        "cosine_all_f32",
        "l2_normalize_f32",
        "batch_input_f32",
        "bn_stats",
        "bn_act_apply",
        "bn_act_grad_sums",
        "bn_act_grad_dx",
    ] {
        assert!(
            all.contains(&format!(".entry {k}")),
            "kernel {k} missing from the PTX"
        );
    }
    // A syntax error is reported with the compiler's log, not swallowed.
    let broken = "extern \"C\" __global__ void f(float* x) { x[0] = ; }";
    match gpu::compile("broken.cu", broken) {
        Err(GpuError::Compile { source_name, log }) => {
            assert_eq!(source_name, "broken.cu");
            assert!(log.contains("error"), "log: {log}");
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
}

#[cfg(not(any(feature = "gpu", feature = "cuda")))]
#[test]
fn every_cu_source_compiles_with_nvrtc() {
    println!("skipped: synface-kernels built without the `gpu`/`cuda` features");
}
