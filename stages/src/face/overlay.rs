//! The version-3 details painted over an identity's base albedo map: brows shaped per identity
//! (arch, tilt, length, thickness), beard and moustache, freckles, moles and age wrinkles.
//! Each is a mask in chart coordinates (`x`, `y`, azimuth) times a trait from
//! [`super::traits::Traits`]; [`beard_mask`] is shared with the beard's geometry in
//! `super::hair` so texture and volume line up.

use std::f32::consts::PI;

use super::mesh::MOUTH_Y;
use super::texture::{Look, TexelChart, TextureLayout};
use super::traits::Traits;
use super::{gauss, smoothstep};

/// Upper edge of the beard (chart y) at azimuth `deg` degrees from the front: below the lower
/// lip at the centre, rising over the cheeks to the sideburn.
fn beard_top(deg: f32) -> f32 {
    const KN: [(f32, f32); 5] = [
        (0.0, -0.86),
        (20.0, -0.78),
        (38.0, -0.5),
        (62.0, -0.36),
        (86.0, -0.02),
    ];
    let i = KN
        .iter()
        .position(|&(d, _)| deg < d)
        .unwrap_or(KN.len() - 1)
        .max(1);
    let (d0, y0) = KN[i - 1];
    let (d1, y1) = KN[i];
    y0 + (y1 - y0) * ((deg - d0) / (d1 - d0)).clamp(0.0, 1.0)
}

/// Beard coverage (0 .. 1) at chart (x, y) and |azimuth| `abs_theta` (radians).
pub fn beard_mask(x: f32, y: f32, abs_theta: f32, tr: &Traits) -> f32 {
    if tr.beard <= 0.0 || !(-1.6..=0.05).contains(&y) {
        return 0.0;
    }
    let deg = abs_theta.to_degrees();
    let top = beard_top(deg);
    let lips = gauss(x, y - MOUTH_Y, 0.3, 0.07);
    tr.beard
        * smoothstep(top + 0.03, top - 0.05, y)
        * smoothstep(-1.55, -1.3, y)
        * smoothstep(100.0, 84.0, deg)
        * (1.0 - lips).max(0.0)
}

/// Moustache coverage (0 .. 1) at chart (x, y) on the front of the face.
pub fn moustache_mask(x: f32, y: f32, front: f32, tr: &Traits) -> f32 {
    if tr.moustache <= 0.0 || front <= 0.0 {
        return 0.0;
    }
    let ax = x.abs();
    let top = -0.5 - 0.06 * (ax / 0.3).powi(2);
    tr.moustache
        * front
        * smoothstep(top + 0.02, top - 0.02, y)
        * smoothstep(MOUTH_Y + 0.035, MOUTH_Y + 0.07, y)
        * smoothstep(0.33, 0.26, ax)
}

/// Brow coverage (0 .. 1) for a look at chart (x, y).
fn brow_mask(x: f32, y: f32, front: f32, look: &Look) -> f32 {
    let ax = x.abs();
    if front <= 0.0 || !(0.0..0.45).contains(&y) || !(0.08..0.62).contains(&ax) {
        return 0.0;
    }
    let tr = &look.traits;
    let p = ((ax - 0.11) / 0.4).clamp(0.0, 1.2);
    let m = 2.0 * tr.sex - 1.0;
    let yb =
        0.185 - 0.015 * m + tr.brow_arch * (PI * p.min(1.0).powf(0.8)).sin() - tr.brow_tilt * p;
    let th = look.brow_thick * (1.25 - 0.7 * p.min(1.0)) * (1.0 + 0.25 * m);
    let ends = smoothstep(0.0, 0.08, p) * smoothstep(tr.brow_length, tr.brow_length - 0.15, p);
    smoothstep(th, th * 0.45, (y - yb).abs()) * ends * front * look.brow_dark
}

/// Darkening (0 .. 1) by age lines: forehead, nasolabial folds, crow's feet, under-eye.
fn wrinkle_mask(x: f32, y: f32, front: f32) -> f32 {
    let ax = x.abs();
    let mut w = 0.0;
    if (0.3..0.72).contains(&y) && ax < 0.5 {
        let phase = ((y - 0.3) / 0.08 * 2.0 * PI).cos();
        w += 0.3 * ((phase + 1.0) * 0.5).powi(12) * smoothstep(0.5, 0.2, ax);
    }
    // nasolabial fold: a curve from beside the nose wing to beyond the mouth corner
    let (t, fx) = (((-0.42 - y) / 0.38).clamp(0.0, 1.0), 0.17);
    let fold_x = fx + 0.16 * t;
    if (-0.85..-0.38).contains(&y) && (ax - fold_x).abs() < 0.07 {
        w += gauss(ax - fold_x, 0.0, 0.015, 1.0);
    }
    // crow's feet and under-eye lines
    // (each term skipped where its weight is below 1e-9)
    if (ax - 0.5).abs() < 0.2 && y.abs() < 0.28 {
        w += 0.6 * gauss(ax - 0.5, y, 0.04, 0.06) * (0.5 + 0.5 * (y * 120.0).cos());
    }
    if (ax - 0.32).abs() < 0.46 && (y + 0.095).abs() < 0.06 {
        w += 0.5 * gauss(ax - 0.32, y + 0.095, 0.1, 0.012);
    }
    w.min(1.0) * front
}

/// A fixed, identity-independent "random" value in [0, 1) per texel (freckle pattern).
fn texel_hash(k: usize) -> f32 {
    let mut h = (k as u32).wrapping_mul(0x9E37_79B9) ^ 0x85EB_CA6B;
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    (h >> 8) as f32 / (1u32 << 24) as f32
}

/// Mole centres (chart x, y) and strengths for a set of traits.
fn moles(tr: &Traits) -> [(f32, f32, f32); 3] {
    std::array::from_fn(|j| {
        let j = j as f32;
        let x = 0.48 * (tr.mole_phase[0] * 1.7 + j * 2.4).sin();
        let y = -0.3 + 0.5 * (tr.mole_phase[1] * 1.3 + j * 1.9).sin();
        (x, y, smoothstep(j, j + 0.5, tr.moles))
    })
}

fn mix(c: [f32; 4], to: [f32; 3], w: f32) -> [f32; 4] {
    [
        c[0] + (to[0] - c[0]) * w,
        c[1] + (to[1] - c[1]) * w,
        c[2] + (to[2] - c[2]) * w,
        c[3],
    ]
}

/// One texel's details.
fn detail(
    k: usize,
    c: &TexelChart,
    t: [f32; 4],
    look: &Look,
    spots: &[(f32, f32, f32); 3],
) -> [f32; 4] {
    let tr = &look.traits;
    let (x, y) = (c.x, c.y);
    let mut t = t;
    let hair = look.hair;
    let strand = 0.75 + 0.5 * texel_hash(k.wrapping_mul(7));
    let beard = beard_mask(x, y, c.abs_theta, tr).max(moustache_mask(x, y, c.front, tr));
    if beard > 0.0 {
        t = mix(
            t,
            hair.map(|v| v * 0.85 * strand),
            (beard * (0.7 + 0.3 * strand)).min(1.0),
        );
    }
    let brow = brow_mask(x, y, c.front, look);
    if brow > 0.0 {
        t = mix(t, hair.map(|v| (v * 0.8).min(0.35) * strand), brow);
    }
    if c.front > 0.0 {
        if tr.freckles > 0.0 {
            let region = gauss(x.abs() - 0.22, y + 0.25, 0.28, 0.2) * c.front;
            if texel_hash(k) > 1.0 - 0.07 * tr.freckles * region {
                t = mix(t, [t[0] * 0.72, t[1] * 0.6, t[2] * 0.5], 0.8);
            }
        }
        if tr.wrinkles > 0.0 {
            let w = 1.0 - 0.22 * tr.wrinkles * wrinkle_mask(x, y, c.front);
            t = [t[0] * w, t[1] * w, t[2] * w, t[3]];
        }
        for &(mx, my, s) in spots {
            // (beyond 0.05 the spot's weight is below 1e-6)
            if s <= 0.0 || (x - mx).abs() > 0.05 || (y - my).abs() > 0.05 {
                continue;
            }
            let g = s * gauss(x - mx, y - my, 0.013, 0.013);
            if g > 1e-3 {
                t = mix(t, [0.22, 0.13, 0.09], g.min(1.0) * 0.9);
            }
        }
    }
    t
}

/// Paint the details of `look` over `texels` (the base map of the same look).
pub fn paint(texels: &mut [[f32; 4]], layout: &TextureLayout, look: &Look) {
    let spots = moles(&look.traits);
    for (k, (t, c)) in texels.iter_mut().zip(&layout.chart).enumerate() {
        if c.band.is_some() || c.y > 0.75 || c.abs_theta > 1.8 {
            continue;
        }
        *t = detail(k, c, *t, look, &spots);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_beard_on_the_lips_or_forehead() {
        let tr = Traits {
            beard: 1.0,
            ..Traits::derive(&[2.0], &[0.0; 80])
        };
        assert!(beard_mask(0.0, MOUTH_Y, 0.0, &tr) < 0.05, "lips stay clear");
        assert!(
            beard_mask(0.0, 0.3, 0.0, &tr) == 0.0,
            "forehead stays clear"
        );
        assert!(beard_mask(0.0, -1.15, 0.0, &tr) > 0.9, "chin is covered");
    }
}
