//! Golden digests of every stage kind (issue 17, "cache keys that cannot go stale"): a cache key
//! covers a kind's parameters, seed, inputs and its hand-bumped `version()`, not its code. This
//! test runs every shipped kind once on a tiny fixed pipeline (`golden_stages.toml`) and pins
//! the content digest of each kind's output beside its version in `stage_digests.txt`. A kind
//! whose output bytes change while its version and its inputs stay the same fails here, naming
//! the kind and the version to bump, so a behaviour change can never be served from old cache
//! entries. After a deliberate bump (or a change upstream), re-bless the file with
//! `SYNFACE_BLESS_DIGESTS=1 cargo test --test integration stage_digests`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use synface_engine::cache::Cache;
use synface_engine::events::NoEvents;
use synface_engine::run::{run_plan, RunOptions};
use synface_engine::scheduler::SchedOptions;
use synface_engine::{CancelToken, Plan};

const PIPELINE: &str = include_str!("golden_stages.toml");
const GOLDEN: &str = include_str!("stage_digests.txt");
const GOLDEN_PATH: &str = "tests/integration/stage_digests.txt";

/// One kind's pinned entry: its version and the digest of its outputs.
#[derive(Debug, Clone, PartialEq)]
struct Pin {
    version: u32,
    digest: String,
}

/// Three identities of two 20 px images each, as PNGs: the "real" folder `load_images` reads.
fn write_real_folder(root: &Path) {
    for id in 0..3u32 {
        let dir = root.join(format!("person-{id}"));
        std::fs::create_dir_all(&dir).expect("fixture folder");
        for n in 0..2u32 {
            let rgb: Vec<u8> = (0..20u32 * 20 * 3)
                .map(|i| ((i * (7 + id) + n * 31 + id * 50) % 251) as u8)
                .collect();
            let png = synface_stages::face::sheet::png(&rgb, 20, 20).expect("png");
            std::fs::write(dir.join(format!("{n}.png")), png).expect("fixture image");
        }
    }
}

/// Blake3 over an artifact's files in name order, with this build's commit id masked (reports
/// name the commit that made them; the digest is about what the code computes).
fn artifact_digest(cache: &Cache, m: &synface_engine::cache::ActionManifest) -> String {
    let commit = synface_stages::provenance::commit();
    let mut h = blake3::Hasher::new();
    for o in &m.outputs {
        let bytes = cache.load_output(o).expect("cache read").expect("blob");
        let masked = match (commit, std::str::from_utf8(&bytes)) {
            (Some(c), Ok(text)) => text.replace(c, "<commit>").into_bytes(),
            _ => bytes,
        };
        h.update(o.name.as_bytes());
        h.update(&(masked.len() as u64).to_le_bytes());
        h.update(&masked);
    }
    h.finalize().to_hex().to_string()
}

fn parse_golden(text: &str) -> BTreeMap<String, Pin> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let version = f[1].parse().expect("version");
            (
                f[0].to_string(),
                Pin {
                    version,
                    digest: f[2].to_string(),
                },
            )
        })
        .collect()
}

fn render_golden(pins: &BTreeMap<String, Pin>) -> String {
    let mut s = String::from(
        "# kind version digest: written by tests/integration/stage_digests.rs (see its module doc)\n",
    );
    for (k, p) in pins {
        s.push_str(&format!("{k} {} {}\n", p.version, p.digest));
    }
    s
}

/// Each kind's pin, and the kinds each kind reads from, after running the golden pipeline.
fn run_golden(tmp: &Path) -> (BTreeMap<String, Pin>, BTreeMap<String, Vec<String>>) {
    let real = tmp.join("real");
    write_real_folder(&real);
    let src = PIPELINE.replace("@REAL@", real.to_str().expect("utf-8 temp path"));
    let reg = synface_stages::registry();
    let plan: Plan = synface_engine::plan_from_str(&src, Path::new("golden.toml"), &[], &reg)
        .unwrap_or_else(|d| panic!("golden pipeline does not plan: {d:?}"));
    let opts = RunOptions {
        cache_dir: tmp.join("cache"),
        runs_dir: tmp.join("runs"),
        wait: Duration::from_secs(5),
        sched: SchedOptions {
            jobs: 2,
            ..SchedOptions::default()
        },
    };
    let summary = run_plan(&plan, &reg, &opts, &NoEvents, &CancelToken::new()).expect("golden run");
    assert_eq!(summary.exit_code(), 0, "{:?}", summary.report.outcomes);
    let cache = Cache::open(&opts.cache_dir, opts.wait).expect("cache");
    let mut digests: BTreeMap<String, (u32, blake3::Hasher)> = BTreeMap::new();
    let mut upstream: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (inst, outcome) in plan.instances.iter().zip(&summary.report.outcomes) {
        let m = outcome.manifest().expect("every golden instance completes");
        let d = artifact_digest(&cache, m);
        let entry = digests
            .entry(inst.kind.clone())
            .or_insert_with(|| (inst.version, blake3::Hasher::new()));
        entry.1.update(d.as_bytes());
        let ups = upstream.entry(inst.kind.clone()).or_default();
        for (_, ids) in &inst.inputs {
            ups.extend(ids.iter().map(|&i| plan.instances[i].kind.clone()));
        }
    }
    let pins = digests
        .into_iter()
        .map(|(k, (version, h))| {
            let digest = h.finalize().to_hex()[..32].to_string();
            (k, Pin { version, digest })
        })
        .collect();
    (pins, upstream)
}

/// What is wrong with `now` against `pinned`, kind by kind: an output change with the same
/// version and unchanged inputs is a forgotten bump; anything else only needs re-blessing.
fn judge(
    pinned: &BTreeMap<String, Pin>,
    now: &BTreeMap<String, Pin>,
    upstream: &BTreeMap<String, Vec<String>>,
) -> (Vec<String>, Vec<String>) {
    let changed = |k: &str| pinned.get(k) != now.get(k);
    let (mut stale, mut rebless) = (Vec::new(), Vec::new());
    for (kind, pin) in now {
        let Some(old) = pinned.get(kind) else {
            rebless.push(format!("`{kind}` has no golden digest yet"));
            continue;
        };
        if old == pin {
            continue;
        }
        let inputs_changed = upstream[kind].iter().any(|u| u != kind && changed(u));
        if old.version == pin.version && !inputs_changed {
            stale.push(format!(
                "stage kind `{kind}`: its output changed but its version is still {v}: bump \
                 `fn version` of `{kind}` (stages/src/kinds/{kind}.rs) to {n}, so caches stop serving \
                 the old results, then re-bless",
                v = pin.version,
                n = pin.version + 1
            ));
        } else {
            rebless.push(format!(
                "`{kind}`: version {} -> {} or inputs changed",
                old.version, pin.version
            ));
        }
    }
    (stale, rebless)
}

#[test]
fn stage_outputs_change_only_with_a_version_bump() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (now, upstream) = run_golden(tmp.path());
    let kinds: Vec<String> = synface_stages::registry()
        .kinds()
        .map(|k| k.to_string())
        .collect();
    let missing: Vec<&String> = kinds.iter().filter(|k| !now.contains_key(*k)).collect();
    assert!(missing.is_empty(), "golden_stages.toml runs no {missing:?}");
    let pinned = parse_golden(GOLDEN);
    let (stale, rebless) = judge(&pinned, &now, &upstream);
    assert!(stale.is_empty(), "{}", stale.join("\n"));
    if std::env::var_os("SYNFACE_BLESS_DIGESTS").is_some() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN_PATH);
        std::fs::write(path, render_golden(&now)).expect("write golden digests");
        return;
    }
    assert!(
        rebless.is_empty(),
        "{}\nre-bless: SYNFACE_BLESS_DIGESTS=1 cargo test --test integration stage_digests",
        rebless.join("\n")
    );
}

#[test]
fn a_changed_output_with_the_same_version_is_a_forgotten_bump() {
    let pin = |v: u32, d: &str| Pin {
        version: v,
        digest: d.into(),
    };
    let pinned = BTreeMap::from([
        ("a".to_string(), pin(1, "x")),
        ("b".to_string(), pin(1, "y")),
    ]);
    let upstream = BTreeMap::from([
        ("a".to_string(), vec![]),
        ("b".to_string(), vec!["a".into()]),
    ]);
    // `a` changed without a bump: `a` is stale, `b` (downstream) only needs re-blessing
    let now = BTreeMap::from([
        ("a".to_string(), pin(1, "x2")),
        ("b".to_string(), pin(1, "y2")),
    ]);
    let (stale, rebless) = judge(&pinned, &now, &upstream);
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert!(
        stale[0].contains("`a`") && stale[0].contains("to 2"),
        "{stale:?}"
    );
    assert_eq!(rebless.len(), 1, "{rebless:?}");
    // bumped: nothing stale
    let now = BTreeMap::from([
        ("a".to_string(), pin(2, "x2")),
        ("b".to_string(), pin(1, "y2")),
    ]);
    let (stale, rebless) = judge(&pinned, &now, &upstream);
    assert!(
        stale.is_empty() && rebless.len() == 2,
        "{stale:?} {rebless:?}"
    );
}
