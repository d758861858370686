//! Diagnostics for pipeline files: each problem with file:line:column, the source line and a
//! caret label, rendered rustc-style as plain text (no colour, no terminal dependence) so the
//! output is stable enough to snapshot.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// How bad a diagnostic is. Any `Error` makes planning fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem at one place.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// File the position refers to (the pipeline file, or `<command line>` for `--set`).
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// Byte range in the source.
    pub span: Range<usize>,
    /// The source line the span starts on (without its newline).
    pub snippet: String,
    /// Text printed beside the carets.
    pub label: String,
    pub help: Option<String>,
}

impl Diagnostic {
    /// Set the caret label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
    /// Add a `= help:` line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    /// Add a `= help:` line when `help` is `Some`.
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }
    /// Demote to a warning.
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }
}

/// Whether `c` must not reach a terminal raw: C0 and C1 controls (tab and newline included)
/// and the bidirectional formatting characters (U+200E, U+200F, U+202A-U+202E,
/// U+2066-U+2069), which can make echoed text read differently from what it is.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every [`is_unsafe_char`] written as `\u{202e}` (lowercase hex), everything
/// else unchanged. Every diagnostic passes user text (names, values, paths, source lines)
/// through this before printing it.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    if is_unsafe_char(c) {
        out.push_str(&format!("\\u{{{:x}}}", c as u32));
    } else {
        out.push(c);
    }
}

/// Width in characters of `c` once escaped.
fn escaped_width(c: char) -> usize {
    if is_unsafe_char(c) {
        format!("{:x}", c as u32).len() + 4
    } else {
        1
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        writeln!(f, "{}: {}", self.severity, escape(&self.message))?;
        writeln!(
            f,
            "{pad}--> {}:{}:{}",
            escape(&self.file.display().to_string()),
            self.line,
            self.col
        )?;
        writeln!(f, "{pad} |")?;
        writeln!(f, "{num} | {}", escape(&self.snippet))?;
        let carets = self.carets();
        if self.label.is_empty() {
            writeln!(f, "{pad} | {carets}")?;
        } else {
            writeln!(f, "{pad} | {carets} {}", escape(&self.label))?;
        }
        if let Some(h) = &self.help {
            writeln!(f, "{pad} = help: {}", escape(h))?;
        }
        Ok(())
    }
}

impl Diagnostic {
    /// The caret line under the (escaped) snippet: at least one caret, within the line.
    fn carets(&self) -> String {
        let chars: Vec<char> = self.snippet.chars().collect();
        let start = self.col.saturating_sub(1).min(chars.len());
        let len = self
            .span_chars()
            .clamp(1, chars.len().saturating_sub(start).max(1));
        let width = |cs: &[char]| cs.iter().map(|&c| escaped_width(c)).sum::<usize>();
        let lead = width(&chars[..start]);
        let under = width(&chars[start..(start + len).min(chars.len())]).max(1);
        format!("{}{}", " ".repeat(lead), "^".repeat(under))
    }

    /// Characters of the span that lie on the first line.
    fn span_chars(&self) -> usize {
        let len = self.span.end.saturating_sub(self.span.start);
        let start_char = self.col.saturating_sub(1);
        self.snippet
            .chars()
            .skip(start_char)
            .scan(0usize, |b, c| {
                *b += c.len_utf8();
                Some(*b)
            })
            .take_while(|&b| b <= len)
            .count()
    }
}

/// All problems found in one pipeline file, in source order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Diagnostics {
    pub file: PathBuf,
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new(file: impl Into<PathBuf>) -> Self {
        Diagnostics {
            file: file.into(),
            items: Vec::new(),
        }
    }
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }
    /// Number of `Error` items.
    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }
    pub fn has_errors(&self) -> bool {
        self.error_count() > 0
    }
    /// Sort by (file, line, col, message) and drop exact duplicates.
    pub fn sort_dedup(&mut self) {
        // The pipeline file first, then `<command line>`.
        let main = self.file.clone();
        self.items.sort_by(|a, b| {
            (a.file != main, &a.file, a.line, a.col, &a.message).cmp(&(
                b.file != main,
                &b.file,
                b.line,
                b.col,
                &b.message,
            ))
        });
        self.items.dedup();
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            writeln!(f, "{d}")?;
        }
        let n = self.error_count();
        let plural = if n == 1 { "" } else { "s" };
        write!(
            f,
            "error: `{}` is invalid: {n} error{plural}",
            escape(&self.file.display().to_string())
        )
    }
}

impl std::error::Error for Diagnostics {}

/// A source text with its line index: turns byte spans into [`Diagnostic`]s.
#[derive(Debug, Clone)]
pub struct SourceText {
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceText {
    pub fn new(path: impl AsRef<Path>, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceText {
            path: path.as_ref().to_path_buf(),
            text,
            line_starts,
        }
    }

    /// 1-based (line, column in chars) of byte offset `pos` (clamped into the text).
    pub fn line_col(&self, pos: usize) -> (usize, usize) {
        let mut pos = pos.min(self.text.len());
        while !self.text.is_char_boundary(pos) {
            pos -= 1;
        }
        let line = self.line_starts.partition_point(|&s| s <= pos).max(1);
        let start = self.line_starts[line - 1];
        let col = self.text[start..pos].chars().count() + 1;
        (line, col)
    }

    /// The text of 1-based line `line`, without its line ending.
    pub fn line_text(&self, line: usize) -> &str {
        let start = self
            .line_starts
            .get(line.wrapping_sub(1))
            .copied()
            .unwrap_or(0);
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    /// An error at `span` with `message`.
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        let (line, col) = self.line_col(span.start);
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            file: self.path.clone(),
            line,
            col,
            span,
            snippet: self.line_text(line).to_string(),
            label: String::new(),
            help: None,
        }
    }
}

/// The closest candidate to `word` (Jaro-Winkler >= 0.8 or small edit distance), for
/// "did you mean" help.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(word, c);
        let close = score >= 0.8 || strsim::levenshtein(word, c) <= 2.min(word.len() / 2);
        if close && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars() {
        let s = SourceText::new("f.toml", "a = 1\nbé = \"x\"\n");
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(6), (2, 1));
        // after the two-byte é
        assert_eq!(s.line_col(9), (2, 3));
        assert_eq!(s.line_text(2), "bé = \"x\"");
        assert_eq!(s.line_col(1000), (3, 1));
    }

    #[test]
    fn renders_rustc_like() {
        let s = SourceText::new("p.toml", "[stages.a]\nkind = \"rendr\"\n");
        let d = s
            .error(18..25, "unknown stage kind `rendr`")
            .label("unknown kind")
            .help("did you mean `render`?");
        let mut ds = Diagnostics::new("p.toml");
        ds.push(d);
        let text = ds.to_string();
        assert_eq!(
            text,
            "error: unknown stage kind `rendr`\n --> p.toml:2:8\n  |\n2 | kind = \"rendr\"\n  |        ^^^^^^^ unknown kind\n  = help: did you mean `render`?\n\nerror: `p.toml` is invalid: 1 error"
        );
    }

    #[test]
    fn control_and_bidi_characters_are_escaped_with_carets_aligned() {
        assert_eq!(
            escape("a\u{202e}b\tc\u{1b}\u{85}"),
            "a\\u{202e}b\\u{9}c\\u{1b}\\u{85}"
        );
        assert_eq!(escape("plain é"), "plain é");
        let s = SourceText::new("p.toml", "[stages.\"a\u{202e}b\"]\n");
        let d = s
            .error(8..15, "stage name `a\u{202e}b` is bad")
            .label("x\u{2066}");
        let text = d.to_string();
        assert!(!text.chars().any(is_unsafe_char_not_newline), "{text:?}");
        assert!(text.contains("stage name `a\\u{202e}b` is bad"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        let snippet = lines[3].find('"').unwrap();
        let caret = lines[4].find('^').unwrap();
        assert_eq!(snippet, caret, "{text}");
        assert_eq!(lines[4].matches('^').count(), "\"a\\u{202e}b\"".len());
    }

    fn is_unsafe_char_not_newline(c: char) -> bool {
        c != '\n' && is_unsafe_char(c)
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("rendr", ["render", "train"]).as_deref(),
            Some("did you mean `render`?")
        );
        assert_eq!(did_you_mean("zzz", ["render", "train"]), None);
    }
}
