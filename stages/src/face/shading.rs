//! Second-order spherical-harmonics Lambertian shading: 27 illumination coefficients (9 radiance
//! coefficients per RGB channel) are convolved with the clamped-cosine kernel (Ramamoorthi &
//! Hanrahan) into per-vertex irradiance, with a bounded range so exposure stays camera-like
//! (no per-image normalisation: dark skin stays dark, bright light saturates softly).

use super::camera::apply_lanes;
use super::simd::{Lanes, F4};
use super::N_LIGHT;

/// Lambertian kernel per band divided by pi (so a uniform unit radiance gives irradiance 1).
const A_HAT: [f32; 3] = [1.0, 2.0 / 3.0, 0.25];
/// Irradiance bounds per channel.
pub const E_MIN: f32 = 0.06;
pub const E_MAX: f32 = 1.7;

/// The 9 real SH basis functions at unit direction `n`.
#[inline]
pub fn sh9(n: [f32; 3]) -> [f32; 9] {
    sh9_lanes(n)
}

/// [`sh9`] for scalars or SIMD lanes (the same operations in the same order).
#[inline(always)]
fn sh9_lanes<T: Lanes>([x, y, z]: [T; 3]) -> [T; 9] {
    let c = T::splat;
    [
        c(0.282_095),
        c(0.488_603).mul(y),
        c(0.488_603).mul(z),
        c(0.488_603).mul(x),
        c(1.092_548).mul(x).mul(y),
        c(1.092_548).mul(y).mul(z),
        c(0.315_392).mul(c(3.0).mul(z).mul(z).sub(c(1.0))),
        c(1.092_548).mul(x).mul(z),
        c(0.546_274).mul(x.mul(x).sub(y.mul(y))),
    ]
}

fn band(i: usize) -> usize {
    match i {
        0 => 0,
        1..=3 => 1,
        _ => 2,
    }
}

/// Illumination coefficients premultiplied by the kernel, ready for [`irradiance`].
#[derive(Debug, Clone, Copy)]
pub struct Irradiance([[f32; 9]; 3]);

impl Irradiance {
    pub fn new(light: &[f32; N_LIGHT]) -> Irradiance {
        let mut k = [[0.0; 9]; 3];
        for (c, row) in k.iter_mut().enumerate() {
            for (i, v) in row.iter_mut().enumerate() {
                *v = A_HAT[band(i)] * light[c * 9 + i];
            }
        }
        Irradiance(k)
    }

    /// Irradiance (RGB) for a unit normal, clamped to the camera's range.
    #[inline]
    pub fn at(&self, n: [f32; 3]) -> [f32; 3] {
        let y = sh9(n);
        let mut e = [0.0; 3];
        for (c, ec) in e.iter_mut().enumerate() {
            let s: f32 = self.0[c].iter().zip(&y).map(|(k, b)| k * b).sum();
            *ec = s.clamp(E_MIN, E_MAX);
        }
        e
    }

    /// Four vertices at once (lane `l` is vertex `l`): their normals `n` (x, y, z lanes)
    /// rotated by `rot` and normalised, and the clamped irradiance there, each lane the same
    /// IEEE operations in the same order as `normalize(apply(rot, n))` and [`Irradiance::at`],
    /// so the same bits.
    #[inline]
    pub(super) fn at4(&self, rot: &[[f32; 3]; 3], n: [F4; 3]) -> ([F4; 3], [F4; 3]) {
        let r = rot.map(|row| row.map(F4::splat));
        let n = normalize_lanes(apply_lanes(&r, n));
        let basis = sh9_lanes(n);
        let c = F4::splat;
        let e = self.0.map(|k| {
            let mut s = c(k[0]).mul(basis[0]);
            for (kk, b) in k.iter().zip(&basis).skip(1) {
                s = s.add(c(*kk).mul(*b));
            }
            s.max(c(E_MIN)).min(c(E_MAX))
        });
        (n, e)
    }
}

/// Radiance SH coefficients of uniform ambient light `ambient` plus a directional light of
/// `intensity` from unit direction `dir`, per channel tinted by `tint`.
pub fn light_coeffs(ambient: f32, dir: [f32; 3], intensity: f32, tint: [f32; 3]) -> [f32; N_LIGHT] {
    let y = sh9(dir);
    // uniform radiance A has L00 = A * 2 sqrt(pi); irradiance/pi from L00 is L00 * Y00
    let l00 = ambient / 0.282_095;
    // a directional light of intensity I gives irradiance ~ I * max(n.d, 0) after the
    // convolution when its radiance coefficients are I * Y_lm(d) * pi (normalised by A_HAT)
    let mut out = [0.0; N_LIGHT];
    for c in 0..3 {
        for i in 0..9 {
            let dirc = intensity * y[i] * std::f32::consts::PI;
            out[c * 9 + i] = tint[c] * (if i == 0 { l00 + dirc } else { dirc });
        }
    }
    out
}

/// The neutral light: soft ambient plus a frontal key light from slightly above.
pub fn default_light() -> [f32; N_LIGHT] {
    let d = normalize([0.0, 0.35, 1.0]);
    light_coeffs(0.55, d, 0.5, [1.0, 1.0, 1.0])
}

pub fn normalize(v: [f32; 3]) -> [f32; 3] {
    normalize_lanes(v)
}

/// [`normalize`] for scalars or SIMD lanes (the same operations in the same order).
#[inline(always)]
fn normalize_lanes<T: Lanes>(v: [T; 3]) -> [T; 3] {
    let n = v[0]
        .mul(v[0])
        .add(v[1].mul(v[1]))
        .add(v[2].mul(v[2]))
        .sqrt()
        .max(T::splat(1e-12));
    v.map(|c| c.div(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ambient_only_is_flat_and_directional_light_faces_its_source() {
        let amb = Irradiance::new(&light_coeffs(0.7, [0.0, 0.0, 1.0], 0.0, [1.0; 3]));
        let a = amb.at([0.0, 0.0, 1.0]);
        let b = amb.at([1.0, 0.0, 0.0]);
        assert!((a[0] - 0.7).abs() < 1e-3 && (a[0] - b[0]).abs() < 1e-5);
        let key = Irradiance::new(&light_coeffs(0.2, [1.0, 0.0, 0.0], 0.8, [1.0; 3]));
        assert!(key.at([1.0, 0.0, 0.0])[0] > key.at([-1.0, 0.0, 0.0])[0] + 0.5);
        assert!(key.at([-1.0, 0.0, 0.0])[1] >= E_MIN);
    }

    #[test]
    fn four_lane_lighting_gives_the_scalar_bits() {
        let mut u = crate::face::test_uniform(99);
        let mut rnd = || u() * 2.0 - 1.0;
        for _ in 0..200 {
            let light: [f32; N_LIGHT] = std::array::from_fn(|_| rnd());
            let irr = Irradiance::new(&light);
            let rot = super::super::camera::rotation(rnd() * 60.0, rnd() * 20.0, rnd() * 10.0);
            // unnormalised normals of any length, including a zero one
            let n: [[f32; 3]; 4] = std::array::from_fn(|l| {
                if l == 3 {
                    [0.0; 3]
                } else {
                    [rnd() * 3.0, rnd(), rnd() * 0.01]
                }
            });
            let lanes = [0, 1, 2].map(|c| F4::new(n.map(|v| v[c])));
            let (m, e) = irr.at4(&rot, lanes);
            let (m, e) = (m.map(F4::to_array), e.map(F4::to_array));
            for (l, v) in n.iter().enumerate() {
                let want = normalize(super::super::camera::apply(&rot, *v));
                let got = [m[0][l], m[1][l], m[2][l]];
                assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits));
                let want = irr.at(want);
                assert_eq!(
                    [e[0][l], e[1][l], e[2][l]].map(f32::to_bits),
                    want.map(f32::to_bits)
                );
            }
        }
    }
}
