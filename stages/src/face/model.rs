//! The assembled face model (mean mesh, bases, texture layout, background model), built once
//! per process from the fixed seed, and the per-identity cache ([`Identity`]: blended vertices,
//! albedo map, neutral landmarks) that rendering reuses for every image of an identity.

use std::sync::OnceLock;

use super::background::BackgroundModel;
use super::bases::Bases;
use super::latent::FaceLatent;
use super::mesh::{arc_table, Mesh};
use super::texture::{AlbedoMap, TextureLayout, TH, TW};
use super::traits::Traits;
use super::{N_ALBEDO, N_SHAPE};

/// A box in texture space (s0, s1, t0, t1) that contains an eye.
pub type StBox = [f32; 4];

/// Everything that is the same for all faces.
#[derive(Debug)]
pub struct FaceModel {
    pub mesh: Mesh,
    pub bases: Bases,
    pub layout: TextureLayout,
    pub background: BackgroundModel,
    /// Texture-space boxes around the two eyes (per-pixel eye shading happens inside).
    pub eye_boxes: [StBox; 2],
}

static MODEL: OnceLock<FaceModel> = OnceLock::new();

impl FaceModel {
    /// The process-wide model (built on first use, about a tenth of a second).
    pub fn get() -> &'static FaceModel {
        MODEL.get_or_init(FaceModel::build)
    }

    fn build() -> FaceModel {
        let mesh = Mesh::build();
        let bases = Bases::build(&mesh);
        let mouth_t = mesh.rows[mesh.mouth_row].t;
        let layout = TextureLayout::build(&arc_table(), mouth_t);
        let mut eye_boxes = [[f32::MAX, f32::MIN, f32::MAX, f32::MIN]; 2];
        for (k, c) in layout.chart.iter().enumerate() {
            if c.front <= 0.0 || !(-0.09..0.13).contains(&c.y) {
                continue;
            }
            let side = usize::from(c.x >= 0.0);
            if (c.x.abs() - 0.32).abs() < 0.17 {
                let s = (k % TW) as f32 / TW as f32;
                let t = (k / TW) as f32 / TH as f32;
                let b = &mut eye_boxes[side];
                b[0] = b[0].min(s - 1.0 / TW as f32);
                b[1] = b[1].max(s + 2.0 / TW as f32);
                b[2] = b[2].min(t - 1.0 / TH as f32);
                b[3] = b[3].max(t + 2.0 / TH as f32);
            }
        }
        FaceModel {
            mesh,
            bases,
            layout,
            background: BackgroundModel::new(),
            eye_boxes,
        }
    }

    /// Chart coordinates (x, y) at texture coordinates (s, t) (bilinear).
    #[inline]
    pub fn chart_at(&self, s: f32, t: f32) -> (f32, f32) {
        let x = (s * TW as f32 - 0.5).clamp(0.0, TW as f32 - 1.001);
        let y = (t * TH as f32 - 0.5).clamp(0.0, TH as f32 - 1.001);
        let (x0, y0) = (x as usize, y as usize);
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let c = &self.layout.chart;
        let i = y0 * TW + x0;
        let l = |a: f32, b: f32, f: f32| a + (b - a) * f;
        let cx = l(
            l(c[i].x, c[i + 1].x, fx),
            l(c[i + TW].x, c[i + TW + 1].x, fx),
            fy,
        );
        let cy = l(
            l(c[i].y, c[i + 1].y, fx),
            l(c[i + TW].y, c[i + TW + 1].y, fx),
            fy,
        );
        (cx, cy)
    }

    /// Blend identity vertices: mean + sum_k shape_k * basis_k.
    pub fn identity_vertices(&self, shape: &[f32; N_SHAPE]) -> Vec<[f32; 3]> {
        let mut flat: Vec<f32> = self.mesh.pos.iter().flatten().copied().collect();
        for (c, basis) in shape.iter().zip(&self.bases.shape) {
            if *c != 0.0 {
                flat.iter_mut().zip(basis).for_each(|(v, b)| *v += c * b);
            }
        }
        flat.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect()
    }

    /// Landmark positions (model space) for a set of vertices.
    pub fn landmarks_3d(&self, verts: &[[f32; 3]]) -> [[f32; 3]; 5] {
        self.mesh.landmarks.map(|w| {
            let mut p = [0.0; 3];
            for (i, wt) in w {
                let v = verts[i as usize];
                p[0] += wt * v[0];
                p[1] += wt * v[1];
                p[2] += wt * v[2];
            }
            p
        })
    }
}

/// What rendering caches per identity (per distinct shape + albedo coefficients).
#[derive(Debug, Clone)]
pub struct Identity {
    pub verts: Vec<[f32; 3]>,
    pub albedo: AlbedoMap,
    /// Landmarks of the neutral face (used to align every image of this identity).
    pub landmarks: [[f32; 3]; 5],
    /// Per-vertex ambient occlusion of the neutral head ([`super::occlusion`]).
    pub ao: Vec<f32>,
}

impl Identity {
    pub fn build(model: &FaceModel, lat: &FaceLatent) -> Identity {
        let traits = Traits::derive(&lat.shape, &lat.albedo);
        let mut verts = model.identity_vertices(&traits.effective_shape(&lat.shape));
        let landmarks = model.landmarks_3d(&verts);
        let albedo = AlbedoMap::build(&model.layout, &lat.albedo[..N_ALBEDO], &traits);
        super::hair::grow(&model.mesh, &albedo.look, &mut verts);
        let ao = super::occlusion::bake(&model.mesh, &verts);
        Identity {
            ao,
            verts,
            albedo,
            landmarks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::latent::{sample_latent, SampleConfig};

    #[test]
    fn identity_build_ignores_expression_light_pose_and_background() {
        // per-image factors never reach what is cached per identity (geometry with hair,
        // albedo with its details, alignment landmarks)
        let model = FaceModel::get();
        let cfg = SampleConfig::default();
        let a = sample_latent(11, 0, 1, &cfg);
        let b = sample_latent(11, 4, 9, &cfg);
        assert!(a.expression != b.expression && a.pose != b.pose && a.light != b.light);
        let (ia, ib) = (Identity::build(model, &a), Identity::build(model, &b));
        assert!(ia.verts == ib.verts && ia.albedo.texels == ib.albedo.texels);
        assert_eq!(ia.landmarks, ib.landmarks);
        // and a different person differs in both geometry and texture
        let c = Identity::build(model, &sample_latent(12, 0, 1, &cfg));
        assert!(c.verts != ia.verts && c.albedo.texels != ia.albedo.texels);
    }
}
