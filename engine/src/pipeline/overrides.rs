//! `--set` overrides: `stage.param=value`, `stages.stage.param=value`, `pipeline.seed=N` and
//! `sweep.axis=[...]`, applied to the positioned tree before it is interpreted, so overridden
//! values are checked like any other and their problems point at `<command line>`.

use super::tree::{Entry, Loc, Node, Sources, Val};
use crate::diag::did_you_mean;

/// Apply every override to `root` (the document table). Problems become diagnostics.
pub(crate) fn apply(root: &mut Node, overrides: &[String], srcs: &mut Sources) {
    let mut offset = 0;
    for o in overrides {
        apply_one(root, o, offset, srcs);
        offset += o.len() + 1;
    }
}

fn apply_one(root: &mut Node, text: &str, offset: usize, srcs: &mut Sources) {
    let whole = Loc::cli(offset..offset + text.len());
    let Some(eq) = text.find('=') else {
        let d = srcs.at(&whole, format!("invalid override `{text}`"));
        srcs.push(d.label("no `=`").help("write `--set stage.param=value`"));
        return;
    };
    let key_text = &text[..eq];
    let key_loc = Loc::cli(offset..offset + eq);
    let path: Vec<&str> = key_text.split('.').map(str::trim).collect();
    let (section, name, key) = match path.as_slice() {
        ["pipeline" | "sweep", k] => (path[0], None, *k),
        ["stages", s, k] => ("stages", Some(*s), *k),
        [s, k] => ("stages", Some(*s), *k),
        _ => ("", None, ""),
    };
    if key.is_empty() || name.is_some_and(str::is_empty) {
        let d = srcs.at(&key_loc, format!("invalid override key `{key_text}`"));
        srcs.push(
            d.help("write `--set stage.param=value`, `pipeline.seed=N` or `sweep.axis=[..]`"),
        );
        return;
    }
    let value = super::tree::parse_override_value(&text[eq + 1..], offset + eq + 1, srcs);
    let Val::Table(top) = &mut root.v else { return };
    let table = match name {
        None => section_table(top, section, &whole),
        Some(stage) => match section_table(top, "stages", &whole) {
            None => None,
            Some(stages) => {
                let names: Vec<String> = stages.iter().map(|e| e.key.clone()).collect();
                match stages.iter_mut().find(|e| e.key == stage) {
                    Some(Entry {
                        node:
                            Node {
                                v: Val::Table(t), ..
                            },
                        ..
                    }) => Some(t),
                    _ => {
                        let d = srcs.at(&key_loc, format!("`--set`: no stage named `{stage}`"));
                        let help = did_you_mean(stage, names.iter().map(String::as_str));
                        srcs.push(d.label("unknown stage").maybe_help(help));
                        return;
                    }
                }
            }
        },
    };
    let Some(table) = table else {
        let d = srcs.at(&key_loc, format!("`--set`: `{section}` is not a table"));
        srcs.push(d);
        return;
    };
    let entry = Entry {
        key: key.to_string(),
        key_loc,
        node: value,
    };
    match table.iter_mut().find(|e| e.key == key) {
        Some(e) => *e = entry,
        None => table.push(entry),
    }
}

/// The table under `name` in `top`, created when absent; `None` when it is not a table.
fn section_table<'a>(top: &'a mut Vec<Entry>, name: &str, loc: &Loc) -> Option<&'a mut Vec<Entry>> {
    let idx = match top.iter().position(|e| e.key == name) {
        Some(i) => i,
        None => {
            top.push(Entry {
                key: name.to_string(),
                key_loc: loc.clone(),
                node: Node {
                    v: Val::Table(Vec::new()),
                    loc: loc.clone(),
                },
            });
            top.len() - 1
        }
    };
    match &mut top[idx].node.v {
        Val::Table(t) => Some(t),
        _ => None,
    }
}
