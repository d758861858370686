//! The procedural 3D morphable face model and its software rasteriser: our stand-in for
//! DiscoFaceGAN (docs/design.md §8). Five independent controls drive a render: identity (80 shape +
//! 80 albedo coefficients), expression (64), illumination (27 SH coefficients), pose (yaw,
//! pitch, roll in degrees) and background (32). The model is generated procedurally from a fixed
//! seed and versioned by [`MODEL_VERSION`] (and [`LATENT_VERSION`]), so identity 17 is the same face
//! in every run of one version.
//!
//! Layout: [`mesh`] (mean head mesh), [`bases`] (identity shape and expression bases),
//! [`texture`] (albedo maps and eyes), [`shading`] (SH lighting), [`camera`] (pose, projection,
//! alignment to the five-point template), [`raster`] (z-buffered supersampled triangles, with
//! its SIMD lanes in `simd`),
//! [`background`], [`photo`] (the "photo" proxy style), [`latent`] (latent vectors and their
//! sampling), [`model`] (everything built once), [`render`] (batched rendering), [`sheet`]
//! (contact sheets) and [`cli`] (`synface render`).

pub mod align;
pub mod background;
pub mod bases;
pub mod camera;
pub mod finish;
pub mod hair;
pub mod latent;
pub mod mesh;
pub mod model;
pub mod occlusion;
pub mod overlay;
pub mod photo;
pub mod raster;
pub mod render;
mod resolve;
pub mod shading;
pub mod sheet;
mod simd;
mod texel8;
pub mod texture;
pub mod traits;

pub use latent::{FaceLatent, Factor, SampleConfig};
pub use model::FaceModel;
pub use render::{render_batch, RenderOptions, RenderedFace, Style};

/// Newest version of the procedural model (mesh, bases, latent distributions, textures,
/// occlusion, finish), the one renders use unless they choose another ([`finish::FACE_MODELS`]).
/// Bump on any change to what a face is: it is part of the render stage's cache key.
/// Version 4 added baked ambient occlusion and per-trait shape spreads to version 3; version 5
/// widened the identity traits with soft-clipped tails and put a margin around the aligned
/// face ([`CROP_SCALE`]); version 6 widened the nose (length, projection, width) further;
/// version 7 adds an identity skin mottle and eye finish ([`finish`]) to version 6's faces;
/// version 8 fades the mottle out on the sides of the head; version 9 adds a skin sheen
/// (docs/faces.md).
pub const MODEL_VERSION: u32 = 9;
/// Version of what latents are (their distributions and identity draw): versions 6 to 9
/// of the model share version 6's latents, so one latent set renders under any of them. Part of the
/// latent stages' cache keys and recorded in every latents artifact.
pub const LATENT_VERSION: u32 = 6;
/// The version whose random draws (shape bases, albedo fields, identity coefficients,
/// backgrounds) the model uses: version 4 changed how faces are built from the same draws, so
/// identity 17 keeps its coefficients and differences between versions are the model's alone.
pub const DRAW_VERSION: u64 = 3;
/// Version of the renderer's arithmetic (rasterisation, shading, tone curve). Bump on any change
/// that alters pixels but not the model: it is part of the render stage's cache key. Version 2
/// shades once per pixel where its samples lie on one surface (version 1 shaded every sample).
pub const RENDERER_VERSION: u32 = 2;
/// Identity shape coefficients.
pub const N_SHAPE: usize = 80;
/// Identity albedo coefficients.
pub const N_ALBEDO: usize = 80;
/// Expression coefficients.
pub const N_EXPR: usize = 64;
/// Spherical-harmonics illumination coefficients (9 per RGB channel).
pub const N_LIGHT: usize = 27;
/// Background coefficients.
pub const N_BG: usize = 32;

/// The five-point alignment template at 112x112 (left eye, right eye, nose tip, left and right
/// mouth corner), in pixels; scale proportionally for other sizes.
pub const TEMPLATE_112: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// How large the aligned face is within its crop, relative to the tight 112x112 template: the
/// template is shrunk about the crop's centre by this factor, leaving room for a head turned
/// 35-45 degrees (at 1.0 its cheek and jaw left the frame and dlib's frontal detector found
/// 0.82 of the faces at `--max-yaw 45`; at 0.85, 0.90). Renders ([`camera::Placement::fit`])
/// and aligned photos ([`align::align`]) share it, so synthetic and real crops match.
pub const CROP_SCALE: f32 = 0.85;

/// The five-point template for a crop of `size` pixels: [`TEMPLATE_112`] shrunk by
/// [`CROP_SCALE`] about the point (56, 56), then scaled by `size / 112`.
pub fn template(size: usize) -> [[f32; 2]; 5] {
    let k = size as f32 / 112.0;
    TEMPLATE_112.map(|t| t.map(|v| (56.0 + (v - 56.0) * CROP_SCALE) * k))
}

/// Errors of the face model, renderer and CLI.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error("invalid option: {0}")]
    Invalid(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("image encoding: {0}")]
    Image(String),
    #[error("cancelled")]
    Cancelled,
}

/// Smooth Hermite step from `e0` to `e1` (either order).
#[inline]
pub(crate) fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Anisotropic Gaussian bump.
#[inline]
pub(crate) fn gauss(dx: f32, dy: f32, sx: f32, sy: f32) -> f32 {
    (-(dx * dx) / (sx * sx) - (dy * dy) / (sy * sy)).exp()
}

/// A 64-bit seed from a domain tag and integers (blake3; stable across platforms).
pub(crate) fn seed_of(tag: &str, parts: &[u64]) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(tag.as_bytes());
    for p in parts {
        h.update(&p.to_le_bytes());
    }
    let b = h.finalize();
    u64::from_le_bytes(b.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// A tiny xorshift generator of uniform floats in [0, 1] for the rasteriser's randomised
/// equivalence tests (no dependency on `rand`'s stream).
#[cfg(test)]
pub(crate) fn test_uniform(seed: u32) -> impl FnMut() -> f32 {
    let mut r = seed.max(1);
    move || {
        r ^= r << 13;
        r ^= r >> 17;
        r ^= r << 5;
        r as f32 / u32::MAX as f32
    }
}
