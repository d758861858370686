// synface-kernels: training-mode batch norm with an optional channel-wise PReLU after it, the
// CUDA side of stages/src/nn/bn_act.rs (whose CPU implementation is the reference: same
// formulas, sums in double, but not the same bits: GPU results are recorded as such).
//
// x, y, dy, dx: NCHW contiguous, n images, c channels, s positions per channel.
// params: [k, c] rows gamma, beta and (k == 3) the PReLU slopes alpha.
// stats: [3, c] rows mean, biased variance, 1 / sqrt(variance + eps).
// One block per channel for the reductions (fixed order: each thread's strided partial sum in
// double, then a tree in shared memory), grid-stride loops for the element-wise passes.

#define BN_THREADS 512

// Sum of v over the block, in a fixed order; every thread gets the result.
__device__ double block_sum(double v, double* shared) {
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int w = BN_THREADS / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) shared[threadIdx.x] += shared[threadIdx.x + w];
        __syncthreads();
    }
    double total = shared[0];
    __syncthreads();
    return total;
}

__device__ __forceinline__ size_t at(int n_i, int ch, int c, int s, int p) {
    return ((size_t)n_i * c + ch) * s + p;
}

extern "C" __global__ void bn_stats(const float* __restrict__ x, int n, int c, int s, float eps,
                                    float* __restrict__ stats) {
    __shared__ double shared[BN_THREADS];
    int ch = blockIdx.x;
    long long m = (long long)n * s;
    double acc = 0.0;
    for (long long j = threadIdx.x; j < m; j += BN_THREADS) {
        acc += x[at((int)(j / s), ch, c, s, (int)(j % s))];
    }
    float mean = (float)(block_sum(acc, shared) / (double)(m > 0 ? m : 1));
    acc = 0.0;
    for (long long j = threadIdx.x; j < m; j += BN_THREADS) {
        float d = x[at((int)(j / s), ch, c, s, (int)(j % s))] - mean;
        acc += (double)(d * d);
    }
    float var = (float)(block_sum(acc, shared) / (double)(m > 0 ? m : 1));
    if (threadIdx.x == 0) {
        stats[ch] = mean;
        stats[c + ch] = var;
        stats[2 * c + ch] = 1.0f / sqrtf(var + eps);
    }
}

// z = (x - mean) * invstd * gamma + beta; the PReLU's slope at z (1 without one).
__device__ __forceinline__ float slope_at(float z, const float* params, int k, int c, int ch) {
    return (k == 3 && z < 0.0f) ? params[2 * c + ch] : 1.0f;
}

extern "C" __global__ void bn_act_apply(const float* __restrict__ x,
                                        const float* __restrict__ params,
                                        const float* __restrict__ stats, int k, int n, int c,
                                        int s, float* __restrict__ y) {
    size_t total = (size_t)n * c * s;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        int ch = (int)((i / s) % c);
        float xh = (x[i] - stats[ch]) * stats[2 * c + ch];
        float z = xh * params[ch] + params[c + ch];
        y[i] = z * slope_at(z, params, k, c, ch);
    }
}

// Per channel: dgamma = sum(gz * xhat), dbeta = sum(gz), dalpha = sum(dy * z where z < 0), gz
// the gradient at z; written into dp ([k, c], the packed gradient's tail).
extern "C" __global__ void bn_act_grad_sums(const float* __restrict__ x,
                                            const float* __restrict__ params,
                                            const float* __restrict__ stats,
                                            const float* __restrict__ dy, int k, int n, int c,
                                            int s, float* __restrict__ dp) {
    __shared__ double shared[BN_THREADS];
    int ch = blockIdx.x;
    long long m = (long long)n * s;
    float mean = stats[ch], invstd = stats[2 * c + ch];
    float gamma = params[ch], beta = params[c + ch];
    double sg = 0.0, sb = 0.0, sa = 0.0;
    for (long long j = threadIdx.x; j < m; j += BN_THREADS) {
        size_t i = at((int)(j / s), ch, c, s, (int)(j % s));
        float xh = (x[i] - mean) * invstd;
        float z = xh * gamma + beta;
        float slope = slope_at(z, params, k, c, ch);
        float gz = dy[i] * slope;
        sg += (double)(gz * xh);
        sb += (double)gz;
        if (slope != 1.0f) sa += (double)(dy[i] * z);
    }
    float tg = (float)block_sum(sg, shared);
    float tb = (float)block_sum(sb, shared);
    float ta = (float)block_sum(sa, shared);
    if (threadIdx.x == 0) {
        dp[ch] = tg;
        dp[c + ch] = tb;
        if (k == 3) dp[2 * c + ch] = ta;
    }
}

// dx = gamma * invstd * (gz - dbeta / m - xhat * dgamma / m), m = n * s.
extern "C" __global__ void bn_act_grad_dx(const float* __restrict__ x,
                                          const float* __restrict__ params,
                                          const float* __restrict__ stats,
                                          const float* __restrict__ dy,
                                          const float* __restrict__ dp, int k, int n, int c,
                                          int s, float* __restrict__ dx) {
    size_t total = (size_t)n * c * s;
    float m = (float)((long long)n * s > 0 ? (long long)n * s : 1);
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        int ch = (int)((i / s) % c);
        float invstd = stats[2 * c + ch], gamma = params[ch];
        float xh = (x[i] - stats[ch]) * invstd;
        float z = xh * gamma + params[c + ch];
        float gz = dy[i] * slope_at(z, params, k, c, ch);
        dx[i] = gamma * invstd * (gz - dp[c + ch] / m - xh * (dp[ch] / m));
    }
}
