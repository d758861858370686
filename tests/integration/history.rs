//! Run history through the binary on the toy pipeline: every `run` records an entry, `runs`
//! lists them with what changed, `show --run ID` shows an old run's results, `diff` compares
//! two runs, and bad run ids or a pipeline without history are clear errors.

use std::path::Path;

use serde_json::Value;

use crate::cli::{code, text, Sandbox, TOY};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Whether some line of `text` consists of exactly these words.
fn has_row(text: &str, words: &[&str]) -> bool {
    text.lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == words)
}

/// Two runs: the plain toy pipeline, then one with `other.factor=4.0`.
fn two_runs() -> Sandbox {
    let sb = Sandbox::new(TOY);
    let r = sb.synface(&["run", "p.toml"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    assert!(text(&r).contains("history: run 1"), "{}", text(&r));
    let r = sb.synface(&["run", "p.toml", "--set", "other.factor=4.0"]);
    assert_eq!(code(&r), 0, "{}", text(&r));
    sb
}

#[test]
fn runs_lists_every_run_with_what_changed() {
    let sb = two_runs();
    let out = sb.synface(&["runs", "p.toml"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("run  finished (UTC)"), "{table}");
    assert!(lines[1].contains("first recorded run"), "{table}");
    assert!(lines[2].contains("other.factor 9.0 -> 4.0"), "{table}");

    let json: Value = serde_json::from_str(&stdout(
        &sb.synface(&["runs", "p.toml", "--format", "json"]),
    ))
    .expect("json");
    let entries = json.as_array().expect("array");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["overrides"][0], "other.factor=4.0");
    assert_eq!(entries[0]["outcome"]["ran"], 7);
    assert_eq!(entries[1]["outcome"]["ran"], 1);
    assert_ne!(entries[0]["pipeline_digest"], entries[1]["pipeline_digest"]);
    assert!(entries[0]["synface"]["version"].is_string());
}

#[test]
fn show_run_prints_an_earlier_runs_results() {
    let sb = two_runs();
    let old = stdout(&sb.synface(&["show", "p.toml", "--run", "1", "--format", "csv"]));
    let new = stdout(&sb.synface(&["show", "p.toml", "--format", "csv"]));
    let latest = stdout(&sb.synface(&["show", "p.toml", "--run", "2", "--format", "csv"]));
    assert_eq!(
        new, latest,
        "the last run's entry holds what results.json holds"
    );
    assert!(old.contains("other.factor"), "{old}");
    assert!(old.contains(",9.0") || old.contains(",9"), "{old}");
    assert!(!old.contains(",4.0"), "{old}");
    let missing = sb.synface(&["show", "p.toml", "--run", "9"]);
    assert_eq!(code(&missing), 2, "{}", text(&missing));
    assert!(text(&missing).contains("no run 9"), "{}", text(&missing));
}

#[test]
fn diff_shows_params_and_metric_deltas_side_by_side() {
    let sb = two_runs();
    let out = sb.synface(&["diff", "p.toml"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let d = stdout(&out);
    assert!(
        d.contains("param") && d.contains("run 1") && d.contains("run 2"),
        "{d}"
    );
    assert!(has_row(&d, &["other.factor", "9.0", "4.0"]), "{d}");
    assert!(
        has_row(
            &d,
            &["factor=2.0", "other.factor", "9.0000", "4.0000", "-5.0000"]
        ),
        "{d}"
    );
    let same = stdout(&sb.synface(&["diff", "p.toml", "1", "1"]));
    assert!(same.starts_with("same plan"), "{same}");
    assert!(same.contains("0 metrics changed"), "{same}");
    let json: Value = serde_json::from_str(&stdout(
        &sb.synface(&["diff", "p.toml", "1", "2", "--format", "json"]),
    ))
    .expect("json");
    assert_eq!(json["params"][0]["name"], "other.factor");
}

#[test]
fn history_is_kept_out_of_the_published_list_and_never_pruned() {
    let sb = two_runs();
    let run = sb.path().join("runs/toy");
    let published = std::fs::read_to_string(run.join(".synface-published.json")).unwrap();
    assert!(!published.contains("history"), "{published}");
    // A sweep change removes a point's published files, never a history entry.
    std::fs::write(
        sb.path().join("p.toml"),
        TOY.replace("factor = [2.0, 3.0]", "factor = [2.0]"),
    )
    .unwrap();
    assert_eq!(code(&sb.synface(&["run", "p.toml"])), 0);
    let names = crate::cli::files(&run.join("history"));
    assert_eq!(names, ["0001.json", "0002.json", "0003.json"]);
    let d = stdout(&sb.synface(&["diff", "p.toml", "1", "3"]));
    assert!(d.contains("points removed: "), "{d}");
}

#[test]
fn no_history_is_a_clear_error() {
    let sb = Sandbox::new(TOY);
    let r = sb.synface(&["runs", "p.toml"]);
    assert_eq!(code(&r), 3, "{}", text(&r));
    assert!(
        text(&r).contains("run `synface run p.toml` first"),
        "{}",
        text(&r)
    );
    let r = sb.synface(&["diff", "p.toml"]);
    assert_eq!(code(&r), 3, "{}", text(&r));
    assert!(
        !Path::new(&sb.path().join("runs")).exists(),
        "nothing written"
    );
}
