//! What each selectable face model version paints on top of the shared geometry and latents:
//! version 7 adds an identity skin mottle, a darker sclera, a heavier lash line and a radial
//! iris texture to version 6 (docs/faces.md, "Version 7"); version 8 fades the mottle out
//! towards the sides of the head, where it blurred the cheek contour a face detector reads
//! at larger yaw (docs/faces.md, "Version 8"); version 9 adds a skin sheen, a broad specular
//! highlight about the key light on the front of the face (docs/faces.md, "Version 9"). All
//! versions share the mesh, the bases, the identity draw and the latent distributions
//! ([`super::LATENT_VERSION`]), so identity 17 has the same shape and colouring in each; a
//! render picks its version with
//! `RenderOptions::face_model` (`render`'s `face_model`, `synface render --face-model`).

use super::photo::skin_noise;
use super::traits::Traits;
use super::{FaceError, MODEL_VERSION};

/// The face model versions a render can choose, oldest first.
pub const FACE_MODELS: [u32; 4] = [6, 7, 8, 9];
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
    /// The skin sheen of the synthetic style (the `photo` style draws its own specular per
    /// image instead); `None` draws none.
    pub sheen: Option<Sheen>,
}

/// A Blinn-Phong highlight about the light's key direction, `w (n . h)^exponent` added to the
/// shaded colour per vertex, faded out towards the sides of the head like the mottle (at yaw
/// the far cheek is the outline a face detector reads, and a highlight there moved it). How
/// shiny skin is differs between people: `w` is `weight (1 + spread t)`, `t` in (-1, 1) from
/// one of the identity's albedo field coefficients, so every image of a person shares it and a
/// mixed identity's moves with its coefficients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sheen {
    pub weight: f32,
    pub spread: f32,
    pub exponent: i32,
    /// As [`Finish::mottle_fade`].
    pub fade: [f32; 2],
}

impl Sheen {
    /// The albedo coefficient (a random field's, index 38 of 48) that sets how shiny a person
    /// is.
    pub const COEFF: usize = 70;

    /// The highlight's weight for an identity with albedo coefficients `albedo`.
    pub fn weight_for(&self, albedo: &[f32]) -> f32 {
        let u = 0.5 + 0.5 * albedo[Sheen::COEFF].tanh();
        self.weight * (1.0 + self.spread * (2.0 * u - 1.0))
    }
}

/// Mottle blob frequency in texture units: about 35 cells per unit, blobs of 7-10 px at 150 px,
/// the scale dlib's recogniser reads (finer mottle it ignores, coarser costs detection).
const MOTTLE_FREQ: f32 = 0.05;

/// Version 9's sheen (docs/faces.md, "Version 9": chosen among weights 0.1-0.3, exponents 8-48,
/// with and without the fade and the spread, by dlib's accuracy at its own threshold and HOG
/// detection at yaw 25 and 45).
const SHEEN: Sheen = Sheen {
    weight: 0.2,
    spread: 0.8,
    exponent: 12,
    fade: [0.3, 0.55],
};

impl Finish {
    /// Version 6's look: no finishing terms.
    pub const NEUTRAL: Finish = Finish {
        mottle: 0.0,
        sclera: 1.0,
        lash: 1.0,
        iris_texture: 0.0,
        mottle_fade: None,
        sheen: None,
    };

    /// Version 7's terms.
    const SEVEN: Finish = Finish {
        mottle: 0.3,
        sclera: 0.75,
        lash: 1.8,
        iris_texture: 0.5,
        mottle_fade: None,
        sheen: None,
    };

    /// Version 8's terms.
    const EIGHT: Finish = Finish {
        mottle_fade: Some([0.3, 0.55]),
        ..Finish::SEVEN
    };

    /// The finishing terms of face model `version`.
    pub fn of(version: u32) -> Result<Finish, FaceError> {
        match version {
            6 => Ok(Finish::NEUTRAL),
            7 => Ok(Finish::SEVEN),
            8 => Ok(Finish::EIGHT),
            9 => Ok(Finish {
                sheen: Some(SHEEN),
                ..Finish::EIGHT
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

/// Share of a front-of-face finish (the mottle, the sheen) kept at texture coordinate `s` under
/// `fade` ([`Finish::mottle_fade`]): 1 on the front of the face, falling smoothly to 0 on the
/// sides.
#[inline(always)]
pub fn side_fade(fade: Option<[f32; 2]>, s: f32) -> f32 {
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
        assert_eq!(Finish::of(8).unwrap().sheen, None);
        assert!(Finish::of(9).unwrap().sheen.is_some());
        for v in [0, 5, 10] {
            let e = Finish::of(v).unwrap_err().to_string();
            assert!(
                e.contains("[6, 7, 8, 9]") && e.contains("9 is the newest"),
                "{e}"
            );
        }
    }

    #[test]
    fn sheen_weight_is_a_bounded_trait_of_the_person() {
        let sh = Finish::of(9).unwrap().sheen.unwrap();
        let mut albedo = [0.0f32; 80];
        assert!((sh.weight_for(&albedo) - sh.weight).abs() < 1e-6);
        let mut seen = Vec::new();
        for x in [-9.0, -1.0, 0.5, 9.0] {
            albedo[Sheen::COEFF] = x;
            let w = sh.weight_for(&albedo);
            let (lo, hi) = (sh.weight * (1.0 - sh.spread), sh.weight * (1.0 + sh.spread));
            assert!((lo..=hi).contains(&w), "{w} outside [{lo}, {hi}]");
            seen.push(w);
        }
        assert!(seen.windows(2).all(|p| p[0] < p[1]), "{seen:?}");
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
        assert_eq!(side_fade(fade, 0.5), 1.0);
        assert_eq!(side_fade(fade, 0.62), 1.0);
        assert_eq!(side_fade(fade, 0.0), 0.0);
        assert_eq!(side_fade(fade, 0.9), 0.0);
        let mut last = 1.0;
        for k in 0..=50 {
            let f = side_fade(fade, 0.5 + k as f32 * 0.01);
            assert!(f <= last && (0.0..=1.0).contains(&f));
            let mirror = side_fade(fade, 0.5 - k as f32 * 0.01);
            assert!((f - mirror).abs() < 1e-5, "not symmetric: {f} vs {mirror}");
            last = f;
        }
        assert_eq!(side_fade(None, 0.0), 1.0);
    }
}
