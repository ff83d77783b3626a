// tailor/nn/pooling_text.hpp: sentence embeddings from a sequence's token rows.
//
//   cls    the first token's row (BERT's [CLS]; sentence-transformers pooling_mode_cls_token)
//   mean   the mean of the rows whose attention mask is 1, as sentence-transformers
//          models/Pooling.py computes it: sum(h * mask) / clamp(sum(mask), min=1e-9)
//   l2     x / max(||x||_2, 1e-12), torch.nn.functional.normalize as sentence-transformers'
//          Normalize module applies it
// Rows are (T, C) row-major; sums run over tokens in order, in float32 like the reference.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "tailor/nn/simd.hpp"

namespace tailor::nn {

/// out (C) = h[0, :] of h (T, C).
inline void pool_cls(const float* h, int64_t C, float* out) { std::memcpy(out, h, size_t(C) * sizeof(float)); }

/// out (C) = sum over t with keep[t] != 0 of h[t, :], divided by max(count, 1e-9); keep may be
/// null (every row counts). h is (T, C) with row stride ldh.
inline void pool_mean(const float* h, int64_t T, int64_t C, int64_t ldh, const uint8_t* keep, float* out) {
  using namespace simd;
  std::fill(out, out + C, 0.f);
  int64_t count = 0;
  for (int64_t t = 0; t < T; ++t) {
    if (keep && !keep[t]) continue;
    ++count;
    const float* row = h + t * ldh;
    int64_t i = 0;
    for (; i + kWidth <= C; i += kWidth) store(out + i, load(out + i) + load(row + i));
    for (; i < C; ++i) out[i] += row[i];
  }
  const float denom = std::max(float(count), 1e-9f);
  for (int64_t i = 0; i < C; ++i) out[i] /= denom;
}

/// x (n) /= max(||x||_2, 1e-12).
inline void l2_normalize(float* x, int64_t n) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * double(x[i]);
  const float norm = std::max(float(std::sqrt(ss)), 1e-12f);
  for (int64_t i = 0; i < n; ++i) x[i] /= norm;
}

}  // namespace tailor::nn
