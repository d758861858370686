//! `[pipeline] extends = "base.toml"`: a pipeline file written as changes to another. The base
//! (a path relative to the extending file's folder) is parsed into the same positioned tree,
//! itself resolved (bases may extend further, up to [`MAX_DEPTH`] files), and the extending
//! file's tree is merged over it: tables merge key by key, any other value (a scalar, an array,
//! an array of tables such as `[[sweep.arm]]`) replaces the base's whole. Every node keeps the
//! file it came from, so a problem in the base is reported at its line in the base.
//!
//! The texts come through a [`SourceLoader`]: the disk for `run` and `plan`, the texts shipped
//! in a task file for a Slurm worker (`scheduler/slurm/worker.rs`), so a worker plans what its
//! coordinator planned even if a base file changes in between.

use std::path::{Component, Path, PathBuf};

use super::tree::{self, Entry, Node, Sources, Val};
use super::ReadError;
use crate::diag::SourceText;

/// Most files in one chain of `extends` (the given file included).
pub(crate) const MAX_DEPTH: usize = 8;

/// Reads the files a pipeline extends.
pub trait SourceLoader {
    /// The text of the pipeline file at `path`.
    fn read(&self, path: &Path) -> Result<String, ReadError>;
}

/// Base files read from the disk (through [`super::read_source`]'s size limit).
pub struct DiskSources;

impl SourceLoader for DiskSources {
    fn read(&self, path: &Path) -> Result<String, ReadError> {
        super::read_source(path)
    }
}

/// Base files already read, by path (a Slurm task file's copies; paths compare with `.` and
/// `dir/..` folded, so an absolute copy matches the absolute path a worker resolves).
pub struct ShippedSources<'a>(pub &'a [(PathBuf, String)]);

impl SourceLoader for ShippedSources<'_> {
    fn read(&self, path: &Path) -> Result<String, ReadError> {
        let want = normal(path);
        self.0
            .iter()
            .find(|(p, _)| normal(p) == want)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| {
                ReadError::Io(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not among the files shipped with the task",
                ))
            })
    }
}

/// `root` (the tree of the file at `path`) with its chain of bases merged under it, and the
/// bases read, in order. `None` after reporting a problem.
pub(crate) fn resolve(
    root: Node,
    path: &Path,
    loader: &dyn SourceLoader,
    srcs: &mut Sources,
    bases: &mut Vec<(PathBuf, String)>,
) -> Option<Node> {
    let mut chain = vec![normal(path)];
    resolve_in(root, path, loader, srcs, bases, &mut chain)
}

fn resolve_in(
    mut root: Node,
    path: &Path,
    loader: &dyn SourceLoader,
    srcs: &mut Sources,
    bases: &mut Vec<(PathBuf, String)>,
    chain: &mut Vec<PathBuf>,
) -> Option<Node> {
    let Some(ext) = take_extends(&mut root) else {
        return Some(root);
    };
    let base_path = base_path(&ext, &root, path, chain, srcs)?;
    let text = match loader.read(&base_path) {
        Ok(t) => t,
        Err(e) => {
            let what = format!("cannot read the base pipeline {}: {e}", base_path.display());
            let help = e
                .help()
                .unwrap_or_else(|| "the path is relative to this file's folder".into());
            let d = srcs.at(&ext.node.loc, what).label("not readable");
            srcs.push(d.help(help));
            return None;
        }
    };
    let id = srcs.add_file(SourceText::new(&base_path, &text));
    let base = tree::parse_document(&text, id, srcs);
    bases.push((base_path.clone(), text));
    chain.push(normal(&base_path));
    let base = resolve_in(base?, &base_path, loader, srcs, bases, chain)?;
    Some(merge(base, root))
}

/// The path of the base that `ext` (the `extends` entry of `root`, the file at `path`)
/// names, after checking the link: a string, an extending file with its own name, no cycle
/// and not too deep. `None` after reporting why not.
fn base_path(
    ext: &Entry,
    root: &Node,
    path: &Path,
    chain: &[PathBuf],
    srcs: &mut Sources,
) -> Option<PathBuf> {
    let Val::Str(rel) = &ext.node.v else {
        let d = srcs.at(
            &ext.node.loc,
            "`extends` must be the path of a pipeline file",
        );
        srcs.push(d.label(format!("found {}", ext.node.type_name())));
        return None;
    };
    if !has_name(root) {
        let d = srcs.at(
            &ext.key_loc,
            "a pipeline that extends another needs its own `name`",
        );
        srcs.push(d.help("add `name = \"...\"` under `[pipeline]`: runs are kept per name"));
        return None;
    }
    let base = path.parent().unwrap_or(Path::new("")).join(rel);
    if chain.contains(&normal(&base)) {
        let names: Vec<String> = chain.iter().map(|p| p.display().to_string()).collect();
        let d = srcs.at(
            &ext.node.loc,
            "`extends` leads back to a file of its own chain",
        );
        srcs.push(
            d.label("a cycle")
                .help(format!("the chain: {}", names.join(" -> "))),
        );
        return None;
    }
    if chain.len() >= MAX_DEPTH {
        let d = srcs.at(
            &ext.node.loc,
            format!("more than {MAX_DEPTH} files extend one another"),
        );
        srcs.push(d.label("too deep"));
        return None;
    }
    Some(base)
}

/// Remove `extends` from the `[pipeline]` table of `root`, returning its entry.
fn take_extends(root: &mut Node) -> Option<Entry> {
    let Val::Table(top) = &mut root.v else {
        return None;
    };
    let pipeline = top.iter_mut().find(|e| e.key == "pipeline")?;
    let Val::Table(t) = &mut pipeline.node.v else {
        return None;
    };
    let i = t.iter().position(|e| e.key == "extends")?;
    Some(t.remove(i))
}

/// Whether the `[pipeline]` table of `root` gives a `name`.
fn has_name(root: &Node) -> bool {
    let pipeline = root
        .table()
        .and_then(|t| t.iter().find(|e| e.key == "pipeline"));
    pipeline
        .and_then(|p| p.node.table())
        .is_some_and(|t| t.iter().any(|e| e.key == "name"))
}

/// `over` merged onto `base`: tables key by key (base order, then `over`'s new keys), any
/// other value of `over` replacing the base's.
fn merge(base: Node, over: Node) -> Node {
    match (base.v, over.v) {
        (Val::Table(mut b), Val::Table(o)) => {
            for e in o {
                match b.iter().position(|x| x.key == e.key) {
                    Some(i) => {
                        let old = std::mem::replace(&mut b[i].node, placeholder());
                        b[i].node = merge(old, e.node);
                        b[i].key_loc = e.key_loc;
                    }
                    None => b.push(e),
                }
            }
            Node {
                v: Val::Table(b),
                loc: over.loc,
            }
        }
        (_, v) => Node { v, loc: over.loc },
    }
}

fn placeholder() -> Node {
    Node {
        v: Val::Invalid,
        loc: tree::Loc::file(0..0),
    }
}

/// `path` without `.` components and with `dir/..` pairs folded, for telling files of a chain
/// apart (no file system access: a worker has only the shipped texts).
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Diagnostics;
    use crate::plan::Plan;

    use super::super::tests::CHAIN as BASE;

    /// Plan `child` as `dir/child.toml` with `files` (relative to `dir`) as the disk.
    fn plan(child: &str, files: &[(&str, &str)]) -> Result<Plan, Diagnostics> {
        let shipped: Vec<(PathBuf, String)> = files
            .iter()
            .map(|(p, t)| (Path::new("dir").join(p), t.to_string()))
            .collect();
        let reg = crate::testkit::registry();
        let path = Path::new("dir/child.toml");
        super::super::plan_with_sources(child, path, &[], &reg, &ShippedSources(&shipped))
    }

    fn err(child: &str, files: &[(&str, &str)]) -> String {
        match plan(child, files) {
            Ok(_) => panic!("expected diagnostics for:\n{child}"),
            Err(d) => d.to_string(),
        }
    }

    #[test]
    fn tables_merge_and_other_values_replace() {
        let child = r#"
[pipeline]
name = "child"
extends = "base.toml"
[sweep]
n = [5]
[stages.map]
factor = 3.0
"#;
        let p = plan(child, &[("base.toml", BASE)]).unwrap();
        assert_eq!((p.name.as_str(), p.seed), ("child", 7));
        // `n` replaced whole, `factor` (axis) and `seeds` kept: 1 x 2 x 2 points.
        assert_eq!(p.points.len(), 4);
        let map: Vec<&crate::plan::Instance> =
            p.instances.iter().filter(|i| i.stage == "map").collect();
        assert_eq!(
            map.len(),
            2,
            "factor fixed by the child: one map per replicate"
        );
        assert!(map
            .iter()
            .all(|m| m.params["factor"] == toml::Value::Float(3.0)));
        assert_eq!(
            p.bases,
            vec![(PathBuf::from("dir/base.toml"), BASE.to_string())]
        );
    }

    #[test]
    fn a_child_changing_only_its_name_plans_the_same_instances() {
        let child = "[pipeline]\nname = \"child\"\nextends = \"base.toml\"\n";
        let p = plan(child, &[("base.toml", BASE)]).unwrap();
        let reg = crate::testkit::registry();
        let b = super::super::plan_from_str(BASE, Path::new("dir/base.toml"), &[], &reg).unwrap();
        let keys = |p: &Plan| p.instances.iter().map(|i| i.plan_key).collect::<Vec<_>>();
        assert_eq!(keys(&p), keys(&b));
    }

    #[test]
    fn chains_resolve_relative_to_each_file() {
        let mid = "[pipeline]\nname = \"mid\"\nextends = \"../base.toml\"\n[sweep]\nn = [4]\n";
        let child = "[pipeline]\nname = \"c\"\nextends = \"sub/mid.toml\"\n";
        let p = plan(child, &[("sub/mid.toml", mid), ("base.toml", BASE)]).unwrap();
        assert_eq!(p.points.len(), 4);
        assert_eq!(p.bases.len(), 2);
    }

    #[test]
    fn problems_in_a_base_point_into_the_base() {
        let base = BASE.replace("factor = \"${factor}\"", "factr = 1.0");
        let e = err(
            "[pipeline]\nname = \"c\"\nextends = \"base.toml\"\n",
            &[("base.toml", &base)],
        );
        assert!(e.contains("dir/base.toml:18:1"), "{e}");
    }

    #[test]
    fn an_unreadable_base_is_reported_at_extends() {
        let e = err("[pipeline]\nname = \"c\"\nextends = \"nope.toml\"\n", &[]);
        assert!(
            e.contains("cannot read the base pipeline dir/nope.toml"),
            "{e}"
        );
        assert!(e.contains("dir/child.toml:3:11"), "{e}");
    }

    #[test]
    fn a_cycle_is_an_error_not_a_loop() {
        let a = "[pipeline]\nname = \"a\"\nextends = \"./b.toml\"\n";
        let b = "[pipeline]\nname = \"b\"\nextends = \"child.toml\"\n";
        let e = err(a, &[("b.toml", b), ("child.toml", a)]);
        assert!(e.contains("leads back to a file of its own chain"), "{e}");
    }

    #[test]
    fn a_chain_deeper_than_the_limit_is_an_error() {
        let link = |k: usize| {
            format!(
                "[pipeline]\nname = \"f{k}\"\nextends = \"f{}.toml\"\n",
                k + 1
            )
        };
        let files: Vec<(String, String)> = (1..=MAX_DEPTH)
            .map(|k| (format!("f{k}.toml"), link(k)))
            .collect();
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let e = err(&link(0), &files);
        assert!(e.contains("more than 8 files extend one another"), "{e}");
    }

    #[test]
    fn an_extending_file_needs_its_own_name() {
        let e = err(
            "[pipeline]\nextends = \"base.toml\"\n",
            &[("base.toml", BASE)],
        );
        assert!(e.contains("needs its own `name`"), "{e}");
    }

    #[test]
    fn extends_must_be_a_string() {
        let e = err("[pipeline]\nname = \"c\"\nextends = 3\n", &[]);
        assert!(e.contains("must be the path of a pipeline file"), "{e}");
    }

    #[test]
    fn normal_folds_dots() {
        assert_eq!(
            normal(Path::new("a/./b/../c.toml")),
            PathBuf::from("a/c.toml")
        );
        assert_eq!(normal(Path::new("../x.toml")), PathBuf::from("../x.toml"));
    }
}
