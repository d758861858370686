//! Build script of synface-stages: records the git commit the crate is built from as the
//! compile-time variable `SYNFACE_GIT_COMMIT` (12 hex digits; empty when unknown: no git, or
//! not a checkout), for the provenance in run history and reports (`provenance.rs`). A
//! non-empty `SYNFACE_GIT_COMMIT` in the build environment wins (builds from a tarball).
//! A build from a tree with uncommitted changes to tracked files records `<commit>-dirty`, so a
//! report never names a commit whose code did not make it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SYNFACE_GIT_COMMIT");
    let commit = std::env::var("SYNFACE_GIT_COMMIT")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(git_commit)
        .unwrap_or_default();
    println!("cargo:rustc-env=SYNFACE_GIT_COMMIT={commit}");
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()))
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(manifest_dir())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Rerun this script when `rel` (a path git printed, relative to the crate) changes; only for
/// files that exist, since a missing one would rerun it on every build.
fn watch(rel: &str) {
    let p = manifest_dir().join(Path::new(rel));
    if p.is_file() {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}

fn git_commit() -> Option<String> {
    let head = git(&["rev-parse", "HEAD"])?;
    if let Some(p) = git(&["rev-parse", "--git-path", "HEAD"]) {
        watch(&p);
    }
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(p) = git(&["rev-parse", "--git-path", &r]) {
            watch(&p);
        }
    }
    if let Some(p) = git(&["rev-parse", "--git-path", "packed-refs"]) {
        watch(&p);
    }
    // the tree's compiled sources: a change there reruns this script to re-check dirtiness
    for dir in ["src", "../engine/src", "../kernels/src", "../src"] {
        let p = manifest_dir().join(dir);
        if p.is_dir() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let short: String = head.chars().take(12).collect();
    Some(if dirty {
        format!("{short}-dirty")
    } else {
        short
    })
}
