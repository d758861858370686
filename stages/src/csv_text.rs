//! CSV text as synface writes it (`results.csv`, `runs.csv`, `labels.csv`, `synface show
//! --format csv`): RFC 4180 through the `csv` crate, a field quoted only when it needs it (it
//! holds a comma, a quote or a line break), lines ended by `\n`.

/// A CSV writer in synface's dialect over `out` (rows may differ in length).
pub fn writer<W: std::io::Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(out)
}

/// `rows` as CSV text, one line per row.
pub fn to_csv<I, R, F>(rows: I) -> String
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let mut w = writer(Vec::new());
    for row in rows {
        // writing into a Vec cannot fail
        w.write_record(row).expect("csv into memory");
    }
    let bytes = w.into_inner().expect("csv into memory");
    String::from_utf8(bytes).expect("csv of UTF-8 fields is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_they_need_it() {
        let out = to_csv([
            vec!["plain", "Doe, Jane", "say \"hi\""],
            vec!["two\nlines", "", "x"],
        ]);
        assert_eq!(
            out,
            "plain,\"Doe, Jane\",\"say \"\"hi\"\"\"\n\"two\nlines\",,x\n"
        );
    }
}
