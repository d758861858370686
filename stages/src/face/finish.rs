//! What each selectable face model version paints on top of the shared geometry and latents:
//! version 7 adds an identity skin mottle, a darker sclera, a heavier lash line and a radial
//! iris texture to version 6 (docs/faces.md, "Version 7"); version 8 fades the mottle out
//! towards the sides of the head, where it blurred the cheek contour a face detector reads
//! at larger yaw (docs/faces.md, "Version 8"). All versions share the mesh, the bases, the
//! identity draw and the latent distributions ([`super::LATENT_VERSION`]), so identity 17 has
//! the same shape and colouring in each; a render picks its version with
//! `RenderOptions::face_model` (`render`'s `face_model`, `synface render --face-model`).

use super::photo::skin_noise;
use super::traits::Traits;
use super::{FaceError, MODEL_VERSION};

/// The face model versions a render can choose, oldest first.
pub const FACE_MODELS: [u32; 3] = [6, 7, 8];
// the newest choosable version is the model's version (render's default and parameter rule)
const _: () = assert!(FACE_MODELS[FACE_MODELS.len() - 1] == MODEL_VERSION);

/// Per-version finishing terms (version 6: all neutral).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finish {
    /// Relative albedo amplitude of the identity's skin mottle at mid skin lightness.
    pub mottle: f32,
    /// Sclera brightness factor.
    pub sclera: f32,
    /// Width factor of the upper lash line.
    pub lash: f32,
    /// Relative amplitude of the radial iris texture.
    pub iris_texture: f32,
    /// Where the mottle fades out towards the sides of the head: from full amplitude at
    /// `|2s - 1|` = `fade[0]` to none at `fade[1]` (texture s; 0.3 is about 34 degrees of
    /// azimuth from the face's midline, 0.55 about 70); `None` keeps it everywhere.
    pub mottle_fade: Option<[f32; 2]>,
}

/// Mottle blob frequency in texture units: about 35 cells per unit, blobs of 7-10 px at 150 px,
/// the scale dlib's recogniser reads (finer mottle it ignores, coarser costs detection).
const MOTTLE_FREQ: f32 = 0.05;

impl Finish {
    /// Version 6's look: no finishing terms.
    pub const NEUTRAL: Finish = Finish {
        mottle: 0.0,
        sclera: 1.0,
        lash: 1.0,
        iris_texture: 0.0,
        mottle_fade: None,
    };

    /// Version 7's terms.
    const SEVEN: Finish = Finish {
        mottle: 0.3,
        sclera: 0.75,
        lash: 1.8,
        iris_texture: 0.5,
        mottle_fade: None,
    };

    /// The finishing terms of face model `version`.
    pub fn of(version: u32) -> Result<Finish, FaceError> {
        match version {
            6 => Ok(Finish::NEUTRAL),
            7 => Ok(Finish::SEVEN),
            8 => Ok(Finish {
                mottle_fade: Some([0.3, 0.55]),
                ..Finish::SEVEN
            }),
            v => Err(FaceError::Invalid(format!(
                "face model {v} is not available (choose one of {FACE_MODELS:?}; {MODEL_VERSION} is \
                 the newest)"
            ))),
        }
    }

    /// Mottle amplitude for skin colour `skin`: scaled by the square of the skin's lightness
    /// (relative to 0.6, capped at 1.5x), since on dark skin the blobs read to a face detector
    /// as dirt rather than as skin.
    pub fn mottle_for(&self, skin: &[f32; 3]) -> f32 {
        let light = (skin[0] + skin[1] + skin[2]) / 3.0 / 0.6;
        self.mottle * (light * light).min(1.5)
    }
}

/// Share of the mottle's amplitude kept at texture coordinate `s` under `fade`
/// ([`Finish::mottle_fade`]): 1 on the front of the face, falling smoothly to 0 on the sides.
#[inline(always)]
pub fn mottle_fade(fade: Option<[f32; 2]>, s: f32) -> f32 {
    match fade {
        Some([a, b]) => 1.0 - super::smoothstep(a, b, (2.0 * s - 1.0).abs()),
        None => 1.0,
    }
}

/// The phase of an identity's mottle field, from traits the identity owns (so every image of a
/// person carries the same pattern, and a mixed identity's pattern moves with its traits).
pub fn mottle_phase(traits: &Traits) -> [f32; 2] {
    [
        traits.mole_phase[0] * 3.1 + traits.age * 7.0,
        traits.mole_phase[1] * 2.7 + traits.brow_arch * 40.0,
    ]
}

/// The mottle's albedo factor `1 + a n` at texture coordinates (s, t), `n` in [-1, 1].
#[inline(always)]
pub fn mottle_gain(amp: f32, phase: [f32; 2], s: f32, t: f32) -> f32 {
    1.0 + amp * skin_noise(s * MOTTLE_FREQ + phase[0], t * MOTTLE_FREQ + phase[1])
}

/// Iris brightness factor at angle `ang` (radians) around the pupil for an identity whose iris
/// phases are `ph`: radial streaks of 9 and 23 cycles.
#[inline]
pub fn iris_gain(amp: f32, ang: f32, ph: [f32; 2]) -> f32 {
    1.0 + amp * ((ang * 9.0 + 3.0 * ph[0]).sin() * 0.6 + (ang * 23.0 + 5.0 * ph[1]).sin() * 0.4)
}

/// The two iris phases of an identity.
pub fn iris_phase(traits: &Traits) -> [f32; 2] {
    [
        (traits.mole_phase[1] * 1.7).sin(),
        (traits.mole_phase[0] * 2.3 + 0.5).sin(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_versions_exist_and_six_is_neutral() {
        assert_eq!(Finish::of(6).unwrap(), Finish::NEUTRAL);
        assert!(Finish::of(7).unwrap().mottle > 0.0);
        assert!(Finish::of(8).unwrap().mottle_fade.is_some());
        for v in [0, 5, 9] {
            let e = Finish::of(v).unwrap_err().to_string();
            assert!(
                e.contains("[6, 7, 8]") && e.contains("8 is the newest"),
                "{e}"
            );
        }
    }

    #[test]
    fn mottle_is_weaker_on_dark_skin_and_bounded() {
        let f = Finish::of(7).unwrap();
        let (dark, light) = (f.mottle_for(&[0.2; 3]), f.mottle_for(&[0.8; 3]));
        assert!(dark < light && light <= f.mottle * 1.5);
        for k in 0..200 {
            let g = mottle_gain(light, [0.3, 1.7], k as f32 * 0.013, 0.5);
            assert!((1.0 - light..=1.0 + light).contains(&g));
        }
        assert_eq!(mottle_gain(0.0, [0.3, 1.7], 0.2, 0.4), 1.0);
    }

    #[test]
    fn version_eight_fades_the_mottle_on_the_sides_only() {
        let fade = Finish::of(8).unwrap().mottle_fade;
        // the face's front keeps it all, the sides of the head none, monotone in between
        assert_eq!(mottle_fade(fade, 0.5), 1.0);
        assert_eq!(mottle_fade(fade, 0.62), 1.0);
        assert_eq!(mottle_fade(fade, 0.0), 0.0);
        assert_eq!(mottle_fade(fade, 0.9), 0.0);
        let mut last = 1.0;
        for k in 0..=50 {
            let f = mottle_fade(fade, 0.5 + k as f32 * 0.01);
            assert!(f <= last && (0.0..=1.0).contains(&f));
            let mirror = mottle_fade(fade, 0.5 - k as f32 * 0.01);
            assert!((f - mirror).abs() < 1e-5, "not symmetric: {f} vs {mirror}");
            last = f;
        }
        assert_eq!(mottle_fade(None, 0.0), 1.0);
    }
}
