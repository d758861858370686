//! Crash safety: SIGKILL the binary at seeded random moments, rerun to completion, and
//! check the outputs are byte-identical to an uninterrupted run, every cache entry is whole,
//! and the checkpointing stage resumes from its checkpoint.

use std::time::Duration;

use crate::cli::{code, text, tree, Sandbox};

const SLOW: &str = r#"
[pipeline]
name = "crash"
seed = 3

[sweep]
factor = [2.0, 5.0]

[stages.src]
kind = "toy_source"
n = 11
size = 4096
sleep_ms = 40

[stages.map]
kind = "toy_map"
input = "src"
factor = "${factor}"
sleep_ms = 40

[stages.steps]
kind = "toy_steps"
input = "map"
steps = 25
sleep_ms = 12

[stages.sum]
kind = "toy_sum"
input = "steps"
"#;

/// xorshift64*: a seeded generator for kill times (no dependency needed).
pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Every manifest's blobs exist and match their digests.
pub(crate) fn assert_cache_whole(sb: &Sandbox) {
    assert_cache_dir_whole(&sb.cache_dir());
}

/// Every manifest's blobs exist and match their digests, for a cache at any path.
pub(crate) fn assert_cache_dir_whole(cache: &std::path::Path) {
    let actions = cache.join("actions");
    let Ok(entries) = std::fs::read_dir(&actions) else {
        return;
    };
    for e in entries.flatten() {
        let m: serde_json::Value = serde_json::from_slice(&std::fs::read(e.path()).unwrap())
            .expect("manifests are whole JSON");
        for o in m["outputs"].as_array().unwrap() {
            let d = o["digest"].as_str().unwrap();
            let blob = cache.join("blobs").join(&d[..2]).join(&d[2..]);
            let bytes = std::fs::read(&blob)
                .unwrap_or_else(|_| panic!("manifest {:?} lacks blob {d}", e.path()));
            assert_eq!(
                synface_engine::cache::hex(&synface_engine::cache::hash(&bytes)),
                d,
                "blob {d} verifies"
            );
        }
    }
}

#[test]
fn sigkill_at_random_moments_never_corrupts_or_changes_results() {
    let reference = Sandbox::new(SLOW);
    let r = reference.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    let expected = tree(&reference.path().join("runs/crash"));

    let mut rng = Rng(0x5EED_CAFE);
    let mut resumed = 0;
    for trial in 0..10 {
        let sb = Sandbox::new(SLOW);
        let mut child = sb
            .cmd(&["run", "p.toml"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let at = 60 + rng.below(700);
        std::thread::sleep(Duration::from_millis(at));
        let _ = child.kill();
        child.wait().unwrap();
        assert_cache_whole(&sb);

        let r = sb.synface(&["run", "p.toml"]);
        assert_eq!(code(&r), 0, "trial {trial} (kill at {at} ms): {}", text(&r));
        assert_cache_whole(&sb);
        assert_eq!(
            tree(&sb.path().join("runs/crash")),
            expected,
            "trial {trial} (kill at {at} ms)"
        );
        let events = sb.events("crash");
        if events.iter().any(|e| {
            e["event"] == "started" && e["stage"] == "steps" && e["resume_from"].as_u64() > Some(0)
        }) {
            resumed += 1;
        }
    }
    eprintln!("{resumed} of 10 killed runs resumed toy_steps from a checkpoint");
    assert!(
        resumed > 0,
        "at least one trial resumed toy_steps from a checkpoint"
    );
}
