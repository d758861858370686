//! synface-kernels: hot-path ops (mixup blending, L2 normalisation, batched cosine similarity)
//! with CPU reference implementations and, behind a feature, CUDA implementations.
