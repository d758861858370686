//! Fault injection (issue 14) on a small whole face pipeline (`faults_faces.toml`), through the
//! binary:
//!
//! 1. SIGKILL at seeded moments spread over a run (placed relative to the run's own events,
//!    so they follow its progress on any machine): the rerun exits 0, every cache entry is
//!    whole and the run directory is byte-identical to an uninterrupted run's.
//! 2. Each kind of cache file corrupted, truncated or deleted after a good run (blobs, action
//!    manifests, run records, `last/` files, the sled index, the marker, the lock, a stray
//!    temporary file) or in a run killed mid-training (its checkpoint): the rerun exits 0
//!    without a panic, with identical outputs, the damaged entry recomputed or the damage
//!    ignored, and afterwards `gc` succeeds and `plan` finds everything cached. A marker that
//!    is not a synface marker is the exception, by design: refused with exit 2, untouched.
//! 3. A full disk (a small tmpfs; root only) under `--cache` and under `--runs`: exit 3, no
//!    temporary files left behind; once the disk has room, a rerun gives identical outputs.
//! 4. Two processes on one cache: the second fails at once naming the holder, or waits.
//!
//! Counts are printed on stderr (`cargo test --test integration faults -- --nocapture`).

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::cli::{code, text, tree, Sandbox, TOY};
use crate::crash::{assert_cache_dir_whole, assert_cache_whole, Rng};

const FACES: &str = include_str!("faults_faces.toml");
/// The `[pipeline] name` of [`FACES`].
const NAME: &str = "faults";
/// The cache marker's file name.
const MARKER: &str = synface_engine::cache::marker::MARKER;

type Files = BTreeMap<String, Vec<u8>>;

/// An uninterrupted run of [`FACES`], made once per test binary.
struct Reference {
    /// The run directory (without `events.jsonl`).
    outputs: Files,
    /// Every file of the cache directory after the run.
    cache: Files,
    /// When each event of its log happened (seconds from the log's creation), progress events
    /// aside: kill moments are placed relative to these.
    event_times: Vec<f64>,
}

fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let sb = Sandbox::new(FACES);
        let r = sb.synface(&["run", "p.toml"]);
        assert_ok(&r, "the reference run");
        Reference {
            outputs: tree(&sb.path().join("runs").join(NAME)),
            cache: tree(&sb.cache_dir()),
            event_times: logged_events(&sb)
                .iter()
                .map(|l| {
                    let e: serde_json::Value = serde_json::from_str(l).expect("event line");
                    e["t"].as_f64().expect("event time")
                })
                .collect(),
        }
    })
}

/// Exit 0 and no panic message.
fn assert_ok(o: &Output, what: &str) {
    assert_eq!(code(o), 0, "{what}: {}", text(o));
    assert_no_panic(o, what);
}

fn assert_no_panic(o: &Output, what: &str) {
    assert!(!text(o).contains("panicked"), "{what}: {}", text(o));
}

/// Paths that are missing, extra or different in `got` compared with `want`.
fn tree_diff(got: &Files, want: &Files) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in want {
        match got.get(k) {
            None => out.push(format!("missing {k}")),
            Some(g) if g != v => out.push(format!("differs {k}")),
            Some(_) => {}
        }
    }
    out.extend(
        got.keys()
            .filter(|k| !want.contains_key(*k))
            .map(|k| format!("extra {k}")),
    );
    out
}

fn assert_outputs_match(run_dir: &Path, what: &str) {
    let diff = tree_diff(&tree(run_dir), &reference().outputs);
    assert!(
        diff.is_empty(),
        "{what}: run directory differs from the uninterrupted run: {diff:?}"
    );
}

/// Write `files` (relative path -> bytes) under `dir`.
fn restore(dir: &Path, files: &Files) {
    for (rel, bytes) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, bytes).expect("write");
    }
}

/// Every file under `dir`, as full paths, sorted (see [`crate::cli::files`]).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    crate::cli::files(dir)
        .into_iter()
        .map(|rel| dir.join(rel))
        .collect()
}

fn tmp_files_under(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "tmp"))
        .collect()
}

/// Stages (sorted) that the last run of [`NAME`] in `sb` started, i.e. computed.
fn started(sb: &Sandbox) -> Vec<String> {
    let mut v: Vec<String> = sb
        .events(NAME)
        .iter()
        .filter(|e| e["event"] == "started")
        .map(|e| e["stage"].as_str().unwrap_or_default().to_string())
        .collect();
    v.sort();
    v
}

/// Checkpoint files of the cache in `sb`.
fn checkpoint_files(sb: &Sandbox) -> Vec<PathBuf> {
    files_under(&sb.cache_dir().join("checkpoints"))
}

/// `synface plan` finds every instance cached.
fn assert_all_cached(sb: &Sandbox, what: &str) {
    let plan = sb.synface(&["plan", "p.toml"]);
    assert_ok(&plan, what);
    let out = text(&plan);
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.ends_with(" 0 pending"),
        "{what}: after the rerun, plan still has work: {out}"
    );
}

/// The complete lines of the face pipeline's event log in `sb`, progress events aside (those
/// are buffered; every other event is flushed as it happens).
fn logged_events(sb: &Sandbox) -> Vec<String> {
    let log = sb.path().join("runs").join(NAME).join("events.jsonl");
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |i| &text[..i]);
    complete
        .lines()
        .filter(|l| !l.contains(r#""event":"progress""#))
        .map(str::to_string)
        .collect()
}

/// `started train` for an event line.
fn describe_event(line: &str) -> String {
    let e: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
    format!(
        "{} {}",
        e["event"].as_str().unwrap_or("?"),
        e["stage"].as_str().unwrap_or_default()
    )
    .trim_end()
    .to_string()
}

#[test]
fn sigkill_during_a_face_pipeline_then_rerun_gives_identical_outputs() {
    const TRIALS: u64 = 16;
    let times = &reference().event_times;
    // The reference run's span, plus a little for its last writes after `run_finished`.
    let span_ms = (times.last().copied().unwrap_or(0.0) * 1000.0) as u64 + 100;
    let mut rng = Rng(0xFACE_5EED_0014);
    let (mut mid_run, mut with_checkpoint, mut resumed) = (0, 0, 0);
    let mut failures = Vec::new();
    for trial in 0..TRIALS {
        let sb = Sandbox::new(FACES);
        // A seeded moment in this trial's slice of the reference run, expressed as "this long
        // after the last event before it", so kills follow the run's own progress whatever
        // the machine's speed.
        let at_ms = span_ms * (trial * 1000 + rng.below(1000)) / (TRIALS * 1000);
        let anchor = times
            .iter()
            .filter(|&&t| t * 1000.0 <= at_ms as f64)
            .count();
        let since = anchor.checked_sub(1).map_or(0.0, |i| times[i] * 1000.0);
        let delay = at_ms.saturating_sub(since as u64);
        let mut child = sb
            .cmd(&["run", "p.toml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn synface");
        let after = loop {
            let logged = logged_events(&sb);
            if logged.len() >= anchor || child.try_wait().expect("try_wait").is_some() {
                break logged
                    .get(anchor.wrapping_sub(1))
                    .map_or("the start".to_string(), |l| describe_event(l));
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        std::thread::sleep(Duration::from_millis(delay));
        let still_running = child.try_wait().expect("try_wait").is_none();
        let _ = child.kill();
        child.wait().expect("wait");
        mid_run += usize::from(still_running);
        let what = format!("trial {trial} (SIGKILL {delay} ms after event {anchor}: {after})");
        let done = logged_events(&sb)
            .iter()
            .filter(|l| l.contains(r#""event":"finished""#))
            .count();
        let steps_on_disk: Vec<u64> = checkpoint_files(&sb)
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .filter_map(|b| Some(u64::from_le_bytes(b.get(8..16)?.try_into().ok()?)))
            .collect();

        let checked = catch_unwind(AssertUnwindSafe(|| {
            assert_cache_whole(&sb);
            let r = sb.synface(&["run", "p.toml"]);
            assert_ok(&r, &what);
            assert_cache_whole(&sb);
            assert_outputs_match(&sb.path().join("runs").join(NAME), &what);
            let resumed_from: Vec<u64> = sb
                .events(NAME)
                .iter()
                .filter(|e| e["event"] == "started" && e["stage"] == "train")
                .filter_map(|e| e["resume_from"].as_u64())
                .collect();
            (started(&sb), resumed_from)
        }));
        let (computed, resumed_from) = match checked {
            Ok(v) => v,
            Err(e) => {
                failures.push(panic_message(&*e));
                continue;
            }
        };
        // A checkpoint can outlive its instance's commit (killed between the two): then the
        // rerun finds train cached and has nothing to resume.
        with_checkpoint +=
            usize::from(!steps_on_disk.is_empty() && computed.iter().any(|s| s == "train"));
        resumed += usize::from(resumed_from.iter().any(|&s| s > 0));
        eprintln!(
            "{what}: {} after {done} instances finished, checkpoint steps on disk \
             {steps_on_disk:?}; the rerun computed {computed:?}, train resuming from \
             {resumed_from:?}",
            if still_running {
                "killed"
            } else {
                "had exited"
            },
        );
    }
    eprintln!(
        "{TRIALS} SIGKILL trials on the face pipeline: {mid_run} killed mid-run, {with_checkpoint} \
         left a checkpoint of a training the rerun had to finish, {resumed} reruns resumed \
         training from one; {} reruns exited 0 with whole cache entries and byte-identical \
         outputs",
        TRIALS as usize - failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(mid_run > 0, "no trial killed a running process");
    assert!(
        with_checkpoint == 0 || resumed > 0,
        "{with_checkpoint} kills left a checkpoint of an unfinished training, no rerun resumed"
    );
}

/// How a damaged file must look once the rerun is over.
enum After {
    /// Back with the reference's bytes (a recomputed blob).
    SameBytes(PathBuf),
    /// Back as a whole manifest with the reference's outputs (a recomputed action).
    SameManifest(PathBuf),
    /// Removed (a stray temporary file).
    Gone(PathBuf),
    /// Nothing particular (the damage is ignored or repaired elsewhere).
    Anything,
}

/// What a case starts from: a finished run's cache, or a run killed mid-training.
#[derive(Clone, Copy)]
enum Start {
    Finished,
    KilledInTraining,
}

/// Damage the cache at the path; say what was damaged and how it must look after the rerun.
type Damage = fn(&Path, &mut Rng) -> (String, After);

fn rel(cache: &Path, p: &Path) -> String {
    p.strip_prefix(cache)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

fn pick(files: Vec<PathBuf>, rng: &mut Rng, what: &str) -> PathBuf {
    assert!(!files.is_empty(), "no {what} to damage");
    let i = rng.below(files.len() as u64) as usize;
    files[i].clone()
}

/// Every action manifest of the cache: its file and parsed content.
fn manifests(cache: &Path) -> Vec<(PathBuf, serde_json::Value)> {
    files_under(&cache.join("actions"))
        .into_iter()
        .map(|p| {
            let m = serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("manifest");
            (p, m)
        })
        .collect()
}

/// Every blob file with the `stage/output` names of the manifests that list it.
fn blob_users(cache: &Path) -> BTreeMap<PathBuf, Vec<String>> {
    let mut users: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for (_, m) in manifests(cache) {
        for o in m["outputs"].as_array().expect("outputs") {
            let d = o["digest"].as_str().expect("digest");
            let p = cache.join("blobs").join(&d[..2]).join(&d[2..]);
            let user = format!("{}/{}", m["stage"].as_str().unwrap_or("?"), o["name"]);
            users.entry(p).or_default().push(user.replace('"', ""));
        }
    }
    users
}

/// The first blob (by path) holding output `stage/name`, and its description.
fn blob_of(cache: &Path, stage_output: &str) -> (PathBuf, String) {
    let users = blob_users(cache);
    let (p, u) = users
        .iter()
        .find(|(_, u)| u.iter().any(|x| x == stage_output))
        .unwrap_or_else(|| panic!("no blob holds {stage_output}"));
    (p.clone(), format!("{} ({})", rel(cache, p), u.join(", ")))
}

/// A seeded random blob, and its description.
fn any_blob(cache: &Path, rng: &mut Rng) -> (PathBuf, String) {
    let users = blob_users(cache);
    let p = pick(users.keys().cloned().collect(), rng, "blob");
    let d = format!("{} ({})", rel(cache, &p), users[&p].join(", "));
    (p, d)
}

/// The blob listed by the most manifests (deduplicated outputs), and its description.
fn shared_blob(cache: &Path) -> (PathBuf, String) {
    let users = blob_users(cache);
    let (p, u) = users
        .iter()
        .max_by_key(|(p, u)| (u.len(), std::cmp::Reverse((*p).clone())))
        .expect("blobs");
    assert!(u.len() > 1, "no blob is shared between manifests");
    (p.clone(), format!("{} ({})", rel(cache, p), u.join(", ")))
}

/// The manifest file of the first instance (by key) of `stage`, or a seeded random one.
fn action_of(cache: &Path, stage: Option<&str>, rng: &mut Rng) -> (PathBuf, String) {
    let all = manifests(cache);
    let (p, m) = match stage {
        Some(s) => all
            .iter()
            .find(|(_, m)| m["stage"] == s)
            .unwrap_or_else(|| panic!("no manifest of {s}"))
            .clone(),
        None => all[rng.below(all.len() as u64) as usize].clone(),
    };
    let d = format!("{} (stage {})", rel(cache, &p), m["stage"]);
    (p, d.replace('"', ""))
}

fn json_in(cache: &Path, sub: &str, rng: &mut Rng) -> PathBuf {
    let files = files_under(&cache.join(sub))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    pick(files, rng, sub)
}

fn flip_byte(p: &Path, rng: &mut Rng) {
    let mut b = std::fs::read(p).expect("read");
    let i = rng.below(b.len() as u64) as usize;
    b[i] ^= 0x5A;
    std::fs::write(p, b).expect("write");
}

fn truncate_half(p: &Path) {
    let len = std::fs::metadata(p).expect("metadata").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .expect("open");
    f.set_len(len / 2).expect("truncate");
}

/// Seeded random bytes over the whole file (at least 64).
fn garbage(p: &Path, rng: &mut Rng) {
    let len = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0).max(64);
    let bytes: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
    std::fs::write(p, bytes).expect("write");
}

fn remove(p: &Path) {
    std::fs::remove_file(p).expect("remove");
}

/// One case: a name, what it starts from, the damage.
type Case = (&'static str, Start, Damage);

fn case(name: &'static str, start: Start, damage: Damage) -> Case {
    (name, start, damage)
}

fn cases() -> Vec<Case> {
    use Start::*;
    vec![
        case("blob: one byte flipped", Finished, |c, rng| {
            let (p, d) = blob_of(c, "train/model.safetensors");
            flip_byte(&p, rng);
            (d, After::SameBytes(p))
        }),
        case("blob: truncated", Finished, |c, _| {
            let (p, d) = blob_of(c, "render/dataset.safetensors");
            truncate_half(&p);
            (d, After::SameBytes(p))
        }),
        case("blob: deleted", Finished, |c, rng| {
            let (p, d) = any_blob(c, rng);
            remove(&p);
            (d, After::SameBytes(p))
        }),
        case(
            "blob shared by several manifests: one byte flipped",
            Finished,
            |c, rng| {
                let (p, d) = shared_blob(c);
                flip_byte(&p, rng);
                (d, After::SameBytes(p))
            },
        ),
        case("actions/*.json: truncated", Finished, |c, rng| {
            let (p, d) = action_of(c, Some("render"), rng);
            truncate_half(&p);
            (d, After::SameManifest(p))
        }),
        case("actions/*.json: garbage", Finished, |c, rng| {
            let (p, d) = action_of(c, Some("train"), rng);
            garbage(&p, rng);
            (d, After::SameManifest(p))
        }),
        case("actions/*.json: deleted", Finished, |c, rng| {
            let (p, d) = action_of(c, None, rng);
            remove(&p);
            (d, After::SameManifest(p))
        }),
        case("records/*.json: truncated", Finished, |c, rng| {
            let p = json_in(c, "records", rng);
            truncate_half(&p);
            (rel(c, &p), After::Anything)
        }),
        case("records/*.json: garbage", Finished, |c, rng| {
            let p = json_in(c, "records", rng);
            garbage(&p, rng);
            (rel(c, &p), After::Anything)
        }),
        case("records/*.json: deleted", Finished, |c, rng| {
            let p = json_in(c, "records", rng);
            remove(&p);
            (rel(c, &p), After::Anything)
        }),
        case("index/: every file garbage", Finished, |c, rng| {
            let files = files_under(&c.join("index"));
            assert!(!files.is_empty(), "no sled files");
            for p in &files {
                garbage(p, rng);
            }
            (
                format!("{} files under index/", files.len()),
                After::Anything,
            )
        }),
        case("index/: every file truncated", Finished, |c, _| {
            let files = files_under(&c.join("index"));
            for p in &files {
                truncate_half(p);
            }
            (
                format!("{} files under index/", files.len()),
                After::Anything,
            )
        }),
        case("index/: deleted", Finished, |c, _| {
            std::fs::remove_dir_all(c.join("index")).expect("remove index/");
            ("index/".into(), After::Anything)
        }),
        case(
            "checkpoint of a killed run: garbage",
            KilledInTraining,
            |c, rng| {
                let files = files_under(&c.join("checkpoints"));
                for p in &files {
                    garbage(p, rng);
                }
                (format!("{} checkpoint files", files.len()), After::Anything)
            },
        ),
        case(
            "checkpoint of a killed run: truncated",
            KilledInTraining,
            |c, _| {
                let files = files_under(&c.join("checkpoints"));
                for p in &files {
                    truncate_half(p);
                }
                (format!("{} checkpoint files", files.len()), After::Anything)
            },
        ),
        case(
            "checkpoint of a killed run: step field flipped",
            KilledInTraining,
            |c, _| {
                // The header is magic (8 bytes), step (8), blake3 of the data (32).
                let files = files_under(&c.join("checkpoints"));
                for p in &files {
                    let mut b = std::fs::read(p).expect("read");
                    b[8] ^= 0x03;
                    std::fs::write(p, b).expect("write");
                }
                (format!("{} checkpoint files", files.len()), After::Anything)
            },
        ),
        case("last/*.json: garbage", Finished, |c, rng| {
            let p = json_in(c, "last", rng);
            garbage(&p, rng);
            (rel(c, &p), After::Anything)
        }),
        case("last/*.json: deleted", Finished, |c, rng| {
            let p = json_in(c, "last", rng);
            remove(&p);
            (rel(c, &p), After::Anything)
        }),
        case("synface-cache.json marker: deleted", Finished, |c, _| {
            remove(&c.join(MARKER));
            (MARKER.into(), After::Anything)
        }),
        case("lock: deleted", Finished, |c, _| {
            remove(&c.join("lock"));
            ("lock".into(), After::Anything)
        }),
        case("lock: garbage", Finished, |c, rng| {
            garbage(&c.join("lock"), rng);
            ("lock".into(), After::Anything)
        }),
        case(
            "tmp/: a dead process's temporary file",
            Finished,
            |c, rng| {
                let p = c.join("tmp").join("999999-3-blob.tmp");
                std::fs::create_dir_all(c.join("tmp")).expect("mkdir tmp");
                garbage(&p, rng);
                (rel(c, &p), After::Gone(p))
            },
        ),
    ]
}

/// Start the face pipeline in `sb` and SIGKILL it as soon as a training checkpoint is on disk.
fn kill_in_training(sb: &Sandbox) {
    let mut child = sb
        .cmd(&["run", "p.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn synface");
    let seen = loop {
        if !checkpoint_files(sb).is_empty() {
            break true;
        }
        if child.try_wait().expect("try_wait").is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = child.kill();
    child.wait().expect("wait");
    assert!(
        seen && !checkpoint_files(sb).is_empty(),
        "the run ended without leaving a training checkpoint"
    );
}

fn check_after(after: &After, cache: &Path) {
    let reference = reference();
    let key = |p: &Path| rel(cache, p);
    match after {
        After::SameBytes(p) => {
            let got = std::fs::read(p).unwrap_or_else(|e| panic!("{} not recomputed: {e}", key(p)));
            assert!(
                Some(&got) == reference.cache.get(&key(p)),
                "{} was recomputed with other bytes",
                key(p)
            );
        }
        After::SameManifest(p) => {
            let read = |b: &[u8]| -> serde_json::Value {
                serde_json::from_slice(b).unwrap_or_else(|e| panic!("{} is not whole: {e}", key(p)))
            };
            let got = read(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", key(p))));
            let want = read(&reference.cache[&key(p)]);
            assert_eq!(got["outputs"], want["outputs"], "{}", key(p));
            assert_eq!(
                got["artifact_digest"],
                want["artifact_digest"],
                "{}",
                key(p)
            );
        }
        After::Gone(p) => assert!(!p.exists(), "{} is still there", key(p)),
        After::Anything => {}
    }
}

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "panic".into())
}

#[test]
fn every_kind_of_damaged_cache_file_is_recomputed_or_ignored() {
    let reference = reference();
    let mut rng = Rng(0xC022_0B7E);
    let cases = cases();
    let mut failures = Vec::new();
    for (n, (name, start, damage)) in cases.iter().enumerate() {
        let sb = Sandbox::new(FACES);
        let result = catch_unwind(AssertUnwindSafe(|| {
            match start {
                Start::Finished => restore(&sb.cache_dir(), &reference.cache),
                Start::KilledInTraining => kill_in_training(&sb),
            }
            let (what, after) = damage(&sb.cache_dir(), &mut rng);
            let label = format!("case {n} `{name}` ({what})");
            let r = sb.synface(&["run", "p.toml"]);
            assert_ok(&r, &label);
            assert_outputs_match(&sb.path().join("runs").join(NAME), &label);
            check_after(&after, &sb.cache_dir());
            assert_cache_whole(&sb);
            let computed = started(&sb);
            assert_ok(
                &sb.synface(&["gc"]),
                &format!("{label}: gc after the rerun"),
            );
            assert_all_cached(&sb, &label);
            eprintln!("{label}: recovered; the rerun computed {computed:?}");
        }));
        if let Err(e) = result {
            failures.push(format!("`{name}`: {}", panic_message(&*e)));
        }
    }
    if failures.is_empty() {
        eprintln!("{} corruption cases, all recovered", cases.len());
    } else {
        eprintln!(
            "{} of {} corruption cases NOT recovered:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The one cache file whose damage is not repaired, by design: a marker that is not a synface
/// marker makes the directory "not a cache", refused with exit 2 and left untouched, since
/// synface cannot tell a damaged marker from a user's folder that happens to hold such a file.
#[test]
fn a_garbage_cache_marker_is_refused_with_exit_2_and_nothing_touched() {
    let sb = Sandbox::new(FACES);
    restore(&sb.cache_dir(), &reference().cache);
    garbage(&sb.cache_dir().join(MARKER), &mut Rng(0x003A_4CE2));
    let before = tree(&sb.cache_dir());
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 2, "{}", text(&r));
    assert_no_panic(&r, "a garbage marker");
    assert!(text(&r).contains(MARKER), "{}", text(&r));
    assert!(
        tree_diff(&tree(&sb.cache_dir()), &before).is_empty(),
        "the refused cache was changed"
    );
}

/// A tmpfs mounted for the life of the value (unmounted on drop, lazily if busy).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// `None` when not root or when mounting fails (e.g. no CAP_SYS_ADMIN in a container).
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return None;
        }
        std::fs::create_dir_all(dir).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    fn resize(&self, size: &str) {
        let s = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .status()
            .expect("mount -o remount");
        assert!(s.success(), "remount {} to {size}", self.dir.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// The tmpfs size while "full": smaller than what the face pipeline writes to each place.
const FULL: &str = "512k";
const FULL_BYTES: usize = 512 << 10;

/// Run the face pipeline with `--cache` or `--runs` (`place`) on a full tmpfs: exit 3, no
/// temporary files left; after growing the tmpfs, a rerun matches the reference.
fn full_disk(place: &str) {
    let reference = reference();
    let scratch = tempfile::tempdir().expect("tempdir");
    let Some(fs) = Tmpfs::mount(&scratch.path().join("mnt"), FULL) else {
        eprintln!("skipped: full-disk tests need root (mount tmpfs)");
        return;
    };
    let sb = Sandbox::new(FACES);
    let (cache, runs) = match place {
        "cache" => (fs.dir.join("cache"), sb.path().join("runs")),
        _ => (sb.cache_dir(), fs.dir.join("runs")),
    };
    let written: usize = match place {
        "cache" => reference
            .cache
            .iter()
            .filter(|(k, _)| k.starts_with("blobs/"))
            .map(|(_, v)| v.len())
            .sum(),
        _ => reference.outputs.values().map(Vec::len).sum(),
    };
    assert!(
        written > FULL_BYTES,
        "the pipeline writes {written} bytes to the {place}, not more than the {FULL} tmpfs"
    );
    let args = |sb: &Sandbox| {
        sb.synface(&[
            "run",
            "p.toml",
            "--cache",
            cache.to_str().expect("utf-8"),
            "--runs",
            runs.to_str().expect("utf-8"),
        ])
    };
    let what = format!("--{place} on a full {FULL} tmpfs");
    let r = args(&sb);
    assert_eq!(code(&r), 3, "{what}: {}", text(&r));
    assert_no_panic(&r, &what);
    assert!(
        text(&r).contains("No space left on device"),
        "{what}: the error names the cause: {}",
        text(&r)
    );
    let left = [tmp_files_under(&runs), tmp_files_under(&cache)].concat();
    assert!(
        left.is_empty(),
        "{what}: temporary files left behind: {left:?}"
    );

    let error = text(&r)
        .lines()
        .find(|l| l.contains("No space left"))
        .unwrap_or_default()
        .to_string();
    fs.resize("64m");
    let r = args(&sb);
    assert_ok(&r, &format!("{what}, rerun with room"));
    assert_outputs_match(&runs.join(NAME), &what);
    assert_cache_dir_whole(&cache);
    eprintln!(
        "{what}: exit 3 ({error}), no temporary files left; with room, a rerun exits 0 with \
         identical outputs"
    );
}

#[test]
fn full_disk_under_the_cache_exits_3_then_recovers() {
    full_disk("cache");
}

#[test]
fn full_disk_under_the_runs_directory_exits_3_then_recovers() {
    full_disk("runs");
}

#[test]
fn a_second_process_on_a_held_cache_fails_at_once_or_waits() {
    let sb = Sandbox::new(&TOY.replace("steps = 4", "steps = 300\nsleep_ms = 10"));
    let mut holder = sb
        .cmd(&["run", "p.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn synface");
    let pid = format!("pid {}", holder.id());
    let lock = sb.cache_dir().join("lock");
    let mut polls = 0;
    while std::fs::read_to_string(&lock).unwrap_or_default().trim() != pid {
        assert!(
            holder.try_wait().expect("try_wait").is_none(),
            "the holder exited before taking the lock"
        );
        polls += 1;
        assert!(
            polls < 30_000,
            "the holder never wrote its pid into {lock:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }

    let busy = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&busy), 3, "{}", text(&busy));
    assert_no_panic(&busy, "second process");
    assert!(
        text(&busy).contains(&pid),
        "the error names the holder ({pid}): {}",
        text(&busy)
    );
    let holder_running = holder.try_wait().expect("try_wait").is_none();
    assert!(holder_running, "the holder is still running");

    let waited = sb.synface(&["run", "p.toml", "--wait", "60"]);
    assert_ok(&waited, "second process with --wait 60");
    let status = holder.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "the holder's run");
    let ev = sb.events("toy");
    let cached = crate::cli::stats(&ev)["cached"].clone();
    assert_eq!(
        cached, 7,
        "after waiting, the second run reuses everything the holder computed"
    );
    eprintln!(
        "a second process on a held cache: exit 3 naming {pid}; with --wait 60 it waited and \
         found all 7 instances cached"
    );
}
