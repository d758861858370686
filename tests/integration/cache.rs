//! The cache seen from outside: corrupt blobs are recomputed, a deleted or garbage index is
//! rebuilt, a second run on a locked cache fails clearly (exit 3) while `plan` still works.

use crate::cli::{code, stages_with, stats, text, tree, Sandbox, TOY};

fn blob_of(sb: &Sandbox, stage: &str) -> std::path::PathBuf {
    for e in std::fs::read_dir(sb.cache_dir().join("actions"))
        .unwrap()
        .flatten()
    {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
        if m["stage"] == stage {
            let d = m["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["name"] == "data.bin")
                .unwrap()["digest"]
                .as_str()
                .unwrap()
                .to_string();
            return sb.cache_dir().join("blobs").join(&d[..2]).join(&d[2..]);
        }
    }
    panic!("no action for {stage}");
}

#[test]
fn corrupt_blob_is_a_miss_and_is_recomputed() {
    let sb = Sandbox::new(TOY);
    assert_eq!(code(&sb.synface(&["run", "p.toml"])), 0);
    let before = tree(&sb.path().join("runs/toy"));
    let blob = blob_of(&sb, "other");
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert!(text(&r).contains("corrupt"), "warned: {}", text(&r));
    let ev = sb.events("toy");
    assert_eq!(stages_with(&ev, "started"), ["other"]);
    assert_eq!(stats(&ev)["cache"]["corrupt"], 1);
    assert_eq!(tree(&sb.path().join("runs/toy")), before);
}

#[test]
fn deleted_index_is_rebuilt() {
    let sb = Sandbox::new(TOY);
    assert_eq!(code(&sb.synface(&["run", "p.toml"])), 0);
    std::fs::remove_dir_all(sb.cache_dir().join("index")).unwrap();
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert_eq!(stats(&sb.events("toy"))["cached"], 7);
    let rebuilt = sb.synface(&["cache", "rebuild"]);
    assert_eq!(code(&rebuilt), 0);
    assert!(text(&rebuilt).contains("7 actions"), "{}", text(&rebuilt));
}

#[test]
fn locked_cache_fails_clearly() {
    let sb = Sandbox::new(&TOY.replace("steps = 4", "steps = 100\nsleep_ms = 20"));
    let mut first = sb
        .cmd(&["run", "p.toml"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let log = sb.path().join("runs/toy/events.jsonl");
    let start = std::time::Instant::now();
    while !log.exists() && start.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = sb.synface(&["run", "p.toml"]);
    let plan = sb.synface(&["plan", "p.toml"]);
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(code(&second), 3, "{}", text(&second));
    assert!(
        text(&second).contains(&format!("in use by pid {}", first.id())),
        "{}",
        text(&second)
    );
    assert_eq!(
        code(&plan),
        0,
        "plan reads without the lock: {}",
        text(&plan)
    );
    let r = sb.synface(&["run", "p.toml", "--set", "steps.steps=2"]);
    assert_eq!(code(&r), 0, "the lock dies with its process: {}", text(&r));
}
