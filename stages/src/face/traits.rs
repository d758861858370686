//! Identity traits of face model version 3: what the 80 shape and 80 albedo coefficients mean
//! beyond the linear bases. Two latent trait groups, sex and age, load on many features at
//! once (as in real populations, where jaw, brow ridge, facial hair, hair length, baldness and
//! wrinkles are correlated rather than independent), and the semantic albedo dims 16..32 add
//! hair style (length, volume, fringe), facial hair, brow shape, eye shape, freckles and moles.
//!
//! Version 5 widens the identity distribution where a real-photo recogniser sees it (random
//! shape fields, semantic albedo traits) and soft-clips every widened coefficient
//! ([`soft_clip`]) so the far tails, which cost face detection, stay bounded.
//!
//! Every trait is a continuous function of the coefficients, so identity mixup (which
//! interpolates coefficients) moves smoothly between two people; no trait reads an image's
//! expression, light, pose or background, so those factors stay independent of identity
//! (docs/design.md §8).

use super::{smoothstep, N_SHAPE};

/// Semantic albedo dims of version 3 after the 16 of version 2 ([`super::texture::Look`]).
pub mod dim {
    pub const AGE: usize = 16;
    pub const HAIR_LENGTH: usize = 17;
    pub const HAIR_VOLUME: usize = 18;
    pub const FRINGE: usize = 19;
    pub const HAIR_SPREAD: usize = 20;
    pub const BEARD: usize = 21;
    pub const MOUSTACHE: usize = 22;
    pub const BROW_ARCH: usize = 23;
    pub const BROW_TILT: usize = 24;
    pub const BROW_LENGTH: usize = 25;
    pub const FRECKLES: usize = 26;
    pub const MOLES: usize = 27;
    pub const EYE_HEIGHT: usize = 28;
    pub const EYE_WIDTH: usize = 29;
    pub const EYE_TILT: usize = 30;
    pub const WRINKLE_DEPTH: usize = 31;
}

/// Shape dims (see [`super::bases::SHAPE_NAMES`]) and how far one unit of the sex trait
/// (`-1` female-typical .. `+1` male-typical) and of the age trait (`-1` young .. `+1` old)
/// move each, in standard deviations of that dim.
const SHAPE_LOADINGS: [(usize, f32, f32); 13] = [
    (0, 1.0, 0.0),    // masculinity: makes the trait bimodal
    (1, 0.4, 0.2),    // face width
    (2, 0.4, 0.1),    // face length
    (3, 1.1, 0.3),    // jaw width
    (4, 0.8, 0.0),    // chin
    (5, 0.6, 0.5),    // nose length
    (7, 0.8, 0.3),    // nose width
    (10, -0.7, -0.4), // eye size
    (11, -1.0, -0.7), // lip fullness
    (13, 1.2, 0.3),   // brow ridge
    (14, -0.3, -0.3), // cheekbones
    (15, -0.5, -0.8), // cheek fullness
    (17, 0.3, 0.0),   // head depth
];

/// Spread of each semantic shape coefficient ([`super::bases::SHAPE_NAMES`]) over its version-3
/// amplitude, before the sex and age loadings (model version 4). Chosen with a per-trait probe of
/// a real-photo face recogniser (`stages/examples/trait_probe.rs`, `bench/judge/probe.py`): the
/// local traits it separates people by (chin, nose, eye size, lips, brow ridge, cheekbones)
/// widen most; traits that move the alignment landmarks against each other (nose length, eye
/// spacing) or make odd head outlines that cost face detection (face and jaw width) widen less;
/// masculinity (already bimodal through the sex loading), face length, mouth width, cheek
/// fullness, forehead, head depth, ears and crown stay. Version 6 widened the nose group once
/// more (length 1.5 -> 2.7, projection and width 1.8 -> 2.5): of the traits probed on top of
/// version 5 it was the one that raised the recogniser's accuracy at its threshold while keeping
/// face detection at 45 degrees of yaw (docs/faces.md, "Version 6").
pub const SHAPE_SPREAD: [f32; 20] = [
    1.0, 1.2, 1.0, 1.2, 2.0, 2.7, 2.5, 2.5, 1.8, 1.3, 1.8, 1.8, 1.0, 1.8, 1.8, 1.0, 1.0, 1.0, 1.0,
    1.0,
];

/// Soft clip of the semantic shape coefficients before [`SHAPE_SPREAD`] (model version 5), in
/// standard deviations: only the far tails (beyond about 2 s.d.) are pulled in, which cost face
/// detection (noses and chins a real detector does not take for a face) more than they
/// separate people.
pub const SHAPE_CLIP: f32 = 3.0;
/// Spread of the 60 random smooth shape fields over their version-4 amplitude, and their soft
/// clip (model version 5). A real-photo recogniser separates people by them (`bench/judge`, one
/// seed of 60 x 6: x2.5 with the clip raised the mean different-identity distance 0.603 -> 0.616
/// with the albedo gains below), and the clip keeps the lumpy outliers out.
pub const FIELD_SPREAD: f32 = 2.5;
pub const FIELD_CLIP: f32 = 1.5;

/// Gain of the semantic albedo coefficients over one standard deviation, except skin tone and
/// hue (dims 0 and 1) and three more ([`gain`]): a real-photo face recogniser (`bench/judge`)
/// separates people by hair, brows, eyes and facial hair, while darker tails of skin tone cost
/// face detection. Version 5 doubled it (1.4 -> 2.8) behind a soft clip at [`TRAIT_CLIP`] s.d.,
/// so typical identities differ more while no trait runs to its extreme.
pub const TRAIT_GAIN: f32 = 2.8;
/// Soft clip of semantic albedo dims 2.. before their gain (model version 5).
pub const TRAIT_CLIP: f32 = 1.5;

/// `clip * tanh(x / clip)`: the identity near zero, smoothly bounded by `clip` (continuous, so
/// identity mixup still moves smoothly between two people).
pub fn soft_clip(x: f32, clip: f32) -> f32 {
    clip * (x / clip).tanh()
}

/// Semantic albedo coefficient `i` as the look and the traits read it: soft-clipped (dims
/// 2..32, [`TRAIT_CLIP`]) and scaled by [`gain`].
pub fn albedo_trait(x: f32, i: usize) -> f32 {
    if (2..super::texture::N_ALBEDO_SEMANTIC).contains(&i) {
        soft_clip(x, TRAIT_CLIP) * gain(i)
    } else {
        x * gain(i)
    }
}

/// The gain of albedo dim `i` (see [`TRAIT_GAIN`]).
pub fn gain(i: usize) -> f32 {
    // grey hair (4), eye shadow (13) and fringe (19) stay at one s.d.: grey hair on dark
    // skin, dark eye sockets and hair over the brows cost face detection more than they
    // separate people
    if (2..super::texture::N_ALBEDO_SEMANTIC).contains(&i) && ![4, 13, dim::FRINGE].contains(&i) {
        TRAIT_GAIN
    } else {
        1.0
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The derived traits of one identity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traits {
    /// 0 = female-typical, 1 = male-typical (a sigmoid of the masculinity coefficient).
    pub sex: f32,
    /// 0 = about 18 years, 1 = about 80.
    pub age: f32,
    /// 0 = cropped .. 1 = long hair falling past the jaw.
    pub hair_length: f32,
    /// Hair thickness on the crown, in model units (1 unit is about 10 cm).
    pub hair_volume: f32,
    /// How far the front hairline comes down as a fringe (0 .. 1).
    pub fringe: f32,
    /// How much wider than the crown the hair stands at the sides (curly or full hair).
    pub hair_spread: f32,
    /// Baldness (0 .. 1), rising with age in men.
    pub bald: f32,
    /// Beard and moustache density (0 .. 1).
    pub beard: f32,
    pub moustache: f32,
    /// Brow shape: arch height, outward tilt (chart units) and length fraction.
    pub brow_arch: f32,
    pub brow_tilt: f32,
    pub brow_length: f32,
    /// Freckle density (0 .. 1), wrinkle strength (0 .. 1) and mole count (0 .. 3).
    pub freckles: f32,
    pub wrinkles: f32,
    pub moles: f32,
    /// Seeds of the mole positions (continuous in the coefficients).
    pub mole_phase: [f32; 2],
    /// Eye opening height factor, half-width (chart units) and canthal tilt.
    pub eye_height: f32,
    pub eye_width: f32,
    pub eye_tilt: f32,
}

impl Traits {
    /// Traits of an identity from its shape and albedo coefficients.
    pub fn derive(shape: &[f32], albedo: &[f32]) -> Traits {
        let g = |i: usize| albedo_trait(albedo.get(i).copied().unwrap_or(0.0), i);
        let sex = sigmoid(2.2 * shape.first().copied().unwrap_or(0.0));
        let m = 2.0 * sex - 1.0;
        let age = sigmoid(1.6 * g(dim::AGE));
        let old = (2.0 * age - 1.0).max(0.0);
        let hair_length = sigmoid(1.4 * g(dim::HAIR_LENGTH) - 2.6 * m);
        let bald = smoothstep(1.0, 2.3, g(15) + 1.8 * old) * sex;
        let beard = sex * smoothstep(0.35, 1.2, g(dim::BEARD) + 0.3 * old);
        Traits {
            sex,
            age,
            hair_length,
            hair_volume: (0.03 + 0.09 * sigmoid(1.2 * g(dim::HAIR_VOLUME))) * (1.0 - bald),
            fringe: smoothstep(0.2, 1.4, g(dim::FRINGE)) * (1.0 - bald),
            hair_spread: 0.6 + 0.8 * sigmoid(1.5 * g(dim::HAIR_SPREAD)),
            bald,
            beard,
            moustache: (sex * smoothstep(0.5, 1.4, g(dim::MOUSTACHE))).max(beard * 0.9),
            brow_arch: 0.04 + 0.018 * g(dim::BROW_ARCH),
            brow_tilt: 0.015 + 0.02 * g(dim::BROW_TILT),
            brow_length: (0.92 + 0.06 * g(dim::BROW_LENGTH)).clamp(0.7, 1.05),
            freckles: smoothstep(0.9, 2.0, g(dim::FRECKLES)),
            wrinkles: smoothstep(0.45, 0.95, age) * (0.7 + 0.15 * g(dim::WRINKLE_DEPTH)).max(0.3),
            moles: (g(dim::MOLES) + 1.0).clamp(0.0, 3.0),
            mole_phase: [
                g(dim::MOLES) * 2.1 + g(dim::AGE),
                g(dim::MOLES) * 1.3 - g(1),
            ],
            eye_height: (1.0 + 0.14 * g(dim::EYE_HEIGHT) - 0.08 * old).clamp(0.65, 1.35),
            eye_width: (0.135 * (1.0 + 0.07 * g(dim::EYE_WIDTH))).clamp(0.11, 0.155),
            eye_tilt: 0.02 + 0.06 * g(dim::EYE_TILT).clamp(-2.0, 2.0) / 2.0,
        }
    }

    /// The shape coefficients as the bases blend them: soft-clipped and spread (semantic dims by
    /// [`SHAPE_SPREAD`], random fields by [`FIELD_SPREAD`]), then the sex and age groups'
    /// loadings added.
    pub fn effective_shape(&self, shape: &[f32; N_SHAPE]) -> [f32; N_SHAPE] {
        let m = 2.0 * self.sex - 1.0;
        let a = 2.0 * self.age - 1.0;
        let mut out = *shape;
        for (o, g) in out.iter_mut().zip(SHAPE_SPREAD) {
            *o = soft_clip(*o, SHAPE_CLIP) * g;
        }
        for o in out.iter_mut().skip(SHAPE_SPREAD.len()) {
            *o = soft_clip(*o, FIELD_CLIP) * FIELD_SPREAD;
        }
        for &(k, ls, la) in &SHAPE_LOADINGS {
            out[k] += ls * m + la * a;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sex_trait_moves_facial_hair_and_hair_length_together() {
        let mut shape = [0.0; N_SHAPE];
        let mut albedo = vec![0.0; 80];
        albedo[dim::BEARD] = 1.5;
        shape[0] = 1.5;
        let male = Traits::derive(&shape, &albedo);
        shape[0] = -1.5;
        let female = Traits::derive(&shape, &albedo);
        assert!(male.beard > 0.5 && female.beard < 0.1);
        assert!(female.hair_length > male.hair_length + 0.4);
    }

    #[test]
    fn soft_clip_bounds_extreme_identities_and_keeps_small_ones() {
        assert!((soft_clip(0.1, FIELD_CLIP) - 0.1).abs() < 1e-3);
        let wild = [9.0; N_SHAPE];
        let t = Traits::derive(&wild, &[0.0; 80]);
        let shape = t.effective_shape(&wild);
        for (k, v) in shape.iter().enumerate().skip(SHAPE_SPREAD.len()) {
            assert!(*v <= FIELD_CLIP * FIELD_SPREAD + 1e-4, "field {k}: {v}");
        }
        assert!(albedo_trait(50.0, dim::BEARD) <= TRAIT_CLIP * TRAIT_GAIN + 1e-4);
    }

    #[test]
    fn traits_are_continuous_in_the_coefficients() {
        // identity mixup interpolates coefficients: a small step moves every trait a little
        let shape = [0.3; N_SHAPE];
        let albedo: Vec<f32> = (0..80).map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0).collect();
        let nudged: Vec<f32> = albedo.iter().map(|v| v + 1e-3).collect();
        let (a, b) = (
            Traits::derive(&shape, &albedo),
            Traits::derive(&shape, &nudged),
        );
        assert!((a.hair_length - b.hair_length).abs() < 0.01);
        assert!((a.beard - b.beard).abs() < 0.01);
        assert!((a.mole_phase[0] - b.mole_phase[0]).abs() < 0.01);
    }
}
