//! The mean head mesh: a grid in (s, t) wrapped around a head-shaped surface of stacked
//! superelliptic cross-sections (profile knots below), with anatomical features (brow ridge,
//! eye sockets and eyeballs, nose with alae and nostrils, lips, chin, cheeks, ears, neck) added
//! as smooth displacements. The mouth line is a duplicated row (upper- and lower-lip rows at the
//! same height): closed it has zero area, opened it shows the mouth interior texture band.
//!
//! Coordinates: x to the image right, y up, z towards the camera; eyes at y = 0, x = ±0.32
//! (one unit is roughly 10 cm). Texture coordinates (s, t) are in [0, 1]².

use super::{gauss, smoothstep};

/// Grid columns (around the head; first and last coincide at the back seam).
pub const COLS: usize = 97;
/// Grid rows before the mouth row is duplicated.
const BASE_ROWS: usize = 88;
/// Lowest (neck) and highest (crown) height.
pub const Y_BOT: f32 = -2.0;
pub const Y_TOP: f32 = 1.25;
/// Height of the mouth line.
pub const MOUTH_Y: f32 = -0.74;
/// Texture-space height of the mouth-interior band inserted at the mouth line.
pub const MOUTH_BAND: f32 = 0.02;
/// Cross-section superellipse exponent (> 2: flatter front than an ellipse).
const SUPER_N: f32 = 2.5;

/// Chart positions of the five landmarks (left eye, right eye, nose tip, mouth corners).
pub const LANDMARK_CHART: [[f32; 2]; 5] = [
    [-0.32, 0.0],
    [0.32, 0.0],
    [0.0, -0.36],
    [-0.265, MOUTH_Y],
    [0.265, MOUTH_Y],
];

/// Profile knots: (y, half-width, front depth, back depth).
const KNOTS: [[f32; 4]; 13] = [
    [-2.00, 0.50, 0.40, 0.52],
    [-1.45, 0.50, 0.40, 0.52],
    [-1.28, 0.53, 0.44, 0.62],
    [-1.10, 0.58, 0.50, 0.72],
    [-0.75, 0.66, 0.58, 0.86],
    [-0.35, 0.72, 0.64, 0.95],
    [0.00, 0.745, 0.68, 1.00],
    [0.40, 0.75, 0.68, 1.02],
    [0.80, 0.68, 0.58, 0.95],
    [1.05, 0.52, 0.44, 0.76],
    [1.18, 0.34, 0.29, 0.50],
    [1.23, 0.18, 0.15, 0.27],
    [1.25, 0.0, 0.0, 0.0],
];

/// Half-width, front depth and back depth of the cross-section at height `y`
/// (cubic Hermite through the knots, tangents from neighbours).
pub fn profile(y: f32) -> [f32; 3] {
    let y = y.clamp(Y_BOT, Y_TOP);
    let k = &KNOTS;
    let i = (0..k.len() - 1)
        .find(|&i| y <= k[i + 1][0])
        .unwrap_or(k.len() - 2);
    let (y0, y1) = (k[i][0], k[i + 1][0]);
    let h = y1 - y0;
    let t = (y - y0) / h;
    let tangent = |j: usize, c: usize| -> f32 {
        let a = j.saturating_sub(1);
        let b = (j + 1).min(k.len() - 1);
        (k[b][c] - k[a][c]) / (k[b][0] - k[a][0])
    };
    let (t2, t3) = (t * t, t * t * t);
    let mut out = [0.0; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let (p0, p1) = (k[i][c + 1], k[i + 1][c + 1]);
        let (m0, m1) = (tangent(i, c + 1) * h, tangent(i + 1, c + 1) * h);
        let v = (2.0 * t3 - 3.0 * t2 + 1.0) * p0
            + (t3 - 2.0 * t2 + t) * m0
            + (-2.0 * t3 + 3.0 * t2) * p1
            + (t3 - t2) * m1;
        *o = v.max(0.0);
    }
    out
}

/// Azimuth of grid coordinate `s` in [-1, 1] (denser at the front).
pub fn theta_of_s(s: f32) -> f32 {
    std::f32::consts::PI * (0.6 * s + 0.4 * s * s * s)
}

/// Inverse of [`theta_of_s`] (bisection; monotone).
pub fn s_of_theta(theta: f32) -> f32 {
    let (mut lo, mut hi) = (-1.0f32, 1.0f32);
    for _ in 0..40 {
        let mid = 0.5 * (lo + hi);
        if theta_of_s(mid) < theta {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

fn spow(v: f32, e: f32) -> f32 {
    v.signum() * v.abs().powf(e)
}

/// Base cross-section point (x, z) at height `y` and azimuth `theta` (0 = front).
pub fn section(y: f32, theta: f32) -> (f32, f32) {
    let [a, cf, cb] = profile(y);
    let (sn, cs) = theta.sin_cos();
    let e = 2.0 / SUPER_N;
    let x = a * spow(sn, e);
    let z = if cs >= 0.0 { cf } else { cb } * spow(cs, e);
    (x, z)
}

/// Forward (z) displacement of the face features at chart position (x, y).
pub fn face_relief(x: f32, y: f32) -> f32 {
    let ax = x.abs();
    let mut d = 0.0;
    d += 0.06 * gauss(ax - 0.3, y - 0.18, 0.22, 0.07); // brow ridge
    d += 0.03 * gauss(x, y - 0.13, 0.1, 0.08); // glabella
    d -= 0.11 * gauss(ax - 0.32, y + 0.01, 0.17, 0.11); // eye sockets
    d += 0.055 * gauss(ax - 0.32, y, 0.1, 0.06); // eyeballs
    d -= 0.03 * gauss(ax - 0.2, y - 0.02, 0.06, 0.06); // inner eye corner hollow
                                                       // nose ridge: bridge to tip, then a quick fall to the philtrum
    let ridge = if y > 0.1 {
        0.04 * (-((y - 0.1) / 0.08).powi(2)).exp()
    } else if y > -0.36 {
        0.04 + 0.28 * ((0.1 - y) / 0.46).powf(1.7)
    } else {
        0.32 * (-((y + 0.36) / 0.065).powi(2)).exp()
    };
    let width = 0.065 + 0.08 * ((0.1 - y) / 0.46).clamp(0.0, 1.0);
    d += ridge * (-(x / width).powi(2)).exp();
    d += 0.035 * gauss(x, y + 0.33, 0.08, 0.06); // tip ball
    d += 0.07 * gauss(ax - 0.125, y + 0.37, 0.055, 0.05); // alae
    d -= 0.025 * gauss(ax - 0.055, y + 0.42, 0.03, 0.02); // nostrils
    d += 0.10 * gauss(x, y + 0.62, 0.3, 0.25); // maxilla / muzzle
    d += 0.05 * gauss(x, y + 0.69, 0.25, 0.045) * (1.0 - 0.4 * gauss(x, 0.0, 0.03, 1.0)); // upper lip
    d += 0.06 * gauss(x, y + 0.8, 0.22, 0.05); // lower lip
    d -= 0.035 * gauss(x, y + 0.92, 0.2, 0.04); // mentolabial sulcus
    d += 0.22 * gauss(x, y + 1.07, 0.22, 0.14); // chin
    d += 0.06 * gauss(ax - 0.42, y + 0.28, 0.18, 0.22); // cheeks
    d += 0.04 * gauss(ax - 0.52, y + 0.1, 0.12, 0.08); // cheekbones
    d -= 0.03 * gauss(ax - 0.62, y - 0.25, 0.1, 0.15); // temples
    d
}

/// Outward (x) displacement of an ear at height `y`, base depth `z` (sides only).
pub fn ear_relief(y: f32, z: f32) -> f32 {
    let r2 = ((y + 0.17) / 0.31).powi(2) + ((z + 0.06) / 0.16).powi(2);
    if r2 >= 1.0 {
        return 0.0;
    }
    let rim = 1.0 - 0.35 * gauss(r2.sqrt() - 0.45, 0.0, 0.2, 1.0);
    0.13 * (1.0 - r2).powi(2).sqrt() * rim
}

/// How much a point with azimuth `theta` belongs to the face (front weight).
pub fn front_weight(theta: f32) -> f32 {
    smoothstep(0.05, 0.45, theta.cos())
}

/// Full mean-surface point at height `y`, azimuth `theta`.
pub fn surface(y: f32, theta: f32) -> [f32; 3] {
    let (x, z) = section(y, theta);
    let fw = front_weight(theta);
    let z = z + fw * face_relief(x, y);
    let side = smoothstep(0.75, 0.95, theta.sin().abs());
    let x = x + x.signum() * side * ear_relief(y, z);
    [x, y, z]
}

/// One grid row: its height and texture t.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub y: f32,
    pub t: f32,
}

/// The mean mesh.
#[derive(Debug, Clone)]
pub struct Mesh {
    pub pos: Vec<[f32; 3]>,
    /// Texture coordinates (s, t).
    pub st: Vec<[f32; 2]>,
    /// Chart coordinates (base cross-section x, height y) used to place bases.
    pub chart: Vec<[f32; 2]>,
    /// Azimuth of each vertex.
    pub theta: Vec<f32>,
    pub tris: Vec<[u32; 3]>,
    pub rows: Vec<Row>,
    /// Index of the lower-lip row (the upper-lip row is `mouth_row + 1`, at the same height).
    pub mouth_row: usize,
    /// Landmarks as bilinear vertex weights.
    pub landmarks: [[(u32, f32); 4]; 5],
}

/// Arc-length parametrisation of the front profile: (y, normalised arc length) samples.
pub fn arc_table() -> Vec<(f32, f32)> {
    let n = 2048;
    let mut out = Vec::with_capacity(n + 1);
    let mut acc = 0.0f32;
    let mut prev: Option<(f32, f32)> = None;
    for i in 0..=n {
        let y = Y_BOT + (Y_TOP - Y_BOT) * i as f32 / n as f32;
        let z = profile(y)[1] + face_relief(0.0, y);
        if let Some((py, pz)) = prev {
            acc += ((y - py).powi(2) + (z - pz).powi(2)).sqrt();
        }
        prev = Some((y, z));
        out.push((y, acc));
    }
    let total = acc.max(1e-6);
    out.iter().map(|&(y, a)| (y, a / total)).collect()
}

/// Height at normalised arc length `u` of the front profile.
pub fn y_of_arc(table: &[(f32, f32)], u: f32) -> f32 {
    let i = table
        .partition_point(|&(_, a)| a < u)
        .clamp(1, table.len() - 1);
    let (y0, a0) = table[i - 1];
    let (y1, a1) = table[i];
    let f = if a1 > a0 { (u - a0) / (a1 - a0) } else { 0.0 };
    y0 + (y1 - y0) * f.clamp(0.0, 1.0)
}

fn arc_of_y(table: &[(f32, f32)], y: f32) -> f32 {
    let i = table
        .partition_point(|&(ty, _)| ty < y)
        .clamp(1, table.len() - 1);
    let (y0, a0) = table[i - 1];
    let (y1, a1) = table[i];
    a0 + (a1 - a0) * ((y - y0) / (y1 - y0)).clamp(0.0, 1.0)
}

/// Texture t of normalised arc length `u` (rows below the mouth line sit below the band).
pub fn t_of_arc(u: f32, mouth_u: f32) -> f32 {
    if u <= mouth_u {
        u * (1.0 - MOUTH_BAND)
    } else {
        u * (1.0 - MOUTH_BAND) + MOUTH_BAND
    }
}

impl Mesh {
    /// Build the mean mesh (deterministic, no randomness).
    pub fn build() -> Mesh {
        let table = arc_table();
        let mouth_u = arc_of_y(&table, MOUTH_Y);
        let mut us: Vec<f32> = (0..BASE_ROWS)
            .map(|i| i as f32 / (BASE_ROWS - 1) as f32)
            .collect();
        let m = us
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1 - mouth_u).abs().total_cmp(&(b.1 - mouth_u).abs()))
            .map(|(i, _)| i)
            .unwrap_or(0);
        us[m] = mouth_u;
        let mut rows = Vec::with_capacity(BASE_ROWS + 1);
        for (i, &u) in us.iter().enumerate() {
            let y = if i == m { MOUTH_Y } else { y_of_arc(&table, u) };
            if i == m {
                rows.push(Row {
                    y,
                    t: u * (1.0 - MOUTH_BAND),
                });
                rows.push(Row {
                    y,
                    t: u * (1.0 - MOUTH_BAND) + MOUTH_BAND,
                });
            } else {
                rows.push(Row {
                    y,
                    t: t_of_arc(u, mouth_u),
                });
            }
        }
        let nr = rows.len();
        let mut pos = Vec::with_capacity(nr * COLS);
        let mut st = Vec::with_capacity(nr * COLS);
        let mut chart = Vec::with_capacity(nr * COLS);
        let mut thetas = Vec::with_capacity(nr * COLS);
        for row in &rows {
            for j in 0..COLS {
                let s = -1.0 + 2.0 * j as f32 / (COLS - 1) as f32;
                let th = theta_of_s(s);
                pos.push(surface(row.y, th));
                st.push([(s + 1.0) * 0.5, row.t]);
                chart.push([section(row.y, th).0, row.y]);
                thetas.push(th);
            }
        }
        let mut tris = Vec::with_capacity((nr - 1) * (COLS - 1) * 2);
        for r in 0..nr - 1 {
            for j in 0..COLS - 1 {
                let a = (r * COLS + j) as u32;
                let b = a + 1;
                let c = a + COLS as u32;
                let d = c + 1;
                // counter-clockwise seen from outside (x right, y up, normal outward)
                tris.push([a, b, d]);
                tris.push([a, d, c]);
            }
        }
        let landmarks = LANDMARK_CHART.map(|[x, y]| landmark_weights(&rows, m + 1, x, y));
        Mesh {
            pos,
            st,
            chart,
            theta: thetas,
            tris,
            rows,
            mouth_row: m,
            landmarks,
        }
    }

    pub fn vertex_count(&self) -> usize {
        self.pos.len()
    }

    /// Vertex index of grid position (row, col).
    pub fn index(&self, row: usize, col: usize) -> usize {
        row * COLS + col
    }
}

/// Area-weighted (unnormalised) vertex normals of `verts`: the sum of the cross products of the
/// triangles `keep` accepts, per vertex (`n` is cleared and resized).
#[inline]
pub fn normal_sums(
    tris: &[[u32; 3]],
    verts: &[[f32; 3]],
    keep: impl Fn(&[u32; 3]) -> bool,
    n: &mut Vec<[f32; 3]>,
) {
    n.clear();
    n.resize(verts.len(), [0.0f32; 3]);
    for t in tris {
        if !keep(t) {
            continue;
        }
        let [a, b, c] = t.map(|i| verts[i as usize]);
        let u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
        let v = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
        let f = [
            u[1] * v[2] - u[2] * v[1],
            u[2] * v[0] - u[0] * v[2],
            u[0] * v[1] - u[1] * v[0],
        ];
        for &i in t {
            let m = &mut n[i as usize];
            m[0] += f[0];
            m[1] += f[1];
            m[2] += f[2];
        }
    }
}

/// Bilinear weights of the grid vertices around chart point (x, y) on the front.
/// `mouth_upper` is used when the point lies on the mouth line.
fn landmark_weights(rows: &[Row], mouth_upper: usize, x: f32, y: f32) -> [(u32, f32); 4] {
    // rows are sorted by y; the duplicated mouth rows share a height: use the upper one
    let mut r = rows
        .partition_point(|row| row.y <= y)
        .clamp(1, rows.len() - 1)
        - 1;
    if (rows[r].y - MOUTH_Y).abs() < 1e-6 {
        r = mouth_upper;
    }
    let r1 = (r + 1).min(rows.len() - 1);
    let fy = if rows[r1].y > rows[r].y {
        ((y - rows[r].y) / (rows[r1].y - rows[r].y)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let a = profile(y)[0].max(1e-4);
    let q = (x / a).clamp(-1.0, 1.0);
    let th = spow(q, SUPER_N / 2.0).asin();
    let cf = (s_of_theta(th) + 1.0) * 0.5 * (COLS - 1) as f32;
    let c0 = (cf.floor() as usize).min(COLS - 2);
    let fx = cf - c0 as f32;
    let idx = |rr: usize, cc: usize| (rr * COLS + cc) as u32;
    [
        (idx(r, c0), (1.0 - fx) * (1.0 - fy)),
        (idx(r, c0 + 1), fx * (1.0 - fy)),
        (idx(r1, c0), (1.0 - fx) * fy),
        (idx(r1, c0 + 1), fx * fy),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mesh_is_consistent() {
        let m = Mesh::build();
        assert_eq!(m.pos.len(), m.rows.len() * COLS);
        assert!(m.pos.len() > 5000, "several thousand vertices");
        assert!(m
            .tris
            .iter()
            .all(|t| t.iter().all(|&i| (i as usize) < m.pos.len())));
        assert!(m.pos.iter().flatten().all(|v| v.is_finite()));
        // the two mouth rows coincide in the mean shape
        let (lo, hi) = (m.mouth_row, m.mouth_row + 1);
        for j in 0..COLS {
            assert_eq!(m.pos[m.index(lo, j)], m.pos[m.index(hi, j)]);
        }
        // the nose tip is the most forward point of the face
        let zmax = m.pos.iter().map(|p| p[2]).fold(f32::MIN, f32::max);
        let nose = m
            .pos
            .iter()
            .find(|p| p[2] == zmax)
            .copied()
            .unwrap_or_default();
        assert!(
            nose[0].abs() < 0.05 && (nose[1] + 0.36).abs() < 0.1,
            "nose at {nose:?}"
        );
    }

    #[test]
    fn theta_inverse() {
        for &th in &[-2.0f32, -0.3, 0.0, 0.7, 3.0] {
            assert!((theta_of_s(s_of_theta(th)) - th).abs() < 1e-4);
        }
    }
}
