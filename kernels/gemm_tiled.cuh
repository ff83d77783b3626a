// kernels/gemm_tiled.cuh: a hand-written tiled GEMM and the implicit-GEMM convolution on it.
//
// The classic shared-memory SIMT SGEMM (CUTLASS's "threadblock tile / thread tile" split;
// the same structure as llm.c's dev/cuda/matmul_forward.cu kernel 2 and Simon Boehm's
// "How to optimize a CUDA matmul" kernel 5): a 64 x 64 output tile per 256-thread block,
// K consumed 16 at a time through shared memory, a 4 x 4 register tile per thread, float32
// accumulators, and a fused epilogue act(acc + bias[n] + residual[m, n]).
// It uses no tensor cores: it is the readable baseline that cuBLAS(Lt) is compared with in
// benchmarks/gpu, and the implicit-GEMM convolution's engine.
//
// What differs between the GEMM and the convolution is only how an element (m, k) of A is
// fetched (the ALoader): a dense row-major matrix, or a patch element gathered from an
// NHWC image with zero padding (no im2col buffer).
#pragma once

#include "common.cuh"

namespace tailor::cuda::kernels {

constexpr int kGemmBM = 64, kGemmBN = 64, kGemmBK = 16;
constexpr int kGemmThreads = 256;  // 16 x 16 threads, each a 4 x 4 tile of C

/// A (M, K) dense row-major.
template <class T>
struct DenseA {
  const T* a;
  int64_t K;
  __device__ float operator()(int64_t m, int64_t k) const { return to_f32(a[m * K + k]); }
};

/// A (N*Ho*Wo, kh*kw*C) as im2col would write it, read straight from the NHWC image.
template <class T>
struct Im2colA {
  const T* x;
  int64_t H, W, C, kw, stride, pad, Ho, Wo;
  __device__ float operator()(int64_t m, int64_t k) const {
    const int64_t c = k % C, kx = (k / C) % kw, ky = k / (C * kw);
    const int64_t ox = m % Wo, oy = (m / Wo) % Ho, n = m / (Wo * Ho);
    const int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
    if (iy < 0 || iy >= H || ix < 0 || ix >= W) return 0.f;
    return to_f32(x[((n * H + iy) * W + ix) * C + c]);
  }
};

/// C (M, N) = act(A (M, K) . W^T + bias + residual), W (N, K). Grid (ceil(N/64), ceil(M/64)).
template <class T, class ALoader>
__global__ void __launch_bounds__(kGemmThreads)
    gemm_tiled_smem_kernel(ALoader A, const T* __restrict__ Wt, const T* __restrict__ bias,
                           const T* __restrict__ residual, T* __restrict__ Cout, int64_t M, int64_t N, int64_t K,
                           Act act) {
  // Stored k-major so the inner loop reads a row of 4 consecutive m (or n) per thread;
  // +1 column of padding spreads the transposing stores over the banks.
  __shared__ float As[kGemmBK][kGemmBM + 1];
  __shared__ float Ws[kGemmBK][kGemmBN + 1];

  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t m0 = int64_t(blockIdx.y) * kGemmBM, n0 = int64_t(blockIdx.x) * kGemmBN;
  float acc[4][4] = {};

  for (int64_t k0 = 0; k0 < K; k0 += kGemmBK) {
    // 64 x 16 elements of each operand, 4 per thread; consecutive threads walk k.
#pragma unroll
    for (int i = 0; i < (kGemmBM * kGemmBK) / kGemmThreads; ++i) {
      const int idx = tid + i * kGemmThreads, r = idx / kGemmBK, kk = idx % kGemmBK;
      const int64_t m = m0 + r, n = n0 + r, k = k0 + kk;
      As[kk][r] = (m < M && k < K) ? A(m, k) : 0.f;
      Ws[kk][r] = (n < N && k < K) ? to_f32(Wt[n * K + k]) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kGemmBK; ++kk) {
      float a[4], w[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        a[i] = As[kk][ty * 4 + i];
        w[i] = Ws[kk][tx * 4 + i];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * w[j];
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t m = m0 + ty * 4 + i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = n0 + tx * 4 + j;
      if (n >= N) continue;
      float v = acc[i][j];
      if (bias) v += to_f32(bias[n]);
      if (residual) v += to_f32(residual[m * N + n]);
      Cout[m * N + n] = from_f32<T>(activate(v, act));
    }
  }
}

/// im2col over NHWC, one block per output row m = (n, oy, ox): the row's image coordinates
/// are decoded once per thread, and the patch index k = (ky, kx, c) with 32-bit arithmetic
/// (per-element 64-bit divisions would cost more than the copy itself).
template <class T>
__global__ void im2col_nhwc_row_per_block(const T* __restrict__ x, T* __restrict__ cols, int64_t M, int ldk, int patch,
                                          int64_t H, int64_t W, int C, int kw, int stride, int pad, int64_t Ho,
                                          int64_t Wo) {
  const T zero = from_f32<T>(0.f);
  for (int64_t m = blockIdx.x; m < M; m += gridDim.x) {
    const int64_t ox = m % Wo, oy = (m / Wo) % Ho, n = m / (Wo * Ho);
    const int64_t y0 = oy * stride - pad, x0 = ox * stride - pad;
    const T* img = x + n * H * W * C;
    T* row = cols + m * ldk;
    for (int k = threadIdx.x; k < ldk; k += blockDim.x) {
      if (k >= patch) {
        row[k] = zero;
        continue;
      }
      const int c = k % C, t = k / C, kx = t % kw, ky = t / kw;
      const int64_t iy = y0 + ky, ix = x0 + kx;
      row[k] = (iy < 0 || iy >= H || ix < 0 || ix >= W) ? zero : img[(iy * W + ix) * C + c];
    }
  }
}

}  // namespace tailor::cuda::kernels
