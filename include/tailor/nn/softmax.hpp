// tailor/nn/softmax.hpp: softmax over one row, with an optional key mask.
//
// Follows HF's attention (modeling_bert.py eager_attention_forward: `attn_weights =
// softmax(query @ key^T * scaling + attention_mask, dim=-1)`): max-subtracted exp of the
// scaled scores (no overflow), sum, and one multiply by 1 / sum, which attention applies to
// its (T, D) output rows instead of the (T, T) probabilities (P V = (E V) / sum).
// HF's additive mask puts the dtype's minimum on padded keys, whose exp then underflows to
// exactly 0; here a masked key's probability is set to exactly 0 directly, which is the same
// result without the additive pass.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "tailor/nn/simd.hpp"

namespace tailor::nn {

/// The unnormalised half of softmax: x[j] = exp(scale x[j] - max_k(scale x[k])) in place
/// (0 for keys with keep[j] == 0; keep may be null), returning the sum of the x[j]. Two
/// passes: the maximum (of x: scale > 0 keeps the order, so max(scale x) is scale max(x)
/// exactly), then exp(fma(x, scale, -max)) and the sum. At least one key must be kept.
inline float softmax_exp_inplace(float* x, int64_t n, float scale, const uint8_t* keep = nullptr) {
  using namespace simd;
  constexpr int W = kWidth;
  float mx = -std::numeric_limits<float>::infinity();
  if (keep) {
    for (int64_t j = 0; j < n; ++j)
      if (keep[j] && x[j] > mx) mx = x[j];
  } else {
    V vmax = set1(mx);
    int64_t j = 0;
    for (; j + W <= n; j += W) vmax = max(vmax, load(x + j));
    mx = reduce_max(vmax);
    for (; j < n; ++j) mx = x[j] > mx ? x[j] : mx;
  }
  const float m = mx * scale;
  const V vs = set1(scale), vnm = set1(-m);
  V vsum = zero();
  int64_t j = 0;
  for (; j + W <= n; j += W) {
    const V e = exp_nonpositive(fmadd(load(x + j), vs, vnm));
    store(x + j, e);
    vsum = vsum + e;
  }
  float sum = reduce_add(vsum);
  if (j < n) {  // the tail as one masked vector (a short attention row is all tail)
    const int r = int(n - j);
    store(x + j, exp_nonpositive(fmadd(load(x + j, r), vs, vnm)), r);
    sum += reduce_add(load(x + j, r));  // lanes past the row load as 0
  }
  if (keep) {
    sum = 0.f;
    for (j = 0; j < n; ++j) {
      if (!keep[j]) x[j] = 0.f;
      sum += x[j];
    }
  }
  return sum;
}

/// x[0..n) = softmax(scale * x[0..n)) in place. keep (n bytes) or null: keys with keep[j] == 0
/// get probability 0. At least one key must be kept.
inline void softmax_inplace(float* x, int64_t n, float scale, const uint8_t* keep = nullptr) {
  using namespace simd;
  constexpr int W = kWidth;
  const float sum = softmax_exp_inplace(x, n, scale, keep);
  const V inv = set1(1.f / sum);
  int64_t j = 0;
  for (; j + W <= n; j += W) store(x + j, load(x + j) * inv);
  if (j < n) store(x + j, load(x + j, int(n - j)) * inv, int(n - j));
}

}  // namespace tailor::nn
