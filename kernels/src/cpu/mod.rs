//! CPU reference implementations: always available, deterministic (each output element is
//! computed by one thread in a fixed order), parallel over rows with rayon.

pub mod cosine;
pub mod matmul;
pub mod mixup;
pub mod normalize;
pub mod simd;

pub use cosine::{cosine_all, cosine_pairs};
pub use mixup::{mixup_f32, mixup_u8};
pub use normalize::l2_normalize;
