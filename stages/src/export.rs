//! Exporting a dataset artifact for other tools: an image folder (`DIR/<identity>/<n>.png` +
//! `labels.csv` with `image,id_a,id_b,phi`) or a single safetensors file. Numeric identity
//! folders and image numbers are zero-padded to a common width, so the sorted folder order
//! (torchvision's `ImageFolder` class index) is the dataset's class order and agrees with
//! `labels.csv`; CSV fields are quoted when they hold a comma, quote or line break. These functions
//! write (and overwrite) exactly those files and nothing else; whether a non-empty target may
//! be written at all is the caller's decision (`synface export --force`).

use std::path::Path;

use crate::dataset::Dataset;

/// Digits of the largest numeric class name (identity id, or class index), for zero padding.
fn id_width(ds: &Dataset) -> usize {
    let largest = ds
        .info
        .identity_ids
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(ds.info.num_classes.saturating_sub(1) as u64);
    largest.to_string().len()
}

fn class_name(ds: &Dataset, label: i64, width: usize) -> String {
    let i = label as usize;
    if let Some(id) = ds.info.identity_ids.get(i) {
        format!("{id:0width$}")
    } else if let Some(n) = ds.info.class_names.get(i) {
        n.clone()
    } else {
        format!("{label:0width$}")
    }
}

/// A class name usable as one directory name inside the export: path separators and control
/// characters become `_`, and `.`/`..`/empty get a `_` prefix, so no name leads outside `dir`.
fn dir_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        format!("_{s}")
    } else {
        s
    }
}

/// Write `dir/<identity>/<n>.png` for every image (n counts within the identity) and
/// `dir/labels.csv`.
pub fn write_imagefolder(ds: &Dataset, dir: &Path) -> std::io::Result<()> {
    ds.validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    std::fs::create_dir_all(dir)?;
    let file = std::io::BufWriter::new(std::fs::File::create(dir.join("labels.csv"))?);
    let mut csv = crate::csv_text::writer(file);
    csv.write_record(["image", "id_a", "id_b", "phi"])?;
    let mut counts: Vec<usize> = vec![0; ds.info.num_classes];
    let (w, h) = (ds.info.width as u32, ds.info.height as u32);
    let width = id_width(ds);
    let per_class = ds.by_class().iter().map(Vec::len).max().unwrap_or(1);
    let n_width = per_class.saturating_sub(1).to_string().len();
    for i in 0..ds.len() {
        let la = ds.label_a[i];
        let name = dir_name(&class_name(ds, la, width));
        let n = counts[la as usize];
        counts[la as usize] += 1;
        std::fs::create_dir_all(dir.join(&name))?;
        let rel = format!("{name}/{n:0n_width$}.png");
        image::save_buffer(
            dir.join(&rel),
            ds.image(i),
            w,
            h,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| std::io::Error::other(e.to_string()))?;
        let id_b = dir_name(&class_name(ds, ds.label_b[i], width));
        let fields = [rel, name, id_b, ds.phi[i].to_string()];
        csv.write_record(&fields)?;
    }
    csv.flush()
}

/// Write the dataset's tensors (images, labels, phi, landmarks) as one safetensors file.
pub fn write_safetensors(ds: &Dataset, path: &Path) -> std::io::Result<()> {
    let a = ds
        .to_artifact()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    let bytes = a
        .get("dataset.safetensors")
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    if let Some(p) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(p)?;
    }
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{DatasetInfo, Domain};

    #[test]
    fn imagefolder_round_trips_pixels() {
        let (n, s) = (3, 5);
        let ds = Dataset {
            info: DatasetInfo {
                domain: Domain::Synthetic,
                num_classes: 2,
                height: s,
                width: s,
                class_names: vec![],
                identity_ids: vec![40, 41],
                sources: vec![],
            },
            images: (0..n * s * s * 3).map(|i| (i * 7 % 256) as u8).collect(),
            label_a: vec![0, 0, 1],
            label_b: vec![0, 1, 1],
            phi: vec![1.0, 0.25, 1.0],
            landmarks: None,
        };
        let dir = tempfile::tempdir().unwrap();
        write_imagefolder(&ds, dir.path()).unwrap();
        for (i, rel) in ["40/0.png", "40/1.png", "41/0.png"].iter().enumerate() {
            let img = image::open(dir.path().join(rel)).unwrap().to_rgb8();
            assert_eq!(img.as_raw().as_slice(), ds.image(i));
        }
        let csv = std::fs::read_to_string(dir.path().join("labels.csv")).unwrap();
        assert!(csv.contains("40/1.png,40,41,0.25"));
        write_safetensors(&ds, &dir.path().join("d.safetensors")).unwrap();
        assert!(dir.path().join("d.safetensors").exists());
    }

    #[test]
    fn imagefolder_names_sort_like_labels_and_csv_is_quoted() {
        let s = 2;
        let ds = Dataset {
            info: DatasetInfo {
                domain: Domain::Synthetic,
                num_classes: 3,
                height: s,
                width: s,
                class_names: vec![],
                identity_ids: vec![9, 10, 100],
                sources: vec![],
            },
            images: vec![0; 3 * s * s * 3],
            label_a: vec![0, 1, 2],
            label_b: vec![1, 1, 2],
            phi: vec![0.5, 1.0, 1.0],
            landmarks: None,
        };
        let dir = tempfile::tempdir().unwrap();
        write_imagefolder(&ds, dir.path()).unwrap();
        let csv = std::fs::read_to_string(dir.path().join("labels.csv")).unwrap();
        assert!(csv.contains("009/0.png,009,010,0.5"), "{csv}");
        let mut folders: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        folders.sort();
        assert_eq!(folders, ["009", "010", "100"], "sorted = class order");
    }

    #[test]
    fn class_names_cannot_leave_the_export_directory() {
        assert_eq!(dir_name(".."), "_..");
        assert_eq!(dir_name("../../etc"), ".._.._etc");
        assert_eq!(dir_name("a\nb"), "a_b");
        assert_eq!(dir_name("Jane_Doe"), "Jane_Doe");
    }
}
