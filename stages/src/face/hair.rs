//! Hair and facial hair as geometry (face model version 3): the scalp under an identity's hair
//! is pushed out by the hair's thickness, so hair has volume and a silhouette instead of being
//! painted on a cap. Short hair is a shell of the identity's volume; long hair falls straight
//! from the widest part of the head, covering the ears and framing the face down to its length;
//! a fringe stands off the forehead; beards thicken the jaw and chin. Coverage uses the same
//! hairline ([`super::texture::hairline_knots`]) and beard mask ([`super::overlay`]) as the
//! texture, so colour and volume line up.

use super::mesh::Mesh;
use super::overlay::{beard_mask, moustache_mask};
use super::smoothstep;
use super::texture::{hairline_at, hairline_knots, Look};

/// Horizontal radius the hanging part of long hair falls from (the head's widest half-width
/// plus a little).
const FALL_RADIUS: f32 = 0.8;
/// Depth of the head's vertical axis (cross-sections reach 0.68 forward and 1.0 back).
const AXIS_Z: f32 = -0.16;

/// How much of the hair's thickness stands at chart height `y`: hair tapers to nothing over
/// [`TAPER`] above its edge, so its ends are smooth however the mesh rows cross the edge.
fn taper(knots: &[f32; 7], y: f32, deg: f32) -> f32 {
    let e = hairline_at(knots, deg);
    smoothstep(e - 0.01, e + TAPER, y)
}

/// Height over which hair thickens from its edge.
const TAPER: f32 = 0.2;

/// Outward unit direction at a head point: horizontal from the head's axis, turning upward
/// over the crown.
fn outward(p: [f32; 3]) -> [f32; 3] {
    let (x, z) = (p[0], p[2] - AXIS_Z);
    let up = smoothstep(0.5, 1.25, p[1]) * 1.6;
    let n = (x * x + z * z + up * up).sqrt().max(1e-6);
    [x / n, up / n, z / n]
}

/// Thickness of the hair at a head point of horizontal radius `r`, chart height `y`.
fn thickness(look: &Look, r: f32, y: f32) -> f32 {
    let tr = &look.traits;
    let shell = tr.hair_volume * (1.0 + (tr.hair_spread - 1.0) * smoothstep(0.9, 0.3, y));
    let long = tr.hair_length * (1.0 - tr.bald);
    let fall = (FALL_RADIUS + tr.hair_volume - r).max(0.0) * long * smoothstep(0.35, 0.0, y);
    shell.max(fall)
}

/// Add the hair and beard of `look` to identity vertices `verts` (the blended mesh).
pub fn grow(mesh: &Mesh, look: &Look, verts: &mut [[f32; 3]]) {
    let knots = hairline_knots(look);
    let tr = &look.traits;
    for (i, v) in verts.iter_mut().enumerate() {
        let [x, y] = mesh.chart[i];
        let th = mesh.theta[i].abs();
        let deg = th.to_degrees();
        let hair = taper(&knots, y, deg);
        let face = beard_mask(x, y, th, tr) * 0.045
            + moustache_mask(x, y, super::mesh::front_weight(th), tr) * 0.015;
        if hair <= 0.0 && face <= 0.0 {
            continue;
        }
        let r = (v[0] * v[0] + (v[2] - AXIS_Z).powi(2)).sqrt();
        let d = hair * thickness(look, r, y) + face;
        let o = outward(*v);
        v[0] += d * o[0];
        v[1] += d * o[1];
        v[2] += d * o[2];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::texture::Look;
    use crate::face::traits::{dim, Traits};

    fn look(hair_length: f32) -> Look {
        let mut c = vec![0.0; 80];
        c[dim::HAIR_LENGTH] = hair_length;
        let tr = Traits::derive(&[0.0], &c);
        Look::from_coeffs(&c, &tr)
    }

    #[test]
    fn long_hair_stands_at_the_sides_below_the_ears_and_short_hair_does_not() {
        let (long, short) = (look(4.0), look(-4.0));
        let (kl, ks) = (hairline_knots(&long), hairline_knots(&short));
        assert!(taper(&kl, -0.6, 100.0) > 0.9);
        assert!(taper(&ks, -0.6, 100.0) < 0.1);
        // the face itself stays uncovered
        assert!(taper(&kl, 0.0, 0.0) == 0.0 && taper(&kl, -0.7, 20.0) == 0.0);
    }
}
