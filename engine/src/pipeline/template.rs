//! Parameter templates: `"${axis}"` (the whole string) takes the axis value with its type,
//! `"a-${axis}"` interpolates it into a string, `$$` is a literal `$`. A parameter value is
//! compiled once into a [`Tpl`] and resolved per sweep point against the point's values.

use super::tree::{Node, Sources, Val};
use crate::diag::did_you_mean;

/// One piece of an interpolated string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Lit(String),
    /// Index of the axis in the plan's axis list.
    Ref(usize),
}

/// A compiled parameter value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tpl {
    Const(toml::Value),
    Ref(usize),
    Interp(Vec<Piece>),
    Array(Vec<Tpl>),
    Table(Vec<(String, Tpl)>),
}

/// Split `s` into literal text and `${name}` references.
pub(crate) fn split(s: &str) -> Result<Vec<(bool, String)>, String> {
    let mut out: Vec<(bool, String)> = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        lit.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            lit.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let end = r.find('}').ok_or("unterminated `${` (missing `}`)")?;
            let name = &r[..end];
            if !super::model::valid_name(name) {
                return Err(format!("`${{{name}}}` is not a valid axis reference"));
            }
            if !lit.is_empty() {
                out.push((false, std::mem::take(&mut lit)));
            }
            out.push((true, name.to_string()));
            rest = &r[end + 1..];
        } else {
            lit.push('$');
            rest = after;
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() || out.is_empty() {
        out.push((false, lit));
    }
    Ok(out)
}

/// Compile `node` against the axis names; unknown axes and bad references become diagnostics
/// (then `None`). Referenced axis indices are added to `refs`.
pub(crate) fn compile(
    node: &Node,
    axes: &[String],
    refs: &mut Vec<usize>,
    srcs: &mut Sources,
) -> Option<Tpl> {
    match &node.v {
        Val::Str(s) if s.contains('$') => {
            let parts = match split(s) {
                Ok(p) => p,
                Err(msg) => {
                    srcs.error(&node.loc, msg);
                    return None;
                }
            };
            let mut pieces = Vec::new();
            let mut ok = true;
            for (is_ref, text) in parts {
                if !is_ref {
                    pieces.push(Piece::Lit(text));
                    continue;
                }
                match axes.iter().position(|a| *a == text) {
                    Some(i) => {
                        if !refs.contains(&i) {
                            refs.push(i);
                        }
                        pieces.push(Piece::Ref(i));
                    }
                    None => {
                        let d = srcs.at(&node.loc, format!("unknown sweep axis `${{{text}}}`"));
                        let replicate = (text == crate::plan::REPLICATE_AXIS).then(|| {
                            "`${seed}` is the replicate axis: add `seeds = N` to `[sweep]`"
                                .to_string()
                        });
                        let help = replicate
                            .or_else(|| did_you_mean(&text, axes.iter().map(String::as_str)))
                            .or_else(|| {
                                Some(if axes.is_empty() {
                                    "the pipeline has no `[sweep]` axes".to_string()
                                } else {
                                    format!("axes: {}", axes.join(", "))
                                })
                            });
                        srcs.push(d.label("not an axis").maybe_help(help));
                        ok = false;
                    }
                }
            }
            if !ok {
                return None;
            }
            Some(match pieces.as_slice() {
                [Piece::Ref(i)] => Tpl::Ref(*i),
                [Piece::Lit(l)] => Tpl::Const(toml::Value::String(l.clone())),
                _ => Tpl::Interp(pieces),
            })
        }
        Val::Array(items) => {
            let parts: Vec<Option<Tpl>> =
                items.iter().map(|x| compile(x, axes, refs, srcs)).collect();
            let parts: Vec<Tpl> = parts.into_iter().collect::<Option<_>>()?;
            Some(fold_const(Tpl::Array(parts)))
        }
        Val::Table(entries) => {
            let parts: Vec<Option<(String, Tpl)>> = entries
                .iter()
                .map(|e| Some((e.key.clone(), compile(&e.node, axes, refs, srcs)?)))
                .collect();
            let parts: Vec<(String, Tpl)> = parts.into_iter().collect::<Option<_>>()?;
            Some(fold_const(Tpl::Table(parts)))
        }
        _ => node.to_value().map(Tpl::Const),
    }
}

/// Collapse a container whose parts are all constants into one constant.
fn fold_const(t: Tpl) -> Tpl {
    let folded = match &t {
        Tpl::Array(parts) => parts
            .iter()
            .map(Tpl::as_const)
            .collect::<Option<Vec<_>>>()
            .map(toml::Value::Array),
        Tpl::Table(parts) => parts
            .iter()
            .map(|(k, p)| Some((k.clone(), p.as_const()?)))
            .collect::<Option<toml::Table>>()
            .map(toml::Value::Table),
        _ => None,
    };
    folded.map(Tpl::Const).unwrap_or(t)
}

/// Text of a value inside an interpolated string (strings unquoted).
pub(crate) fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => crate::keys::display_value(other),
    }
}

impl Tpl {
    fn as_const(&self) -> Option<toml::Value> {
        match self {
            Tpl::Const(v) => Some(v.clone()),
            _ => None,
        }
    }

    /// The value at a point whose axis values are `values` (indexed like the axis list).
    pub fn resolve(&self, values: &[toml::Value]) -> toml::Value {
        let get = |i: usize| {
            values
                .get(i)
                .cloned()
                .unwrap_or(toml::Value::Boolean(false))
        };
        match self {
            Tpl::Const(v) => v.clone(),
            Tpl::Ref(i) => get(*i),
            Tpl::Interp(pieces) => {
                let mut s = String::new();
                for p in pieces {
                    match p {
                        Piece::Lit(l) => s.push_str(l),
                        Piece::Ref(i) => s.push_str(&show(&get(*i))),
                    }
                }
                toml::Value::String(s)
            }
            Tpl::Array(parts) => {
                toml::Value::Array(parts.iter().map(|p| p.resolve(values)).collect())
            }
            Tpl::Table(parts) => toml::Value::Table(
                parts
                    .iter()
                    .map(|(k, p)| (k.clone(), p.resolve(values)))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_refs_and_escapes() {
        assert_eq!(split("${ids}").unwrap(), vec![(true, "ids".to_string())]);
        assert_eq!(
            split("a-${x}-$$b").unwrap(),
            vec![
                (false, "a-".into()),
                (true, "x".into()),
                (false, "-$b".into())
            ]
        );
        assert_eq!(split("").unwrap(), vec![(false, String::new())]);
        assert!(split("${oops").is_err());
        assert!(split("${}").is_err());
    }

    #[test]
    fn resolve_keeps_types_and_interpolates() {
        let vals = [toml::Value::Integer(5), toml::Value::Float(0.5)];
        assert_eq!(Tpl::Ref(0).resolve(&vals), toml::Value::Integer(5));
        let t = Tpl::Interp(vec![
            Piece::Lit("n".into()),
            Piece::Ref(0),
            Piece::Lit("-".into()),
            Piece::Ref(1),
        ]);
        assert_eq!(t.resolve(&vals), toml::Value::String("n5-0.5".into()));
        let arr = fold_const(Tpl::Array(vec![Tpl::Const(1.into()), Tpl::Const(2.into())]));
        assert_eq!(
            arr,
            Tpl::Const(toml::Value::Array(vec![1.into(), 2.into()]))
        );
    }
}
