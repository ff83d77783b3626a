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
//     ResNet's feature maps are 112, 56, 28 and 14 wide: 14-pixel tiles divide them. Output
//     rows narrower than a tile (the last stage's 7 at 224 x 224) are gathered first (im2col
//     of the whole conv) so that tiles span rows; row lengths that do not divide are cut in
//     balanced pieces;
//   - threads take (tile range, panel range) tasks from the session's ThreadPool; the order
//     of every dot product is fixed (taps, then channels), so results do not depend on the
//     thread count;
//   - a first layer reading the network's NCHW input (ResNet's stem) transposes it into the
//     zero-bordered NHWC buffer as it pads; with Cin = 3 its kernel rows are 21 floats;
//   - 3x3 / stride 1 / pad 1 convs with >= 16 input channels (13 of ResNet50's 53 convs, 37%
//     of its FLOPs) run by Winograd F(2x2, 3x3) instead (nn/conv_winograd.hpp) when the map
//     has enough tiles to pay for its larger weights (Conv2d::use_winograd); both weight
//     layouts are packed at load (ConvAlgo::direct / ::winograd force one), or the
//     Winograd one at its first use (WinogradPack::on_first_use: what a model does for the
//     convs its usual input size runs directly).
// The micro-kernels are in nn/conv_kernels.hpp.
// conv2d_reference() is the plain loop nest in double precision the tests compare with.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "tailor/core/arena.hpp"
#include "tailor/core/checked.hpp"
#include "tailor/core/cpu.hpp"
#include "tailor/core/error.hpp"
#include "tailor/core/thread_pool.hpp"
#include "tailor/nn/activation.hpp"
#include "tailor/nn/conv_kernels.hpp"
#include "tailor/nn/conv_winograd.hpp"
#include "tailor/nn/gemm.hpp"
#include "tailor/nn/simd.hpp"

namespace tailor::nn {


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

/// How conv2d() computes a convolution.
enum class ConvAlgo {
  automatic,  ///< Winograd F(2x2, 3x3) for 3x3 / stride 1 / pad 1 convs with >= 16 input channels, else direct
  direct,     ///< the implicit GEMM
  winograd,   ///< Winograd F(2x2, 3x3) (3x3, stride 1, pad 1, NHWC input only)
};

/// When an automatic 3x3 conv's Winograd weights are built.
enum class WinogradPack {
  at_load,       ///< with the direct weights
  on_first_use,  ///< the first time an image size takes the Winograd path (from the packed
                 ///< direct weights, the same values): for convs the model's usual input
                 ///< size runs directly (ResNet's last stage at 224), whose 1.78x larger
                 ///< Winograd weights would otherwise sit unused
};

/// A conv's weights and bias packed for conv2d(): immutable, shared by threads.
class Conv2d {
 public:
  static constexpr int64_t kPanel = detail::kConvNR;

  Conv2d() = default;

  /// Packs PyTorch's (Cout, Cin, kh, kw) weight and (Cout) bias (bias may be null).
  /// gemm: GemmPath::amx runs a 1x1 / pad 0 conv over NHWC input as a GEMM on AMX tiles
  /// through nn::gemm (Options::amx): over the pixels in place at stride 1, over the gathered
  /// pixels otherwise. Other convs keep the float32 kernels.
  /// wino: when an automatic 3x3 conv's Winograd weights are built (ConvAlgo::winograd
  /// builds them at load).
  static Conv2d from_oihw(const float* w, const float* bias, const Conv2dShape& s, ConvInput input = ConvInput::nhwc,
                          ConvAlgo algo = ConvAlgo::automatic, GemmPath gemm = GemmPath::fp32,
                          WinogradPack wino = WinogradPack::at_load) {
    TAILOR_CHECK(s.cin >= 1 && s.cout >= 1 && s.kh >= 1 && s.kw >= 1 && s.stride >= 1 && s.pad >= 0 &&
                     s.cin <= (1 << 20) && s.cout <= (1 << 20) && s.kh <= 64 && s.kw <= 64 && s.stride <= 64 &&
                     s.pad <= 64,
                 ErrorCode::invalid_argument, "conv shape " + s.str() + " is out of range", "");
    Conv2d c;
    c.s_ = s;
    c.input_ = input;
    c.K_ = s.cin * s.kh * s.kw;
    const int64_t panels = (s.cout + kPanel - 1) / kPanel;
    const bool wino_ok = s.kh == 3 && s.kw == 3 && s.stride == 1 && s.pad == 1 && input == ConvInput::nhwc;
    TAILOR_CHECK(algo != ConvAlgo::winograd || wino_ok, ErrorCode::invalid_argument,
                 "Winograd F(2x2, 3x3) needs a 3x3 / stride 1 / pad 1 conv over NHWC input, not " + s.str(), "");
    c.algo_ = algo;
    if (algo == ConvAlgo::winograd || (algo == ConvAlgo::automatic && wino_ok && s.cin >= 16)) {
      if (algo == ConvAlgo::automatic && wino == WinogradPack::on_first_use) c.lazy_wino_ = std::make_shared<LazyWinograd>();
      else c.wino_ = WinogradWeights::from_oihw(w, s.cin, s.cout);
    }
    c.b_.resize(size_t(panels * kPanel));  // zero-padded to whole panels
    for (int64_t n = 0; n < panels * kPanel; ++n) c.b_[size_t(n)] = n < s.cout && bias ? bias[n] : 0.f;
    const int64_t K = c.K_, taps = s.kh * s.kw;
    // AMX takes the 1x1 convs: over the pixels in place at stride 1, over the gathered pixels
    // (a quarter of the input) at stride 2. Not the k x k ones through im2col: measured on
    // ResNet50's at batch 1, 0.8-1.15x of the float32 direct conv (the gather writes and reads
    // back K floats a pixel, and layer 4's weights, streamed once a pass for 49 pixels, are
    // 1.5x the bytes as bf16x3).
    if (gemm == GemmPath::amx && input == ConvInput::nhwc && s.kh == 1 && s.kw == 1 && s.pad == 0) {
      c.gemm_ = PackedWeight::from_out_in(w, s.cout, K, GemmPath::amx);  // (Cout, Cin, 1, 1) = (N, K)
      return c;
    }
    uint64_t elems = 0;
    if (!tailor::detail::checked_product({uint64_t(panels), uint64_t(kPanel), uint64_t(c.K_)}, &elems))
      tailor::detail::fail(ErrorCode::out_of_memory, "conv weight size overflows", "");
    c.w_.resize(size_t(elems));
    // Per panel: its output channels' rows reordered from (Cin, kh, kw) to the K order
    // (kh, kw, Cin) in a scratch (sequential reads), then transposed into the k-major panel
    // in 16-row blocks that stay in L1 (a strided gather straight from w costs ~3x more at
    // load time).
    std::vector<float> rows(size_t(kPanel * K));
    for (int64_t p = 0; p < panels; ++p) {
      float* dst = c.w_.data() + p * K * kPanel;
      const int64_t nn = std::min<int64_t>(kPanel, s.cout - p * kPanel);
      for (int64_t n = 0; n < nn; ++n) {
        const float* src = w + (p * kPanel + n) * K;  // (Cin, kh, kw) of one output channel
        float* row = rows.data() + n * K;             // (kh, kw, Cin)
        if (taps == 1) {
          std::memcpy(row, src, size_t(K) * sizeof(float));
        } else {
          for (int64_t ci = 0; ci < s.cin; ++ci)
            for (int64_t t = 0; t < taps; ++t) row[t * s.cin + ci] = src[ci * taps + t];
        }
      }
      for (int64_t k0 = 0; k0 < K; k0 += 16) {
        const int64_t k1 = std::min(K, k0 + 16);
        for (int64_t k = k0; k < k1; ++k) {
          float* d = dst + k * kPanel;
          for (int64_t n = 0; n < nn; ++n) d[n] = rows[size_t(n * K + k)];
          for (int64_t n = nn; n < kPanel; ++n) d[n] = 0.f;
        }
      }
    }
    return c;
  }

  const Conv2dShape& shape() const noexcept { return s_; }
  ConvInput input() const noexcept { return input_; }
  /// True when conv2d() may run this conv by Winograd F(2x2, 3x3) (see use_winograd()).
  bool winograd() const noexcept { return !wino_.empty() || lazy_wino_ != nullptr; }
  /// Whether conv2d() takes the Winograd path for h x w images: forced by
  /// ConvAlgo::winograd, or (automatic) when an image has enough 2x2 tiles. Winograd's 16
  /// weight matrices are 1.78x the direct conv's weights, read from memory once per pass:
  /// with few tiles (ResNet's last stage at 224: 16 per image) that extra traffic costs more
  /// than the multiplies saved, at the few GB/s one core gets from DRAM. The choice depends on
  /// the image size only, never the batch, so batching never changes a result's bits.
  bool use_winograd(int64_t h, int64_t w) const noexcept {
    if (!winograd()) return false;
    return algo_ == ConvAlgo::winograd || winograd_pays(h, w);
  }
  static constexpr int64_t kWinogradMinTiles = 32;
  /// Whether an h x w map has the kWinogradMinTiles 2x2 tiles an automatic conv needs to take
  /// the Winograd path.
  static bool winograd_pays(int64_t h, int64_t w) noexcept {
    return ((h + 1) / 2) * ((w + 1) / 2) >= kWinogradMinTiles;
  }
  /// The Winograd weights (built here on first use under WinogradPack::on_first_use, once,
  /// whichever thread asks first; the others wait).
  const WinogradWeights& winograd_weights() const {
    if (!lazy_wino_) return wino_;
    std::call_once(lazy_wino_->once, [&] {
      lazy_wino_->u = winograd_from_direct();
      lazy_wino_->built.store(true, std::memory_order_release);
    });
    return lazy_wino_->u;
  }
  /// True when conv2d() runs this conv as an AMX GEMM (from_oihw's GemmPath::amx).
  bool amx() const noexcept { return gemm_.amx(); }
  const PackedWeight& gemm_weight() const noexcept { return gemm_; }
  int64_t panels() const noexcept { return (s_.cout + kPanel - 1) / kPanel; }
  /// Packed panel p: (K, kPanel) k-major.
  const float* panel(int64_t p) const noexcept { return w_.data() + p * K_ * kPanel; }
  const float* bias(int64_t p) const noexcept { return b_.data() + p * kPanel; }
  int64_t k() const noexcept { return K_; }
  /// Bytes of packed weights (Winograd weights built on first use count once built).
  size_t bytes() const noexcept {
    const bool lazy_built = lazy_wino_ && lazy_wino_->built.load(std::memory_order_acquire);
    return (w_.size() + b_.size()) * sizeof(float) + wino_.bytes() + gemm_.bytes() + (lazy_built ? lazy_wino_->u.bytes() : 0);
  }
  /// Multiply-adds for one image of h x w input pixels.
  double macs(int64_t h, int64_t w) const { return double(s_.out_h(h)) * double(s_.out_w(w)) * double(s_.cout) * double(K_); }

 private:
  Conv2dShape s_;
  ConvInput input_ = ConvInput::nhwc;
  int64_t K_ = 0;
  ConvAlgo algo_ = ConvAlgo::automatic;
  /// (Cout, Cin, 3, 3) read back from the packed direct weights, then transformed: the same
  /// values as at load, so the same Winograd weights bit for bit.
  WinogradWeights winograd_from_direct() const {
    const int64_t cin = s_.cin, cout = s_.cout;
    std::vector<float> oihw(size_t(cout * cin * 9));
    for (int64_t co = 0; co < cout; ++co) {
      const float* pnl = panel(co / kPanel);
      for (int64_t ci = 0; ci < cin; ++ci)
        for (int64_t t = 0; t < 9; ++t) oihw[size_t((co * cin + ci) * 9 + t)] = pnl[(t * cin + ci) * kPanel + co % kPanel];
    }
    return WinogradWeights::from_oihw(oihw.data(), cin, cout);
  }
  struct LazyWinograd {
    std::once_flag once;
    std::atomic<bool> built{false};  // u is complete (bytes() may read it from any thread)
    WinogradWeights u;
  };

  AlignedBuffer<float> w_, b_;
  WinogradWeights wino_;  // also packed for automatic 3x3 convs, used when use_winograd()
  std::shared_ptr<LazyWinograd> lazy_wino_;  // WinogradPack::on_first_use: built by winograd_weights()
  PackedWeight gemm_;     // the AMX path's weights (then w_ is empty)
};

namespace detail {

inline constexpr int64_t kMaxTaps = 64;

struct ConvRow {
  int64_t out0;       ///< flat index of its first output pixel
  int64_t len;        ///< pixels
  const float* in0;   ///< input of its first pixel at tap (0, 0)
};

}  // namespace detail

/// col (N OH OW, kh kw Cin) := each output pixel's inputs (x NHWC), K in (kh, kw, Cin) order,
/// zeros where a tap falls in the padding (im2col).
inline void im2col_nhwc(const float* x, int64_t n, int64_t h, int64_t w, const Conv2dShape& s, float* col,
                        ThreadPool& pool) {
  const int64_t oh = s.out_h(h), ow = s.out_w(w), C = s.cin, K = C * s.kh * s.kw, M = n * oh * ow;
  pool.parallel_for(M, 16, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      const int64_t img = m / (oh * ow), oy = (m / ow) % oh, ox = m % ow;
      float* dst = col + m * K;
      for (int64_t i = 0; i < s.kh; ++i)
        for (int64_t j = 0; j < s.kw; ++j, dst += C) {
          const int64_t iy = oy * s.stride + i - s.pad, ix = ox * s.stride + j - s.pad;
          if (iy < 0 || iy >= h || ix < 0 || ix >= w) std::memset(dst, 0, size_t(C) * sizeof(float));
          else std::memcpy(dst, x + ((img * h + iy) * w + ix) * C, size_t(C) * sizeof(float));
        }
    }
  });
}

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
  if (conv.use_winograd(h, w)) {
    conv3x3_winograd(conv.winograd_weights(), conv.bias(0), s.cin, s.cout, x, n, h, w, y, residual, relu, pool);
    return;
  }
  if (conv.amx()) {  // 1x1: y (pixels, Cout) = x's pixels (pixels, Cin) . W on AMX tiles
    const int64_t M = n * oh * ow;
    const float* rows = x;
    if (s.stride != 1) {  // gather the strided pixels
      float* col = arena.alloc<float>(size_t(M * conv.k()));
      im2col_nhwc(x, n, h, w, s, col, pool);
      rows = col;
    }
    Epilogue ep;
    ep.bias = conv.bias(0);
    ep.residual = residual;
    ep.ldr = s.cout;
    ep.act = act;
    gemm(rows, M, conv.k(), conv.gemm_weight(), y, s.cout, ep, pool);
    return;
  }
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
  } else if (!nchw && 4 * ow < 3 * kConvMR * ((ow + kConvMR - 1) / kConvMR)) {
    // Output rows that leave register tiles under 3/4 full (ResNet's last stage at 224, 7
    // wide: one 7-row tile of 14 on AVX-512, 4 + 3 rows of 6 on AVX2): gather the inputs
    // (im2col, K in (kh, kw, Cin) order) so that tiles span rows, then one GEMM.
    const int64_t K = conv.k(), M = n * oh * ow;
    float* col = arena.alloc<float>(size_t(M * K));
    im2col_nhwc(x, n, h, w, s, col, pool);
    lda = K;
    cin_run = K;
    ntaps = 1;
    tap_off = {0};
    rows.push_back({0, M, col});
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

  // Register tiles: each row cut into pieces of at most kConvMR pixels, balanced (49 pixels
  // make 13 + 12 + 12 + 12, not 14 + 14 + 14 + 7).
  struct Tile {
    int64_t row, start, len;
  };
  std::vector<Tile> tiles;
  for (int64_t r = 0; r < int64_t(rows.size()); ++r) {
    const int64_t len = rows[size_t(r)].len, nt = (len + kConvMR - 1) / kConvMR;
    for (int64_t i = 0, start = 0; i < nt; ++i) {
      const int64_t l = len / nt + (i < len % nt ? 1 : 0);
      tiles.push_back({r, start, l});
      start += l;
    }
  }
  const int64_t ntiles = int64_t(tiles.size());

  // Tasks: (tile chunk, panel chunk). Keep the weight chunk a task sweeps within half of this
  // CPU's L2 (it is reused from there by every tile of the chunk; sized for 2 MiB, it spilled
  // a Zen 3's 512 KiB and layer 4's 3x3s re-read their weights from L3 for every tile), and
  // make >= 4 tasks per thread when the problem allows it, so the dynamic hand-out balances.
  // Convs with more weights than L2 holds and inputs that fit in half of it (ResNet's layer 4
  // at batch 1: 49 pixels an image against 4-9 MB of weights) go panel by panel instead, every
  // tile of the conv in each task: a panel is read from memory once and meets all tiles while
  // the next one is prefetched into L2 (ConvTile::pf), and threads split the weights, not the
  // pixels. Measured in-process on one thread, batch 1: layer 4's convs 0.83-0.93x the time,
  // layer 4 as a whole 0.88x. (Where the weights fit L2, layer 3's, it measured no better.)
  const int threads = pool.size();
  const int64_t l2 = cache_sizes().l2;
  const int64_t panel_bytes = conv.k() * Conv2d::kPanel * int64_t(sizeof(float));
  const int64_t a_bytes = ntiles * kConvMR * conv.k() * int64_t(sizeof(float));
  const bool panel_outer = a_bytes <= l2 / 2 && npanels * panel_bytes > l2;
  int64_t pchunk = std::max<int64_t>(1, std::min<int64_t>(npanels, (l2 / 2) / std::max<int64_t>(panel_bytes, 1)));
  int64_t tchunk = ntiles;
  const int64_t want = int64_t(threads) * 4;
  if (panel_outer) {
    pchunk = std::max<int64_t>(1, (npanels + want - 1) / want);
    if (threads == 1) pchunk = npanels;
  } else if (threads > 1) {
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
    // Tile t against panels [p, p + np), in one kernel call.
    auto run_tile = [&](int64_t t, int64_t p, int64_t np, const char* pf, int64_t pf_lines) {
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
      ct.ncols = int(std::min<int64_t>(Conv2d::kPanel, cout - (p + np - 1) * Conv2d::kPanel));
      ct.relu = relu;
      ct.pf = pf;
      ct.pf_lines = pf_lines;
      ct.npanels = np;
      conv_kernels()[size_t(tile.len - 1)](ct);
    };
    if (panel_outer) {
      const int64_t lines = panel_bytes / 64, nt = t1 - t0;
      for (int64_t p = p0; p < p1; ++p) {
        const char* next = p + 1 < npanels ? reinterpret_cast<const char*>(conv.panel(p + 1)) : nullptr;
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t l0 = next ? lines * (t - t0) / nt : 0, l1 = next ? lines * (t - t0 + 1) / nt : 0;
          run_tile(t, p, 1, next ? next + l0 * 64 : nullptr, l1 - l0);
        }
      }
      return;
    }
    // Tile-outer: a tile's inputs stay in L1 while it meets every weight panel of the task
    // (<= 1 MiB, in L2), and it writes whole output rows; one kernel call per tile.
    for (int64_t t = t0; t < t1; ++t) run_tile(t, p0, p1 - p0, nullptr, 0);
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
