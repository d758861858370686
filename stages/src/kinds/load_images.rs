//! Stage kind `load_images`: reads a real image folder (CASIA-WebFace / LFW layout
//! `root/<identity>/<file>.jpg|png`) into a [`Dataset`] of domain [`Domain::Real`].
//!
//! Images are centre-cropped to a square and resized to `size`, or, when a `landmarks` file is
//! given, aligned by a least-squares similarity transform of their five landmarks onto the
//! 112x112 five-point template scaled to `size`. Classes are numbered in name order, images
//! within a class are taken in name order.
//!
//! Landmarks file format: one line per image, `identity/file.jpg x1 y1 x2 y2 x3 y3 x4 y4 x5 y5`
//! (whitespace or commas; points in source pixels: left eye, right eye, nose tip, left and
//! right mouth corner; `#` starts a comment).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::path_params;
use image::imageops::FilterType;
use image::RgbImage;
use rayon::prelude::*;
use synface_engine::inputs::ExternalInput;
use synface_engine::{
    Artifact, Facts, ParamIssue, ParamRule, PortSpec, Resources, RunCtx, StageError, TypedStage,
};

use crate::artifacts::DATASET;
use crate::dataset::{Dataset, DatasetInfo, Domain};
use crate::face::align::align;

/// File extensions read as images (case-insensitive).
const EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

synface_engine::stage_params! {
    /// Parameters of `load_images`.
    pub struct LoadImagesParams {
        /// image folder: one sub-folder per identity (required)
        root: String,
        /// output side length in pixels (square crops)
        size: u64 = 112u64 => ParamRule::at_least(1.0),
        /// keep at most this many identities, in name order (0 = all)
        max_ids: u64 = 0u64,
        /// keep at most this many images per identity, in name order (0 = all)
        max_per_id: u64 = 0u64,
        /// drop identities with fewer usable images than this
        min_per_id: u64 = 1u64,
        /// skip corrupt/unreadable images (counted in metrics.json) instead of failing
        skip_bad: bool = false,
        /// optional five-point landmarks file (relative paths to `root`); "" = centre crop
        landmarks: String = "",
    }
}

/// The `load_images` stage kind.
pub struct LoadImages;

impl TypedStage for LoadImages {
    type Params = LoadImagesParams;
    const KIND: &'static str = "load_images";
    /// 2: landmark alignment puts faces on the template with the face model's margin
    /// (`face::CROP_SCALE`), as renders are.
    const VERSION: u32 = 2;
    const ABOUT: &'static str = "read a real image folder (root/<identity>/<file>) into a dataset";
    const INPUTS: &'static [PortSpec] = &[];
    const OUTPUT: &'static str = DATASET;
    const RESOURCES: Resources = Resources {
        threads: 2,
        gpu: false,
        mem_mb: 1024,
    };

    fn check(&self, p: &LoadImagesParams) -> Vec<ParamIssue> {
        let mut issues = Vec::new();
        if !Path::new(&p.root).is_dir() {
            let m = format!("image folder `{}` does not exist", p.root);
            issues.push(ParamIssue::new("root", m));
        }
        if !p.landmarks.is_empty() && !Path::new(&p.landmarks).is_file() {
            let m = format!("landmarks file `{}` does not exist", p.landmarks);
            issues.push(ParamIssue::new("landmarks", m));
        }
        if p.max_per_id > 0 && p.min_per_id > p.max_per_id {
            let m = format!(
                "min_per_id ({}) exceeds max_per_id ({}): no identity qualifies",
                p.min_per_id, p.max_per_id
            );
            issues.push(ParamIssue::new("min_per_id", m));
        }
        issues
    }
    fn output_facts(&self, p: &LoadImagesParams, _inputs: &[(&str, &Facts)]) -> Facts {
        super::image_size_facts(p.size)
    }
    fn external_inputs(&self, p: &LoadImagesParams) -> Vec<ExternalInput> {
        path_params(&[("root", &p.root), ("landmarks", &p.landmarks)])
    }
    fn run(&self, p: LoadImagesParams, ctx: &RunCtx) -> Result<Artifact, StageError> {
        let loaded = load_folder(&p, ctx)?;
        let mut a = loaded.dataset.to_artifact()?;
        a.set_metrics(&serde_json::json!({
            "images": loaded.dataset.len(),
            "classes": loaded.dataset.info.num_classes,
            "skipped": loaded.skipped.len(),
            "skipped_files": loaded.skipped.iter().take(50).collect::<Vec<_>>(),
            "dropped_classes": loaded.dropped_classes,
            "aligned": !p.landmarks.is_empty(),
        }));
        Ok(a)
    }
}

/// Result of reading a folder.
#[derive(Debug)]
pub struct Loaded {
    pub dataset: Dataset,
    /// Relative paths of images skipped as unreadable (or lacking landmarks) with `skip_bad`.
    pub skipped: Vec<String>,
    /// Identities dropped for having fewer than `min_per_id` usable images.
    pub dropped_classes: usize,
}

/// Read the folder described by `p` (progress and cancellation through `ctx`).
pub fn load_folder(p: &LoadImagesParams, ctx: &RunCtx) -> Result<Loaded, StageError> {
    if p.size == 0 {
        return Err(StageError::param("size", "size must be at least 1"));
    }
    let size = p.size as usize;
    let root = PathBuf::from(&p.root);
    let landmarks = if p.landmarks.is_empty() {
        None
    } else {
        Some(read_landmarks(Path::new(&p.landmarks))?)
    };
    let classes = list_classes(&root)?;
    let limit = |n: u64| if n == 0 { usize::MAX } else { n as usize };
    let (max_ids, max_per_id) = (limit(p.max_ids), limit(p.max_per_id));

    let mut out = Dataset {
        info: DatasetInfo {
            domain: Domain::Real,
            num_classes: 0,
            height: size,
            width: size,
            class_names: Vec::new(),
            identity_ids: Vec::new(),
            sources: Vec::new(),
        },
        images: Vec::new(),
        label_a: Vec::new(),
        label_b: Vec::new(),
        phi: Vec::new(),
        landmarks: landmarks.as_ref().map(|_| Vec::new()),
    };
    let mut skipped = Vec::new();
    let mut dropped_classes = 0;
    ctx.progress
        .set_total(classes.len().min(max_ids) as u64, "identities");
    for (name, files) in &classes {
        if out.info.num_classes >= max_ids {
            break;
        }
        ctx.cancel.check()?;
        let mut good: Vec<(String, Vec<u8>, Option<[f32; 10]>)> = Vec::new();
        let mut bad = Vec::new();
        let mut next = 0;
        // Decode in parallel batches of what is still needed, in name order.
        while good.len() < max_per_id && next < files.len() {
            let want = (max_per_id - good.len()).min(files.len() - next);
            let batch = &files[next..next + want];
            next += want;
            let decoded: Vec<_> = batch
                .par_iter()
                .map(|f| {
                    let rel = format!("{name}/{f}");
                    let path = root.join(name).join(f);
                    let res = prepare(&path, &rel, size, landmarks.as_ref());
                    (rel, res)
                })
                .collect();
            for (rel, res) in decoded {
                match res {
                    Ok((pix, lm)) => good.push((rel, pix, lm)),
                    Err(e) if p.skip_bad => bad.push((rel, e)),
                    Err(e) => return Err(e),
                }
            }
        }
        skipped.extend(bad.into_iter().map(|(rel, _)| rel));
        if good.len() < p.min_per_id.max(1) as usize {
            dropped_classes += 1;
            ctx.progress.inc(1);
            continue;
        }
        let label = out.info.num_classes as i64;
        for (rel, pix, lm) in good {
            out.images.extend_from_slice(&pix);
            out.label_a.push(label);
            out.label_b.push(label);
            out.phi.push(1.0);
            out.info.sources.push(rel);
            if let (Some(all), Some(lm)) = (out.landmarks.as_mut(), lm) {
                all.extend_from_slice(&lm);
            }
        }
        out.info.class_names.push(name.clone());
        out.info.num_classes += 1;
        ctx.progress.inc(1);
    }
    if out.is_empty() {
        return Err(StageError::Input(format!(
            "no usable images under `{}` (expected root/<identity>/<file>.jpg|png)",
            root.display()
        )));
    }
    out.validate()?;
    Ok(Loaded {
        dataset: out,
        skipped,
        dropped_classes,
    })
}

/// Identity folders (sorted by name) with their image files (sorted by name).
fn list_classes(root: &Path) -> Result<Vec<(String, Vec<String>)>, StageError> {
    let read = |dir: &Path| {
        std::fs::read_dir(dir).map_err(|e| {
            StageError::Io(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", dir.display()),
            ))
        })
    };
    let mut classes = BTreeMap::new();
    for entry in read(root)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let mut files = Vec::new();
        for f in read(&entry.path())? {
            let f = f?;
            let Some(fname) = f.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let ext_ok = Path::new(&fname)
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
            if ext_ok && f.file_type()?.is_file() {
                files.push(fname);
            }
        }
        files.sort();
        if !files.is_empty() {
            classes.insert(name, files);
        }
    }
    Ok(classes.into_iter().collect())
}

/// Decode one image and bring it to `size` x `size` RGB (aligned when landmarks are given).
fn prepare(
    path: &Path,
    rel: &str,
    size: usize,
    landmarks: Option<&BTreeMap<String, [f32; 10]>>,
) -> Result<(Vec<u8>, Option<[f32; 10]>), StageError> {
    let bytes = std::fs::read(path).map_err(|e| {
        StageError::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    })?;
    let img = image::load_from_memory(&bytes)
        .map_err(|e| StageError::Input(format!("cannot decode image {}: {e}", path.display())))?
        .to_rgb8();
    match landmarks {
        None => Ok((centre_crop(&img, size).into_raw(), None)),
        Some(map) => {
            let lm = map.get(rel).ok_or_else(|| {
                StageError::Input(format!(
                    "no landmarks for image {} (key `{rel}`)",
                    path.display()
                ))
            })?;
            let (pix, out_lm) = align(&img, lm, size);
            Ok((pix, Some(out_lm)))
        }
    }
}

/// Crop the central square and resize it to `size` x `size` (triangle filter).
pub fn centre_crop(img: &RgbImage, size: usize) -> RgbImage {
    let (w, h) = img.dimensions();
    let side = w.min(h);
    let sq = image::imageops::crop_imm(img, (w - side) / 2, (h - side) / 2, side, side).to_image();
    if side as usize == size {
        return sq;
    }
    image::imageops::resize(&sq, size as u32, size as u32, FilterType::Triangle)
}

/// Parse a landmarks file (see the module docs).
pub fn read_landmarks(path: &Path) -> Result<BTreeMap<String, [f32; 10]>, StageError> {
    let text = super::read_text_input(path)?;
    parse_landmarks(&text).map_err(|e| StageError::Input(format!("{}: {e}", path.display())))
}

/// Parse landmarks text: `relpath x1 y1 ... x5 y5` per line.
pub fn parse_landmarks(text: &str) -> Result<BTreeMap<String, [f32; 10]>, String> {
    let mut map = BTreeMap::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut fields = line
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty());
        let name = fields.next().unwrap_or_default().to_string();
        let nums: Vec<f32> = fields
            .map(|s| {
                s.parse::<f32>()
                    .map_err(|e| format!("line {}: `{s}`: {e}", no + 1))
            })
            .collect::<Result<_, _>>()?;
        let arr: [f32; 10] = nums.as_slice().try_into().map_err(|_| {
            format!(
                "line {}: expected a path and 10 numbers, found {} numbers",
                no + 1,
                nums.len()
            )
        })?;
        if arr.iter().any(|v| !v.is_finite()) {
            return Err(format!("line {}: non-finite coordinate", no + 1));
        }
        map.insert(name, arr);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::TEMPLATE_112;
    use synface_engine::ParamsSchema;
    use synface_engine::{CancelToken, Device, NoCheckpoints, NoProgress, ParamTable, Stage};

    fn params(root: &Path, set: &[(&str, toml::Value)]) -> ParamTable {
        let mut t: ParamTable = LoadImagesParams::specs()
            .into_iter()
            .filter_map(|s| s.default.map(|d| (s.name.to_string(), d)))
            .collect();
        t.insert(
            "root".into(),
            toml::Value::String(root.display().to_string()),
        );
        for (k, v) in set {
            t.insert((*k).to_string(), v.clone());
        }
        t
    }

    fn run(t: &ParamTable) -> Result<Artifact, StageError> {
        let cancel = CancelToken::new();
        let ctx = RunCtx {
            stage: "real",
            params: t,
            inputs: BTreeMap::new(),
            seed: 0,
            device: Device::Cpu,
            threads: 1,
            progress: &NoProgress,
            cancel: &cancel,
            checkpoints: &NoCheckpoints,
        };
        Stage::run(&LoadImages, &ctx)
    }

    /// A solid image whose colour encodes (class, index), with a differently coloured border.
    fn write_img(path: &Path, w: u32, h: u32, colour: [u8; 3]) {
        let img = RgbImage::from_fn(w, h, |x, y| {
            if x < w / 8 || y < h / 8 || x >= w - w / 8 || y >= h - h / 8 {
                image::Rgb([255, 255, 255])
            } else {
                image::Rgb(colour)
            }
        });
        img.save(path).unwrap();
    }

    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for (c, name) in ["bob", "alice", "carol"].iter().enumerate() {
            std::fs::create_dir(r.join(name)).unwrap();
            for i in 0..3 {
                let ext = if i == 1 { "jpg" } else { "png" };
                let colour = [40 * c as u8 + 20, 30 * i as u8 + 10, 200];
                write_img(
                    &r.join(name).join(format!("{i}.{ext}")),
                    40 + 8 * i,
                    32,
                    colour,
                );
            }
        }
        // carol only has two valid images plus a corrupt one and a non-image file.
        std::fs::remove_file(r.join("carol/2.png")).unwrap();
        std::fs::write(r.join("carol/9.png"), b"definitely not a png").unwrap();
        std::fs::write(r.join("carol/notes.txt"), b"ignored").unwrap();
        dir
    }

    #[test]
    fn corrupt_file_fails_with_its_path_unless_skipped() {
        let dir = fixture();
        let err = run(&params(dir.path(), &[])).unwrap_err().to_string();
        assert!(err.contains("carol") && err.contains("9.png"), "{err}");

        let a = run(&params(
            dir.path(),
            &[("skip_bad", toml::Value::Boolean(true))],
        ))
        .unwrap();
        let m = a.metrics().unwrap();
        assert_eq!(m["skipped"], 1);
        assert_eq!(m["skipped_files"][0], "carol/9.png");
        let d = Dataset::from_artifact(&a).unwrap();
        assert_eq!(d.info.class_names, vec!["alice", "bob", "carol"]);
        assert_eq!(d.len(), 8);
        assert_eq!(d.info.domain, Domain::Real);
        assert_eq!(d.info.sources[0], "alice/0.png");
        assert_eq!(d.info.sources[1], "alice/1.jpg");
        assert_eq!(d.label_a, vec![0, 0, 0, 1, 1, 1, 2, 2]);
        assert_eq!((d.info.height, d.info.width), (112, 112));
    }

    #[test]
    fn limits_and_centre_crop() {
        let dir = fixture();
        let t = params(
            dir.path(),
            &[
                ("size", toml::Value::Integer(16)),
                ("max_ids", toml::Value::Integer(2)),
                ("max_per_id", toml::Value::Integer(2)),
            ],
        );
        let d = Dataset::from_artifact(&run(&t).unwrap()).unwrap();
        assert_eq!(d.info.class_names, vec!["alice", "bob"]);
        assert_eq!(d.len(), 4);
        // Centre of bob's first image (class 0 in creation order: colour [20, 10, 200]).
        let img = d.image(2);
        let centre = &img[(8 * 16 + 8) * 3..(8 * 16 + 8) * 3 + 3];
        assert_eq!(centre, &[20, 10, 200]);
        // min_per_id drops carol (two usable images) when skipping the corrupt file.
        let t = params(
            dir.path(),
            &[
                ("min_per_id", toml::Value::Integer(3)),
                ("skip_bad", toml::Value::Boolean(true)),
            ],
        );
        let a = run(&t).unwrap();
        assert_eq!(a.metrics().unwrap()["dropped_classes"], 1);
        assert_eq!(Dataset::from_artifact(&a).unwrap().info.num_classes, 2);
    }

    #[test]
    fn plan_check_reports_missing_root() {
        let t = params(Path::new("/no/such/folder"), &[]);
        let issues = Stage::check(&LoadImages, &t);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].param, "root");
        let dir = fixture();
        assert!(Stage::check(&LoadImages, &params(dir.path(), &[])).is_empty());
    }

    #[test]
    fn landmark_alignment_maps_points_to_template() {
        let dir = fixture();
        // Landmarks: the template at twice the scale, shifted by (10, 4).
        let line = |rel: &str| {
            let pts: Vec<String> = TEMPLATE_112
                .iter()
                .flat_map(|p| {
                    [
                        format!("{}", p[0] * 0.5 + 10.0),
                        format!("{}", p[1] * 0.25 + 4.0),
                    ]
                })
                .collect();
            format!("{rel} {}\n", pts.join(" "))
        };
        let mut text = String::from("# five points per image\n");
        for rel in [
            "alice/0.png",
            "alice/1.jpg",
            "alice/2.png",
            "bob/0.png",
            "bob/1.jpg",
            "bob/2.png",
        ] {
            text.push_str(&line(rel));
        }
        let lm_path = dir.path().join("landmarks.txt");
        std::fs::write(&lm_path, text).unwrap();
        let t = params(
            dir.path(),
            &[
                ("size", toml::Value::Integer(56)),
                ("max_ids", toml::Value::Integer(2)),
                (
                    "landmarks",
                    toml::Value::String(lm_path.display().to_string()),
                ),
            ],
        );
        let d = Dataset::from_artifact(&run(&t).unwrap()).unwrap();
        let lm = d.landmarks.as_ref().unwrap();
        assert_eq!(lm.len(), d.len() * 10);
        // Non-uniform scaling cannot be matched exactly by a similarity; the fit is centred.
        let mean_x: f32 = (0..5).map(|i| lm[2 * i]).sum::<f32>() / 5.0;
        let want_x: f32 = crate::face::template(56).iter().map(|p| p[0]).sum::<f32>() / 5.0;
        assert!((mean_x - want_x).abs() < 1e-2, "{mean_x} vs {want_x}");
        // Missing landmarks for carol: an error naming the image.
        let t2 = params(
            dir.path(),
            &[(
                "landmarks",
                toml::Value::String(lm_path.display().to_string()),
            )],
        );
        let err = run(&t2).unwrap_err().to_string();
        assert!(err.contains("carol"), "{err}");
    }

    #[test]
    fn landmarks_parse_errors_name_the_line() {
        assert!(parse_landmarks("a/b.jpg 1 2 3\n")
            .unwrap_err()
            .contains("line 1"));
        let m = parse_landmarks("x/y.png,1,2,3,4,5,6,7,8,9,10\n").unwrap();
        assert_eq!(m["x/y.png"][9], 10.0);
    }
}
