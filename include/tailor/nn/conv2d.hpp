// tailor/nn/conv2d.hpp: 2-D convolution over NHWC activations, as an implicit GEMM.
//
// The op of torch.nn.Conv2d (groups 1, dilation 1) with the BatchNorm already folded into
// weight and bias by the converter, plus a fused epilogue:
//     y (N, OH, OW, Cout) = act(conv(x (N, H, W, Cin)) + bias (+ residual (N, OH, OW, Cout)))
// Activations are NHWC (channels last): a pixel's channels are contiguous, so a 1x1 conv is a
// plain GEMM (pixels x Cin) . (Cin x Cout) with no data movement, and a k x k conv is a GEMM
// whose K dimension runs over the k*k taps, each a contiguous run of Cin channels.
//
// Implementation (an "indirect"/implicit GEMM, as XNNPACK's igemm and oneDNN's brgemm convs):
//   - weights are packed at load into panels of kConvNR output channels, each (K, kConvNR)
//     k-major with K = (kh, kw, Cin) order, zero-padded; bias padded alike;
//   - output pixels are cut into register tiles of up to kConvMR consecutive pixels of one
//     output row (for a 1x1 stride-1 conv, of the flattened pixels). Within a tile the input
//     pixels of one tap are evenly spaced (stride * Cin floats apart), so the micro-kernel
//     reads A in place from one pointer per tap: no im2col buffer, no packing of A;
//   - padding: the input is copied once into a zero-bordered buffer (N, H+2p, W+2p, Cin),
//     which costs one pass over the activations (a 3x3 conv then does 9 Cout FMAs per
//     element it copied). In that buffer the kw taps of one kernel row are kw * Cin
//     consecutive floats, so a kernel row is one "tap" of the micro-kernel (3 taps for a 3x3
//     conv, 7 for the 7x7 stem);
//   - the micro-kernel keeps a (MR, kConvNR) tile of C in registers over all of K (every tap
//     and channel) and applies bias, residual and ReLU in registers before the single store:
//     14 x 32 (28 zmm accumulators) on AVX-512, 6 x 16 on AVX2 + FMA, 4 x 16 portable C++.
//     ResNet's feature maps are 112, 56, 28, 14 and 7 wide: 14-pixel tiles divide them all
//     (7 for the last stage), so no tile is partial;
//   - threads take (tile range, panel range) tasks from the session's ThreadPool; the order
//     of every dot product is fixed (taps, then channels), so results do not depend on the
//     thread count;
//   - a first layer reading the network's NCHW input (ResNet's stem) transposes it into the
//     zero-bordered NHWC buffer as it pads; with Cin = 3 its kernel rows are 21 floats.
// conv2d_reference() is the plain loop nest in double precision the tests compare with.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "tailor/core/arena.hpp"
#include "tailor/core/checked.hpp"
#include "tailor/core/error.hpp"
#include "tailor/core/thread_pool.hpp"
#include "tailor/nn/activation.hpp"
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

/// Geometry of a convolution (square stride and padding, as ResNet's).
struct Conv2dShape {
  int64_t cin = 0, cout = 0, kh = 1, kw = 1, stride = 1, pad = 0;
  int64_t out_h(int64_t h) const { return (h + 2 * pad - kh) / stride + 1; }
  int64_t out_w(int64_t w) const { return (w + 2 * pad - kw) / stride + 1; }
  std::string str() const {
    return std::to_string(cout) + "x" + std::to_string(cin) + "x" + std::to_string(kh) + "x" + std::to_string(kw) +
           " /" + std::to_string(stride) + " pad " + std::to_string(pad);
  }
};

/// Where a conv reads its input from.
enum class ConvInput {
  nhwc,        ///< (N, H, W, Cin) activations: the implicit GEMM
  nchw,        ///< (N, Cin, H, W): transposed to NHWC while padding (the stem)
};

/// A conv's weights and bias packed for conv2d(): immutable, shared by threads.
class Conv2d {
 public:
  static constexpr int64_t kPanel = detail::kConvNR;

  Conv2d() = default;

  /// Packs PyTorch's (Cout, Cin, kh, kw) weight and (Cout) bias (bias may be null).
  static Conv2d from_oihw(const float* w, const float* bias, const Conv2dShape& s, ConvInput input = ConvInput::nhwc) {
    TAILOR_CHECK(s.cin >= 1 && s.cout >= 1 && s.kh >= 1 && s.kw >= 1 && s.stride >= 1 && s.pad >= 0 &&
                     s.cin <= (1 << 20) && s.cout <= (1 << 20) && s.kh <= 64 && s.kw <= 64 && s.stride <= 64 &&
                     s.pad <= 64,
                 ErrorCode::invalid_argument, "conv shape " + s.str() + " is out of range", "");
    Conv2d c;
    c.s_ = s;
    c.input_ = input;
    c.K_ = s.cin * s.kh * s.kw;
    const int64_t panels = (s.cout + kPanel - 1) / kPanel;
    uint64_t elems = 0;
    if (!tailor::detail::checked_product({uint64_t(panels), uint64_t(kPanel), uint64_t(c.K_)}, &elems))
      tailor::detail::fail(ErrorCode::out_of_memory, "conv weight size overflows", "");
    c.w_.resize(size_t(elems));
    c.b_.resize(size_t(panels * kPanel));
    for (int64_t p = 0; p < panels; ++p) {
      float* dst = c.w_.data() + p * c.K_ * kPanel;
      for (int64_t k = 0; k < c.K_; ++k) {
        // K order (kh, kw, Cin): the order of a kernel row's inputs in NHWC memory.
        const int64_t ci = k % s.cin, j = (k / s.cin) % s.kw, i = k / (s.cin * s.kw);
        for (int64_t n = 0; n < kPanel; ++n) {
          const int64_t co = p * kPanel + n;
          dst[k * kPanel + n] = co < s.cout ? w[((co * s.cin + ci) * s.kh + i) * s.kw + j] : 0.f;
        }
      }
      for (int64_t n = 0; n < kPanel; ++n) {
        const int64_t co = p * kPanel + n;
        c.b_[size_t(p * kPanel + n)] = co < s.cout && bias ? bias[co] : 0.f;
      }
    }
    return c;
  }

  const Conv2dShape& shape() const noexcept { return s_; }
  ConvInput input() const noexcept { return input_; }
  int64_t panels() const noexcept { return (s_.cout + kPanel - 1) / kPanel; }
  /// Packed panel p: (K, kPanel) k-major.
  const float* panel(int64_t p) const noexcept { return w_.data() + p * K_ * kPanel; }
  const float* bias(int64_t p) const noexcept { return b_.data() + p * kPanel; }
  int64_t k() const noexcept { return K_; }
  size_t bytes() const noexcept { return (w_.size() + b_.size()) * sizeof(float); }
  /// Multiply-adds for one image of h x w input pixels.
  double macs(int64_t h, int64_t w) const { return double(s_.out_h(h)) * double(s_.out_w(w)) * double(s_.cout) * double(K_); }

 private:
  Conv2dShape s_;
  ConvInput input_ = ConvInput::nhwc;
  int64_t K_ = 0;
  AlignedBuffer<float> w_, b_;
};

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
  int ncols;              ///< valid columns, <= kConvNR
  bool relu;
};

#if TAILOR_CONV_SIMD
template <int MR>
inline void conv_micro_kernel(const ConvTile& t) {
  using namespace simd;
  constexpr int W = kWidth, NV = kConvNR / kWidth;
  static_assert(kConvNR % kWidth == 0, "panel width must be whole vectors");
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NV; ++j) acc[r][j] = zero();
  const float* b = t.b;
  const int64_t lda = t.lda, cin = t.cin;
  for (int64_t tap = 0; tap < t.ntaps; ++tap) {
    const float* a = t.a[tap];
    for (int64_t k = 0; k < cin; ++k) {
      V bv[NV];
      for (int j = 0; j < NV; ++j) bv[j] = load(b + j * W);
      b += kConvNR;
      for (int r = 0; r < MR; ++r) {
        const V x = set1(a[r * lda + k]);
        for (int j = 0; j < NV; ++j) acc[r][j] = fmadd(x, bv[j], acc[r][j]);
      }
    }
  }
  int nv[NV];
  for (int j = 0; j < NV; ++j) nv[j] = std::max(0, std::min(W, t.ncols - j * W));
  for (int j = 0; j < NV; ++j) {
    const V bj = load(t.bias + j * W);
    for (int r = 0; r < MR; ++r) acc[r][j] = acc[r][j] + bj;
  }
  if (t.res) {
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NV; ++j) acc[r][j] = acc[r][j] + load(t.res + r * t.ldr + j * W, nv[j]);
  }
  if (t.relu) {
    const V z = zero();
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NV; ++j) acc[r][j] = max(acc[r][j], z);
  }
  if (t.ncols == kConvNR) {
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NV; ++j) store(t.c + r * t.ldc + j * W, acc[r][j]);
  } else {
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NV; ++j)
        if (nv[j] > 0) store(t.c + r * t.ldc + j * W, acc[r][j], nv[j]);
  }
}
#else
/// Portable micro-kernel: plain loops the compiler vectorises (no std::fma: without FMA
/// hardware that is a library call).
template <int MR>
inline void conv_micro_kernel(const ConvTile& t) {
  constexpr int NR = kConvNR;
  float acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) acc[r][j] = 0.f;
  const float* b = t.b;
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
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < t.ncols; ++j) {
      float v = acc[r][j] + t.bias[j];
      if (t.res) v += t.res[r * t.ldr + j];
      if (t.relu && !(v > 0.f)) v = 0.f;
      t.c[r * t.ldc + j] = v;
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
inline constexpr int64_t kMaxTaps = 64;

struct ConvRow {
  int64_t out0;       ///< flat index of its first output pixel
  int64_t len;        ///< pixels
  const float* in0;   ///< input of its first pixel at tap (0, 0)
};

}  // namespace detail

/// y (N, OH, OW, Cout) = act(conv(x) + bias (+ residual)), NHWC; x is (N, H, W, Cin) NHWC, or
/// (N, Cin, H, W) NCHW for a ConvInput::nchw conv. residual, when given, is
/// (N, OH, OW, Cout) and may be y itself. Scratch comes from `arena` (not reset here).
inline void conv2d(const Conv2d& conv, const float* x, int64_t n, int64_t h, int64_t w, float* y, const float* residual,
                   Activation act, ThreadPool& pool, Arena& arena) {
  using namespace detail;
  const Conv2dShape& s = conv.shape();
  TAILOR_CHECK(act == Activation::none || act == Activation::relu, ErrorCode::internal,
               "conv2d: only ReLU is fused", "");
  const int64_t oh = s.out_h(h), ow = s.out_w(w);
  TAILOR_CHECK(n >= 1 && h >= 1 && w >= 1 && oh >= 1 && ow >= 1, ErrorCode::invalid_argument,
               "conv " + s.str() + " on a " + std::to_string(h) + "x" + std::to_string(w) + " input has no output pixels",
               "the input image is too small for the network");
  const bool relu = act == Activation::relu;
  const int64_t npanels = conv.panels();
  const int64_t cout = s.cout;

  // The rows of evenly spaced inputs, and the taps' offsets from a row's first input.
  std::vector<ConvRow> rows;
  std::vector<int64_t> tap_off;
  int64_t lda, cin_run, ntaps;
  const float* xin = x;
  const bool nchw = conv.input() == ConvInput::nchw;
  if (!nchw && s.kh == 1 && s.kw == 1 && s.stride == 1 && s.pad == 0) {
    // A plain GEMM over all pixels.
    lda = s.cin;
    cin_run = s.cin;
    ntaps = 1;
    tap_off = {0};
    rows.push_back({0, n * oh * ow, x});
  } else {
    int64_t hp = h, wp = w;
    if (s.pad > 0 || nchw) {
      // Zero-bordered NHWC copy (N, H + 2p, W + 2p, Cin), transposed from NCHW if need be.
      hp = h + 2 * s.pad;
      wp = w + 2 * s.pad;
      float* xp = arena.alloc<float>(size_t(n * hp * wp * s.cin));
      const int64_t C = s.cin, P = s.pad;
      pool.parallel_for(n * hp, 8, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t img = r / hp, yy = r % hp - P;
          float* dst = xp + r * wp * C;
          if (yy < 0 || yy >= h) {
            std::memset(dst, 0, size_t(wp * C) * sizeof(float));
            continue;
          }
          std::memset(dst, 0, size_t(P * C) * sizeof(float));
          if (nchw) {
            for (int64_t xx = 0; xx < w; ++xx)
              for (int64_t c = 0; c < C; ++c) dst[(P + xx) * C + c] = x[((img * C + c) * h + yy) * w + xx];
          } else {
            std::memcpy(dst + P * C, x + (img * h + yy) * w * C, size_t(w * C) * sizeof(float));
          }
          std::memset(dst + (P + w) * C, 0, size_t(P * C) * sizeof(float));
        }
      });
      xin = xp;
    }
    // One tap per kernel row: kw * Cin consecutive floats.
    lda = s.stride * s.cin;
    cin_run = s.kw * s.cin;
    ntaps = s.kh;
    for (int64_t i = 0; i < s.kh; ++i) tap_off.push_back(i * wp * s.cin);
    for (int64_t img = 0; img < n; ++img)
      for (int64_t oy = 0; oy < oh; ++oy)
        rows.push_back({(img * oh + oy) * ow, ow, xin + ((img * hp + oy * s.stride) * wp) * s.cin});
  }

  // Register tiles: each row cut into kConvMR-pixel pieces (the last may be shorter).
  struct Tile {
    int64_t row, start, len;
  };
  std::vector<Tile> tiles;
  for (int64_t r = 0; r < int64_t(rows.size()); ++r)
    for (int64_t p0 = 0; p0 < rows[size_t(r)].len; p0 += kConvMR)
      tiles.push_back({r, p0, std::min<int64_t>(kConvMR, rows[size_t(r)].len - p0)});
  const int64_t ntiles = int64_t(tiles.size());

  // Tasks: (tile chunk, panel chunk). Keep the weight chunk a task sweeps within ~1 MiB (it
  // is reused from L2 by every tile of the chunk), and make >= 4 tasks per thread when the
  // problem allows it, so the dynamic hand-out balances.
  const int threads = pool.size();
  const int64_t panel_bytes = conv.k() * Conv2d::kPanel * int64_t(sizeof(float));
  int64_t pchunk = std::max<int64_t>(1, std::min<int64_t>(npanels, (int64_t(1) << 20) / std::max<int64_t>(panel_bytes, 1)));
  int64_t tchunk = ntiles;
  const int64_t want = int64_t(threads) * 4;
  if (threads > 1) {
    tchunk = std::max<int64_t>(1, (ntiles + want - 1) / want);
    const int64_t tiles_tasks = (ntiles + tchunk - 1) / tchunk;
    if (tiles_tasks * ((npanels + pchunk - 1) / pchunk) < want)
      pchunk = std::max<int64_t>(1, npanels * tiles_tasks / want);
  } else {
    tchunk = std::max<int64_t>(1, std::min<int64_t>(ntiles, 64));
  }
  const int64_t ttasks = (ntiles + tchunk - 1) / tchunk, ptasks = (npanels + pchunk - 1) / pchunk;

  pool.run(int(ttasks * ptasks), [&](int task) {
    const int64_t ti = task / ptasks, pi = task % ptasks;
    const int64_t t0 = ti * tchunk, t1 = std::min(ntiles, t0 + tchunk);
    const int64_t p0 = pi * pchunk, p1 = std::min(npanels, p0 + pchunk);
    const float* a_ptrs[kMaxTaps];  // kh <= 64 taps
    auto run_tile = [&](int64_t t, int64_t p) {
      const Tile& tile = tiles[size_t(t)];
      const ConvRow& row = rows[size_t(tile.row)];
      const float* in0 = row.in0 + tile.start * lda;
      for (int64_t q = 0; q < ntaps; ++q) a_ptrs[q] = in0 + tap_off[size_t(q)];
      const int64_t m0 = row.out0 + tile.start;
      ConvTile ct;
      ct.a = a_ptrs;
      ct.ntaps = ntaps;
      ct.cin = cin_run;
      ct.lda = lda;
      ct.b = conv.panel(p);
      ct.bias = conv.bias(p);
      ct.c = y + m0 * cout + p * Conv2d::kPanel;
      ct.ldc = cout;
      ct.res = residual ? residual + m0 * cout + p * Conv2d::kPanel : nullptr;
      ct.ldr = cout;
      ct.ncols = int(std::min<int64_t>(Conv2d::kPanel, cout - p * Conv2d::kPanel));
      ct.relu = relu;
      conv_kernels()[size_t(tile.len - 1)](ct);
    };
    // Tile-outer: the tile's inputs stay in L1 while it meets every weight panel of the task
    // (the panels, <= 1 MiB, stay in L2), and it writes whole output rows.
    for (int64_t t = t0; t < t1; ++t)
      for (int64_t p = p0; p < p1; ++p) run_tile(t, p);
  });
}

/// The reference: the plain loop nest in double precision. x (N, H, W, Cin) NHWC (or NCHW
/// for nchw input), w (Cout, Cin, kh, kw), y (N, OH, OW, Cout) NHWC.
inline void conv2d_reference(const float* x, int64_t n, int64_t h, int64_t w, const float* wt, const float* bias,
                             const Conv2dShape& s, float* y, const float* residual, Activation act,
                             bool nchw_input = false) {
  const int64_t oh = s.out_h(h), ow = s.out_w(w);
  for (int64_t img = 0; img < n; ++img)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int64_t co = 0; co < s.cout; ++co) {
          double acc = bias ? bias[co] : 0.0;
          for (int64_t ci = 0; ci < s.cin; ++ci)
            for (int64_t i = 0; i < s.kh; ++i)
              for (int64_t j = 0; j < s.kw; ++j) {
                const int64_t iy = oy * s.stride + i - s.pad, ix = ox * s.stride + j - s.pad;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                const float xv = nchw_input ? x[((img * s.cin + ci) * h + iy) * w + ix] : x[((img * h + iy) * w + ix) * s.cin + ci];
                acc += double(xv) * double(wt[((co * s.cin + ci) * s.kh + i) * s.kw + j]);
              }
          const int64_t m = (img * oh + oy) * ow + ox;
          if (residual) acc += residual[m * s.cout + co];
          if (act == Activation::relu && acc < 0) acc = 0;
          y[m * s.cout + co] = float(acc);
        }
}

}  // namespace tailor::nn
