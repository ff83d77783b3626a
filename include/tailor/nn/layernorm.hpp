// tailor/nn/layernorm.hpp: LayerNorm over the last dimension of row-major (rows, C) data.
//
// Follows torch.nn.LayerNorm as HF BertEmbeddings / BertSelfOutput / BertOutput use it
// (modeling_bert.py: `self.LayerNorm = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)`):
//   y = (x - mean) / sqrt(var + eps) * gamma + beta,  var the biased variance (divides by C).
// eps comes from the config (BERT: 1e-12, far below float32's resolution of a variance of ~1,
// so it only matters for constant rows) and is added before the square root, as torch does.
// Mean and variance are two passes over the row in float32 SIMD lanes (no E[x^2] - E[x]^2
// cancellation).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "tailor/core/thread_pool.hpp"
#include "tailor/nn/simd.hpp"

namespace tailor::nn {

/// One row: y[0..C) = LayerNorm(x[0..C)). y may equal x.
inline void layernorm_row(const float* x, float* y, int64_t C, const float* gamma, const float* beta, float eps) {
  using namespace simd;
  constexpr int W = kWidth;
  V acc = zero();
  int64_t i = 0;
  for (; i + W <= C; i += W) acc = acc + load(x + i);
  if (i < C) acc = acc + load(x + i, int(C - i));
  const float mean = reduce_add(acc) / float(C);
  const V vm = set1(mean);
  acc = zero();
  for (i = 0; i + W <= C; i += W) {
    const V d = load(x + i) - vm;
    acc = fmadd(d, d, acc);
  }
  float sq = reduce_add(acc);
  for (; i < C; ++i) sq += (x[i] - mean) * (x[i] - mean);
  const float var = std::max(sq / float(C), 0.f);
  const float rstd = 1.f / std::sqrt(var + eps);
  const V vr = set1(rstd);
  for (i = 0; i + W <= C; i += W) store(y + i, fmadd((load(x + i) - vm) * vr, load(gamma + i), load(beta + i)));
  if (i < C) {
    const int n = int(C - i);
    store(y + i, fmadd((load(x + i, n) - vm) * vr, load(gamma + i, n), load(beta + i, n)), n);
  }
}

/// y (rows, C; row stride ldy) = LayerNorm(x (rows, C; row stride ldx)), rows split over the pool.
inline void layernorm(const float* x, int64_t ldx, float* y, int64_t ldy, int64_t rows, int64_t C, const float* gamma,
                      const float* beta, float eps, ThreadPool& pool) {
  pool.parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) layernorm_row(x + r * ldx, y + r * ldy, C, gamma, beta, eps);
  });
}

}  // namespace tailor::nn
