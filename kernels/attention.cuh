// kernels/attention.cuh: BERT self-attention on the GPU, fused and unfused.
//
// The reference is HF modeling_bert.py (BertSelfAttention: softmax(Q K^T / sqrt(D) + mask) V
// per head, the mask additive with the float32 minimum for padded keys).
//
//   attention_online_softmax   one pass over the keys per query tile, keeping a running max
//                              and sum (the online softmax of Milakov & Gimelshein 2018, as in
//                              FlashAttention): no (T, T) score matrix ever reaches memory.
//   softmax_masked_warp_per_row   the unfused path's softmax over cuBLAS's Q K^T scores.
//   split_heads / merge_heads     layouts for the unfused path's batched GEMMs.
//
// Masked keys get score + (-FLT_MAX) exactly as HF adds finfo(float32).min, so a row whose
// keys are all masked comes out as HF's (uniform weights), never NaN. Keys past the end of
// the sequence (the tail of the last tile) are excluded with -inf.
#pragma once

#include "common.cuh"

namespace tailor::cuda::kernels {

constexpr int kAttnWarps = 4;       // warps per block
constexpr int kAttnQPerWarp = 4;    // queries per warp: each K/V value read from shared memory serves 4
constexpr int kAttnQTile = kAttnWarps * kAttnQPerWarp;  // 16 queries per block
constexpr int kAttnKTile = 32;      // keys per tile: one per lane when scoring

/// Grid (ceil(T / 16), NH, B), 128 threads. kD (32, 64 or 128) bounds the head size D.
/// Lane l scores key l of the tile; for the weighted sum it owns output dims l, l+32, ...
template <class T, int kD>
__global__ void __launch_bounds__(kAttnWarps * kWarp)
    attention_online_softmax_kernel(const T* __restrict__ qkv, const int32_t* __restrict__ mask, T* __restrict__ ctx,
                                    int Tlen, int NH, int D, float scale) {
  constexpr int kDPerLane = kD / kWarp;
  __shared__ float Qs[kAttnQTile][kD];
  __shared__ float Ks[kAttnKTile][kD + 1];  // +1: lane j reads row j, column d: no bank conflicts
  __shared__ float Vs[kAttnKTile][kD];
  __shared__ float key_bias[kAttnKTile];

  const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * kAttnQTile;
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int64_t C = int64_t(NH) * D, row_stride = 3 * C;
  const T* base = qkv + int64_t(b) * Tlen * row_stride + int64_t(h) * D;  // Q of (b, t=0, head h)

  // The query tile, pre-scaled by 1/sqrt(D) (HF divides the scores; same up to rounding).
  for (int i = threadIdx.x; i < kAttnQTile * D; i += blockDim.x) {
    const int qi = i / D, d = i % D, t = q0 + qi;
    Qs[qi][d] = t < Tlen ? to_f32(base[int64_t(t) * row_stride + d]) * scale : 0.f;
  }

  float m[kAttnQPerWarp], l[kAttnQPerWarp], acc[kAttnQPerWarp][kDPerLane];
#pragma unroll
  for (int i = 0; i < kAttnQPerWarp; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.f;
#pragma unroll
    for (int k = 0; k < kDPerLane; ++k) acc[i][k] = 0.f;
  }
  const int qw = warp * kAttnQPerWarp;  // this warp's first query within the tile

  for (int k0 = 0; k0 < Tlen; k0 += kAttnKTile) {
    __syncthreads();  // the previous tile is consumed (and, the first time, Qs is written)
    // Whole kD-wide rows, zero past D: lanes owning output dims >= D then accumulate zeros,
    // not uninitialised shared memory (compute-sanitizer initcheck stays clean).
    for (int i = threadIdx.x; i < kAttnKTile * kD; i += blockDim.x) {
      const int j = i / kD, d = i % kD, t = k0 + j;
      const bool in = t < Tlen && d < D;
      const T* r = base + int64_t(t) * row_stride;
      Ks[j][d] = in ? to_f32(r[C + d]) : 0.f;
      Vs[j][d] = in ? to_f32(r[2 * C + d]) : 0.f;
    }
    if (threadIdx.x < kAttnKTile) {
      const int t = k0 + threadIdx.x;
      key_bias[threadIdx.x] = t >= Tlen ? -INFINITY : (mask && mask[int64_t(b) * Tlen + t] == 0 ? -FLT_MAX : 0.f);
    }
    __syncthreads();

    // Scores of this warp's queries against key `lane`.
    float s[kAttnQPerWarp];
#pragma unroll
    for (int i = 0; i < kAttnQPerWarp; ++i) s[i] = 0.f;
    for (int d = 0; d < D; ++d) {
      const float kv = Ks[lane][d];
#pragma unroll
      for (int i = 0; i < kAttnQPerWarp; ++i) s[i] += Qs[qw + i][d] * kv;
    }
    const float kb = key_bias[lane];
    float p[kAttnQPerWarp];
#pragma unroll
    for (int i = 0; i < kAttnQPerWarp; ++i) {
      const float x = kb == -INFINITY ? -INFINITY : s[i] + kb;
      const float m_new = fmaxf(m[i], warp_max(x));  // finite: key k0 < Tlen is in the tile
      p[i] = x == -INFINITY ? 0.f : expf(x - m_new);
      const float corr = expf(m[i] - m_new);         // exp(-inf) = 0 on the first tile
      l[i] = l[i] * corr + warp_sum(p[i]);
      m[i] = m_new;
#pragma unroll
      for (int k = 0; k < kDPerLane; ++k) acc[i][k] *= corr;
    }
    // acc += P V over the tile: p of key j is broadcast from lane j.
    const int kmax = min(kAttnKTile, Tlen - k0);
    for (int j = 0; j < kmax; ++j) {
      float vj[kDPerLane];
#pragma unroll
      for (int k = 0; k < kDPerLane; ++k) vj[k] = Vs[j][lane + k * kWarp];
#pragma unroll
      for (int i = 0; i < kAttnQPerWarp; ++i) {
        const float pj = __shfl_sync(0xffffffffu, p[i], j);
#pragma unroll
        for (int k = 0; k < kDPerLane; ++k) acc[i][k] += pj * vj[k];
      }
    }
  }

#pragma unroll
  for (int i = 0; i < kAttnQPerWarp; ++i) {
    const int t = q0 + qw + i;
    if (t >= Tlen) continue;
    const float inv = 1.f / l[i];
    T* out = ctx + (int64_t(b) * Tlen + t) * C + int64_t(h) * D;
#pragma unroll
    for (int k = 0; k < kDPerLane; ++k) {
      const int d = lane + k * kWarp;
      if (d < D) out[d] = from_f32<T>(acc[i][k] * inv);
    }
  }
}

/// One warp per score row (b, h, q): three passes over the row (max, sum, normalise).
template <class T>
__global__ void softmax_masked_warp_per_row_kernel(T* __restrict__ scores, const int32_t* __restrict__ mask,
                                                   int64_t rows, int NH, int Tq, int Tk, float scale) {
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;
  if (row >= rows) return;
  const int lane = threadIdx.x % kWarp;
  const int64_t b = row / (int64_t(NH) * Tq);
  T* x = scores + row * Tk;
  const int32_t* mk = mask ? mask + b * Tk : nullptr;
  auto value = [&](int j) { return to_f32(x[j]) * scale + (mk && mk[j] == 0 ? -FLT_MAX : 0.f); };
  float mx = -INFINITY;
  for (int j = lane; j < Tk; j += kWarp) mx = fmaxf(mx, value(j));
  mx = warp_max(mx);
  float sum = 0.f;
  for (int j = lane; j < Tk; j += kWarp) sum += expf(value(j) - mx);
  const float inv = 1.f / warp_sum(sum);
  for (int j = lane; j < Tk; j += kWarp) x[j] = from_f32<T>(expf(value(j) - mx) * inv);
}

/// (B, T, 3C) -> three (B, NH, T, D); one thread per element of the outputs.
template <class T>
__global__ void split_heads_kernel(const T* __restrict__ qkv, T* __restrict__ q, T* __restrict__ k,
                                   T* __restrict__ v, int64_t B, int Tlen, int NH, int D) {
  const int64_t total = B * NH * Tlen * D, C = int64_t(NH) * D;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int d = int(i % D);
    const int t = int((i / D) % Tlen);
    const int h = int((i / (int64_t(D) * Tlen)) % NH);
    const int64_t b = i / (int64_t(D) * Tlen * NH);
    const T* src = qkv + (b * Tlen + t) * 3 * C + int64_t(h) * D + d;
    q[i] = src[0];
    k[i] = src[C];
    v[i] = src[2 * C];
  }
}

/// (B, NH, T, D) -> (B, T, NH * D).
template <class T>
__global__ void merge_heads_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t B, int Tlen, int NH, int D) {
  const int64_t total = B * NH * Tlen * D;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    // i indexes the output (b, t, h, d)
    const int d = int(i % D);
    const int h = int((i / D) % NH);
    const int t = int((i / (int64_t(D) * NH)) % Tlen);
    const int64_t b = i / (int64_t(D) * NH * Tlen);
    out[i] = in[((b * NH + h) * Tlen + t) * D + d];
  }
}

}  // namespace tailor::cuda::kernels
