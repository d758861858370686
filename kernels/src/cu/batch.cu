// synface-kernels: the training batch op (compiled at run time with NVRTC); the CPU reference
// is kernels/src/cpu/batch.rs, whose f32 operations this spells out one by one with
// explicitly rounded intrinsics (no FMA contraction), so both give the same bits.
//
// out[s, c, y, x] (NCHW, size x size): sample s is synthetic image rows[s], mirrored when
// flips[s], bilinearly resized from h x w (pixel centres aligned, edges clamped), normalised
// as (v - 127.5) / 128; with mix != 0 it is blended as psi * x_syn + (1 - psi) * x_real with
// real image partners[s] (same h x w), itself resized and normalised the same way.
// One thread per output element, grid-stride.

__device__ __forceinline__ float norm_px(float v) {
    return __fdiv_rn(__fsub_rn(v, 127.5f), 128.0f);
}

__device__ __forceinline__ float lerp2(float p00, float p10, float p01, float p11, float fx,
                                       float fy) {
    float top = __fadd_rn(__fmul_rn(p00, __fsub_rn(1.0f, fx)), __fmul_rn(p10, fx));
    float bot = __fadd_rn(__fmul_rn(p01, __fsub_rn(1.0f, fx)), __fmul_rn(p11, fx));
    return __fadd_rn(__fmul_rn(top, __fsub_rn(1.0f, fy)), __fmul_rn(bot, fy));
}

// Source coordinate of output index o along an axis of n source pixels: index, next index
// and fraction, as the CPU computes them.
__device__ __forceinline__ void source_coord(int o, int n, int size, int* i0, int* i1,
                                             float* t) {
    float scale = __fdiv_rn((float)n, (float)size);
    float f = __fsub_rn(__fmul_rn(__fadd_rn((float)o, 0.5f), scale), 0.5f);
    f = fminf(fmaxf(f, 0.0f), (float)(n - 1));
    *i0 = (int)floorf(f);
    *i1 = min(*i0 + 1, n - 1);
    *t = __fsub_rn(f, (float)*i0);
}

__device__ __forceinline__ float sample(const unsigned char* img, int h, int w, int size,
                                        int flip, int c, int y, int x) {
    int ox = flip ? size - 1 - x : x;
    if (h == size && w == size) {
        return norm_px((float)img[((size_t)y * w + ox) * 3 + c]);
    }
    int y0, y1, x0, x1;
    float ty, tx;
    source_coord(y, h, size, &y0, &y1, &ty);
    source_coord(ox, w, size, &x0, &x1, &tx);
    float p00 = (float)img[((size_t)y0 * w + x0) * 3 + c];
    float p10 = (float)img[((size_t)y0 * w + x1) * 3 + c];
    float p01 = (float)img[((size_t)y1 * w + x0) * 3 + c];
    float p11 = (float)img[((size_t)y1 * w + x1) * 3 + c];
    return norm_px(lerp2(p00, p10, p01, p11, tx, ty));
}

extern "C" __global__ void batch_input_f32(const unsigned char* __restrict__ syn,
                                           const unsigned char* __restrict__ real,
                                           const unsigned int* __restrict__ rows,
                                           const unsigned int* __restrict__ partners,
                                           const unsigned char* __restrict__ flips, float psi,
                                           int mix, int h, int w, int size, int n,
                                           float* __restrict__ out) {
    size_t plane = (size_t)size * size;
    size_t total = (size_t)n * 3 * plane;
    size_t img_len = (size_t)h * w * 3;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total;
         k += (size_t)gridDim.x * blockDim.x) {
        int s = (int)(k / (3 * plane));
        size_t r = k % (3 * plane);
        int c = (int)(r / plane);
        int y = (int)((r % plane) / size);
        int x = (int)(r % size);
        float v = sample(syn + rows[s] * img_len, h, w, size, flips[s], c, y, x);
        if (mix) {
            float q = sample(real + partners[s] * img_len, h, w, size, flips[s], c, y, x);
            v = __fadd_rn(__fmul_rn(psi, v), __fmul_rn(__fsub_rn(1.0f, psi), q));
        }
        out[k] = v;
    }
}
