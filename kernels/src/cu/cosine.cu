// synface-kernels: cosine similarity (compiled at run time with NVRTC).
//
// cosine_pairs_f32: one warp per pair, float4 loads when dim % 4 == 0 (bandwidth-bound).
// cosine_all_f32:   64x64 output tile per 16x16 block, 16-wide K tiles in shared memory,
//                   each thread 4x4 outputs; the L2 norms of the tile's rows are accumulated
//                   from the same shared tiles and applied in the epilogue (fused).
// l2_normalize_f32: one warp per row, in place.
// A zero row has similarity 0 with everything (inverse norm 0), as in the CPU reference.

#define WARP 32
#define TM 64
#define TN 64
#define TK 16

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = WARP / 2; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    return v;
}

__device__ __forceinline__ float inv_norm(float ss) {
    return ss > 0.0f ? 1.0f / sqrtf(ss) : 0.0f;
}

extern "C" __global__ void cosine_pairs_f32(const float* __restrict__ emb, int dim,
                                            const unsigned int* __restrict__ pairs, int n_pairs,
                                            float* __restrict__ out) {
    long long warp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / WARP;
    int lane = threadIdx.x & (WARP - 1);
    if (warp >= n_pairs) {
        return;  // whole warps only: blockDim.x is a multiple of 32
    }
    const float* a = emb + (size_t)pairs[2 * warp] * dim;
    const float* b = emb + (size_t)pairs[2 * warp + 1] * dim;
    float aa = 0.0f, bb = 0.0f, ab = 0.0f;
    if ((dim & 3) == 0) {
        const float4* a4 = reinterpret_cast<const float4*>(a);
        const float4* b4 = reinterpret_cast<const float4*>(b);
        int d4 = dim >> 2;
        for (int k = lane; k < d4; k += WARP) {
            float4 x = __ldg(a4 + k);
            float4 y = __ldg(b4 + k);
            aa += x.x * x.x + x.y * x.y + x.z * x.z + x.w * x.w;
            bb += y.x * y.x + y.y * y.y + y.z * y.z + y.w * y.w;
            ab += x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w;
        }
    } else {
        for (int k = lane; k < dim; k += WARP) {
            float x = __ldg(a + k);
            float y = __ldg(b + k);
            aa += x * x;
            bb += y * y;
            ab += x * y;
        }
    }
    aa = warp_sum(aa);
    bb = warp_sum(bb);
    ab = warp_sum(ab);
    if (lane == 0) {
        out[warp] = ab * inv_norm(aa) * inv_norm(bb);
    }
}

extern "C" __global__ void cosine_all_f32(const float* __restrict__ A, int na,
                                          const float* __restrict__ B, int nb, int dim,
                                          float* __restrict__ out) {
    __shared__ float As[TK][TM + 4];
    __shared__ float Bs[TK][TN + 4];
    __shared__ float inv_a[TM];
    __shared__ float inv_b[TN];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int tid = ty * 16 + tx;
    const int row0 = blockIdx.y * TM, col0 = blockIdx.x * TN;
    float acc[4][4];
    for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j) {
            acc[i][j] = 0.0f;
        }
    }
    float ss = 0.0f;  // tid < 64: row tid of A's tile; 64 <= tid < 128: row tid - 64 of B's
    for (int k0 = 0; k0 < dim; k0 += TK) {
        for (int e = tid; e < TM * TK; e += 256) {
            int r = e / TK, k = e % TK, gk = k0 + k;
            int ga = row0 + r, gb = col0 + r;
            As[k][r] = (ga < na && gk < dim) ? A[(size_t)ga * dim + gk] : 0.0f;
            Bs[k][r] = (gb < nb && gk < dim) ? B[(size_t)gb * dim + gk] : 0.0f;
        }
        __syncthreads();
        if (tid < TM) {
            for (int k = 0; k < TK; ++k) ss += As[k][tid] * As[k][tid];
        } else if (tid < TM + TN) {
            for (int k = 0; k < TK; ++k) ss += Bs[k][tid - TM] * Bs[k][tid - TM];
        }
#pragma unroll
        for (int k = 0; k < TK; ++k) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) a[i] = As[k][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; ++j) b[j] = Bs[k][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
            }
        }
        __syncthreads();
    }
    if (tid < TM) {
        inv_a[tid] = inv_norm(ss);
    } else if (tid < TM + TN) {
        inv_b[tid - TM] = inv_norm(ss);
    }
    __syncthreads();
    for (int i = 0; i < 4; ++i) {
        int r = row0 + ty + 16 * i;
        for (int j = 0; j < 4; ++j) {
            int c = col0 + tx + 16 * j;
            if (r < na && c < nb) {
                out[(size_t)r * nb + c] = acc[i][j] * inv_a[ty + 16 * i] * inv_b[tx + 16 * j];
            }
        }
    }
}

extern "C" __global__ void l2_normalize_f32(float* __restrict__ x, int n, int dim) {
    long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / WARP;
    int lane = threadIdx.x & (WARP - 1);
    if (row >= n) {
        return;
    }
    float* r = x + (size_t)row * dim;
    float ss = 0.0f;
    for (int k = lane; k < dim; k += WARP) ss += r[k] * r[k];
    float s = inv_norm(warp_sum(ss));
    for (int k = lane; k < dim; k += WARP) r[k] *= s;
}
