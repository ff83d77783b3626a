// kernels/layernorm.cuh: LayerNorm, one warp per row, and the two fusions BERT uses.
//
// Follows llm.c's layernorm_forward_kernel3 (dev/cuda/layernorm_forward.cu): a warp owns a
// row, lanes stride over the columns (coalesced), shuffles reduce. Unlike llm.c the row is
// held in registers (up to kLnMaxPerLane values per lane, rows of <= 1024 columns: every
// BERT size) so the variance is the two-pass sum of squared deviations, like PyTorch's
// LayerNorm, not E[x^2] - mean^2; wider rows re-read global memory (cached) per pass.
// Statistics in float32 whatever the storage type; eps comes from the config (BERT: 1e-12).
//
//   layernorm_row_warp      the shared row routine, over any per-column value functor
//   layernorm_warp_per_row  y = LN(x)
//   bias_residual_layernorm y = LN(x + bias + residual)   (BertSelfOutput, BertOutput)
//   embedding_sum_layernorm y = LN(word[id] + type[tt] + pos[t])   (BertEmbeddings)
#pragma once

#include "common.cuh"

namespace tailor::cuda::kernels {

constexpr int kLnMaxPerLane = 32;    // register cache: rows up to 32 * 32 = 1024 columns
constexpr int kLnWarpsPerBlock = 8;

/// LayerNorm of one row whose column c is value(c), written to y[0..C). Called by a whole warp.
/// value(c) is evaluated once per column when kInRegisters, three times otherwise.
template <bool kInRegisters, class T, class Value>
__device__ __forceinline__ void layernorm_row_warp(const Value& value, const T* __restrict__ gamma,
                                                   const T* __restrict__ beta, T* y, int C, float eps) {
  const int lane = threadIdx.x % kWarp;
  if constexpr (kInRegisters) {
    float v[kLnMaxPerLane];
    float sum = 0.f;
#pragma unroll
    for (int i = 0; i < kLnMaxPerLane; ++i) {
      const int c = lane + i * kWarp;
      v[i] = c < C ? value(c) : 0.f;
      sum += v[i];
    }
    const float mean = warp_sum(sum) / float(C);
    float sq = 0.f;
#pragma unroll
    for (int i = 0; i < kLnMaxPerLane; ++i) {
      const int c = lane + i * kWarp;
      const float d = c < C ? v[i] - mean : 0.f;
      sq += d * d;
    }
    // 1/sqrtf, not rsqrtf: correctly rounded, as the CPU reference computes it.
    const float rstd = 1.f / sqrtf(warp_sum(sq) / float(C) + eps);
#pragma unroll
    for (int i = 0; i < kLnMaxPerLane; ++i) {
      const int c = lane + i * kWarp;
      if (c < C) y[c] = from_f32<T>((v[i] - mean) * rstd * to_f32(gamma[c]) + to_f32(beta[c]));
    }
  } else {
    float sum = 0.f;
    for (int c = lane; c < C; c += kWarp) sum += value(c);
    const float mean = warp_sum(sum) / float(C);
    float sq = 0.f;
    for (int c = lane; c < C; c += kWarp) {
      const float d = value(c) - mean;
      sq += d * d;
    }
    const float rstd = 1.f / sqrtf(warp_sum(sq) / float(C) + eps);
    // value(c) is read before y[c] is written by the same lane: y may alias an input row.
    for (int c = lane; c < C; c += kWarp) y[c] = from_f32<T>((value(c) - mean) * rstd * to_f32(gamma[c]) + to_f32(beta[c]));
  }
}

template <bool kInRegisters, class T>
__global__ void layernorm_warp_per_row_kernel(const T* __restrict__ x, const T* __restrict__ gamma,
                                              const T* __restrict__ beta, T* __restrict__ y, int64_t rows, int C,
                                              float eps) {
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;
  if (row >= rows) return;
  const T* xr = x + row * C;
  layernorm_row_warp<kInRegisters>([&](int c) { return to_f32(xr[c]); }, gamma, beta, y + row * C, C, eps);
}

template <bool kInRegisters, class T>
__global__ void bias_residual_layernorm_kernel(const T* __restrict__ x, const T* __restrict__ bias,
                                               const T* residual, const T* __restrict__ gamma,
                                               const T* __restrict__ beta, T* y, int64_t rows, int C, float eps) {
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;
  if (row >= rows) return;
  const T* xr = x + row * C;
  const T* rr = residual + row * C;
  // HF: LayerNorm(dropout(dense(h)) + input_tensor), dense's bias first.
  layernorm_row_warp<kInRegisters>(
      [&](int c) { return (to_f32(xr[c]) + (bias ? to_f32(bias[c]) : 0.f)) + to_f32(rr[c]); }, gamma, beta,
      y + row * C, C, eps);
}

template <bool kInRegisters, class T>
__global__ void embedding_sum_layernorm_kernel(const int32_t* __restrict__ ids, const int32_t* __restrict__ type_ids,
                                               const T* __restrict__ word, const T* __restrict__ pos,
                                               const T* __restrict__ type, const T* __restrict__ gamma,
                                               const T* __restrict__ beta, T* __restrict__ y, int64_t B, int Tlen,
                                               int C, int64_t vocab, int64_t max_pos, int64_t type_vocab, float eps) {
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;  // (b, t)
  if (row >= B * Tlen) return;
  const int64_t t = row % Tlen;
  // Ids were range-checked on the host; clamping keeps a bug from reading out of bounds.
  const int64_t id = min(max(int64_t(ids[row]), int64_t(0)), vocab - 1);
  const int64_t tt = type_ids ? min(max(int64_t(type_ids[row]), int64_t(0)), type_vocab - 1) : 0;
  const int64_t p = min(t, max_pos - 1);
  const T* w = word + id * C;
  const T* pe = pos + p * C;
  const T* te = type + tt * C;
  // HF BertEmbeddings: (inputs_embeds + token_type_embeddings) + position_embeddings.
  layernorm_row_warp<kInRegisters>([&](int c) { return (to_f32(w[c]) + to_f32(te[c])) + to_f32(pe[c]); }, gamma,
                                   beta, y + row * C, C, eps);
}

/// Plain gather, one thread per output element.
template <class T>
__global__ void embedding_gather_kernel(const int32_t* __restrict__ ids, const T* __restrict__ table,
                                        T* __restrict__ out, int64_t rows, int64_t C, int64_t table_rows) {
  const int64_t total = rows * C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / C, c = i % C;
    const int64_t id = min(max(int64_t(ids[r]), int64_t(0)), table_rows - 1);
    out[i] = table[id * C + c];
  }
}

}  // namespace tailor::cuda::kernels
