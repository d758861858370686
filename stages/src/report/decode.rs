//! Decoding of the files other stages publish into the report's plain types: verify's
//! `metrics.json`, `roc.csv`, `scores.csv` and `embeddings.safetensors`, and train's
//! `curve.csv`. Parsers are lenient about column order (columns are found by header name)
//! and strict about malformed numbers.

use std::collections::BTreeMap;

use safetensors::tensor::Dtype;

use super::{CurveRow, Embeddings, Metrics, ReportError};

fn perr(file: &str, msg: impl Into<String>) -> ReportError {
    ReportError::Parse {
        file: file.into(),
        msg: msg.into(),
    }
}

/// Verify's `metrics.json`: `accuracy` as `{mean, std}` or a number, `auc`, `eer`,
/// `tar_at_far` as `{"1e-2": .., ...}`.
pub fn parse_metrics(json: &serde_json::Value) -> Result<Metrics, ReportError> {
    let f = |v: &serde_json::Value| v.as_f64();
    let (accuracy, fold_std) = match &json["accuracy"] {
        serde_json::Value::Object(m) => (
            m.get("mean")
                .and_then(f)
                .ok_or_else(|| perr("metrics.json", "accuracy.mean missing"))?,
            m.get("std").and_then(f).unwrap_or(0.0),
        ),
        v => (
            f(v).ok_or_else(|| perr("metrics.json", "no `accuracy`"))?,
            0.0,
        ),
    };
    let tar_at_far = json["tar_at_far"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x)))
                .collect()
        })
        .unwrap_or_default();
    Ok(Metrics {
        accuracy,
        fold_std,
        auc: f(&json["auc"]),
        eer: f(&json["eer"]),
        tar_at_far,
    })
}

/// A CSV table: header names and rows of numbers.
fn parse_numeric_csv(file: &str, text: &str) -> Result<(Vec<String>, Vec<Vec<f64>>), ReportError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .ok_or_else(|| perr(file, "empty file"))?
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let mut rows = Vec::new();
    for (no, line) in lines.enumerate() {
        let row: Vec<f64> = line
            .split(',')
            .map(|c| {
                c.trim()
                    .parse::<f64>()
                    .map_err(|e| perr(file, format!("line {}: `{c}`: {e}", no + 2)))
            })
            .collect::<Result<_, _>>()?;
        if row.len() != header.len() {
            return Err(perr(
                file,
                format!(
                    "line {}: {} fields, header has {}",
                    no + 2,
                    row.len(),
                    header.len()
                ),
            ));
        }
        rows.push(row);
    }
    Ok((header, rows))
}

fn column(file: &str, header: &[String], names: &[&str]) -> Result<usize, ReportError> {
    header
        .iter()
        .position(|h| names.contains(&h.as_str()))
        .ok_or_else(|| perr(file, format!("no column named {}", names.join(" or "))))
}

/// `roc.csv`: columns `far`/`fpr` and `tar`/`tpr` (others ignored). Sorted by FAR.
pub fn parse_roc(text: &str) -> Result<Vec<(f64, f64)>, ReportError> {
    let (h, rows) = parse_numeric_csv("roc.csv", text)?;
    let x = column("roc.csv", &h, &["far", "fpr"])?;
    let y = column("roc.csv", &h, &["tar", "tpr"])?;
    let mut pts: Vec<(f64, f64)> = rows.iter().map(|r| (r[x], r[y])).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    Ok(pts)
}

/// `scores.csv`: `fold,label,score` (label 1 = same identity).
pub fn parse_scores(text: &str) -> Result<Vec<(bool, f32)>, ReportError> {
    let (h, rows) = parse_numeric_csv("scores.csv", text)?;
    let l = column("scores.csv", &h, &["label"])?;
    let s = column("scores.csv", &h, &["score"])?;
    Ok(rows.iter().map(|r| (r[l] > 0.5, r[s] as f32)).collect())
}

/// `curve.csv`: step,epoch,lr,loss,train_acc (by header name; missing ones are NaN).
pub fn parse_curve(text: &str) -> Result<Vec<CurveRow>, ReportError> {
    let (h, rows) = parse_numeric_csv("curve.csv", text)?;
    let step = column("curve.csv", &h, &["step"])?;
    let opt = |n: &str| h.iter().position(|x| x == n);
    let (epoch, lr, loss, acc) = (opt("epoch"), opt("lr"), opt("loss"), opt("train_acc"));
    let get = |r: &Vec<f64>, c: Option<usize>| c.map_or(f64::NAN, |c| r[c]);
    Ok(rows
        .iter()
        .map(|r| CurveRow {
            step: r[step],
            epoch: get(r, epoch),
            lr: get(r, lr),
            loss: get(r, loss),
            train_acc: get(r, acc),
        })
        .collect())
}

/// `embeddings.safetensors`: a 2-D float tensor (`embeddings`, or the first 2-D float tensor)
/// and a 1-D integer tensor of labels (`labels`, or the first 1-D integer tensor).
pub fn parse_embeddings(bytes: &[u8]) -> Result<Embeddings, ReportError> {
    const FILE: &str = "embeddings.safetensors";
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| perr(FILE, e.to_string()))?;
    let mut names = st.names();
    names.sort();
    let pick = |preferred: &str, ok: &dyn Fn(&safetensors::tensor::TensorView) -> bool| {
        if let Ok(t) = st.tensor(preferred) {
            if ok(&t) {
                return Some(t);
            }
        }
        names
            .iter()
            .filter_map(|n| st.tensor(n).ok())
            .find(|t| ok(t))
    };
    let emb = pick("embeddings", &|t| {
        t.shape().len() == 2 && matches!(t.dtype(), Dtype::F32 | Dtype::F64)
    })
    .ok_or_else(|| perr(FILE, "no 2-D float tensor"))?;
    let lab = pick("labels", &|t| {
        t.shape().len() == 1
            && matches!(t.dtype(), Dtype::I64 | Dtype::I32 | Dtype::U32 | Dtype::U64)
    })
    .ok_or_else(|| perr(FILE, "no 1-D integer label tensor"))?;
    let (n, dim) = (emb.shape()[0], emb.shape()[1]);
    let data: Vec<f32> = match emb.dtype() {
        Dtype::F64 => emb
            .data()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
            .collect(),
        _ => emb
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap_or([0; 4])))
            .collect(),
    };
    let labels: Vec<i64> = match lab.dtype() {
        Dtype::I64 => lab
            .data()
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
        Dtype::U64 => lab
            .data()
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as i64)
            .collect(),
        Dtype::I32 => lab
            .data()
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
            .collect(),
        _ => lab
            .data()
            .chunks_exact(4)
            .map(|c| i64::from(u32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
            .collect(),
    };
    if labels.len() != n {
        return Err(perr(
            FILE,
            format!("{n} embeddings but {} labels", labels.len()),
        ));
    }
    Ok(Embeddings { dim, data, labels })
}

/// Same-identity and different-identity cosine similarities of embeddings (every pair of the
/// first `max` embeddings).
pub fn pair_cosines(e: &Embeddings, max: usize) -> Vec<(bool, f32)> {
    let n = e.len().min(max);
    let norm: Vec<f32> = (0..n)
        .map(|i| {
            e.data[i * e.dim..(i + 1) * e.dim]
                .iter()
                .map(|x| x * x)
                .sum::<f32>()
                .sqrt()
                .max(1e-12)
        })
        .collect();
    let mut out = Vec::new();
    for i in 0..n {
        for j in (i + 1)..n {
            let a = &e.data[i * e.dim..(i + 1) * e.dim];
            let b = &e.data[j * e.dim..(j + 1) * e.dim];
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            out.push((e.labels[i] == e.labels[j], dot / (norm[i] * norm[j])));
        }
    }
    out
}

/// The domain a verify `metrics.json` (or dataset info) declares, if any.
pub fn declared_domain(json: &serde_json::Value) -> Option<String> {
    let keys = ["test_domain", "domain"];
    let obj: BTreeMap<_, _> = json.as_object()?.iter().collect();
    keys.iter().find_map(|k| {
        obj.get(&k.to_string())
            .and_then(|v| v.as_str())
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;

    #[test]
    fn metrics_both_shapes() {
        let m = parse_metrics(&serde_json::json!({
            "accuracy": {"mean": 0.9, "std": 0.01}, "auc": 0.95, "eer": 0.1,
            "tar_at_far": {"1e-2": 0.5, "1e-3": 0.25}
        }))
        .unwrap();
        assert_eq!(
            (m.accuracy, m.fold_std, m.auc, m.eer),
            (0.9, 0.01, Some(0.95), Some(0.1))
        );
        assert_eq!(m.tar_at_far["1e-3"], 0.25);
        assert_eq!(
            parse_metrics(&serde_json::json!({"accuracy": 0.7}))
                .unwrap()
                .accuracy,
            0.7
        );
        assert!(parse_metrics(&serde_json::json!({})).is_err());
    }

    #[test]
    fn csv_parsers() {
        let roc = parse_roc("threshold,fpr,tpr\n0.5,0.1,0.8\n0.9,0.0,0.2\n").unwrap();
        assert_eq!(roc, vec![(0.0, 0.2), (0.1, 0.8)]);
        let s = parse_scores("fold,label,score\n0,1,0.75\n0,0,-0.5\n").unwrap();
        assert_eq!(s, vec![(true, 0.75), (false, -0.5)]);
        let c = parse_curve("step,epoch,lr,loss,train_acc\n10,0,0.1,4.5,0.2\n").unwrap();
        assert_eq!(c[0].loss, 4.5);
        let err = parse_roc("far,tar\n0.1,x\n").unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn embeddings_round_trip_and_cosines() {
        let data: Vec<f32> = vec![1.0, 0.0, 2.0, 0.0, 0.0, 1.0];
        let labels: Vec<i64> = vec![0, 0, 1];
        let db: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        let lb: Vec<u8> = labels.iter().flat_map(|x| x.to_le_bytes()).collect();
        let bytes = safetensors::serialize(
            vec![
                (
                    "embeddings",
                    TensorView::new(Dtype::F32, vec![3, 2], &db).unwrap(),
                ),
                ("labels", TensorView::new(Dtype::I64, vec![3], &lb).unwrap()),
            ],
            None,
        )
        .unwrap();
        let e = parse_embeddings(&bytes).unwrap();
        assert_eq!((e.dim, e.len()), (2, 3));
        let c = pair_cosines(&e, 10);
        assert_eq!(c, vec![(true, 1.0), (false, 0.0), (false, 0.0)]);
    }
}
