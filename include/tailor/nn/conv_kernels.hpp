// tailor/nn/conv_kernels.hpp: the register-tile micro-kernels of tailor's convolutions.
//
// One micro-kernel computes a (MR, kConvNR) tile of C = epilogue(sum over taps t and
// channels k of A_t[r lda + k] B[t cin + k, :]) with the tile in registers over all of K and
// bias, residual and ReLU applied before the single store; one call can run a row of such
// tiles, the same rows against consecutive weight panels (ConvTile::npanels). A is read in place: one pointer per
// tap, rows lda apart (an implicit GEMM: nn/conv2d.hpp), or a plain matrix (ntaps = 1, the
// GEMMs of nn/conv_winograd.hpp). B is one weight panel (K, kConvNR), k-major, zero-padded.
// Tiles: 14 x 32 (28 zmm accumulators) on AVX-512, 6 x 16 on AVX2 + FMA, 4 x 16 portable C++
// (plain loops the compiler vectorises). The order of every dot product is fixed (taps, then
// channels), so results do not depend on how work is split.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "tailor/nn/simd.hpp"

namespace tailor::nn {

namespace detail {
#if defined(__AVX512F__)
inline constexpr int kConvMR = 14;  ///< most rows (output pixels) of a register tile
inline constexpr int kConvNR = 32;  ///< output channels of a register tile = weight panel width
#define TAILOR_CONV_SIMD 1
#elif defined(__AVX2__) && defined(__FMA__)
inline constexpr int kConvMR = 6;
inline constexpr int kConvNR = 16;
#define TAILOR_CONV_SIMD 1
#else
inline constexpr int kConvMR = 4;
inline constexpr int kConvNR = 16;
#define TAILOR_CONV_SIMD 0
#endif
}  // namespace detail

namespace detail {

/// One register tile's inputs: C[0:MR, 0:ncols] = epilogue(sum over taps t and channels k of
/// A_t[r lda + k] B[t cin + k, :]).
struct ConvTile {
  const float* const* a;  ///< (ntaps): row 0's input for each tap; row r is r * lda further
  int64_t ntaps, cin, lda;
  const float* b;         ///< packed panel (ntaps * cin, kConvNR)
  const float* bias;      ///< (kConvNR), padded
  float* c;               ///< output row 0; rows are ldc apart
  int64_t ldc;
  const float* res;       ///< residual row 0 or null; rows ldr apart
  int64_t ldr;
  int ncols;              ///< valid columns of the last panel, <= kConvNR (the others are full)
  bool relu;
  const char* pf = nullptr;  ///< lines to bring into L2 along the k loop (the next weight panel's slice)
  int64_t pf_lines = 0;
  /// Consecutive panels to run for the same rows: b, bias, c and res step one panel (b by
  /// its K x kConvNR floats, the others by kConvNR) after each. One call for a tile's row of
  /// panels saves the per-call setup, a large share of the work when K is small (64).
  int64_t npanels = 1;
};

#if TAILOR_CONV_SIMD
/// How far ahead of its loads the micro-kernel prefetches weights, in floats (4 KiB).
inline constexpr int64_t kPrefetchFloats = 1024;

template <int MR>
TAILOR_ALIGN_HOT_LOOPS inline void conv_micro_kernel(const ConvTile& t) {
  using namespace simd;
  constexpr int W = kWidth, NV = kConvNR / kWidth;
  static_assert(kConvNR % kWidth == 0, "panel width must be whole vectors");
  const float* b = t.b;  // panels are back to back: the k loop leaves b at the next one
  const float* bias = t.bias;
  float* c = t.c;
  const float* res = t.res;
  const int64_t lda = t.lda, cin = t.cin, ldc = t.ldc, ldr = t.ldr;
  for (int64_t panel = 0; panel < t.npanels; ++panel, bias += kConvNR, c += kConvNR, res = res ? res + kConvNR : res) {
    V acc[MR][NV];
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NV; ++j) acc[r][j] = zero();
    // The next tile's output and residual lines (the MR pixels after this tile's, same panel)
    // on their way: layer 1's 3 MB maps come from L3, and with K = 64 one tile's k loop is too
    // short to hide the latency of its own lines.
    prefetch_tile<MR, kConvNR>(c + MR * ldc, ldc, res ? res + MR * ldr : nullptr, ldr);
    // The next weight panel's slice (pf_lines lines) goes to L2 along the k loop, as nn/gemm.hpp's
    // kernels do: weights streaming from L3 / DRAM overlap with compute (L2Stream: in chunks
    // of >= 8 k, each issuing its share of the lines).
    L2Stream next(t.pf, t.pf_lines, t.ntaps * cin, cin);
    for (int64_t tap = 0; tap < t.ntaps; ++tap) {
      const float* a = t.a[tap];
      for (int64_t k0 = 0; k0 < cin; k0 += next.step) {
        next.issue();
        const int64_t k1 = std::min(cin, k0 + next.step);
        for (int64_t k = k0; k < k1; ++k) {
          V bv[NV];
          for (int j = 0; j < NV; ++j) bv[j] = load(b + j * W);
          // Weights stream from memory once per pass at small batch: fetch 4 KiB ahead (the
          // hardware prefetcher alone leaves the kernel waiting on DRAM; measured ~15% of a
          // batch-1 forward pass). Prefetches past the panel's end are harmless hints.
          for (int j = 0; j < kConvNR; j += 16) __builtin_prefetch(b + kPrefetchFloats + j, 0, 3);
          b += kConvNR;
          for (int r = 0; r < MR; ++r) {
            const V x = set1(a[r * lda + k]);
            for (int j = 0; j < NV; ++j) acc[r][j] = fmadd(x, bv[j], acc[r][j]);
          }
        }
      }
    }
    const int ncols = panel + 1 < t.npanels ? kConvNR : t.ncols;
    int nv[NV];
    for (int j = 0; j < NV; ++j) nv[j] = std::max(0, std::min(W, ncols - j * W));
    for (int j = 0; j < NV; ++j) {
      const V bj = load(bias + j * W);
      for (int r = 0; r < MR; ++r) acc[r][j] = acc[r][j] + bj;
    }
    if (res) {
      for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NV; ++j) acc[r][j] = acc[r][j] + load(res + r * ldr + j * W, nv[j]);
    }
    if (t.relu) {
      const V z = zero();
      for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NV; ++j) acc[r][j] = max(acc[r][j], z);
    }
    store_tile<MR, NV>(c, ldc, acc, nv, ncols == kConvNR);
  }
}
#else
/// Portable micro-kernel: plain loops the compiler vectorises (no std::fma: without FMA
/// hardware that is a library call).
template <int MR>
inline void conv_micro_kernel(const ConvTile& t) {
  constexpr int NR = kConvNR;
  const float* b = t.b;
  for (int64_t panel = 0; panel < t.npanels; ++panel) {
    const int64_t o = panel * NR;  // this panel's first column of bias, c and res
    float acc[MR][NR];
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NR; ++j) acc[r][j] = 0.f;
    for (int64_t tap = 0; tap < t.ntaps; ++tap) {
      const float* a = t.a[tap];
      for (int64_t k = 0; k < t.cin; ++k) {
        for (int r = 0; r < MR; ++r) {
          const float x = a[r * t.lda + k];
          for (int j = 0; j < NR; ++j) acc[r][j] += x * b[j];
        }
        b += NR;
      }
    }
    const int ncols = panel + 1 < t.npanels ? NR : t.ncols;
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < ncols; ++j) {
        float v = acc[r][j] + t.bias[o + j];
        if (t.res) v += t.res[r * t.ldr + o + j];
        if (t.relu && !(v > 0.f)) v = 0.f;
        t.c[r * t.ldc + o + j] = v;
      }
  }
}
#endif

using ConvKernelFn = void (*)(const ConvTile&);

template <int... I>
constexpr std::array<ConvKernelFn, sizeof...(I)> conv_kernel_table(std::integer_sequence<int, I...>) {
  return {&conv_micro_kernel<I + 1>...};
}
/// conv_kernels()[mr - 1] handles mr rows.
inline const std::array<ConvKernelFn, kConvMR>& conv_kernels() {
  static constexpr auto table = conv_kernel_table(std::make_integer_sequence<int, kConvMR>{});
  return table;
}

/// A run of consecutive output pixels whose inputs are evenly spaced: one output row of one
/// image (or, for a 1x1 stride-1 conv, all pixels).

}  // namespace detail
}  // namespace tailor::nn
