// tailor/nn/softmax.hpp: softmax over one row, with an optional key mask.
//
// Follows HF's attention (modeling_bert.py eager_attention_forward: `attn_weights =
// softmax(query @ key^T * scaling + attention_mask, dim=-1)`): the scale is applied to the raw
// scores first, then max-subtracted exp (no overflow), sum, and one multiply by 1 / sum.
// HF's additive mask puts the dtype's minimum on padded keys, whose exp then underflows to
// exactly 0; here a masked key's probability is set to exactly 0 directly, which is the same
// result without the additive pass.
#pragma once

#include <cstdint>
#include <limits>

#include "tailor/nn/simd.hpp"

namespace tailor::nn {

/// x[0..n) = softmax(scale * x[0..n)) in place. keep (n bytes) or null: keys with keep[j] == 0
/// get probability 0. At least one key must be kept.
inline void softmax_inplace(float* x, int64_t n, float scale, const uint8_t* keep = nullptr) {
  using namespace simd;
  constexpr int W = kWidth;
  const V vs = set1(scale);
  float m = -std::numeric_limits<float>::infinity();
  if (keep) {
    for (int64_t j = 0; j < n; ++j) {
      x[j] *= scale;
      if (keep[j] && x[j] > m) m = x[j];
    }
  } else {
    V vmax = set1(m);
    int64_t j = 0;
    for (; j + W <= n; j += W) {
      const V y = load(x + j) * vs;
      store(x + j, y);
      vmax = max(vmax, y);
    }
    m = reduce_max(vmax);
    for (; j < n; ++j) {
      x[j] *= scale;
      if (x[j] > m) m = x[j];
    }
  }
  const V vm = set1(m);
  V vsum = zero();
  int64_t j = 0;
  for (; j + W <= n; j += W) {
    const V e = exp(load(x + j) - vm);
    store(x + j, e);
    vsum = vsum + e;
  }
  float sum = reduce_add(vsum);
  for (; j < n; ++j) {
    x[j] = simd::exp(x[j] - m);
    sum += x[j];
  }
  if (keep) {
    sum = 0.f;
    for (j = 0; j < n; ++j) {
      if (!keep[j]) x[j] = 0.f;
      sum += x[j];
    }
  }
  const V inv = set1(1.f / sum);
  for (j = 0; j + W <= n; j += W) store(x + j, load(x + j) * inv);
  if (j < n) store(x + j, load(x + j, int(n - j)) * inv, int(n - j));
}

}  // namespace tailor::nn
