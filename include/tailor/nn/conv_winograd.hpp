// tailor/nn/conv_winograd.hpp: 3x3 stride-1 convolutions by Winograd's F(2x2, 3x3), NHWC.
//
// Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016): each 2x2
// block of outputs comes from a 4x4 input tile d as
//     Y = A^T [ sum over input channels of (G g G^T) (.) (B^T d B) ] A
// so the work becomes 16 independent GEMMs, one per position xi of the 4x4 transform domain,
//     M[xi] (tiles, Cout) = V[xi] (tiles, Cin) . U[xi] (Cin, Cout)
// with 16 multiplies per 4 outputs instead of 36: 2.25x fewer than the direct conv.
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   input transform: additions only
//   G   = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]        weights: once, at load, in double
//   A^T = [1 1 1 0; 0 1 -1 -1]                       output transform: additions only
// Numerics: the transform coefficients are 0, +-1 and +-1/2, so the only extra error is from
// the reassociated sums: about twice the direct conv's (~4e-7 relative vs a float64 conv on
// ResNet's 3x3 layers), far inside the model's 1e-5 bar. F(4x4, 3x3) (another 1.8x fewer
// multiplies) was not taken: its coefficients (+-2, +-4, 1/6, 1/24) grow the error by an
// order of magnitude per layer, and ResNet50 chains 13 of these convs.
//
// Implementation: tiles are processed in blocks of kConvMR (a register tile's rows). A task
// transforms its block's input tiles (zero padding at the borders) into V (16, tiles, Cin),
// runs the 16 GEMMs with the conv micro-kernel (nn/conv_kernels.hpp) over its range of
// output-channel panels into M (16, tiles, panels * kConvNR), and applies the output
// transform with bias, residual and ReLU fused, writing the NHWC output directly. With few
// blocks (small maps at batch 1) tasks also split the output channels, each recomputing its
// block's input transform (a few % of the GEMM work), so every thread has work.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "tailor/core/arena.hpp"
#include "tailor/core/error.hpp"
#include "tailor/core/thread_pool.hpp"
#include "tailor/nn/conv_kernels.hpp"
#include "tailor/nn/simd.hpp"

namespace tailor::nn {

/// Winograd-domain weights of a 3x3 conv: U[xi] = (G g G^T)[xi] for xi = 0..15, packed like
/// the direct conv's weights: [16][panels][Cin][kConvNR], output channels zero-padded.
class WinogradWeights {
 public:
  static constexpr int64_t kPanel = detail::kConvNR;

  WinogradWeights() = default;
  /// From PyTorch's (Cout, Cin, 3, 3) weight.
  static WinogradWeights from_oihw(const float* w, int64_t cin, int64_t cout) {
    WinogradWeights u;
    u.cin_ = cin;
    u.panels_ = (cout + kPanel - 1) / kPanel;
    u.data_.resize(size_t(16 * u.panels_ * cin * kPanel));
    static constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    // A panel's 16 transformed (kPanel)-wide rows of one input channel are built in `rows`
    // (padding columns zero) and stored whole: each U row is written once, contiguously.
    float rows[16][kPanel];
    for (int64_t p = 0; p < u.panels_; ++p) {
      const int64_t nn = std::min<int64_t>(kPanel, cout - p * kPanel);
      for (int64_t ci = 0; ci < cin; ++ci) {
        for (int64_t n = 0; n < kPanel; ++n) {
          if (n >= nn) {
            for (int x = 0; x < 16; ++x) rows[x][n] = 0.f;
            continue;
          }
          const float* g = w + ((p * kPanel + n) * cin + ci) * 9;  // g[3 * row + col]
          double t[4][3];                                          // G g
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 3; ++j) t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j)  // (G g G^T)[i][j], rounded once
              rows[i * 4 + j][n] = float(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
        }
        for (int x = 0; x < 16; ++x)
          std::memcpy(u.data_.data() + ((int64_t(x) * u.panels_ + p) * cin + ci) * kPanel, rows[x], sizeof rows[x]);
      }
    }
    return u;
  }
  /// Panel p of U[xi]: (Cin, kConvNR).
  const float* panel(int xi, int64_t p) const noexcept {
    return data_.data() + (int64_t(xi) * panels_ + p) * cin_ * kPanel;
  }
  int64_t panels() const noexcept { return panels_; }
  bool empty() const noexcept { return data_.empty(); }
  size_t bytes() const noexcept { return data_.size() * sizeof(float); }

 private:
  int64_t cin_ = 0, panels_ = 0;
  AlignedBuffer<float> data_;
};

namespace detail {

/// Per-thread scratch of the Winograd tasks (V and M of one block); grows to the largest
/// block and is reused.
inline float* winograd_scratch(size_t floats) {
  thread_local AlignedBuffer<float> buf;
  if (buf.size() < floats) buf.resize(floats);
  return buf.data();
}

}  // namespace detail

/// y (N, H, W, Cout) = act(conv3x3(x (N, H, W, Cin), stride 1, pad 1) + bias (+ residual)),
/// all NHWC, by F(2x2, 3x3). bias is (panels * kConvNR), zero-padded. residual may be y.
inline void conv3x3_winograd(const WinogradWeights& U, const float* bias, int64_t cin, int64_t cout, const float* x,
                             int64_t n, int64_t h, int64_t w, float* y, const float* residual, bool relu,
                             ThreadPool& pool) {
  using namespace simd;
  using detail::kConvMR;
  using detail::kConvNR;
  constexpr int W = kWidth;
  const int64_t th = (h + 1) / 2, tw = (w + 1) / 2, tiles_per_img = th * tw, tiles = n * tiles_per_img;
  // Blocks of at most kConvMR tiles (rows of one register tile), balanced: 16 tiles make two
  // blocks of 8, not 14 + 2 (a 2-row GEMM would stream the weights for almost nothing).
  const int64_t nblocks = (tiles + kConvMR - 1) / kConvMR;
  const int64_t T = (tiles + nblocks - 1) / nblocks;
  const int64_t npanels = U.panels();
  const int threads = pool.size();
  int64_t pchunk = npanels;
  if (threads > 1 && nblocks < int64_t(4) * threads)
    pchunk = std::max<int64_t>(1, (npanels * nblocks + 4 * threads - 1) / (4 * threads));
  const int64_t ngroups = (npanels + pchunk - 1) / pchunk;
  constexpr int64_t kZeroPanels = 64;  // the GEMMs' bias (none), for up to this many panels a call
  alignas(64) static const float kZeroBias[kZeroPanels * kConvNR] = {};

  pool.run(int(nblocks * ngroups), [&](int task) {
    const int64_t blk = task / ngroups, grp = task % ngroups;
    const int64_t t0 = blk * T, nt = std::min(T, tiles - t0);
    const int64_t p0 = grp * pchunk, p1 = std::min(npanels, p0 + pchunk);
    const int64_t pc = (p1 - p0) * kConvNR;  // M's row width
    float* vbuf = detail::winograd_scratch(size_t(16 * T * cin + 16 * T * pc));  // V (16, T, Cin)
    float* mbuf = vbuf + 16 * T * cin;                                          // M (16, T, pc)

    // Input transform: V[xi][t][c] = (B^T d B)[xi] of tile t's 4x4 input.
    const size_t vstride = size_t(T * cin);
    for (int64_t t = 0; t < nt; ++t) {
      const int64_t g = t0 + t, img = g / tiles_per_img, ty = (g % tiles_per_img) / tw, tx = g % tw;
      const int64_t y0 = 2 * ty - 1, x0 = 2 * tx - 1;
      const bool inside = y0 >= 0 && x0 >= 0 && y0 + 4 <= h && x0 + 4 <= w;
      const float* base = x + ((img * h + y0) * w + x0) * cin;
      for (int64_t c = 0; c < cin; c += W) {
        const int nc = int(std::min<int64_t>(W, cin - c));
        V d[4][4];
        for (int r = 0; r < 4; ++r)
          for (int q = 0; q < 4; ++q) {
            if (inside || (y0 + r >= 0 && y0 + r < h && x0 + q >= 0 && x0 + q < w))
              d[r][q] = load(base + (r * w + q) * cin + c, nc);
            else
              d[r][q] = zero();
          }
        V u[4][4];  // B^T d
        for (int q = 0; q < 4; ++q) {
          u[0][q] = d[0][q] - d[2][q];
          u[1][q] = d[1][q] + d[2][q];
          u[2][q] = d[2][q] - d[1][q];
          u[3][q] = d[1][q] - d[3][q];
        }
        float* out = vbuf + t * cin + c;
        for (int r = 0; r < 4; ++r) {  // (B^T d) B
          store(out + size_t(r * 4 + 0) * vstride, u[r][0] - u[r][2], nc);
          store(out + size_t(r * 4 + 1) * vstride, u[r][1] + u[r][2], nc);
          store(out + size_t(r * 4 + 2) * vstride, u[r][2] - u[r][1], nc);
          store(out + size_t(r * 4 + 3) * vstride, u[r][1] - u[r][3], nc);
        }
      }
    }

    // 16 GEMMs: M[xi] (nt, pc) = V[xi] (nt, Cin) . U[xi] (Cin, panels p0..p1), a kernel
    // call running up to kZeroPanels panels (U[xi]'s are back to back).
    const auto kernel = detail::conv_kernels()[size_t(nt - 1)];
    for (int xi = 0; xi < 16; ++xi) {
      const float* a = vbuf + size_t(xi) * vstride;
      for (int64_t p = p0; p < p1; p += kZeroPanels) {
        detail::ConvTile ct;
        ct.a = &a;
        ct.ntaps = 1;
        ct.cin = cin;
        ct.lda = cin;
        ct.b = U.panel(xi, p);
        ct.bias = kZeroBias;
        ct.c = mbuf + size_t(xi) * size_t(T * pc) + (p - p0) * kConvNR;
        ct.ldc = pc;
        ct.res = nullptr;
        ct.ldr = 0;
        ct.ncols = kConvNR;
        ct.relu = false;
        ct.npanels = std::min(kZeroPanels, p1 - p);
        kernel(ct);
      }
    }

    // Output transform + bias + residual + ReLU, written to the output pixels inside the map.
    const int64_t c_begin = p0 * kConvNR, c_end = std::min(cout, p1 * kConvNR);
    const size_t mstride = size_t(T * pc);
    const V vzero = zero();
    for (int64_t t = 0; t < nt; ++t) {
      const int64_t g = t0 + t, img = g / tiles_per_img, ty = (g % tiles_per_img) / tw, tx = g % tw;
      const int64_t oy = 2 * ty, ox = 2 * tx;
      for (int64_t c = c_begin; c < c_end; c += W) {
        const int nc = int(std::min<int64_t>(W, c_end - c));
        const float* m = mbuf + t * pc + (c - c_begin);
        V s[2][4];  // A^T m: rows
        for (int q = 0; q < 4; ++q) {
          const V m0 = load(m + size_t(0 * 4 + q) * mstride), m1 = load(m + size_t(1 * 4 + q) * mstride),
                  m2 = load(m + size_t(2 * 4 + q) * mstride), m3 = load(m + size_t(3 * 4 + q) * mstride);
          s[0][q] = m0 + m1 + m2;
          s[1][q] = m1 - m2 - m3;
        }
        const V b = load(bias + c, nc);
        for (int r = 0; r < 2; ++r) {
          if (oy + r >= h) break;
          const V out[2] = {s[r][0] + s[r][1] + s[r][2] + b, s[r][1] - s[r][2] - s[r][3] + b};
          for (int q = 0; q < 2; ++q) {
            if (ox + q >= w) break;
            const int64_t off = ((img * h + oy + r) * w + ox + q) * cout + c;
            V v = out[q];
            if (residual) v = v + load(residual + off, nc);
            if (relu) v = max(v, vzero);
            store(y + off, v, nc);
          }
        }
      }
    }
  });
}

}  // namespace tailor::nn
