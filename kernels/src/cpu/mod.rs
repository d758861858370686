//! CPU reference implementations: always available, deterministic (each output element is
//! computed by one thread in a fixed order), parallel over rows with rayon.

pub mod batch;
pub mod cosine;
pub mod matmul;
pub mod normalize;
pub mod simd;

pub use batch::batch_input;
pub use cosine::{cosine_all, cosine_pairs};
pub use normalize::l2_normalize;
