//! `synface show`: the results of a run (`results.json`) as a table, JSON or CSV.
//! Metrics are flattened to columns `stage.metric` (nested objects joined with dots).

use std::collections::BTreeSet;

use synface_engine::run_folder::ResultRow;

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        serde_json::Value::Array(_) => {}
        serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        serde_json::Value::Null => {}
        other => out.push((prefix.to_string(), cell(other))),
    }
}

fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.4}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Column names and one row of cells per result row.
pub fn tabulate(rows: &[ResultRow]) -> (Vec<String>, Vec<Vec<String>>) {
    let axes: BTreeSet<&String> = rows.iter().flat_map(|r| r.values.keys()).collect();
    let flat: Vec<Vec<(String, String)>> = rows
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            for (stage, m) in &r.stages {
                flatten(stage, m, &mut out);
            }
            out
        })
        .collect();
    let mut metric_cols: Vec<String> = Vec::new();
    for f in &flat {
        for (k, _) in f {
            if !metric_cols.contains(k) {
                metric_cols.push(k.clone());
            }
        }
    }
    let mut header = vec!["point".to_string(), "arm".to_string()];
    header.extend(axes.iter().map(|a| a.to_string()));
    header.extend(metric_cols.iter().cloned());
    let body = rows
        .iter()
        .zip(&flat)
        .map(|(r, f)| {
            let mut line = vec![r.point.clone(), r.arm.clone().unwrap_or_default()];
            line.extend(
                axes.iter()
                    .map(|a| r.values.get(*a).map(cell).unwrap_or_default()),
            );
            line.extend(metric_cols.iter().map(|c| {
                f.iter()
                    .find(|(k, _)| k == c)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            }));
            line
        })
        .collect();
    (header, body)
}

pub fn table(rows: &[ResultRow]) -> String {
    let (header, body) = tabulate(rows);
    aligned(&header, &body)
}

/// A header and rows as left-aligned columns separated by two spaces.
pub fn aligned(header: &[String], body: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for line in body {
        for (w, c) in widths.iter_mut().zip(line) {
            *w = (*w).max(c.chars().count());
        }
    }
    let fmt = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = fmt(header);
    out.push('\n');
    for line in body {
        out.push_str(&fmt(line));
        out.push('\n');
    }
    out
}

pub fn csv(rows: &[ResultRow]) -> String {
    let (header, body) = tabulate(rows);
    csv_lines(&header, &body)
}

/// A header and rows as CSV (fields quoted when needed).
pub fn csv_lines(header: &[String], body: &[Vec<String>]) -> String {
    synface_stages::csv_text::to_csv(
        std::iter::once(header).chain(body.iter().map(|l| l.as_slice())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(point: &str, acc: f64) -> ResultRow {
        ResultRow {
            point: point.into(),
            arm: None,
            values: [("ids".to_string(), serde_json::json!(10))].into(),
            stages: [(
                "verify".to_string(),
                serde_json::json!({"accuracy": {"mean": acc, "std": 0.0}, "auc": 0.5}),
            )]
            .into(),
            incomplete: vec![],
        }
    }

    #[test]
    fn metrics_flatten_into_columns() {
        let (h, b) = tabulate(&[row("a", 0.9), row("b", 0.8)]);
        assert_eq!(
            h,
            [
                "point",
                "arm",
                "ids",
                "verify.accuracy.mean",
                "verify.accuracy.std",
                "verify.auc"
            ]
        );
        assert_eq!(b[1], ["b", "", "10", "0.8000", "0.0000", "0.5000"]);
        let c = csv(&[row("a", 0.9)]);
        assert_eq!(c.lines().count(), 2);
        assert!(table(&[row("a", 0.9)]).starts_with("point"));
    }

    #[test]
    fn csv_quotes_fields() {
        let h = ["a,b".to_string(), "x".to_string()];
        assert_eq!(csv_lines(&h, &[]), "\"a,b\",x\n");
    }
}
