//! Albedo: per-identity texture maps in (s, t) built from the 80 albedo coefficients (skin tone
//! from light to dark, hair colour and hairline, brows, lips, cheeks, stubble, low-frequency
//! colour variation), the mouth-interior band, and the eyes (sclera, iris, pupil, lids, lashes)
//! evaluated per pixel so eye closure and gaze can vary per image.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::finish::{iris_gain, iris_phase, Finish};
use super::mesh::{section, theta_of_s, y_of_arc, MOUTH_BAND, MOUTH_Y};
#[cfg(target_arch = "x86_64")]
use super::texel8;
use super::texel8::TermPlanes;
use super::traits::Traits;
use super::{gauss, seed_of, smoothstep, DRAW_VERSION, N_ALBEDO};

/// Texture width (s) and height (t) in texels.
pub const TW: usize = 256;
pub const TH: usize = 256;
/// Resolution of the low-frequency colour-variation grid.
const VAR: usize = 24;
/// Number of semantic albedo dims (the rest drive colour-variation fields).
pub const N_ALBEDO_SEMANTIC: usize = 32;

/// Where a texel lies on the head (identity independent).
#[derive(Debug, Clone, Copy)]
pub struct TexelChart {
    pub x: f32,
    pub y: f32,
    /// |azimuth| in radians.
    pub abs_theta: f32,
    pub front: f32,
    /// Position inside the mouth band (0 = lower-lip side, 1 = upper-lip side), if inside.
    pub band: Option<f32>,
}

/// The identity-independent parts of a texel's albedo (feature masks and weights that depend
/// only on where the texel lies), precomputed once so an identity's map costs no
/// transcendental function per texel.
#[derive(Debug, Clone, Copy, Default)]
pub struct TexelTerms {
    /// Cheek blush weight (times the look's `cheek`).
    cheek: f32,
    /// Stubble mask (times the look's `stubble`).
    stubble: f32,
    /// Eye-surround shadow weight (times the look's `eye_shadow`).
    eye_shadow: f32,
    /// Brows: distance from the brow centre line, thickness profile, and the mask's end and
    /// front weights (0 outside the brow region).
    brow_dist: f32,
    brow_profile: f32,
    brow_weight: f32,
    /// Nostril darkening factor (1 = none).
    nostril: f32,
    /// Lip mask and the mouth-line darkening factor (1 = none).
    lip: f32,
    lip_line: f32,
}

/// The identity-independent hairline terms of a texel, and whether any face feature of
/// [`TexelTerms`] touches it (a plain texel is skin plus colour variation plus hair).
#[derive(Debug, Clone, Copy, Default)]
pub struct TexelHair {
    /// Hair strand brightness.
    streak: f32,
    /// The hairline's knot segment at this texel's azimuth and the position along it.
    frac: f32,
    knot: u16,
    plain: bool,
}

/// Azimuths (degrees) of the hairline knots (their heights depend on the look).
pub const HAIR_KNOTS: [f32; 7] = [0.0, 40.0, 68.0, 84.0, 96.0, 112.0, 180.0];

impl TexelTerms {
    fn of(c: &TexelChart) -> (TexelTerms, TexelHair) {
        let (x, y, fw) = (c.x, c.y, c.front);
        let ax = x.abs();
        let mut t = TexelTerms {
            nostril: 1.0,
            lip_line: 1.0,
            ..TexelTerms::default()
        };
        if fw > 0.0 {
            t.cheek = 0.18 * gauss(ax - 0.4, y + 0.3, 0.16, 0.14) * fw;
            if y < -0.45 {
                let jaw = smoothstep(-0.5, -0.85, y) * smoothstep(0.6, 0.3, ax);
                let lip = gauss(x, y + 0.57, 0.22, 0.05);
                t.stubble = (jaw + lip).min(1.0) * fw;
            }
            t.eye_shadow = gauss(ax - 0.32, y - 0.02, 0.17, 0.1) * fw;
            if (0.05..0.35).contains(&y) && (0.1..0.54).contains(&ax) {
                let p = ((ax - 0.11) / 0.4).clamp(0.0, 1.0);
                let yb = 0.185 + 0.04 * (std::f32::consts::PI * p).sin() - 0.015 * p;
                t.brow_dist = (y - yb).abs();
                t.brow_profile = 1.25 - 0.7 * p;
                t.brow_weight = smoothstep(0.0, 0.08, p) * smoothstep(1.0, 0.85, p) * fw;
            }
            t.nostril = 1.0 - 0.75 * gauss(ax - 0.055, y + 0.42, 0.032, 0.016) * fw;
            if (-0.9..-0.62).contains(&y) && ax < 0.3 {
                let w = (1.0 - (x / 0.27).powi(2)).max(0.0);
                let bow = 0.012 * gauss(x, 0.0, 0.03, 1.0);
                let top = MOUTH_Y + 0.055 * w.sqrt() - bow;
                let bot = MOUTH_Y - 0.07 * w.sqrt();
                let m = if y >= MOUTH_Y {
                    smoothstep(top + 0.006, top - 0.006, y)
                } else {
                    smoothstep(bot - 0.008, bot + 0.008, y)
                } * smoothstep(0.0, 0.04, w);
                t.lip = m * fw;
                let line = gauss(0.0, y - MOUTH_Y, 1.0, 0.007) * smoothstep(0.3, 0.2, ax);
                t.lip_line = 1.0 - 0.5 * line;
            }
        }
        let d = c.abs_theta.to_degrees();
        let i = HAIR_KNOTS
            .iter()
            .position(|&k| d < k)
            .unwrap_or(HAIR_KNOTS.len() - 1)
            .max(1);
        let hair = TexelHair {
            streak: strand(c.abs_theta, y),
            frac: ((d - HAIR_KNOTS[i - 1]) / (HAIR_KNOTS[i] - HAIR_KNOTS[i - 1])).clamp(0.0, 1.0),
            knot: i as u16,
            plain: t.cheek == 0.0
                && t.stubble == 0.0
                && t.eye_shadow == 0.0
                && t.brow_weight <= 0.0
                && t.nostril == 1.0
                && t.lip == 0.0
                && t.lip_line == 1.0,
        };
        (t, hair)
    }
}

/// Hair brightness at azimuth `abs_theta` and height `y`: strands running from the crown down
/// (fine variation across the azimuth, slow along the height) and a soft sheen band.
fn strand(abs_theta: f32, y: f32) -> f32 {
    let u = abs_theta * 70.0 + 0.6 * (y * 3.0).sin();
    let (i, f) = (u.floor(), u - u.floor());
    let h = |n: f32| {
        let v = ((n as i32).wrapping_mul(0x2C1B_3C6D) ^ 0x5bd1_e995) as u32;
        let v = (v ^ (v >> 13)).wrapping_mul(0x9E37_79B9);
        (v >> 8) as f32 / (1u32 << 24) as f32
    };
    let noise = h(i) + (h(i + 1.0) - h(i)) * f * f * (3.0 - 2.0 * f);
    (0.8 + 0.2 * noise) * (1.0 + 0.12 * gauss(0.0, y - 0.95, 1.0, 0.12))
}

impl TermPlanes {
    /// The terms of texel `k`, as [`TexelTerms::of`] made them.
    fn at(&self, k: usize) -> (TexelTerms, TexelHair) {
        let terms = TexelTerms {
            cheek: self.cheek[k],
            stubble: self.stubble[k],
            eye_shadow: self.eye_shadow[k],
            brow_dist: self.brow_dist[k],
            brow_profile: self.brow_profile[k],
            brow_weight: self.brow_weight[k],
            nostril: self.nostril[k],
            lip: self.lip[k],
            lip_line: self.lip_line[k],
        };
        let hair = TexelHair {
            streak: self.streak[k],
            frac: self.frac[k],
            knot: self.knot[k] as u16,
            plain: self.plain[k] > 0.0,
        };
        (terms, hair)
    }
}

/// Identity-independent texture layout and colour-variation fields.
#[derive(Debug, Clone)]
pub struct TextureLayout {
    pub chart: Vec<TexelChart>,
    /// Per texel, the parts of its albedo that do not depend on the identity
    /// ([`TexelTerms`] and [`TexelHair`]), stored as planes so eight texels are one vector.
    planes: TermPlanes,
    /// Per texel column (and row): the colour-variation grid cell and the position in it.
    var_cols: Vec<(u32, f32)>,
    var_rows: Vec<(u32, f32)>,
    /// `N_ALBEDO - N_ALBEDO_SEMANTIC` fields of VAR*VAR*3 floats.
    pub var_fields: Vec<Vec<f32>>,
}

impl TextureLayout {
    /// Build from the mesh's row parametrisation (`mouth_t` = t of the lower-lip row).
    pub fn build(arc: &[(f32, f32)], mouth_t: f32) -> TextureLayout {
        let mut chart = Vec::with_capacity(TW * TH);
        for j in 0..TH {
            let t = (j as f32 + 0.5) / TH as f32;
            let (u, band) = if t < mouth_t {
                (t / (1.0 - MOUTH_BAND), None)
            } else if t < mouth_t + MOUTH_BAND {
                (
                    mouth_t / (1.0 - MOUTH_BAND),
                    Some((t - mouth_t) / MOUTH_BAND),
                )
            } else {
                ((t - MOUTH_BAND) / (1.0 - MOUTH_BAND), None)
            };
            let y = if band.is_some() {
                MOUTH_Y
            } else {
                y_of_arc(arc, u)
            };
            for i in 0..TW {
                let s = (i as f32 + 0.5) / TW as f32 * 2.0 - 1.0;
                let th = theta_of_s(s);
                let (x, _) = section(y, th);
                chart.push(TexelChart {
                    x,
                    y,
                    abs_theta: th.abs(),
                    front: super::mesh::front_weight(th),
                    band,
                });
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed_of("synface-albedo", &[DRAW_VERSION]));
        let var_fields = (N_ALBEDO_SEMANTIC..N_ALBEDO)
            .map(|k| {
                let rank = (k - N_ALBEDO_SEMANTIC + 1) as f32;
                let amp = 0.05 * rank.powf(-0.5);
                let (cx, cy) = (
                    rng.random_range(-0.6f32..0.6),
                    rng.random_range(-1.2f32..1.0),
                );
                let r = rng.random_range(0.15f32..0.5);
                let rgb = [
                    rng.random_range(-1.0f32..1.0),
                    rng.random_range(-1.0f32..1.0),
                    rng.random_range(-1.0f32..1.0),
                ];
                let mut f = Vec::with_capacity(VAR * VAR * 3);
                for gj in 0..VAR {
                    for gi in 0..VAR {
                        // the grid spans the texture; sample the chart at its centre
                        let ti = ((gi as f32 + 0.5) / VAR as f32 * TW as f32) as usize;
                        let tj = ((gj as f32 + 0.5) / VAR as f32 * TH as f32) as usize;
                        let c = chart[tj.min(TH - 1) * TW + ti.min(TW - 1)];
                        let g = amp * gauss(c.x.abs() - cx.abs(), c.y - cy, r, r);
                        f.extend(rgb.iter().map(|v| v * g));
                    }
                }
                f
            })
            .collect();
        let (terms, hair): (Vec<TexelTerms>, Vec<TexelHair>) =
            chart.iter().map(TexelTerms::of).unzip();
        let plane = |f: fn(&TexelTerms) -> f32| terms.iter().map(f).collect::<Vec<f32>>();
        let planes = TermPlanes {
            cheek: plane(|t| t.cheek),
            stubble: plane(|t| t.stubble),
            eye_shadow: plane(|t| t.eye_shadow),
            brow_dist: plane(|t| t.brow_dist),
            brow_profile: plane(|t| t.brow_profile),
            brow_weight: plane(|t| t.brow_weight),
            nostril: plane(|t| t.nostril),
            lip: plane(|t| t.lip),
            lip_line: plane(|t| t.lip_line),
            streak: hair.iter().map(|h| h.streak).collect(),
            frac: hair.iter().map(|h| h.frac).collect(),
            plain: hair.iter().map(|h| f32::from(u8::from(h.plain))).collect(),
            knot: hair.iter().map(|h| i32::from(h.knot)).collect(),
        };
        let cell = |i: usize, n: usize| {
            let g = ((i as f32 + 0.5) / n as f32 * VAR as f32 - 0.5).clamp(0.0, VAR as f32 - 1.001);
            (g.floor() as u32, g.fract())
        };
        TextureLayout {
            chart,
            planes,
            var_cols: (0..TW).map(|i| cell(i, TW)).collect(),
            var_rows: (0..TH).map(|j| cell(j, TH)).collect(),
            var_fields,
        }
    }
}

fn lerp3(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn palette(stops: &[[f32; 3]], t: f32) -> [f32; 3] {
    let t = t.clamp(0.0, 1.0) * (stops.len() - 1) as f32;
    let i = (t.floor() as usize).min(stops.len() - 2);
    lerp3(stops[i], stops[i + 1], t - i as f32)
}

const SKIN: [[f32; 3]; 6] = [
    [0.95, 0.80, 0.70],
    [0.88, 0.68, 0.56],
    [0.75, 0.53, 0.39],
    [0.58, 0.39, 0.26],
    [0.43, 0.27, 0.17],
    [0.31, 0.19, 0.12],
];
const HAIR: [[f32; 3]; 5] = [
    [0.04, 0.035, 0.03],
    [0.16, 0.10, 0.06],
    [0.34, 0.22, 0.12],
    [0.58, 0.44, 0.26],
    [0.80, 0.68, 0.45],
];
const IRIS: [[f32; 3]; 5] = [
    [0.12, 0.07, 0.04],
    [0.30, 0.17, 0.07],
    [0.38, 0.32, 0.14],
    [0.28, 0.40, 0.24],
    [0.30, 0.46, 0.62],
];

/// Per-identity colours derived from the albedo coefficients.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    pub skin: [f32; 3],
    pub hair: [f32; 3],
    pub iris: [f32; 3],
    pub lip: [f32; 3],
    pub hairline: f32,
    pub brow_thick: f32,
    pub brow_dark: f32,
    pub cheek: f32,
    pub stubble: f32,
    pub eye_shadow: f32,
    pub sideburn: f32,
    pub bald: f32,
    /// Phases of the iris texture face model 7 paints ([`super::finish::iris_phase`]).
    pub iris_phase: [f32; 2],
    /// The version-3 traits (hair style, facial hair, brow and eye shape, skin details).
    pub traits: Traits,
}

impl Look {
    pub fn from_coeffs(c: &[f32], traits: &Traits) -> Look {
        let g = |i: usize| super::traits::albedo_trait(c.get(i).copied().unwrap_or(0.0), i);
        let old = (2.0 * traits.age - 1.0).max(0.0);
        let tone = (0.42 + 0.26 * g(0)).clamp(0.0, 1.0);
        let mut skin = palette(&SKIN, tone);
        let hue = 0.035 * g(1);
        skin[0] = (skin[0] + hue).clamp(0.05, 1.0);
        skin[2] = (skin[2] - hue * 0.6).clamp(0.03, 1.0);
        let hair_light = (0.3 + 0.28 * g(2) - 0.35 * (tone - 0.4).max(0.0)).clamp(0.0, 1.0);
        let mut hair = palette(&HAIR, hair_light);
        let red = (0.04 * g(3)).max(0.0) * hair_light;
        hair[0] += red;
        let gray = smoothstep(1.2, 2.4, g(4) + 1.5 * old) * 0.8;
        let hair = lerp3(hair, [0.62, 0.62, 0.62], gray);
        let iris = palette(
            &IRIS,
            (0.35 + 0.3 * g(11) - 0.5 * (tone - 0.4).max(0.0)).clamp(0.0, 1.0),
        );
        // female-typical faces: redder, darker lips (as with lipstick in photo datasets)
        let fem = 1.0 - traits.sex;
        let lip_red = 0.5 + 0.12 * g(8) + 0.45 * fem;
        let lip_dark = (0.78 - 0.06 * g(9) - 0.1 * fem).clamp(0.5, 0.95);
        let lip = [
            (skin[0] * lip_dark + 0.08 * lip_red).min(1.0),
            skin[1] * lip_dark * (0.78 - 0.1 * lip_red),
            skin[2] * lip_dark * (0.85 - 0.1 * lip_red),
        ];
        Look {
            skin,
            hair,
            iris,
            lip,
            hairline: 0.07 * g(5),
            brow_thick: (0.038 + 0.012 * g(6)).clamp(0.016, 0.07),
            brow_dark: (0.75 + 0.12 * g(7)).clamp(0.35, 1.0),
            cheek: (0.3 + 0.2 * g(10)).clamp(0.0, 0.8),
            stubble: (traits.sex * (0.3 + 0.25 * g(12))).clamp(0.0, 0.6),
            eye_shadow: (0.12 + 0.06 * g(13)).clamp(0.0, 0.3),
            sideburn: (0.5 + 0.3 * g(14)).clamp(0.0, 1.0),
            bald: traits.bald,
            iris_phase: iris_phase(traits),
            traits: *traits,
        }
    }
}

/// Height of the hairline at azimuth `deg` degrees for hairline knots `knots`.
pub fn hairline_at(knots: &[f32; 7], deg: f32) -> f32 {
    let i = HAIR_KNOTS
        .iter()
        .position(|&k| deg < k)
        .unwrap_or(HAIR_KNOTS.len() - 1)
        .max(1);
    let f = ((deg - HAIR_KNOTS[i - 1]) / (HAIR_KNOTS[i] - HAIR_KNOTS[i - 1])).clamp(0.0, 1.0);
    knots[i - 1] + (knots[i] - knots[i - 1]) * f
}

/// Hairline heights at the knots of [`HAIR_KNOTS`] for a look: a fringe lowers the front,
/// long hair falls over the ears and past the jaw at the sides and back.
pub fn hairline_knots(look: &Look) -> [f32; 7] {
    let tr = &look.traits;
    let long = tr.hair_length * (1.0 - tr.bald);
    let fringe = 0.42 * tr.fringe;
    [
        0.80 + look.hairline + 0.25 * look.bald - fringe,
        0.70 + look.hairline + 0.3 * look.bald - 0.8 * fringe,
        0.42 + 0.5 * look.hairline - 0.6 * long,
        0.22 - 0.3 * look.sideburn - 1.0 * long,
        0.14 - 1.4 * long,
        -0.62 - 0.9 * long,
        -0.75 - 0.9 * long,
    ]
}

/// Albedo inside the mouth band (lips, teeth, gums and the dark mouth), `f` across the band.
fn mouth(f: f32, look: &Look) -> [f32; 3] {
    if !(0.12..=0.88).contains(&f) {
        look.lip
    } else if f > 0.72 {
        [0.82, 0.79, 0.72]
    } else if f < 0.3 {
        [0.45, 0.12, 0.12]
    } else {
        [0.10, 0.03, 0.03]
    }
}

/// Albedo of one texel at chart height `y` outside the mouth for a look (with its hairline
/// knots), plus the upsampled colour variation `var`.
fn texel(
    y: f32,
    h: &TexelHair,
    t: &TexelTerms,
    look: &Look,
    knots: &[f32; 7],
    var: [f32; 3],
) -> [f32; 3] {
    let mut col = [
        (look.skin[0] + var[0]).max(0.02),
        (look.skin[1] + var[1]).max(0.02),
        (look.skin[2] + var[2]).max(0.02),
    ];
    // (on a plain texel every feature term below leaves the colour exactly as it is)
    if !h.plain {
        // cheeks
        let ck = look.cheek * t.cheek;
        col = [
            col[0] * (1.0 + 0.2 * ck),
            col[1] * (1.0 - ck),
            col[2] * (1.0 - ck),
        ];
        // stubble
        let m = look.stubble * t.stubble;
        col = lerp3(col, [col[0] * 0.55, col[1] * 0.55, col[2] * 0.6], m);
        // eye surroundings (the eyes themselves are drawn per pixel)
        let es = look.eye_shadow * t.eye_shadow;
        col = col.map(|v| v * (1.0 - es));
        // brows
        if t.brow_weight > 0.0 {
            let th = look.brow_thick * t.brow_profile;
            let m = smoothstep(th, th * 0.45, t.brow_dist) * t.brow_weight;
            let bc = look.hair.map(|v| v * 0.8);
            col = lerp3(col, bc, m * look.brow_dark);
        }
        // nostrils and lips
        col = col.map(|v| v * t.nostril);
        col = lerp3(col, look.lip, t.lip);
        col = col.map(|v| v * t.lip_line);
    }
    // hair (none below the blend's lower edge)
    let i = h.knot as usize;
    let e = knots[i - 1] + (knots[i] - knots[i - 1]) * h.frac;
    if y > e - 0.015 {
        let m = smoothstep(e - 0.015, e + 0.025, y);
        if m > 0.0 {
            let hc = look.hair.map(|v| v * h.streak);
            col = lerp3(col, hc, m);
        }
    }
    col
}

/// A built albedo map for one identity.
#[derive(Debug, Clone)]
pub struct AlbedoMap {
    /// TW*TH RGB texels, padded to four lanes so a bilinear lookup is four vector lerps.
    pub texels: Vec<[f32; 4]>,
    pub look: Look,
}

impl AlbedoMap {
    /// Build the map for albedo coefficients `c` (length `N_ALBEDO`): eight texels per
    /// vector where the CPU has AVX2 (the same bits as the scalar code).
    pub fn build(layout: &TextureLayout, c: &[f32], traits: &Traits) -> AlbedoMap {
        #[cfg(target_arch = "x86_64")]
        let wide = std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        let wide = false;
        let mut map = Self::build_with(layout, c, traits, wide);
        super::overlay::paint(&mut map.texels, layout, &map.look);
        map
    }

    fn build_with(layout: &TextureLayout, c: &[f32], traits: &Traits, wide: bool) -> AlbedoMap {
        let look = Look::from_coeffs(c, traits);
        let knots = hairline_knots(&look);
        // version 3 paints brows in `overlay` (shaped per identity), not in the base pass
        let base = Look {
            brow_dark: 0.0,
            ..look
        };
        let mut var = vec![0.0f32; VAR * VAR * 3];
        for (k, f) in layout.var_fields.iter().enumerate() {
            let ck = c.get(N_ALBEDO_SEMANTIC + k).copied().unwrap_or(0.0);
            if ck != 0.0 {
                var.iter_mut().zip(f).for_each(|(v, b)| *v += ck * b);
            }
        }
        // the variation grid interpolated along s once per grid row and channel (the same
        // products and sums as interpolating per texel), then along t per texel row
        let along_s: [Vec<f32>; 3] = std::array::from_fn(|ch| {
            let mut plane = Vec::with_capacity(VAR * TW);
            for yy in 0..VAR {
                let at = |xx: usize| var[(yy * VAR + xx) * 3 + ch];
                plane.extend(layout.var_cols.iter().map(|&(x0, fx)| {
                    let x0 = x0 as usize;
                    at(x0) * (1.0 - fx) + at(x0 + 1) * fx
                }));
            }
            plane
        });
        let mut texels = vec![[0.0f32; 4]; TW * TH];
        for (j, row) in texels.chunks_exact_mut(TW).enumerate() {
            let (y0, fy) = layout.var_rows[j];
            let y0 = y0 as usize;
            let lo = [0, 1, 2].map(|ch| &along_s[ch][y0 * TW..(y0 + 1) * TW]);
            let hi = [0, 1, 2].map(|ch| &along_s[ch][(y0 + 1) * TW..(y0 + 2) * TW]);
            let k0 = j * TW;
            let (y, band) = (layout.chart[k0].y, layout.chart[k0].band);
            #[cfg(target_arch = "x86_64")]
            if wide && band.is_none() {
                // SAFETY: the CPU has AVX2 (`wide`).
                unsafe { texel8::row(row, &layout.planes, k0, [lo, hi], &base, &knots, [y, fy]) };
                continue;
            }
            let _ = wide;
            for (i, out) in row.iter_mut().enumerate() {
                let v = [0, 1, 2].map(|ch| lo[ch][i] * (1.0 - fy) + hi[ch][i] * fy);
                let k = k0 + i;
                let [r, g, b] = match band {
                    Some(f) if layout.chart[k].x.abs() <= 0.25 => mouth(f, &base),
                    _ => {
                        let (t, h) = layout.planes.at(k);
                        texel(y, &h, &t, &base, &knots, v)
                    }
                };
                *out = [r, g, b, 0.0];
            }
        }
        AlbedoMap { texels, look }
    }

    /// Bilinear lookup at texture coordinates (s, t) in [0, 1].
    #[inline(always)]
    pub fn sample(&self, s: f32, t: f32) -> [f32; 3] {
        let x = (s * TW as f32 - 0.5).clamp(0.0, TW as f32 - 1.001);
        let y = (t * TH as f32 - 0.5).clamp(0.0, TH as f32 - 1.001);
        let (x0, y0) = (x as usize, y as usize);
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let i = y0 * TW + x0;
        let (a, b, c, d) = (
            self.texels[i],
            self.texels[i + 1],
            self.texels[i + TW],
            self.texels[i + TW + 1],
        );
        let mut o = [0.0; 4];
        for k in 0..4 {
            let top = a[k] + (b[k] - a[k]) * fx;
            let bot = c[k] + (d[k] - c[k]) * fx;
            o[k] = top + (bot - top) * fy;
        }
        [o[0], o[1], o[2]]
    }
}

/// Per-image eye state: openness per eye (0 closed .. ~1.2 wide) and gaze offsets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EyeState {
    pub open: [f32; 2],
    pub gaze: [f32; 2],
}

impl EyeState {
    pub fn from_expression(e: &[f32]) -> EyeState {
        use super::bases::*;
        let g = |i: usize| e.get(i).copied().unwrap_or(0.0);
        let both = 0.35 * g(EXPR_EYES_CLOSED);
        let open = |w: f32| (1.0 - both - 0.5 * w.max(0.0)).clamp(0.0, 1.2);
        EyeState {
            open: [open(g(EXPR_WINK_LEFT)), open(g(EXPR_WINK_RIGHT))],
            gaze: [
                (0.018 * g(EXPR_GAZE_X)).clamp(-0.04, 0.04),
                (0.01 * g(EXPR_GAZE_Y)).clamp(-0.02, 0.02),
            ],
        }
    }
}

/// Eye colour at chart position (x, y) and how strongly it covers the skin (0 = not at all),
/// with the sclera, lash line and iris of face model finish `fin` ([`super::finish`]).
#[inline]
pub fn eye(x: f32, y: f32, state: &EyeState, look: &Look, fin: &Finish) -> ([f32; 3], f32) {
    let ax = x.abs();
    let ex = ax - 0.32;
    let (iris, w, lid) = (look.iris, look.traits.eye_width, look.traits.eye_height);
    if ex.abs() > w * 1.15 || !(-0.08..0.12).contains(&y) {
        return ([0.0; 3], 0.0);
    }
    let side = usize::from(x >= 0.0);
    let open = state.open[side];
    let q = (1.0 - (ex / w).powi(2)).max(0.0);
    let tilt = look.traits.eye_tilt * ex;
    let yu = 0.058 * lid * q.sqrt() * open + tilt - 0.004 * (1.0 - open);
    let yl = -0.036 * lid * q.sqrt() * (0.4 + 0.6 * open.min(1.0)) + tilt * 0.5;
    if y < yu && y > yl && q > 0.0 {
        let gx = state.gaze[0] * if x < 0.0 { -1.0 } else { 1.0 };
        let (dx, dy) = (ex - gx, y - state.gaze[1] - 0.004);
        let r = (dx * dx + dy * dy).sqrt();
        let iris = if fin.iris_texture > 0.0 {
            let g = iris_gain(fin.iris_texture, dy.atan2(dx), look.iris_phase);
            iris.map(|v| v * g)
        } else {
            iris
        };
        let mut c = if r < 0.021 {
            [0.02, 0.02, 0.025]
        } else if r < 0.05 {
            let rim = smoothstep(0.036, 0.05, r);
            iris.map(|v| v * (1.0 - 0.55 * rim))
        } else {
            let corner = (1.0 - 0.35 * (ex / w).powi(4)) * fin.sclera;
            [0.86 * corner, 0.83 * corner, 0.79 * corner]
        };
        let sp = gauss(dx + 0.015, dy - 0.016, 0.007, 0.007);
        c = lerp3(c, [1.0, 1.0, 1.0], sp * 0.8);
        let lid_shadow = 0.55 + 0.45 * smoothstep(0.0, 0.022, yu - y);
        return (c.map(|v| v * lid_shadow), 1.0);
    }
    // lashes and lid creases just outside the opening
    // female-typical faces: a heavier lash line (mascara and eyeliner in photo datasets)
    let lash_w = 0.014 * (1.0 + 0.9 * (1.0 - look.traits.sex)) * fin.lash;
    let lash = smoothstep(lash_w, 0.0, y - yu) * smoothstep(w * 1.15, w * 0.7, ex.abs());
    let lower = smoothstep(0.008, 0.0, yl - y) * smoothstep(w, w * 0.5, ex.abs()) * 0.35;
    let crease = gauss(0.0, y - (yu + 0.04 + 0.02 * (1.0 - open)), 1.0, 0.008) * q * 0.2;
    let wgt = if y >= yu {
        (lash * 0.85).max(crease)
    } else {
        lower
    };
    ([0.05, 0.04, 0.04], wgt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_texel_build_gives_the_scalar_bits() {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            let model = crate::face::FaceModel::get();
            let mut u = crate::face::test_uniform(5);
            for k in 0..6 {
                // ordinary identities and extreme ones (coefficients up to +-4)
                let spread = if k < 3 { 1.5 } else { 8.0 };
                let c: Vec<f32> = (0..N_ALBEDO).map(|_| (u() - 0.5) * spread).collect();
                let tr = Traits::derive(&c, &c);
                let wide = AlbedoMap::build_with(&model.layout, &c, &tr, true);
                let plain = AlbedoMap::build_with(&model.layout, &c, &tr, false);
                let bits = |m: &AlbedoMap| -> Vec<u32> {
                    m.texels.iter().flatten().map(|v| v.to_bits()).collect()
                };
                assert!(bits(&wide) == bits(&plain), "identity {k}");
            }
        }
    }

    #[test]
    fn skin_tone_spans_light_to_dark() {
        let mut c = vec![0.0; N_ALBEDO];
        c[0] = -2.0;
        let tr = Traits::derive(&[], &c);
        let light = Look::from_coeffs(&c, &tr).skin;
        c[0] = 2.0;
        let dark = Look::from_coeffs(&c, &tr).skin;
        assert!(light.iter().sum::<f32>() > 2.0 * dark.iter().sum::<f32>());
    }

    #[test]
    fn closed_eye_shows_no_sclera() {
        let open = EyeState {
            open: [1.0, 1.0],
            gaze: [0.0, 0.0],
        };
        let shut = EyeState {
            open: [0.0, 0.0],
            gaze: [0.0, 0.0],
        };
        let c0 = [0.0; N_ALBEDO];
        let look = Look::from_coeffs(&c0, &Traits::derive(&[], &c0));
        let (c, w) = eye(-0.32 - 0.08, 0.01, &open, &look, &Finish::NEUTRAL);
        assert!(w == 1.0 && c[0] > 0.5, "sclera visible when open");
        let (_, w) = eye(-0.32 - 0.08, 0.01, &shut, &look, &Finish::NEUTRAL);
        assert!(w < 1.0, "no eyeball when closed");
    }
}
