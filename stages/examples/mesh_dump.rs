//! Dumps the meshes `bench/render` renders, posed and lit, for a peer rasteriser
//! (`bench/render/llvmpipe_peer.py` draws them with OpenGL on Mesa's llvmpipe): the same latents
//! as the `render_bench` example (image `i` is `sample_latent(i / PER_ID, i % PER_ID, 1)`), the
//! same alignment and lighting as the renderer ([`posed_mesh`]), plus synface's own renders of
//! them for comparison.
//!
//! `cargo run --release -p synface-stages --example mesh_dump -- OUT_DIR N_IMAGES PER_ID SIZE
//! [SUPERSAMPLE]` writes into OUT_DIR (created if missing; these files are overwritten):
//!
//! | file | type | shape | contents |
//! |---|---|---|---|
//! | `index.json` | | | sizes, shapes and the identity of each image |
//! | `st.f32` | f32 | `[V, 2]` | texture coordinates (s, t) per vertex, for every image |
//! | `tris.u32` | u32 | `[T, 3]` | triangles (front faces are clockwise on screen, y down) |
//! | `verts.f32` | f32 | `[N, V, 7]` | per image and vertex: x, y (output pixels, y down, pixel centres at +0.5), 1/depth, irradiance r, g, b, specular |
//! | `albedo.f32` | f32 | `[I, 256, 256, 3]` | per identity: the albedo texels, with the eyes of its first image painted in |
//! | `background.u8` | u8 | `[N, SIZE, SIZE, 3]` | per image: the background |
//! | `synface.u8` | u8 | `[N, SIZE, SIZE, 3]` | per image: synface's render (`SUPERSAMPLE`, default 2) |
//!
//! All little-endian, row-major, no headers (`np.fromfile(path, dtype).reshape(shape)`). Texture
//! rows run with t and columns with s; sampling is bilinear with texel centres at
//! `(k + 0.5) / 256` and clamped at the edges (OpenGL's `LINEAR` + `CLAMP_TO_EDGE`). A pixel's
//! colour is `tone(albedo * irradiance + specular)` per channel, where
//! `tone(v) = clamp(v, 0, 0.8) + 0.2 u / (1 + u)`, `u = max(5 (v - 0.8), 0)`, composited over
//! the background by coverage.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use synface_stages::face::background::BackgroundModel;
use synface_stages::face::finish::Finish;
use synface_stages::face::latent::{sample_latent, SampleConfig};
use synface_stages::face::model::Identity;
use synface_stages::face::render::{albedo_at, posed_mesh};
use synface_stages::face::texture::{EyeState, TH, TW};
use synface_stages::face::{render_batch, FaceModel, RenderOptions};

const USAGE: &str = "usage: mesh_dump OUT_DIR N_IMAGES PER_ID SIZE [SUPERSAMPLE]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesh_dump: {e}");
            ExitCode::from(2)
        }
    }
}

fn arg(args: &[String], i: usize, name: &str, default: Option<usize>) -> Result<usize, String> {
    match args.get(i) {
        Some(a) => a
            .parse()
            .map_err(|_| format!("{name} must be a whole number, got `{a}`\n{USAGE}")),
        None => default.ok_or_else(|| format!("missing {name}\n{USAGE}")),
    }
}

/// A buffered writer on `dir/name` with the path in its errors.
struct Out {
    path: PathBuf,
    w: BufWriter<File>,
}

impl Out {
    fn create(dir: &Path, name: &str) -> Result<Out, String> {
        let path = dir.join(name);
        let f =
            File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(Out {
            path,
            w: BufWriter::with_capacity(1 << 20, f),
        })
    }

    fn bytes(&mut self, b: &[u8]) -> Result<(), String> {
        self.w
            .write_all(b)
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }

    fn f32s(&mut self, v: impl IntoIterator<Item = f32>) -> Result<(), String> {
        let b: Vec<u8> = v.into_iter().flat_map(f32::to_le_bytes).collect();
        self.bytes(&b)
    }

    fn finish(mut self) -> Result<(), String> {
        self.w
            .flush()
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
}

/// The renderer's float-to-byte rule.
fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = PathBuf::from(
        args.first()
            .ok_or_else(|| format!("missing OUT_DIR\n{USAGE}"))?,
    );
    let n = arg(&args, 1, "N_IMAGES", None)?;
    let per_id = arg(&args, 2, "PER_ID", None)?;
    let size = arg(&args, 3, "SIZE", None)?;
    let ss = arg(&args, 4, "SUPERSAMPLE", Some(2))?;
    if args.len() > 5 {
        return Err(format!("too many arguments\n{USAGE}"));
    }
    if n == 0 || per_id == 0 {
        return Err(format!("N_IMAGES and PER_ID must be at least 1\n{USAGE}"));
    }
    let opts = RenderOptions {
        size,
        supersample: ss,
        ..RenderOptions::default()
    };
    opts.validate().map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;

    let cfg = SampleConfig::default();
    let lats: Vec<_> = (0..n)
        .map(|i| sample_latent((i / per_id) as u64, (i % per_id) as u64, 1, &cfg))
        .collect();
    let model = FaceModel::get();
    let bg_model = BackgroundModel::new();
    let (nv, nt) = (model.mesh.st.len(), model.mesh.tris.len());

    let mut st = Out::create(&out, "st.f32")?;
    st.f32s(model.mesh.st.iter().flatten().copied())?;
    st.finish()?;
    let mut tris = Out::create(&out, "tris.u32")?;
    let b: Vec<u8> = model
        .mesh
        .tris
        .iter()
        .flatten()
        .flat_map(|i| i.to_le_bytes())
        .collect();
    tris.bytes(&b)?;
    tris.finish()?;

    let mut verts = Out::create(&out, "verts.f32")?;
    let mut albedo = Out::create(&out, "albedo.f32")?;
    let mut bg = Out::create(&out, "background.u8")?;
    let mut identity_of = Vec::with_capacity(n);
    let ids = n.div_ceil(per_id);
    for id in 0..ids {
        let group = &lats[id * per_id..((id + 1) * per_id).min(n)];
        let first = &group[0];
        if let Some(l) = group
            .iter()
            .find(|l| l.shape != first.shape || l.albedo != first.albedo)
        {
            return Err(format!(
                "image of identity {} differs in identity coefficients from its first image",
                l.identity
            ));
        }
        let ident = Identity::build(model, first);
        let eyes = EyeState::from_expression(&first.expression);
        let fin = Finish::of(opts.face_model).map_err(|e| e.to_string())?;
        albedo.f32s((0..TH * TW).flat_map(|k| {
            let s = ((k % TW) as f32 + 0.5) / TW as f32;
            let t = ((k / TW) as f32 + 0.5) / TH as f32;
            albedo_at(model, &ident, &eyes, &fin, s, t)
        }))?;
        for (j, lat) in group.iter().enumerate() {
            let index = (id * per_id + j) as u64;
            let p = posed_mesh(model, &ident, lat, &opts, index);
            verts.f32s(
                p.screen
                    .iter()
                    .zip(&p.light)
                    .flat_map(|(s, l)| [s[0], s[1], s[2], l[0], l[1], l[2], l[3]]),
            )?;
            let b: Vec<u8> = bg_model
                .render(&lat.background, size)
                .iter()
                .flatten()
                .map(|&v| to_u8(v))
                .collect();
            bg.bytes(&b)?;
            identity_of.push(id);
        }
    }
    verts.finish()?;
    albedo.finish()?;
    bg.finish()?;

    let faces = render_batch(&lats, &opts, &|| false, &|_| {}).map_err(|e| e.to_string())?;
    let mut own = Out::create(&out, "synface.u8")?;
    for f in &faces {
        own.bytes(&f.rgb)?;
    }
    own.finish()?;

    let index = serde_json::json!({
        "format": "synface-mesh-dump/1",
        "model_version": synface_stages::face::MODEL_VERSION,
        "renderer_version": synface_stages::face::RENDERER_VERSION,
        "images": n,
        "per_id": per_id,
        "identities": ids,
        "size": size,
        "supersample": ss,
        "vertices": nv,
        "triangles": nt,
        "texture": [TH, TW],
        "identity_of": identity_of,
        "files": {
            "st.f32": ["f32", [nv, 2]],
            "tris.u32": ["u32", [nt, 3]],
            "verts.f32": ["f32", [n, nv, 7]],
            "albedo.f32": ["f32", [ids, TH, TW, 3]],
            "background.u8": ["u8", [n, size, size, 3]],
            "synface.u8": ["u8", [n, size, size, 3]],
        },
    });
    let path = out.join("index.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&index).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!(
        "mesh_dump: {n} images of {ids} identities ({nv} vertices, {nt} triangles), \
         {size}x{size}, into {}",
        out.display()
    );
    Ok(())
}
