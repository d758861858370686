//! The LFW `pairs.txt` format: a header `FOLDS PAIRS` (e.g. `10 300`: folds, and matched =
//! mismatched pairs per fold), then per fold `PAIRS` matched lines `name n1 n2` followed by
//! `PAIRS` mismatched lines `name1 n1 name2 n2`. Image `n` of `name` is
//! `name/name_{n:04}.jpg`. A header with one number `N` means one fold of `N` + `N` pairs.

use std::fmt::Write;

/// One image reference: identity name and 1-based image number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImageRef {
    pub name: String,
    pub number: u32,
}

impl ImageRef {
    /// `name/name_0001.jpg`.
    pub fn path(&self) -> String {
        format!("{0}/{0}_{1:04}.jpg", self.name, self.number)
    }
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LfwPair {
    pub fold: usize,
    pub a: ImageRef,
    pub b: ImageRef,
    pub same: bool,
}

/// A whole `pairs.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LfwPairs {
    pub folds: usize,
    /// Matched (and mismatched) pairs per fold.
    pub per_fold: usize,
    /// In file order.
    pub pairs: Vec<LfwPair>,
}

/// A malformed `pairs.txt` (1-based line number). The message says what was expected at
/// that line, never what the line contains: a wrong path can point at any file, and its
/// content must not end up in logs or on the terminal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LfwError {
    pub line: usize,
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> LfwError {
    LfwError {
        line,
        message: message.into(),
    }
}

fn num(tok: &str, line: usize, what: &str) -> Result<u32, LfwError> {
    tok.parse::<u32>().map_err(|_| {
        err(
            line,
            format!(
                "expected the {what} as a non-negative integer (found {} characters of \
                 something else)",
                tok.chars().count()
            ),
        )
    })
}

/// Parse `pairs.txt` text. Blank lines are ignored.
pub fn parse(text: &str) -> Result<LfwPairs, LfwError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    let (hl, header) = lines
        .next()
        .ok_or_else(|| err(1, "empty file (expected a header like `10 300`)"))?;
    let h: Vec<&str> = header.split_whitespace().collect();
    let (folds, per_fold) = match h.as_slice() {
        [f, p] => (
            num(f, hl, "fold count")? as usize,
            num(p, hl, "pairs per fold")? as usize,
        ),
        [p] => (1, num(p, hl, "pair count")? as usize),
        _ => {
            return Err(err(
                hl,
                format!(
                    "expected a header `FOLDS PAIRS_PER_FOLD` (two numbers), found {} fields",
                    h.len()
                ),
            ))
        }
    };
    if folds == 0 || per_fold == 0 {
        return Err(err(hl, "fold count and pairs per fold must be positive"));
    }
    let mut pairs = Vec::with_capacity(2 * folds * per_fold);
    let mut last = hl;
    for k in 0..2 * folds * per_fold {
        let (ln, l) = lines.next().ok_or_else(|| {
            err(
                last + 1,
                format!(
                    "file ends after {k} pairs; the header promises {}",
                    2 * folds * per_fold
                ),
            )
        })?;
        last = ln;
        let t: Vec<&str> = l.split_whitespace().collect();
        let same = (k % (2 * per_fold)) < per_fold;
        let fold = k / (2 * per_fold);
        let p = match (same, t.as_slice()) {
            (true, [name, n1, n2]) => LfwPair {
                fold,
                a: ImageRef {
                    name: name.to_string(),
                    number: num(n1, ln, "image number")?,
                },
                b: ImageRef {
                    name: name.to_string(),
                    number: num(n2, ln, "image number")?,
                },
                same,
            },
            (false, [a, n1, b, n2]) => LfwPair {
                fold,
                a: ImageRef {
                    name: a.to_string(),
                    number: num(n1, ln, "image number")?,
                },
                b: ImageRef {
                    name: b.to_string(),
                    number: num(n2, ln, "image number")?,
                },
                same,
            },
            (true, _) => {
                return Err(err(
                    ln,
                    format!(
                        "expected a matched pair `name n1 n2` (3 fields), found {} fields",
                        t.len()
                    ),
                ))
            }
            (false, _) => {
                return Err(err(
                    ln,
                    format!(
                    "expected a mismatched pair `name1 n1 name2 n2` (4 fields), found {} fields",
                    t.len()
                ),
                ))
            }
        };
        pairs.push(p);
    }
    if let Some((ln, _)) = lines.next() {
        return Err(err(
            ln,
            format!(
                "unexpected extra line after {} pairs (the header promises {})",
                pairs.len(),
                pairs.len()
            ),
        ));
    }
    Ok(LfwPairs {
        folds,
        per_fold,
        pairs,
    })
}

impl LfwPairs {
    /// Check the pairs are in file order (per fold: `per_fold` matched then mismatched) so
    /// that [`LfwPairs::to_text`] writes what [`parse`] reads back.
    pub fn is_well_formed(&self) -> bool {
        self.pairs.len() == 2 * self.folds * self.per_fold
            && self.pairs.iter().enumerate().all(|(k, p)| {
                p.fold == k / (2 * self.per_fold)
                    && p.same == ((k % (2 * self.per_fold)) < self.per_fold)
                    && (!p.same || p.a.name == p.b.name)
            })
    }

    /// The file text (tab-separated like the original).
    pub fn to_text(&self) -> String {
        let mut s = format!("{}\t{}\n", self.folds, self.per_fold);
        for p in &self.pairs {
            let _ = if p.same {
                writeln!(s, "{}\t{}\t{}", p.a.name, p.a.number, p.b.number)
            } else {
                writeln!(
                    s,
                    "{}\t{}\t{}\t{}",
                    p.a.name, p.a.number, p.b.name, p.b.number
                )
            };
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A generated LFW-format fixture: 3 folds of 2 + 2 pairs.
    fn fixture() -> String {
        let mut s = String::from("3 2\n");
        for f in 0..3 {
            for k in 0..2 {
                s.push_str(&format!("Person_{f}{k}\t{}\t{}\n", k + 1, k + 3));
            }
            for k in 0..2 {
                s.push_str(&format!("Person_{f}{k}\t{}\tOther_{f}\t{}\n", k + 1, k + 2));
            }
        }
        s
    }

    #[test]
    fn round_trip() {
        let p = parse(&fixture()).unwrap();
        assert_eq!((p.folds, p.per_fold, p.pairs.len()), (3, 2, 12));
        assert!(p.is_well_formed());
        assert_eq!(p.pairs[0].a.path(), "Person_00/Person_00_0001.jpg");
        assert!(p.pairs[1].same && !p.pairs[2].same);
        assert_eq!(p.pairs[11].fold, 2);
        assert_eq!(
            p.pairs[3].b,
            ImageRef {
                name: "Other_0".into(),
                number: 3
            }
        );
        let text = p.to_text();
        assert_eq!(text, fixture().replace(" ", "\t"));
        assert_eq!(parse(&text).unwrap(), p);
        assert_eq!(
            parse("2\nA 1 2\nB 1 3\nA 1 B 2\nC 4 D 5\n").unwrap().folds,
            1
        );
    }

    #[test]
    fn malformed_files_name_the_line() {
        assert_eq!(parse("").unwrap_err().line, 1);
        assert_eq!(parse("10 x\n").unwrap_err().line, 1);
        let e = parse("1 1\nA 1 2\n\nA 1 B\n").unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.message.contains("mismatched"), "{e}");
        let e = parse("1 1\nA 1 2 3\nA 1 B 2\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse("1 1\nA 1 -2\nA 1 B 2\n").unwrap_err();
        assert!(e.to_string().starts_with("line 2:"), "{e}");
        let e = parse("1 2\nA 1 2\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("ends after 1"));
        assert_eq!(parse("1 1\nA 1 2\nA 1 B 2\nextra\n").unwrap_err().line, 4);
    }

    #[test]
    fn errors_never_echo_the_file_content() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/bin/sh\n";
        let header_two = "root:x:0:0 secret\n";
        let bad_pair = "1 1\nsecret 1 2 zzzz\nA 1 B 2\n";
        let bad_number = "1 1\nsecret 1 hunter2\nA 1 B 2\n";
        let extra = "1 1\nA 1 2\nA 1 B 2\nsecret line\n";
        for text in [passwd, header_two, bad_pair, bad_number, extra] {
            let e = parse(text).unwrap_err().to_string();
            for word in ["root", "secret", "hunter2", "bin", "zzzz"] {
                assert!(!e.contains(word), "{e:?} echoes `{word}`");
            }
            assert!(e.starts_with("line "), "{e}");
            assert!(e.contains("expected") || e.contains("header"), "{e}");
        }
    }
}
