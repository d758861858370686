//! Assembles `report.md` (links to the plot files beside it) and a self-contained
//! `report.html` (plots inlined as SVG, contact sheets as base64 PNG data URIs).

use super::contrast::{Contrasts, Metric};
use super::plots::Figure;
use super::provenance::Provenance;
use super::table::{display_rows, markdown, Group};
use super::{compare, RunResult, Sheet, PROXY_LABEL};

/// The pieces of a report document.
pub struct Document<'a> {
    pub title: &'a str,
    pub groups: &'a [Group],
    pub figures: &'a [Figure],
    pub sheets: &'a [Sheet],
    pub runs: &'a [RunResult],
    /// Contrasts along one axis, one per metric asked for (none when not asked).
    pub contrasts: &'a [Contrasts],
    pub provenance: &'a Provenance,
}

impl Document<'_> {
    /// Whether photo-proxy data appears anywhere (domains, axis values, sheet captions).
    fn mentions_proxy(&self) -> bool {
        self.groups.iter().any(|g| {
            g.label.contains(PROXY_LABEL) || g.domain.as_deref().is_some_and(super::is_proxy_name)
        }) || self.sheets.iter().any(|s| s.caption.contains(PROXY_LABEL))
    }

    fn summary(&self) -> String {
        let mut s = format!(
            "{} runs in {} groups (mean ± std over seed replicates).",
            self.runs.len(),
            self.groups.len()
        );
        if let Some(h) = compare::headline(self.groups, self.runs) {
            s.push(' ');
            s.push_str(&h);
        }
        s
    }

    /// The comparison table (every group against the best), when there are two groups.
    fn comparisons(&self) -> Option<(Vec<String>, Vec<Vec<String>>)> {
        let (header, rows) = compare::table(self.groups, self.runs);
        (!rows.is_empty()).then_some((header, rows))
    }

    fn proxy_note(&self) -> Option<String> {
        self.mentions_proxy().then(|| {
            format!(
                "Note: \"photo\" data in this report is a {PROXY_LABEL}, rendered by synface's face model with a \
                 shifted appearance; it is not a real-photo benchmark."
            )
        })
    }

    /// `report.md`.
    pub fn markdown(&self) -> String {
        let mut md = format!("# {}\n\n{}\n\n", self.title, self.summary());
        if let Some(n) = self.proxy_note() {
            md.push_str(&format!("> {n}\n\n"));
        }
        md.push_str("## Results\n\n");
        md.push_str(&markdown(self.groups));
        md.push_str("\nAccuracy: LFW-style 10-fold protocol; `fold std` is the spread over folds, `±` the spread over seeds.\n");
        if let Some((header, rows)) = self.comparisons() {
            md.push_str(&format!(
                "\n## Against the best group\n\n{COMPARE_NOTE}\n\n"
            ));
            md.push_str(&md_table(&header, &rows));
        }
        for c in self.contrasts {
            let (title, note, header, rows) = contrast_table(c);
            md.push_str(&format!("\n## {title}\n\n{note}\n\n"));
            md.push_str(&md_table(&header, &rows));
        }
        if !self.figures.is_empty() {
            md.push_str("\n## Figures\n\n");
            for f in self.figures {
                md.push_str(&format!(
                    "### {}\n\n![{}]({}.svg)\n\n",
                    f.caption, f.caption, f.name
                ));
            }
        }
        if !self.sheets.is_empty() {
            md.push_str("## Contact sheets\n\n");
            for (i, s) in self.sheets.iter().enumerate() {
                md.push_str(&format!(
                    "![{}](sheet_{i}.png)\n\n{}\n\n",
                    s.caption, s.caption
                ));
            }
        }
        md.push('\n');
        md.push_str(&self.provenance.markdown());
        md
    }

    /// `report.html` (no external resources).
    pub fn html(&self) -> String {
        let mut h =
            String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
        h.push_str(&format!("<title>{}</title>\n", esc(self.title)));
        h.push_str(
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
             table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}\
             th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}\
             figure{margin:1.5em 0}figcaption{font-size:14px;color:#555}.note{background:#fff6d5;padding:.6em 1em;border-left:4px solid #e0b000}\
             svg{max-width:100%;height:auto}</style>\n</head><body>\n",
        );
        h.push_str(&format!(
            "<h1>{}</h1>\n<p>{}</p>\n",
            esc(self.title),
            esc(&self.summary())
        ));
        if let Some(n) = self.proxy_note() {
            h.push_str(&format!("<p class=\"note\">{}</p>\n", esc(&n)));
        }
        h.push_str("<h2>Results</h2>\n<table>\n<tr>");
        let (header, rows) = display_rows(self.groups);
        for c in &header {
            h.push_str(&format!("<th>{}</th>", esc(c)));
        }
        h.push_str("</tr>\n");
        for r in rows {
            h.push_str("<tr>");
            for c in r {
                h.push_str(&format!("<td>{}</td>", esc(&c)));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
        if let Some((header, rows)) = self.comparisons() {
            h.push_str(&format!(
                "<h2>Against the best group</h2>\n<p>{}</p>\n",
                esc(COMPARE_NOTE)
            ));
            h.push_str(&html_table(&header, &rows));
        }
        for c in self.contrasts {
            let (title, note, header, rows) = contrast_table(c);
            h.push_str(&format!(
                "<h2>{}</h2>\n<p>{}</p>\n",
                esc(&title),
                esc(&note)
            ));
            h.push_str(&html_table(&header, &rows));
        }
        if !self.figures.is_empty() {
            h.push_str("<h2>Figures</h2>\n");
            for f in self.figures {
                h.push_str(&format!(
                    "<figure id=\"{}\">{}<figcaption>{}</figcaption></figure>\n",
                    esc(&f.name),
                    strip_xml_decl(&f.svg),
                    esc(&f.caption)
                ));
            }
        }
        if !self.sheets.is_empty() {
            h.push_str("<h2>Contact sheets</h2>\n");
            for s in self.sheets {
                h.push_str(&format!(
                    "<figure><img alt=\"{0}\" src=\"data:image/png;base64,{1}\"><figcaption>{0}</figcaption></figure>\n",
                    esc(&s.caption),
                    base64(&s.png)
                ));
            }
        }
        h.push_str(&self.provenance.html());
        h.push_str("</body></html>\n");
        h
    }
}

/// What the comparison table shows.
const COMPARE_NOTE: &str = "Each group against the best one: difference of mean accuracies \
    (points), its 95% confidence interval and Welch's t-test over the seed replicates \
    (two-sided, not corrected for multiple comparisons). \"within noise\": p >= 0.05.";

/// The contrast section: title, note, header and rows. Accuracy is shown in percent and its
/// differences in points; AUC and EER as fractions.
fn contrast_table(c: &Contrasts) -> (String, String, Vec<String>, Vec<Vec<String>>) {
    let title = match c.metric {
        Metric::Accuracy => format!("Contrasts along `{}`", c.axis),
        m => format!("Contrasts along `{}`: {}", c.axis, m.label()),
    };
    let carried = if c.tied.is_empty() {
        String::new()
    } else {
        format!(
            " ({} move with it and are shown with it)",
            c.tied.join(", ")
        )
    };
    let what = match c.metric {
        Metric::Accuracy => "difference of mean accuracies (points)".to_string(),
        m => format!("difference of mean {}s", m.label()),
    };
    let note = format!(
        "Each level of `{}`{carried} against its first level in sweep order, within each \
         combination of the other axes: {what} with Welch's \
         t-test over the replicates, and the paired t-test over replicates matched by seed \
         (in synface's pipelines the arms of one replicate share their people). Two-sided, not \
         corrected for multiple comparisons; the verdict uses the paired test when there is one.",
        c.axis
    );
    let (value, reference) = match c.metric {
        Metric::Accuracy => ("accuracy %".to_string(), "reference %".to_string()),
        m => (m.label().into(), format!("reference {}", m.label())),
    };
    let mut header = vec!["within".to_string(), "level".into(), "reference".into()];
    header.extend([value, reference]);
    header.extend(
        [
            "difference",
            "95% CI",
            "Welch p",
            "paired difference (n)",
            "paired 95% CI",
            "paired p",
            "verdict",
        ]
        .map(String::from),
    );
    let rows = c.rows.iter().map(|r| contrast_row(r, c.metric)).collect();
    (title, note, header, rows)
}

fn contrast_row(r: &super::contrast::ContrastRow, metric: Metric) -> Vec<String> {
    let (scale, places) = match metric {
        Metric::Accuracy => (100.0, 2),
        Metric::Auc | Metric::Eer => (1.0, 4),
    };
    let pts = |x: f64| format!("{:+.places$}", scale * x);
    let ci = |w: &super::stats::Welch| format!("[{}, {}]", pts(w.ci95.0), pts(w.ci95.1));
    let p = |w: &super::stats::Welch| format!("{:.3}", w.p);
    let dash = || "-".to_string();
    let level = |m: Option<f64>, n: usize| match m {
        Some(m) => format!("{:.places$} (n = {n})", scale * m),
        None => format!("- (n = {n})"),
    };
    let test = r.paired.as_ref().map(|(_, w)| w).or(r.welch.as_ref());
    let verdict = match test {
        Some(w) if w.p < 0.05 => "different (p < 0.05)",
        Some(_) => "within noise",
        None => "too few replicates",
    };
    let difference = match (r.mean, r.reference_mean) {
        (Some(a), Some(b)) => pts(a - b),
        _ => dash(),
    };
    vec![
        r.stratum.clone(),
        r.level.clone(),
        r.reference.clone(),
        level(r.mean, r.n),
        level(r.reference_mean, r.reference_n),
        difference,
        r.welch.as_ref().map_or_else(dash, ci),
        r.welch.as_ref().map_or_else(dash, p),
        r.paired
            .as_ref()
            .map_or_else(dash, |(n, w)| format!("{} ({n})", pts(w.diff))),
        r.paired.as_ref().map_or_else(dash, |(_, w)| ci(w)),
        r.paired.as_ref().map_or_else(dash, |(_, w)| p(w)),
        verdict.to_string(),
    ]
}

/// A Markdown table (the twin of [`html_table`]).
fn md_table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut md = format!(
        "| {} |\n|{}\n",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for r in rows {
        md.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    md
}

fn html_table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut h = String::from("<table>\n<tr>");
    for c in header {
        h.push_str(&format!("<th>{}</th>", esc(c)));
    }
    h.push_str("</tr>\n");
    for r in rows {
        h.push_str("<tr>");
        for c in r {
            h.push_str(&format!("<td>{}</td>", esc(c)));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    h
}

/// Escape text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

fn strip_xml_decl(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

/// Standard base64 (RFC 4648, with padding), for data URIs.
pub fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe]), "//4=");
    }

    #[test]
    fn contrast_rows_take_their_verdict_from_the_paired_test() {
        let w = |p: f64| super::super::stats::Welch {
            diff: -0.03,
            t: -4.0,
            df: 2.0,
            p,
            ci95: (-0.05, -0.01),
        };
        let mut r = super::super::contrast::ContrastRow {
            stratum: "test=pose".into(),
            level: "mixup=identity".into(),
            reference: "mixup=none".into(),
            mean: Some(0.90),
            reference_mean: Some(0.93),
            n: 3,
            reference_n: 3,
            welch: Some(w(0.2)),
            paired: Some((3, w(0.01))),
        };
        let row = contrast_row(&r, Metric::Accuracy);
        assert_eq!(row[5], "-3.00");
        assert_eq!(row[8], "-3.00 (3)");
        assert_eq!(row[11], "different (p < 0.05)");
        r.paired = None;
        assert_eq!(
            contrast_row(&r, Metric::Accuracy)[11],
            "within noise",
            "Welch when nothing pairs"
        );
        r.welch = None;
        assert_eq!(contrast_row(&r, Metric::Accuracy)[11], "too few replicates");
        assert_eq!(contrast_row(&r, Metric::Accuracy)[10], "-");
    }

    #[test]
    fn auc_and_eer_contrasts_are_fractions_and_a_missing_metric_is_a_dash() {
        let w = super::super::stats::Welch {
            diff: -0.0058,
            t: -4.0,
            df: 2.0,
            p: 0.054,
            ci95: (-0.0119, 0.0003),
        };
        let mut r = super::super::contrast::ContrastRow {
            stratum: "all".into(),
            level: "mixup=identity".into(),
            reference: "mixup=none".into(),
            mean: Some(0.9921),
            reference_mean: Some(0.9979),
            n: 3,
            reference_n: 3,
            welch: Some(w),
            paired: Some((3, w)),
        };
        let row = contrast_row(&r, Metric::Auc);
        assert_eq!(row[3], "0.9921 (n = 3)");
        assert_eq!(row[5], "-0.0058");
        assert_eq!(row[9], "[-0.0119, +0.0003]");
        assert_eq!(row[11], "within noise");
        r.mean = None;
        r.welch = None;
        r.paired = None;
        let row = contrast_row(&r, Metric::Eer);
        assert_eq!((row[3].as_str(), row[5].as_str()), ("- (n = 3)", "-"));
        assert_eq!(row[11], "too few replicates");
    }

    #[test]
    fn escaping() {
        assert_eq!(esc("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
        assert_eq!(
            strip_xml_decl("<?xml version=\"1.0\"?>\n<svg x>"),
            "<svg x>"
        );
    }
}
