//! A positioned TOML value tree owned by the planner: converted from toml's span-preserving
//! `DeTable` (rejecting NaN, infinities and integers that overflow 64 bits), edited by `--set`
//! overrides, and turned into plain `toml::Value`s once checked.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diag::{Diagnostic, Diagnostics, SourceText};

/// Which text a node came from: a pipeline file (0 is the one given, then the files it
/// extends, in the order read) or the `--set` arguments (one per line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Src {
    File(usize),
    Cli,
}

/// Where a node came from: a text and a byte span in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Loc {
    pub src: Src,
    pub span: Range<usize>,
}

impl Loc {
    /// A span of the pipeline file given.
    pub fn file(span: Range<usize>) -> Self {
        Loc {
            src: Src::File(0),
            span,
        }
    }

    /// A span of the `--set` arguments.
    pub fn cli(span: Range<usize>) -> Self {
        Loc {
            src: Src::Cli,
            span,
        }
    }
}

/// A value of the tree. `Invalid` stands in for a literal already reported as an error.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(toml::value::Datetime),
    Array(Vec<Node>),
    Table(Vec<Entry>),
    Invalid,
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub v: Val,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub key_loc: Loc,
    pub node: Node,
}

impl Node {
    pub fn table(&self) -> Option<&[Entry]> {
        match &self.v {
            Val::Table(t) => Some(t),
            _ => None,
        }
    }

    /// A short name of the value's type for messages.
    pub fn type_name(&self) -> &'static str {
        match self.v {
            Val::Str(_) => "string",
            Val::Int(_) => "integer",
            Val::Float(_) => "float",
            Val::Bool(_) => "boolean",
            Val::Datetime(_) => "datetime",
            Val::Array(_) => "array",
            Val::Table(_) => "table",
            Val::Invalid => "invalid value",
        }
    }

    /// The plain value, or `None` when an invalid literal is inside.
    pub fn to_value(&self) -> Option<toml::Value> {
        Some(match &self.v {
            Val::Str(s) => toml::Value::String(s.clone()),
            Val::Int(i) => toml::Value::Integer(*i),
            Val::Float(f) => toml::Value::Float(*f),
            Val::Bool(b) => toml::Value::Boolean(*b),
            Val::Datetime(d) => toml::Value::Datetime(*d),
            Val::Array(a) => {
                toml::Value::Array(a.iter().map(Node::to_value).collect::<Option<Vec<_>>>()?)
            }
            Val::Table(t) => toml::Value::Table(
                t.iter()
                    .map(|e| Some((e.key.clone(), e.node.to_value()?)))
                    .collect::<Option<toml::Table>>()?,
            ),
            Val::Invalid => return None,
        })
    }

    /// Whether an invalid literal is anywhere inside.
    pub fn has_invalid(&self) -> bool {
        match &self.v {
            Val::Invalid => true,
            Val::Array(a) => a.iter().any(Node::has_invalid),
            Val::Table(t) => t.iter().any(|e| e.node.has_invalid()),
            _ => false,
        }
    }
}

/// Every text a diagnostic can point into, and the diagnostics collected so far.
pub(crate) struct Sources {
    /// The pipeline file given, then each file it extends (see `extends.rs`).
    pub files: Vec<SourceText>,
    pub cli: SourceText,
    pub diags: Diagnostics,
}

impl Sources {
    pub fn new(file: SourceText, overrides: &[String]) -> Self {
        let cli = SourceText::new("<command line>", overrides.join("\n"));
        let diags = Diagnostics::new(file.path.clone());
        Sources {
            files: vec![file],
            cli,
            diags,
        }
    }

    /// Add the text of a file being extended; its index for [`Src::File`].
    pub fn add_file(&mut self, file: SourceText) -> usize {
        self.files.push(file);
        self.files.len() - 1
    }

    /// A diagnostic at `loc` (not yet pushed).
    pub fn at(&self, loc: &Loc, message: impl Into<String>) -> Diagnostic {
        let src = match loc.src {
            Src::File(i) => &self.files[i],
            Src::Cli => &self.cli,
        };
        src.error(loc.span.clone(), message)
    }

    /// Push an error at `loc`.
    pub fn error(&mut self, loc: &Loc, message: impl Into<String>) -> &mut Diagnostic {
        let d = self.at(loc, message);
        self.diags.push(d);
        self.diags.items.last_mut().expect("just pushed")
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}

/// Parse the TOML text of file `file` (an index of [`Sources::files`]) into a tree; syntax
/// errors (duplicate keys included) become diagnostics and yield `None`.
pub(crate) fn parse_document(text: &str, file: usize, srcs: &mut Sources) -> Option<Node> {
    let src = Src::File(file);
    let (mut doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            let span = e.span().unwrap_or(0..0);
            let mut msg = e.message().trim().to_string();
            if msg == "duplicate key" {
                if let Some(key) = text.get(span.clone()).filter(|k| !k.is_empty()) {
                    msg = format!("duplicate key `{key}`");
                }
            }
            let d = srcs.at(&Loc { src, span }, format!("TOML syntax: {msg}"));
            let help = msg
                .starts_with("duplicate key")
                .then(|| "a key (or a `[stages.NAME]` table) may appear only once".to_string());
            srcs.push(d.maybe_help(help));
        }
        return None;
    }
    doc.get_mut().make_owned();
    let span = doc.span();
    Some(Node {
        v: Val::Table(convert_table(doc.get_ref(), src, 0, srcs)),
        loc: Loc { src, span },
    })
}

/// Parse one `--set` value (placed at byte `offset` of the command-line source); text that
/// is not a TOML value is taken as a string.
pub(crate) fn parse_override_value(text: &str, offset: usize, srcs: &mut Sources) -> Node {
    let span = offset..offset + text.len();
    match DeValue::parse(text) {
        Ok(mut v) => {
            v.get_mut().make_owned();
            convert(&v, Src::Cli, offset, srcs)
        }
        Err(_) => Node {
            v: Val::Str(text.to_string()),
            loc: Loc::cli(span),
        },
    }
}

fn convert_table(t: &DeTable<'_>, src: Src, offset: usize, srcs: &mut Sources) -> Vec<Entry> {
    let mut out: Vec<Entry> = t
        .iter()
        .map(|(k, v)| {
            let ks = k.span();
            Entry {
                key: k.get_ref().to_string(),
                key_loc: Loc {
                    src,
                    span: ks.start + offset..ks.end + offset,
                },
                node: convert(v, src, offset, srcs),
            }
        })
        .collect();
    // Source order (the parser's map is sorted by key).
    out.sort_by_key(|e| e.key_loc.span.start);
    out
}

fn convert(v: &Spanned<DeValue<'_>>, src: Src, offset: usize, srcs: &mut Sources) -> Node {
    let s = v.span();
    let loc = Loc {
        src,
        span: s.start + offset..s.end + offset,
    };
    let val = match v.get_ref() {
        DeValue::String(s) => Val::Str(s.to_string()),
        DeValue::Boolean(b) => Val::Bool(*b),
        DeValue::Datetime(d) => Val::Datetime(*d),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            match i64::from_str_radix(&digits, i.radix()) {
                Ok(n) => Val::Int(n),
                Err(_) => {
                    let d = srcs.at(&loc, format!("integer `{i}` does not fit in 64 bits"));
                    srcs.push(d.label("too large").help("integers are signed 64-bit"));
                    Val::Invalid
                }
            }
        }
        DeValue::Float(f) => {
            let text = f.as_str().replace('_', "");
            match text.parse::<f64>() {
                Ok(x) if x.is_nan() => {
                    let d = srcs.at(&loc, "NaN is not allowed").label("not a number");
                    srcs.push(d.help("every parameter must be a finite number"));
                    Val::Invalid
                }
                Ok(x) if x.is_infinite() && text.contains("inf") => {
                    let d = srcs
                        .at(&loc, "infinite floats are not allowed")
                        .label("infinite");
                    srcs.push(d.help("every parameter must be a finite number"));
                    Val::Invalid
                }
                Ok(x) if x.is_infinite() => {
                    let d = srcs
                        .at(&loc, format!("float `{f}` overflows f64"))
                        .label("too large");
                    srcs.push(d);
                    Val::Invalid
                }
                Ok(x) => Val::Float(x),
                Err(_) => {
                    srcs.error(&loc, format!("invalid float `{f}`"));
                    Val::Invalid
                }
            }
        }
        DeValue::Array(a) => Val::Array(a.iter().map(|x| convert(x, src, offset, srcs)).collect()),
        DeValue::Table(t) => Val::Table(convert_table(t, src, offset, srcs)),
    };
    Node { v: val, loc }
}
