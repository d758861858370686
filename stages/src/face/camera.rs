//! Pose and camera: head rotation (yaw, pitch, roll in degrees) about a neck pivot, a
//! perspective pinhole camera, and the per-identity similarity (scale + shift) that puts a
//! frontal neutral face's five landmarks on the crop's template ([`super::template`]).

use super::simd::Lanes;
use super::template;

/// Camera distance from the head centre (units; about 1.2 m).
pub const CAM_DIST: f32 = 12.0;
/// Rotation pivot (between the ears, a little below the eyes).
pub const PIVOT: [f32; 3] = [0.0, -0.25, -0.15];

/// A rotation matrix (row-major) from yaw (about y), pitch (about x) and roll (about z), degrees.
pub fn rotation(yaw: f32, pitch: f32, roll: f32) -> [[f32; 3]; 3] {
    let (sy, cy) = yaw.to_radians().sin_cos();
    let (sp, cp) = pitch.to_radians().sin_cos();
    let (sr, cr) = roll.to_radians().sin_cos();
    let ry = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
    let rx = [[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]];
    let rz = [[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]];
    matmul(&rz, &matmul(&rx, &ry))
}

fn matmul(a: &[[f32; 3]; 3], b: &[[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let mut o = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            o[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    o
}

#[inline]
pub fn apply(m: &[[f32; 3]; 3], v: [f32; 3]) -> [f32; 3] {
    apply_lanes(m, v)
}

/// [`apply`] for scalars or SIMD lanes (the same operations in the same order).
#[inline(always)]
pub(super) fn apply_lanes<T: Lanes>(m: &[[T; 3]; 3], v: [T; 3]) -> [T; 3] {
    m.map(|r| r[0].mul(v[0]).add(r[1].mul(v[1])).add(r[2].mul(v[2])))
}

/// Rotate a model-space point about the pivot.
#[inline]
pub fn pose_point(m: &[[f32; 3]; 3], p: [f32; 3]) -> [f32; 3] {
    let q = apply(m, [p[0] - PIVOT[0], p[1] - PIVOT[1], p[2] - PIVOT[2]]);
    [q[0] + PIVOT[0], q[1] + PIVOT[1], q[2] + PIVOT[2]]
}

/// Image-plane placement: pixel = scale * (X / depth, -Y / depth) + shift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub scale: f32,
    pub shift: [f32; 2],
}

impl Placement {
    /// Project a posed point: (pixel x, pixel y, 1 / depth).
    #[inline]
    pub fn project(&self, p: [f32; 3]) -> [f32; 3] {
        let inv = 1.0 / (CAM_DIST - p[2]);
        [
            self.scale * p[0] * inv + self.shift[0],
            -self.scale * p[1] * inv + self.shift[1],
            inv,
        ]
    }

    /// Least-squares scale + shift mapping frontal landmarks (model space) onto the template
    /// for an output of `size` pixels.
    pub fn fit(landmarks: &[[f32; 3]; 5], size: usize) -> Placement {
        let p: Vec<[f32; 2]> = landmarks
            .iter()
            .map(|l| {
                let inv = 1.0 / (CAM_DIST - l[2]);
                [l[0] * inv, -l[1] * inv]
            })
            .collect();
        let q = template(size);
        let n = p.len() as f32;
        let mp = [
            p.iter().map(|v| v[0]).sum::<f32>() / n,
            p.iter().map(|v| v[1]).sum::<f32>() / n,
        ];
        let mq = [
            q.iter().map(|v| v[0]).sum::<f32>() / n,
            q.iter().map(|v| v[1]).sum::<f32>() / n,
        ];
        let mut num = 0.0;
        let mut den = 0.0;
        for (a, b) in p.iter().zip(&q) {
            let (ax, ay) = (a[0] - mp[0], a[1] - mp[1]);
            num += ax * (b[0] - mq[0]) + ay * (b[1] - mq[1]);
            den += ax * ax + ay * ay;
        }
        let scale = if den > 0.0 { num / den } else { 1.0 };
        Placement {
            scale,
            shift: [mq[0] - scale * mp[0], mq[1] - scale * mp[1]],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_is_orthonormal_and_yaw_turns_the_nose() {
        let m = rotation(20.0, 5.0, -3.0);
        for row in &m {
            let n: f32 = row.iter().map(|v| v * v).sum();
            assert!((n - 1.0).abs() < 1e-5);
        }
        let nose = apply(&rotation(30.0, 0.0, 0.0), [0.0, 0.0, 1.0]);
        assert!(nose[0] > 0.4);
    }

    #[test]
    fn fit_recovers_a_template_shaped_input() {
        let lm = template(112).map(|t| [(t[0] - 56.0) / 50.0, -(t[1] - 60.0) / 50.0, 0.0]);
        let pl = Placement::fit(&lm, 112);
        for (l, t) in lm.iter().zip(template(112)) {
            let p = pl.project(*l);
            assert!((p[0] - t[0]).abs() < 1e-3 && (p[1] - t[1]).abs() < 1e-3);
        }
    }
}
