//! `synface kinds [NAME] [--markdown]`: the stage kinds, their parameters (type, default,
//! allowed values, meaning, whether in the cache key), ports, output and resources, printed
//! from the very declarations the planner validates against (`Stage::params`, `ParamRule`).
//! `--markdown` writes `docs/stages.md`.

use std::fmt::Write;

use synface_engine::keys::display_value;
use synface_engine::{ParamSpec, ParamTable, Registry, Stage};

/// One row of a kind's parameter table, as words.
struct Row {
    name: String,
    ty: String,
    default: String,
    allowed: String,
    meaning: String,
}

/// The TOML type a Rust parameter type is written as, or the declared shape.
fn type_words(s: &ParamSpec) -> String {
    if let Some(shape) = s.rule.shape {
        return shape.to_string();
    }
    if !s.rule.choices.is_empty() {
        // a `param_enum!` type (or a list of one): written as its names
        let list = s.ty.replace(' ', "").starts_with("Vec<");
        return if list { "array of strings" } else { "string" }.into();
    }
    match s.ty.replace(' ', "").as_str() {
        "u64" | "u32" | "usize" => "integer (>= 0)".into(),
        "i64" | "i32" => "integer".into(),
        "f64" | "f32" => "float".into(),
        "String" => "string".into(),
        "bool" => "boolean".into(),
        "Vec<u64>" => "array of integers (>= 0)".into(),
        "Vec<f64>" => "array of floats".into(),
        "Vec<String>" => "array of strings".into(),
        other => other.to_string(),
    }
}

fn row(s: &ParamSpec) -> Row {
    let mut meaning = s.doc.trim().to_string();
    if !s.rule.keyed {
        meaning.push_str(" [not in the cache key]");
    }
    Row {
        name: s.name.to_string(),
        ty: type_words(s),
        default: s
            .default
            .as_ref()
            .map_or_else(|| "required".to_string(), display_value),
        allowed: s.rule.describe(),
        meaning,
    }
}

/// The parameters with defaults, for evaluating `resources` without a pipeline.
fn defaults(stage: &dyn Stage) -> ParamTable {
    stage
        .params()
        .into_iter()
        .filter_map(|s| Some((s.name.to_string(), s.default?)))
        .collect()
}

/// Resources at the default parameters, in words (machine-independent).
fn resource_words(stage: &dyn Stage) -> String {
    let r = stage.resources(&defaults(stage));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = if r.threads == usize::MAX || (r.threads == cores && cores > 1) {
        "all cores".to_string()
    } else if r.threads == 1 {
        "1 thread".to_string()
    } else {
        format!("{} threads", r.threads)
    };
    let gpu = if r.gpu {
        "a GPU when one is free"
    } else {
        "no GPU"
    };
    format!("{threads}, {gpu}, about {} MiB (at the defaults)", r.mem_mb)
}

fn port_words(stage: &dyn Stage) -> Vec<String> {
    stage
        .inputs()
        .iter()
        .map(|p| {
            let mut w = format!("{} <- {}", p.name, p.kind.replace('|', " | "));
            if p.optional {
                w.push_str(" (optional)");
            }
            if p.gather {
                w.push_str(" (gather: every sweep point)");
            }
            w
        })
        .collect()
}

/// `synface kinds`: one line per kind.
pub fn list(reg: &Registry) -> String {
    let width = reg.kinds().map(str::len).max().unwrap_or(4);
    let mut out = String::new();
    for k in reg.kinds() {
        let about = reg.get(k).map_or("", |s| s.about());
        let _ = writeln!(out, "{k:<width$}  {about}");
    }
    out.push_str("\n`synface kinds NAME` lists a kind's parameters, ports and resources.\n");
    out
}

/// `synface kinds NAME`: everything about one kind, as aligned text.
pub fn detail(stage: &dyn Stage) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} (version {})", stage.kind(), stage.version());
    let _ = writeln!(out, "  {}\n", stage.about());
    let ports = port_words(stage);
    let _ = writeln!(
        out,
        "inputs:    {}",
        if ports.is_empty() {
            "none".to_string()
        } else {
            ports.join(", ")
        }
    );
    let _ = writeln!(out, "output:    {}", stage.output());
    let _ = writeln!(out, "resources: {}\n", resource_words(stage));
    let rows: Vec<Row> = stage.params().iter().map(row).collect();
    if rows.is_empty() {
        out.push_str("no parameters\n");
        return out;
    }
    out.push_str("parameters:\n");
    for r in &rows {
        let _ = writeln!(out, "  {}: {}", r.name, r.ty);
        let _ = writeln!(out, "      default {}", r.default);
        if !r.allowed.is_empty() {
            let _ = writeln!(out, "      allowed {}", r.allowed);
        }
        if !r.meaning.is_empty() {
            let _ = writeln!(out, "      {}", r.meaning);
        }
    }
    out
}

/// Markdown text: `<`/`>` as entities (`root/<identity>` is not a tag), on one line.
fn text(s: &str) -> String {
    s.replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', " ")
}

/// A Markdown table cell: pipes escaped too.
fn cell(s: &str) -> String {
    text(s).replace('|', "\\|")
}

fn markdown_kind(out: &mut String, stage: &dyn Stage) {
    let _ = writeln!(out, "## `{}`\n", stage.kind());
    let _ = writeln!(out, "{}\n", text(stage.about()));
    let ports = port_words(stage);
    let inputs = if ports.is_empty() {
        "none".to_string()
    } else {
        ports
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "- inputs: {inputs}");
    let _ = writeln!(out, "- output: `{}`", stage.output());
    let _ = writeln!(out, "- resources: {}\n", resource_words(stage));
    let rows: Vec<Row> = stage.params().iter().map(row).collect();
    if rows.is_empty() {
        out.push_str("No parameters.\n\n");
        return;
    }
    out.push_str("| parameter | type | default | allowed | meaning |\n");
    out.push_str("|-----------|------|---------|---------|---------|\n");
    for r in &rows {
        let _ = writeln!(
            out,
            "| `{}` | {} | `{}` | {} | {} |",
            r.name,
            cell(&r.ty),
            cell(&r.default),
            cell(&r.allowed),
            cell(&r.meaning)
        );
    }
    out.push('\n');
}

/// `synface kinds --markdown`: `docs/stages.md`.
pub fn markdown(reg: &Registry) -> String {
    let mut out = String::from(
        "# Stage kinds\n\n\
         <!-- Generated by `synface kinds --markdown > docs/stages.md`; do not edit by hand.\n     \
         A test fails when this file and the code disagree. -->\n\n\
         Every kind a pipeline's `[stages.NAME]` can name with `kind = \"...\"`, with its \
         parameters as the planner checks them: the type, the default (`required` when there \
         is none), the allowed values, and the meaning. Parameters marked *not in the cache \
         key* change no output, so changing them reuses cached results. Ports name the \
         artifact type they accept; connect them with `input = \"stage\"` (the first port) or \
         `inputs = { port = \"stage\" }` ([pipelines.md](pipelines.md)). The same text is \
         printed by `synface kinds NAME`.\n\n",
    );
    for k in reg.kinds() {
        let about = reg.get(k).map_or("", |s| s.about());
        let _ = writeln!(out, "- [`{k}`](#{k}): {}", text(about));
    }
    out.push('\n');
    for k in reg.kinds() {
        if let Some(stage) = reg.get(k) {
            markdown_kind(&mut out, stage.as_ref());
        }
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_parameter_is_documented_with_a_type_and_default() {
        let reg = synface_stages::registry();
        let md = markdown(&reg);
        for k in reg.kinds() {
            let stage = reg.get(k).expect("registered");
            assert!(md.contains(&format!("## `{k}`")), "{k}");
            for p in stage.params() {
                assert!(md.contains(&format!("| `{}` |", p.name)), "{k}.{}", p.name);
                assert!(!type_words(&p).contains('<'), "{k}.{}: {}", p.name, p.ty);
            }
        }
        assert!(md.contains("[not in the cache key]"));
    }
}
