// synface-kernels: mixup blending of NHWC image batches (compiled at run time with NVRTC).
//
// out[s] = coef[s] * a[idx_a[s]] + (1 - coef[s]) * b[idx_b[s]], element-wise over one sample;
// coef has one entry per sample (coef_per_sample = 1) or one for the batch (0).
// The blend uses explicitly rounded operations (no FMA contraction) so results equal the CPU
// reference bit for bit; u8 output is roundf (half away from zero), clamped to [0, 255].
// Grid: x over the elements of a sample (grid-stride), y over samples (grid-stride).

__device__ __forceinline__ float blend(float c, float x, float y) {
    return __fadd_rn(__fmul_rn(c, x), __fmul_rn(__fsub_rn(1.0f, c), y));
}

extern "C" __global__ void mixup_u8(const unsigned char* __restrict__ a,
                                    const unsigned char* __restrict__ b,
                                    const unsigned int* __restrict__ idx_a,
                                    const unsigned int* __restrict__ idx_b,
                                    const float* __restrict__ coef, int coef_per_sample,
                                    unsigned long long sample_len, int n,
                                    unsigned char* __restrict__ out) {
    for (int s = blockIdx.y; s < n; s += gridDim.y) {
        float c = coef[coef_per_sample ? s : 0];
        const unsigned char* xa = a + (size_t)idx_a[s] * sample_len;
        const unsigned char* xb = b + (size_t)idx_b[s] * sample_len;
        unsigned char* o = out + (size_t)s * sample_len;
        for (unsigned long long k = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
             k < sample_len; k += (unsigned long long)gridDim.x * blockDim.x) {
            float v = roundf(blend(c, (float)xa[k], (float)xb[k]));
            o[k] = (unsigned char)fminf(fmaxf(v, 0.0f), 255.0f);
        }
    }
}

extern "C" __global__ void mixup_f32(const float* __restrict__ a, const float* __restrict__ b,
                                     const unsigned int* __restrict__ idx_a,
                                     const unsigned int* __restrict__ idx_b,
                                     const float* __restrict__ coef, int coef_per_sample,
                                     unsigned long long sample_len, int n,
                                     float* __restrict__ out) {
    for (int s = blockIdx.y; s < n; s += gridDim.y) {
        float c = coef[coef_per_sample ? s : 0];
        const float* xa = a + (size_t)idx_a[s] * sample_len;
        const float* xb = b + (size_t)idx_b[s] * sample_len;
        float* o = out + (size_t)s * sample_len;
        for (unsigned long long k = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
             k < sample_len; k += (unsigned long long)gridDim.x * blockDim.x) {
            o[k] = blend(c, xa[k], xb[k]);
        }
    }
}
