// tailor/nn/attention.hpp: multi-head scaled dot-product self-attention on the CPU.
//
// Follows HF modeling_bert.py (BertSelfAttention.forward + eager_attention_forward): for every
// head h, with q, k, v the head's (T, D) slices of the projected rows,
//   ctx[:, h D : (h + 1) D] = softmax(q k^T * D^-1/2 + mask) v
// Sequences are stored back to back without padding (rows [offsets[b], offsets[b + 1]) are
// sequence b), so each (sequence, head) pair is an independent (T_b, T_b) problem and padding
// costs nothing; `keep` masks individual keys (HF's attention_mask == 0) when a sequence has
// masked tokens inside it.
//
// Per (sequence, head): k^T and v are packed into GEMM panels (nn/gemm.hpp pack_panels), then
// S = q k^T and ctx = P v run on the GEMM micro-kernels, with the row softmax
// (nn/softmax.hpp) in between. Heads are handed out to the pool's threads, each with its own
// scratch slot, and can first compute their own q, k, v columns (the model fuses its QKV
// projection in this way: one parallel region per attention block); every output element is
// computed by exactly one thread in a fixed order, so results do not depend on the thread count.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "tailor/core/arena.hpp"
#include "tailor/core/thread_pool.hpp"
#include "tailor/nn/gemm.hpp"
#include "tailor/nn/softmax.hpp"

namespace tailor::nn {

namespace detail {
inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
}  // namespace detail

/// Floats of scratch attention_head() needs for T tokens and head size D.
inline int64_t attention_head_scratch(int64_t T, int64_t D) {
  using namespace detail;
  const int64_t ld = round_up(T, 16);
  return round_up(T * ld, 16) + round_up(round_up(T, kGemmNR) * D, 16) + round_up(round_up(D, kGemmNRNarrow) * T, 16) +
         round_up(T, 16);
}

/// One head over one sequence: out (T, D; row stride ldo) = softmax(q k^T * scale) v, where
/// q, k, v are (T, D) with row stride ld, and keys j with keep[j] == 0 are excluded (keep may
/// be null; at least one key must be kept). scratch: attention_head_scratch(T, D) floats,
/// 64-byte aligned.
/// Sequences of at most this many tokens take attention_head_small().
inline constexpr int64_t kAttentionSmallT = 16;

/// attention_head() for short sequences (a garment description is ~8 tokens), read in place
/// with no packing (the GEMM path would pack k^T into kGemmNR-token panels, mostly padding at
/// this length, and cost more in packing than in arithmetic). In three passes over the query
/// rows, so that the rows' (short, serial) dependency chains overlap:
///   1. scores, a vector of keys at a time: one SIMD dot product per key (over D), then the
///      kWidth horizontal sums at once (simd::reduce_add_lanes: shuffles, not one reduction
///      per key);
///   2. each row's softmax on whole vectors, without AVX2's masked loads and stores (slow on
///      Zen 3, and they stall the loads that follow);
///   3. P v, two query rows at a time, each output vector one FMA chain over the keys.
/// Every sum is taken in the order of softmax_exp_inplace() and of the row-at-a-time loop this
/// replaced, so the results are the same bits. Same contract and scratch as attention_head().
inline void attention_head_small(const float* q, const float* k, const float* v, int64_t ld, int64_t T, int64_t D,
                                 float scale, const uint8_t* keep, float* out, int64_t ldo, float* scratch) {
  using namespace simd;
  constexpr int W = kWidth;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const int64_t dfull = D / W * W;
  const int tail = int(D - dfull);
  const int nvec = int((T + W - 1) / W), nfull = int(T / W), rem = int(T % W);
  const int64_t lds = int64_t(nvec) * W;
  float* S = scratch;           // (T, lds): scores, then unnormalised probabilities
  float* inv = S + T * lds;     // (T): 1 / each row's sum
  for (int64_t i = 0; i < T; ++i) {
    const float* qi = q + i * ld;
    for (int b = 0; b < nvec; ++b) {
      V acc[W];
      for (int u = 0; u < W; ++u) {
        const int64_t j = int64_t(b) * W + u;
        V a = zero();
        if (j < T) {
          const float* kj = k + j * ld;
          for (int64_t d = 0; d < dfull; d += W) a = fmadd(load(qi + d), load(kj + d), a);
          if (tail) a = fmadd(load(qi + dfull, tail), load(kj + dfull, tail), a);
        }
        acc[u] = a;
      }
      store(S + i * lds + b * W, reduce_add_lanes(acc));
    }
  }
  for (int64_t i = 0; i < T; ++i) {
    float* row = S + i * lds;
    if (keep) {  // masked keys: the general softmax; excluded keys get 0
      inv[i] = 1.f / softmax_exp_inplace(row, T, scale, keep);
      continue;
    }
    // softmax_exp_inplace()'s arithmetic: max, e = exp(x scale - max scale), and the sum as
    // full vectors lane-wise, reduced, then + the reduced tail (its lanes past T are 0).
    V vmax = set1(kNegInf);
    for (int b = 0; b < nfull; ++b) vmax = max(vmax, load(row + b * W));
    if (rem) vmax = max(vmax, first_or(load(row + nfull * W), rem, kNegInf));
    const V vs = set1(scale), vnm = set1(-(reduce_max(vmax) * scale));
    V vsum = zero();
    for (int b = 0; b < nfull; ++b) {
      const V e = exp_nonpositive(fmadd(load(row + b * W), vs, vnm));
      store(row + b * W, e);
      vsum = vsum + e;
    }
    float sum = reduce_add(vsum);
    if (rem) {
      const V e = first_or(exp_nonpositive(fmadd(load(row + nfull * W), vs, vnm)), rem, 0.f);
      store(row + nfull * W, e);
      sum += reduce_add(e);
    }
    inv[i] = 1.f / sum;
  }
  // out rows = (P v) / sum: rows i and i + 1 share each value vector's load.
  auto pv = [&](int64_t d, int n) {
    int64_t i = 0;
    for (; i + 2 <= T; i += 2) {
      const float *p0 = S + i * lds, *p1 = p0 + lds;
      V a0 = zero(), a1 = zero();
      for (int64_t j = 0; j < T; ++j) {
        const V vj = load(v + j * ld + d, n);
        a0 = fmadd(set1(p0[j]), vj, a0);
        a1 = fmadd(set1(p1[j]), vj, a1);
      }
      store(out + i * ldo + d, a0 * set1(inv[i]), n);
      store(out + (i + 1) * ldo + d, a1 * set1(inv[i + 1]), n);
    }
    if (i < T) {
      const float* p0 = S + i * lds;
      V a0 = zero();
      for (int64_t j = 0; j < T; ++j) a0 = fmadd(set1(p0[j]), load(v + j * ld + d, n), a0);
      store(out + i * ldo + d, a0 * set1(inv[i]), n);
    }
  };
  for (int64_t d = 0; d < dfull; d += W) pv(d, W);
  if (tail) pv(dfull, tail);
}

inline void attention_head(const float* q, const float* k, const float* v, int64_t ld, int64_t T, int64_t D,
                           float scale, const uint8_t* keep, float* out, int64_t ldo, float* scratch) {
  using namespace detail;
  if (T <= kAttentionSmallT) {
    attention_head_small(q, k, v, ld, T, D, scale, keep, out, ldo, scratch);
    return;
  }
  const int64_t lds = round_up(T, 16);
  float* S = scratch;                                      // (T, T), row stride lds
  float* kt = S + round_up(T * lds, 16);                   // k^T (D, T) in panels of kGemmNR tokens
  float* vp = kt + round_up(round_up(T, kGemmNR) * D, 16);  // v (T, D) in panels of kGemmNRNarrow
  pack_panels_transposed<kGemmNR>(k, T, D, ld, kt);
  pack_panels<kGemmNRNarrow>(v, T, D, ld, 1, vp);
  const GemmBlocking blk{};
  gemm_panels<kGemmMR, kGemmNR>(q, ld, kt, D, T, S, lds, Epilogue{}, 0, T, 0, (T + kGemmNR - 1) / kGemmNR, blk);
  // Unnormalised probabilities E; the 1 / sum of each row scales its output row instead.
  float* inv = vp + round_up(round_up(D, kGemmNRNarrow) * T, 16);  // (T)
  for (int64_t i = 0; i < T; ++i) inv[i] = 1.f / softmax_exp_inplace(S + i * lds, T, scale, keep);
  gemm_panels<kGemmMRNarrow, kGemmNRNarrow>(S, lds, vp, T, D, out, ldo, Epilogue{}, 0, T, 0,
                                             (D + kGemmNRNarrow - 1) / kGemmNRNarrow, blk);
  for (int64_t i = 0; i < T; ++i) {
    float* row = out + i * ldo;
    const simd::V r = simd::set1(inv[i]);
    int64_t d = 0;
    for (; d + simd::kWidth <= D; d += simd::kWidth) simd::store(row + d, simd::load(row + d) * r);
    if (d < D) simd::store(row + d, simd::load(row + d, int(D - d)) * r, int(D - d));
  }
}

/// Floats of scratch multi_head_attention() needs: one attention_head() scratch per thread
/// that runs heads.
inline int64_t multi_head_attention_scratch(int64_t max_t, int64_t D, int threads, int64_t heads) {
  return detail::round_up(attention_head_scratch(max_t, D), 16) * std::min<int64_t>(threads, heads);
}

/// Where each head's query, key and value columns sit in the projected rows: head h's q is
/// columns [q0 + h step, + D), its k [k0 + h step, + D), its v [v0 + h step, + D).
struct QkvLayout {
  int64_t q0 = 0, k0 = 0, v0 = 0, step = 0;
  /// [Q (H) | K (H) | V (H)]: HF's three Linear outputs side by side.
  static QkvLayout blocks(int64_t H, int64_t heads) { return {0, H, 2 * H, H / heads}; }
  /// [q_0 k_0 v_0 (pad) | q_1 k_1 v_1 (pad) | ...]: each head's columns together, `group` apart.
  static QkvLayout grouped(int64_t D, int64_t group) { return {0, D, 2 * D, group}; }
};

/// Multi-head self-attention over sequences stored back to back, one task per head:
///   project(h) first fills head h's q, k, v columns of qkv (e.g. its slice of the QKV GEMM;
///   a no-op when qkv is already complete), then head h attends over every sequence;
///   qkv (R, ...), row stride ld_qkv, laid out as `layout` says;
///   offsets (nseq + 1): sequence b is rows [offsets[b], offsets[b + 1]);
///   keep (R) or null: 0 marks a key to exclude within its sequence;
///   ctx (R, H), row stride ldc: head h's output in columns [h D, (h + 1) D).
/// Heads run in parallel on the pool, each thread with its own part of `scratch`
/// (multi_head_attention_scratch(longest sequence, D, pool.size(), heads) floats, 64-byte
/// aligned); scale is head_dim^-1/2, as in BERT.
template <class Project>
inline void multi_head_attention(float* qkv, int64_t ld_qkv, const QkvLayout& layout, const int64_t* offsets,
                                 int64_t nseq, int64_t H, int64_t heads, const uint8_t* keep, float* ctx, int64_t ldc,
                                 ThreadPool& pool, float* scratch, Project&& project) {
  const int64_t D = H / heads;
  const float scale = float(1.0 / std::sqrt(double(D)));
  int64_t max_t = 0;
  for (int64_t b = 0; b < nseq; ++b) max_t = std::max(max_t, offsets[b + 1] - offsets[b]);
  if (max_t == 0) return;
  // A sequence with every key kept takes the unmasked (all-SIMD) softmax.
  std::vector<uint8_t> masked(static_cast<size_t>(nseq), 0);
  if (keep)
    for (int64_t b = 0; b < nseq; ++b)
      for (int64_t r = offsets[b]; r < offsets[b + 1]; ++r)
        if (!keep[r]) { masked[size_t(b)] = 1; break; }
  const int slots = int(std::min<int64_t>(pool.size(), heads));
  const int64_t per_slot = detail::round_up(attention_head_scratch(max_t, D), 16);
  std::atomic<int64_t> next{0};
  // One long-running task per scratch slot, each pulling heads until none are left.
  pool.run(slots, [&](int slot) {
    float* s = scratch + slot * per_slot;
    for (int64_t h = next.fetch_add(1, std::memory_order_relaxed); h < heads;
         h = next.fetch_add(1, std::memory_order_relaxed)) {
      project(h);
      for (int64_t b = 0; b < nseq; ++b) {
        const int64_t r0 = offsets[b], T = offsets[b + 1] - r0;
        if (T == 0) continue;
        const float* base = qkv + r0 * ld_qkv + h * layout.step;
        attention_head(base + layout.q0, base + layout.k0, base + layout.v0, ld_qkv, T, D, scale,
                       masked[size_t(b)] ? keep + r0 : nullptr, ctx + r0 * ldc + h * D, ldc, s);
      }
    }
  });
}

/// multi_head_attention over complete [Q | K | V] rows (qkv (R, 3 H)), scratch from `arena`.
inline void multi_head_attention(const float* qkv, int64_t ld_qkv, const int64_t* offsets, int64_t nseq, int64_t H,
                                 int64_t heads, const uint8_t* keep, float* ctx, int64_t ldc, ThreadPool& pool,
                                 Arena& arena) {
  int64_t max_t = 0;
  for (int64_t b = 0; b < nseq; ++b) max_t = std::max(max_t, offsets[b + 1] - offsets[b]);
  float* scratch = arena.alloc<float>(size_t(multi_head_attention_scratch(max_t, H / heads, pool.size(), heads)));
  multi_head_attention(const_cast<float*>(qkv), ld_qkv, QkvLayout::blocks(H, heads), offsets, nseq, H, heads, keep,
                       ctx, ldc, pool, scratch, [](int64_t) {});
}

}  // namespace tailor::nn
