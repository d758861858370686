//! Identity shape basis (80 dense displacement fields) and expression basis (64 sparse,
//! localised displacement fields) over the mean mesh. The first bases are semantic traits
//! (face width, jaw, nose, eyes, lips, ...); the rest are random smooth fields from a fixed seed
//! with a decaying spectrum. One coefficient unit is one standard deviation.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::mesh::{front_weight, Mesh, MOUTH_Y};
use super::{gauss, seed_of, smoothstep, DRAW_VERSION, N_EXPR, N_SHAPE};

/// Expression dims without geometry that the texture reads: closure of both eyes.
pub const EXPR_EYES_CLOSED: usize = 4;
/// Left-eye wink.
pub const EXPR_WINK_LEFT: usize = 5;
/// Right-eye wink.
pub const EXPR_WINK_RIGHT: usize = 6;
/// Horizontal gaze.
pub const EXPR_GAZE_X: usize = 10;
/// Vertical gaze.
pub const EXPR_GAZE_Y: usize = 11;
/// Mouth opening (jaw drop).
pub const EXPR_MOUTH_OPEN: usize = 1;

/// Names of the semantic shape dims (the rest are `shape_k`).
pub const SHAPE_NAMES: [&str; 20] = [
    "masculinity",
    "face_width",
    "face_length",
    "jaw_width",
    "chin",
    "nose_length",
    "nose_projection",
    "nose_width",
    "nose_bridge",
    "eye_spacing",
    "eye_size",
    "lip_fullness",
    "mouth_width",
    "brow_ridge",
    "cheekbones",
    "cheek_fullness",
    "forehead_slope",
    "head_depth",
    "ears",
    "crown",
];

/// Gain of each semantic shape trait ([`SHAPE_NAMES`]) over its version-1 amplitude. With all
/// gains at 1 a real-photo face recogniser (`bench/judge`) saw every two identities as close
/// relatives (mean different-identity distance 0.45 against about 0.6 for real people, 78% pair
/// accuracy with version 2's expression and light spreads). Broad traits at up to twice the
/// amplitude separate identities (0.49, 88% pair accuracy) at no cost in face detection, unlike
/// scaling the random tail or the albedo. Traits that move the five alignment landmarks against
/// each other (face length, nose length, eye spacing, mouth width) get 1.5 so frontal landmarks
/// stay 1.3-1.7 px from the template on average; forehead and head depth get 1.5 to stay smooth.
pub const SEMANTIC_GAIN: [f32; 20] = [
    2.0, 2.0, 1.5, 2.0, 2.0, 1.5, 2.0, 2.0, 2.0, 1.5, 2.0, 2.0, 1.5, 2.0, 2.0, 2.0, 1.5, 1.5, 2.0,
    2.0,
];

/// A sparse displacement field: (vertex, offset).
pub type Sparse = Vec<(u32, [f32; 3])>;

/// The identity and expression bases.
#[derive(Debug, Clone)]
pub struct Bases {
    /// `N_SHAPE` dense fields, each `3 * vertices` floats (one standard deviation).
    pub shape: Vec<Vec<f32>>,
    /// `N_EXPR` sparse fields (empty for dims that only drive the eyes).
    pub expr: Vec<Sparse>,
}

struct V {
    x: f32,
    y: f32,
    z: f32,
    fw: f32,
    below_mouth: bool,
}

fn sgn(x: f32) -> f32 {
    if x < 0.0 {
        -1.0
    } else {
        1.0
    }
}

fn semantic_shape(k: usize, v: &V) -> [f32; 3] {
    let (x, y, z, fw) = (v.x, v.y, v.z, v.fw);
    let ax = x.abs();
    match k {
        0 => {
            let brow = 0.025 * gauss(ax - 0.3, y - 0.18, 0.25, 0.08) * fw;
            let jaw = 0.04 * x * smoothstep(-0.4, -1.0, y);
            let chin = 0.02 * gauss(x, y + 1.07, 0.25, 0.15) * fw;
            let nose = 0.015 * gauss(x, y + 0.25, 0.1, 0.2) * fw;
            [jaw, 0.0, brow + chin + nose]
        }
        1 => [0.045 * x, 0.0, 0.0],
        2 => [0.0, 0.03 * y * smoothstep(0.1, -0.1, y), 0.0],
        3 => [0.05 * x * smoothstep(-0.3, -0.9, y), 0.0, 0.0],
        4 => {
            let g = gauss(x, y + 1.07, 0.25, 0.18) * fw;
            [0.0, -0.02 * g, 0.04 * g]
        }
        5 => [0.0, -0.03 * gauss(x, y + 0.3, 0.15, 0.15) * fw, 0.0],
        6 => [0.0, 0.0, 0.04 * gauss(x, y + 0.25, 0.1, 0.18) * fw],
        7 => [
            0.03 * (x / 0.13) * gauss(x, y + 0.35, 0.15, 0.1) * fw,
            0.0,
            0.0,
        ],
        8 => [0.0, 0.0, 0.03 * gauss(x, y + 0.05, 0.07, 0.12) * fw],
        9 => [
            0.02 * sgn(x) * gauss(ax - 0.32, y, 0.2, 0.18) * fw,
            0.0,
            0.0,
        ],
        10 => {
            let g = 0.1 * gauss(ax - 0.32, y, 0.18, 0.14) * fw;
            [g * (x - sgn(x) * 0.32), g * y, 0.0]
        }
        11 => {
            let up = gauss(x, y + 0.69, 0.25, 0.05);
            let lo = gauss(x, y + 0.8, 0.22, 0.06);
            [0.0, (0.012 * up - 0.015 * lo) * fw, 0.02 * (up + lo) * fw]
        }
        12 => [0.06 * x * gauss(x, y - MOUTH_Y, 0.3, 0.12) * fw, 0.0, 0.0],
        13 => [0.0, 0.0, 0.03 * gauss(ax - 0.3, y - 0.18, 0.25, 0.08) * fw],
        14 => {
            let g = gauss(ax - 0.5, y + 0.12, 0.15, 0.12) * fw;
            [0.02 * sgn(x) * g, 0.0, 0.025 * g]
        }
        15 => [0.0, 0.0, 0.03 * gauss(ax - 0.4, y + 0.45, 0.2, 0.2) * fw],
        16 => [0.0, 0.0, -0.04 * smoothstep(0.2, 1.0, y) * (y - 0.2) * fw],
        17 => [0.0, 0.0, -0.05 * (-z).max(0.0)],
        18 => {
            let side = smoothstep(0.55, 0.75, ax / 0.75) * (1.0 - fw);
            let ear = gauss(y + 0.17, z + 0.06, 0.3, 0.18);
            [0.03 * sgn(x) * side * ear, 0.0, 0.0]
        }
        _ => [0.0, 0.04 * smoothstep(0.5, 1.25, y) * (y - 0.5), 0.0],
    }
}

/// A random smooth bump field: centres and displacement vectors.
struct Bump {
    cx: f32,
    cy: f32,
    r: f32,
    d: [f32; 3],
    mirror: bool,
}

fn random_bumps(rng: &mut ChaCha8Rng, n: usize, amp: f32, rmin: f32, rmax: f32) -> Vec<Bump> {
    (0..n)
        .map(|_| {
            let dir = [
                rng.random_range(-0.4f32..0.4),
                rng.random_range(-0.4f32..0.4),
                rng.random_range(-1.0f32..1.0),
            ];
            let norm = (dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2])
                .sqrt()
                .max(0.1);
            Bump {
                cx: rng.random_range(0.0f32..0.6),
                cy: rng.random_range(-1.15f32..0.85),
                r: rng.random_range(rmin..rmax),
                d: dir.map(|c| c / norm * amp),
                mirror: rng.random_bool(0.75),
            }
        })
        .collect()
}

fn eval_bumps(bumps: &[Bump], v: &V) -> [f32; 3] {
    let mut o = [0.0; 3];
    for b in bumps {
        let g = gauss(v.x - b.cx, v.y - b.cy, b.r, b.r) * v.fw;
        o[0] += b.d[0] * g;
        o[1] += b.d[1] * g;
        o[2] += b.d[2] * g;
        if b.mirror {
            let g = gauss(v.x + b.cx, v.y - b.cy, b.r, b.r) * v.fw;
            o[0] -= b.d[0] * g;
            o[1] += b.d[1] * g;
            o[2] += b.d[2] * g;
        }
    }
    o
}

fn semantic_expr(k: usize, v: &V) -> [f32; 3] {
    let (x, y, fw) = (v.x, v.y, v.fw);
    let ax = x.abs();
    let lens = (1.0 - (x / 0.27).powi(2)).max(0.0).powf(0.8);
    let near = (-((y - MOUTH_Y) / 0.12).powi(2)).exp();
    let jaw = smoothstep(0.7, 0.2, ax) * smoothstep(-0.6, -0.95, y) * fw;
    let jaw_weight = lens * near + jaw * (1.0 - near);
    match k {
        0 => {
            let c = gauss(ax - 0.27, y - MOUTH_Y, 0.12, 0.1) * fw;
            let ch = gauss(ax - 0.38, y + 0.4, 0.15, 0.15) * fw;
            [
                0.03 * sgn(x) * c,
                0.05 * c + 0.02 * ch,
                -0.01 * c + 0.02 * ch,
            ]
        }
        1 if v.below_mouth => [0.0, -0.1 * jaw_weight, -0.02 * jaw_weight],
        1 => [0.0, 0.008 * lens * near, 0.0],
        2 => {
            let g = gauss(ax - 0.3, y - 0.2, 0.22, 0.1) * fw;
            [0.0, 0.045 * g + 0.01 * smoothstep(0.3, 0.9, y) * fw, 0.0]
        }
        3 => {
            let g = gauss(ax - 0.18, y - 0.17, 0.12, 0.08) * fw;
            [-0.015 * sgn(x) * g, -0.035 * g, 0.0]
        }
        7 => {
            let g = gauss(x, y - MOUTH_Y, 0.2, 0.1) * fw;
            [-0.25 * x * g * 0.1, 0.0, 0.04 * g]
        }
        8 => {
            let g = gauss(x, y - MOUTH_Y, 0.3, 0.1) * fw;
            [0.1 * x * g, -0.01 * g, 0.0]
        }
        9 => [0.0, 0.025 * gauss(x, y + 0.66, 0.2, 0.06) * fw, 0.0],
        12 => [0.0, 0.0, 0.04 * gauss(ax - 0.38, y + 0.6, 0.15, 0.18) * fw],
        13 if v.below_mouth => [0.03 * jaw_weight, 0.0, 0.0],
        14 if x < 0.0 => {
            let c = gauss(ax - 0.27, y - MOUTH_Y, 0.12, 0.1) * fw;
            [-0.03 * c, 0.05 * c, 0.0]
        }
        15 if v.below_mouth => [
            0.0,
            -0.03 * lens * (-((y - MOUTH_Y) / 0.08).powi(2)).exp(),
            0.0,
        ],
        _ => [0.0; 3],
    }
}

impl Bases {
    /// Build the bases for `mesh` from the model's fixed seed.
    pub fn build(mesh: &Mesh) -> Bases {
        let mut rng = ChaCha8Rng::seed_from_u64(seed_of("synface-bases", &[DRAW_VERSION]));
        let verts: Vec<V> = (0..mesh.vertex_count())
            .map(|i| {
                let row = i / super::mesh::COLS;
                V {
                    x: mesh.chart[i][0],
                    y: mesh.chart[i][1],
                    z: mesh.pos[i][2],
                    fw: front_weight(mesh.theta[i]),
                    below_mouth: row <= mesh.mouth_row,
                }
            })
            .collect();
        let n_sem = SHAPE_NAMES.len();
        let mut shape = Vec::with_capacity(N_SHAPE);
        for k in 0..N_SHAPE {
            let bumps = if k >= n_sem {
                let rank = (k - n_sem + 1) as f32;
                let amp = 0.022 * rank.powf(-0.6);
                let n = rng.random_range(1..4);
                random_bumps(&mut rng, n, amp, 0.12, 0.35)
            } else {
                Vec::new()
            };
            let mut field = Vec::with_capacity(verts.len() * 3);
            for v in &verts {
                let d = if let Some(gain) = SEMANTIC_GAIN.get(k) {
                    semantic_shape(k, v).map(|c| c * gain)
                } else {
                    eval_bumps(&bumps, v)
                };
                field.extend_from_slice(&d);
            }
            shape.push(field);
        }
        let mut expr = Vec::with_capacity(N_EXPR);
        for k in 0..N_EXPR {
            let bumps = if k >= 16 {
                let rank = (k - 15) as f32;
                random_bumps(&mut rng, 1, 0.018 * rank.powf(-0.4), 0.08, 0.22)
            } else {
                Vec::new()
            };
            let mut sparse = Sparse::new();
            for (i, v) in verts.iter().enumerate() {
                let d = if k < 16 {
                    semantic_expr(k, v)
                } else {
                    eval_bumps(&bumps, v)
                };
                if d.iter().any(|c| c.abs() > 1e-5) {
                    sparse.push((i as u32, d));
                }
            }
            expr.push(sparse);
        }
        Bases { shape, expr }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_are_smooth_and_bounded() {
        let mesh = Mesh::build();
        let b = Bases::build(&mesh);
        assert_eq!(b.shape.len(), N_SHAPE);
        assert_eq!(b.expr.len(), N_EXPR);
        // decaying spectrum: the random tail is smaller than the head
        let energy = |f: &Vec<f32>| f.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(energy(&b.shape[20]) > energy(&b.shape[79]));
        // no spikes: a 3-sigma displacement stays under 0.3 units everywhere (the head is about
        // 1.5 units wide and 2.5 high; the largest is a long lower face, 0.27)
        for (k, f) in b.shape.iter().enumerate() {
            let m = f.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(
                3.0 * m < 0.3,
                "shape dim {k}: 3-sigma displacement {}",
                3.0 * m
            );
        }
        // expressions are localised: eye-only dims have no geometry, smile touches few vertices
        assert!(b.expr[EXPR_EYES_CLOSED].is_empty());
        assert!(b.expr[0].len() < mesh.vertex_count() / 3);
    }
}
