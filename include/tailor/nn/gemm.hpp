// tailor/nn/gemm.hpp: the matrix products every model spends its time in.
//
//   gemm(A, W, C, epilogue, pool)   C (M, N) = act(A (M, K) . W (K, N) + bias (+ residual))
//                                   W is a PackedWeight: a PyTorch Linear / 1x1-conv weight
//                                   (N, K) packed once at load time.
//   gemm_eigen(...)                 the same contract over Eigen's GEMM: the reference the
//                                   tests and benchmarks compare with.
//   matmul(...)                     C (M, N) = alpha op(A) . op(B) + beta C over plain
//                                   row-major operands (small products, tests).
//
// gemm() is a BLIS-style packed GEMM (Van Zee & van de Geijn, "BLIS: A Framework for
// Rapidly Instantiating BLAS Functionality", 2015; the loop nest of BLIS's gemm_ker_var2):
//   - W is packed at load into panels of kGemmNR columns, each stored (K, kGemmNR) k-major
//     and zero-padded, so the micro-kernel streams it with aligned full-vector loads;
//   - A is read in place (no packing): the micro-kernel broadcasts A[r, k] from kGemmMR row
//     pointers (as ONNX Runtime's MLAS SGEMM does), which costs nothing at these sizes;
//   - the micro-kernel keeps a (kGemmMR, kGemmNR) tile of C in registers: 8 x 48 (24 zmm
//     accumulators) for AVX-512, 6 x 16 (12 ymm) for AVX2 + FMA, 4 x 16 portable C++;
//   - loops, outer to inner: M blocks of mc rows -> K blocks of kc -> weight panels -> kGemmMR
//     rows; the (kc, kGemmNR) weight micro-panel and the (mc, kc) block of A are reused from
//     L2 (GemmBlocking: kc = 768, mc = 256 measured best on AVX-512 with 2 MiB of L2; on
//     BERT's shapes a weight micro-panel kept in L1 (kc = 128) was slower: more C reloads);
//   - while a weight panel's tiles run, the micro-kernels prefetch the next panel into L2, a
//     slice each, spread over their k loops: weights streaming from L3 / DRAM (the whole
//     model's do not fit in cache) then overlap with compute instead of stalling the first
//     tile of each panel (measured: 64 x 3072 x 768 with cold weights, 99 -> 156 GFLOP/s);
//   - the epilogue (bias, residual, activation) is applied to the tile in registers after the
//     last K block, so a Linear + GELU or a conv + BN + ReLU + residual makes one pass over C;
//   - threads split (M block, panel range) tasks handed out dynamically by the session's
//     ThreadPool; each thread writes disjoint tiles of C, so results do not depend on the
//     thread count (the K order of every dot product is fixed).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

#include <Eigen/Core>

#include "tailor/core/arena.hpp"
#include "tailor/core/checked.hpp"
#include "tailor/core/error.hpp"
#include "tailor/core/thread_pool.hpp"
#include "tailor/nn/activation.hpp"
#include "tailor/nn/gemm_amx.hpp"
#include "tailor/nn/simd.hpp"

namespace tailor::nn {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>>;
using ConstMatrixMap = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;

namespace detail {
// Register tiles: (kGemmMR, kGemmNR) for weights; a narrower (kGemmMRNarrow, kGemmNRNarrow)
// one for products whose N is a head dimension (attention's P V: 32 or 64 columns).
#if defined(__AVX512F__)
inline constexpr int kGemmMR = 8;   // rows of the register tile
inline constexpr int kGemmNR = 48;  // columns of the register tile = the weight panel width
inline constexpr int kGemmMRNarrow = 12;
inline constexpr int kGemmNRNarrow = 32;
#elif defined(__AVX2__) && defined(__FMA__)
inline constexpr int kGemmMR = 6;
inline constexpr int kGemmNR = 16;
inline constexpr int kGemmMRNarrow = 6;
inline constexpr int kGemmNRNarrow = 16;
#else
inline constexpr int kGemmMR = 4;
inline constexpr int kGemmNR = 16;
inline constexpr int kGemmMRNarrow = 4;
inline constexpr int kGemmNRNarrow = 16;
#endif

/// Cache blocking of gemm(); the defaults suit 32-48 KiB L1 and >= 1 MiB L2 per core.
struct GemmBlocking {
  int64_t kc = 768;  ///< K block: the (kc, kGemmNR) weight micro-panel (144 KiB at 768 x 48) stays in L2
  int64_t mc = 256;  ///< M block: the (mc, kc) block of A stays in L2
};
}  // namespace detail

/// Which kernels gemm() runs for a PackedWeight (chosen when it is packed).
enum class GemmPath {
  automatic,  ///< this thread's default: fp32, or what a ScopedGemmPath in force says
  fp32,       ///< float32 FMA register tiles (AVX-512, AVX2 + FMA, or portable C++)
  amx,        ///< AMX bf16x6 (gemm_amx.hpp); an error where amx::supported() is false
};

namespace detail {
/// What GemmPath::automatic means on this thread: fp32, unless $TAILOR_AMX is 1 (and AMX is
/// supported), or a ScopedGemmPath is in force.
inline GemmPath& automatic_path() {
  thread_local GemmPath p = [] {
    const char* e = std::getenv("TAILOR_AMX");
    return e && std::string(e) == "1" && amx::supported() ? GemmPath::amx : GemmPath::fp32;
  }();
  return p;
}
}  // namespace detail

/// While alive, weights packed on this thread with GemmPath::automatic take `path` (how a
/// model applies Options::amx to every weight it loads).
class ScopedGemmPath {
 public:
  explicit ScopedGemmPath(GemmPath path) : saved_(detail::automatic_path()) {
    if (path != GemmPath::automatic) detail::automatic_path() = path;
  }
  ~ScopedGemmPath() { detail::automatic_path() = saved_; }
  ScopedGemmPath(const ScopedGemmPath&) = delete;
  ScopedGemmPath& operator=(const ScopedGemmPath&) = delete;

 private:
  GemmPath saved_;
};

/// A weight packed for gemm(): logically W (K, N) = the transpose of PyTorch's (N, K).
///
/// float32 path, layout: ceil(N / kPanel) panels of kPanel columns; panel p holds columns
/// [p kPanel, p kPanel + kPanel) as a (K, kPanel) row-major block (k-major), the columns past
/// N zero. kPanel depends on the instruction set the including code is compiled for.
/// AMX path: only the three bfloat16 parts in amx::pack_b's layout (1.5x the float32 bytes).
class PackedWeight {
 public:
  static constexpr int64_t kPanel = detail::kGemmNR;

  PackedWeight() = default;
  /// Packs PyTorch's row-major (N, K) weight (Linear: (out, in); 1x1 conv: (out, in, 1, 1)).
  static PackedWeight from_out_in(const float* w, int64_t N, int64_t K, GemmPath path = GemmPath::automatic) {
    return from_strided(w, K, N, 1, K, path);
  }
  /// Packs a row-major (K, N) matrix already in input-major order.
  static PackedWeight from_in_out(const float* w, int64_t K, int64_t N, GemmPath path = GemmPath::automatic) {
    return from_strided(w, K, N, N, 1, path);
  }
  /// Packs W (K, N) whose element (k, n) is w[k stride_k + n stride_n].
  static PackedWeight from_strided(const float* w, int64_t K, int64_t N, int64_t stride_k, int64_t stride_n,
                                   GemmPath path = GemmPath::automatic) {
    TAILOR_CHECK(K >= 0 && N >= 0, ErrorCode::invalid_argument, "PackedWeight: negative dimension", "");
    if (path == GemmPath::amx) amx::require_supported();
    PackedWeight p;
    p.N_ = N;
    p.K_ = K;
    if (path == GemmPath::automatic) path = detail::automatic_path();
    if (K > 0 && N > 0 && path == GemmPath::amx) {
      amx::pack_b(w, K, N, stride_k, stride_n, p.amx_);
      return p;
    }
    const int64_t panels = (N + kPanel - 1) / kPanel;
    uint64_t elems = 0;
    if (!tailor::detail::checked_mul(uint64_t(panels * kPanel), uint64_t(K), &elems))
      tailor::detail::fail(ErrorCode::out_of_memory, "PackedWeight: size overflows", "");
    p.data_.resize(size_t(elems));
    for (int64_t pi = 0; pi < panels; ++pi) {
      float* dst = p.data_.data() + pi * K * kPanel;
      const int64_t n0 = pi * kPanel, nn = std::min<int64_t>(kPanel, N - n0);
      for (int64_t k = 0; k < K; ++k) {
        float* row = dst + k * kPanel;
        for (int64_t j = 0; j < nn; ++j) row[j] = w[k * stride_k + (n0 + j) * stride_n];
        for (int64_t j = nn; j < kPanel; ++j) row[j] = 0.f;
      }
    }
    return p;
  }
  int64_t rows() const noexcept { return K_; }  // K
  int64_t cols() const noexcept { return N_; }  // N
  /// Output-column groups of kPanel columns (the unit of gemm_serial's panel range), on
  /// either path.
  int64_t panels() const noexcept { return (N_ + kPanel - 1) / kPanel; }
  /// True when gemm() runs this weight on AMX tiles.
  bool amx() const noexcept { return amx_.size() > 0; }
  /// The float32 path's packed panels (see the class comment; null on the AMX path).
  const float* data() const noexcept { return data_.data(); }
  /// Panel p: (K, kPanel) row-major (float32 path only).
  const float* panel(int64_t p) const noexcept { return data_.data() + p * K_ * kPanel; }
  /// The AMX path's bfloat16 parts (amx::pack_b's layout; null on the float32 path).
  const uint16_t* amx_data() const noexcept { return amx_.data(); }
  /// Element (k, n) of the logical W (K, N).
  float at(int64_t k, int64_t n) const noexcept {
    return amx() ? amx::b_at(amx_.data(), K_, k, n) : panel(n / kPanel)[k * kPanel + n % kPanel];
  }
  size_t bytes() const noexcept { return data_.size() * sizeof(float) + amx_.size() * sizeof(uint16_t); }

 private:
  int64_t K_ = 0, N_ = 0;
  AlignedBuffer<float> data_;
  AlignedBuffer<uint16_t> amx_;
};

/// What gemm() applies to each output element: act(acc + bias[n] + residual[m, n]).
struct Epilogue {
  const float* bias = nullptr;      // (N) or null
  const float* residual = nullptr;  // (M, N) with row stride ldr, or null
  int64_t ldr = 0;
  Activation act = Activation::none;
};

namespace detail {

inline void apply_epilogue(float* c, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1, const Epilogue& ep) {
  for (int64_t m = m0; m < m1; ++m) {
    float* row = c + m * ldc;
    if (ep.bias)
      for (int64_t n = n0; n < n1; ++n) row[n] += ep.bias[n];
    if (ep.residual) {
      const float* r = ep.residual + m * ep.ldr;
      for (int64_t n = n0; n < n1; ++n) row[n] += r[n];
    }
    activate_inplace(row + n0, n1 - n0, ep.act);
  }
}

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
/// The register-tile micro-kernel: C[0:MR, 0:ncols] (+)= A[0:MR, 0:kc] . B (kc, NR), then
/// + bias, then + residual, then the activation, when given. A rows are lda apart; B is one
/// packed micro-panel of NR columns (a multiple of the vector width). load_c: start from C
/// instead of 0 (a later K block). res may equal c (an in-place residual: read before the
/// store). pf_lines cache lines from pf (the next weight panel) are prefetched into L2 along
/// the way.
template <int MR, int NR>
TAILOR_ALIGN_HOT_LOOPS inline void gemm_micro_kernel(int64_t kc, const float* a, int64_t lda, const float* b, float* c,
                                                     int64_t ldc, int ncols, bool load_c, const float* bias,
                                                     const float* res, int64_t ldr, Activation act, const char* pf,
                                                     int64_t pf_lines) {
  using namespace simd;
  constexpr int W = kWidth, NV = NR / kWidth;
  static_assert(NR % kWidth == 0, "panel width must be whole vectors");
  V acc[MR][NV];
  int nv[NV];  // valid lanes of each vector column
  for (int j = 0; j < NV; ++j) nv[j] = std::max(0, std::min(W, ncols - j * W));
  if (load_c) {
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NV; ++j) acc[r][j] = load(c + r * ldc + j * W, nv[j]);
  } else {
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NV; ++j) acc[r][j] = zero();
  }
  const float* ar[MR];
  for (int r = 0; r < MR; ++r) ar[r] = a + r * lda;
  // First K block: output and residual lines on their way during the k loop, as in the conv
  // kernel (one thread, BERT's products over 269 rows: QKV 1.04x, FFN-in + GELU 1.03x, the
  // others even).
  if (!load_c) prefetch_tile<MR, NR>(c, ldc, res, ldr);
  // The next weight panel's slice goes to L2 over this tile's k loop, a chunk's share at a time.
  L2Stream next(pf, pf_lines, kc, kc);
  for (int64_t k0 = 0; k0 < kc; k0 += next.step) {
    next.issue();
    const int64_t k1 = std::min(kc, k0 + next.step);
    for (int64_t k = k0; k < k1; ++k) {
      V bv[NV];
      for (int j = 0; j < NV; ++j) bv[j] = load(b + j * W);
      b += NR;
      for (int r = 0; r < MR; ++r) {
        const V x = set1(ar[r][k]);
        for (int j = 0; j < NV; ++j) acc[r][j] = fmadd(x, bv[j], acc[r][j]);
      }
    }
  }
  if (bias) {
    for (int j = 0; j < NV; ++j) {
      const V bj = load(bias + j * W, nv[j]);
      for (int r = 0; r < MR; ++r) acc[r][j] = acc[r][j] + bj;
    }
  }
  if (res) {
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NV; ++j) acc[r][j] = acc[r][j] + load(res + r * ldr + j * W, nv[j]);
  }
  // The activation on the tile in registers: MR x NV independent evaluations (GELU's erf is a
  // long serial chain) that overlap, instead of a row of the stored tile at a time.
  auto activate_tile = [&](auto a) {
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NV; ++j) acc[r][j] = activate<decltype(a)::value>(acc[r][j]);
  };
  switch (act) {
    case Activation::none: break;
    case Activation::relu: activate_tile(std::integral_constant<Activation, Activation::relu>{}); break;
    case Activation::gelu_erf: activate_tile(std::integral_constant<Activation, Activation::gelu_erf>{}); break;
    case Activation::gelu_tanh: activate_tile(std::integral_constant<Activation, Activation::gelu_tanh>{}); break;
    case Activation::tanh: activate_tile(std::integral_constant<Activation, Activation::tanh>{}); break;
  }
  store_tile<MR, NV>(c, ldc, acc, nv, ncols == NR);
}
#else
/// Portable micro-kernel: the same contract over plain loops the compiler vectorises.
template <int MR, int NR>
inline void gemm_micro_kernel(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                              int ncols, bool load_c, const float* bias, const float* res, int64_t ldr,
                              Activation act, const char* /*pf*/, int64_t /*pf_lines*/) {
  float acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) acc[r][j] = (load_c && j < ncols) ? c[r * ldc + j] : 0.f;
  for (int64_t k = 0; k < kc; ++k) {
    for (int r = 0; r < MR; ++r) {
      const float x = a[r * lda + k];
      for (int j = 0; j < NR; ++j) acc[r][j] += x * b[j];
    }
    b += NR;
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < ncols; ++j) {
      float v = acc[r][j];
      if (bias) v += bias[j];
      if (res) v += res[r * ldr + j];
      c[r * ldc + j] = v;
    }
  if (act != Activation::none)
    for (int r = 0; r < MR; ++r) activate_inplace(c + r * ldc, ncols, act);
}
#endif

using GemmKernelFn = void (*)(int64_t, const float*, int64_t, const float*, float*, int64_t, int, bool, const float*,
                              const float*, int64_t, Activation, const char*, int64_t);
template <int NR, int... I>
constexpr std::array<GemmKernelFn, sizeof...(I)> make_kernel_table(std::integer_sequence<int, I...>) {
  return {&gemm_micro_kernel<I + 1, NR>...};
}
/// gemm_kernel_table<MR, NR>[mr - 1] handles a tile of mr <= MR rows.
template <int MR, int NR>
inline constexpr std::array<GemmKernelFn, MR> gemm_kernel_table =
    make_kernel_table<NR>(std::make_integer_sequence<int, MR>{});

/// Packs W (K, N), element (k, n) at w[k stride_k + n stride_n], into ceil(N / NR) panels of
/// (K, NR) k-major, zero-padded: dst holds ceil(N / NR) NR K floats.
template <int NR>
inline void pack_panels(const float* w, int64_t K, int64_t N, int64_t stride_k, int64_t stride_n, float* dst) {
  const int64_t panels = (N + NR - 1) / NR;
  for (int64_t pi = 0; pi < panels; ++pi) {
    float* out = dst + pi * K * NR;
    const int64_t n0 = pi * NR, nn = std::min<int64_t>(NR, N - n0);
    if (stride_n == 1 && nn == NR) {
      for (int64_t k = 0; k < K; ++k) std::memcpy(out + k * NR, w + k * stride_k + n0, sizeof(float) * NR);
      continue;
    }
    for (int64_t k = 0; k < K; ++k) {
      float* row = out + k * NR;
      for (int64_t j = 0; j < nn; ++j) row[j] = w[k * stride_k + (n0 + j) * stride_n];
      for (int64_t j = nn; j < NR; ++j) row[j] = 0.f;
    }
  }
}

#if defined(__AVX512F__)
/// r[0..16) := its transpose (row i of the result = column i of the input).
inline void transpose16x16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {  // per 128-bit lane: pairs of rows interleaved
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // r[4i + c], lane L: column 4L + c of rows 4i..4i+3
    r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int c = 0; c < 4; ++c) {  // gather lane L of r[c], r[4+c], r[8+c], r[12+c] into column 4L + c
    const __m512 x0 = _mm512_shuffle_f32x4(r[c], r[4 + c], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 y0 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 x1 = _mm512_shuffle_f32x4(r[c], r[4 + c], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512 y1 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], _MM_SHUFFLE(3, 2, 3, 2));
    t[c] = _mm512_shuffle_f32x4(x0, y0, _MM_SHUFFLE(2, 0, 2, 0));
    t[4 + c] = _mm512_shuffle_f32x4(x0, y0, _MM_SHUFFLE(3, 1, 3, 1));
    t[8 + c] = _mm512_shuffle_f32x4(x1, y1, _MM_SHUFFLE(2, 0, 2, 0));
    t[12 + c] = _mm512_shuffle_f32x4(x1, y1, _MM_SHUFFLE(3, 1, 3, 1));
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}
#endif

/// pack_panels<NR> of the transpose of src (T, D; row stride ld): panel p holds rows
/// [p NR, p NR + NR) of src as its columns, i.e. element (d, j) = src[(p NR + j) ld + d].
/// (Attention's k^T.) 16 x 16 blocks transposed in registers on AVX-512.
template <int NR>
inline void pack_panels_transposed(const float* src, int64_t T, int64_t D, int64_t ld, float* dst) {
#if defined(__AVX512F__)
  if constexpr (NR % 16 == 0) {
    const int64_t panels = (T + NR - 1) / NR;
    for (int64_t p = 0; p < panels; ++p) {
      float* out = dst + p * D * NR;
      for (int64_t j0 = 0; j0 < NR; j0 += 16) {
        const int64_t t0 = p * NR + j0, nt = std::max<int64_t>(0, std::min<int64_t>(16, T - t0));
        for (int64_t d0 = 0; d0 < D; d0 += 16) {
          const int nd = int(std::min<int64_t>(16, D - d0));
          const __mmask16 m = __mmask16((1u << nd) - 1u);
          __m512 r[16];
          for (int i = 0; i < 16; ++i)
            r[i] = i < nt ? _mm512_maskz_loadu_ps(m, src + (t0 + i) * ld + d0) : _mm512_setzero_ps();
          transpose16x16(r);
          for (int i = 0; i < nd; ++i) _mm512_storeu_ps(out + (d0 + i) * NR + j0, r[i]);
        }
      }
    }
    return;
  }
#endif
  pack_panels<NR>(src, D, T, 1, ld, dst);
}

/// Rows [m0, m1) x panels [p0, p1) of C (M, N) = epilogue(A (M, K) . B), B packed by
/// pack_panels<NR> at `panels`, all of K in blocks of blk.kc. Single-threaded.
template <int MR, int NR>
inline void gemm_panels(const float* A, int64_t lda, const float* panels, int64_t K, int64_t N, float* C, int64_t ldc,
                        const Epilogue& ep, int64_t m0, int64_t m1, int64_t p0, int64_t p1, const GemmBlocking& blk) {
  // Numerics: every output is (sum of products from 0) + bias + residual, in that order, as
  // PyTorch's addmm(bias, x, W^T) followed by `+ residual`. Accumulating the products onto a
  // residual of magnitude ~4 instead would round each of the K additions at that magnitude
  // (measured: 10x the error of PyTorch on BERT-base). So an in-place residual (C holds it)
  // is read by the micro-kernel after the products, which needs all of K in one block.
  const bool inplace = ep.residual != nullptr && ep.residual == C;
  const int64_t kc_max = inplace ? std::max<int64_t>(1, K) : std::max<int64_t>(1, blk.kc);
  const auto& kernels = gemm_kernel_table<MR, NR>;
  int64_t pc = 0;
  do {
    const int64_t kc = std::min(kc_max, K - pc);
    const bool first = pc == 0, last = pc + kc >= K;
    const int64_t ntiles = (m1 - m0 + MR - 1) / MR, npanels = (N + NR - 1) / NR;
    const int64_t lines = kc * NR * int64_t(sizeof(float)) / 64;  // of one panel's K block
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n0 = p * NR;
      const int ncols = int(std::min<int64_t>(NR, N - n0));
      const float* bp = panels + p * K * NR + pc * NR;
      const float* bias = last && ep.bias ? ep.bias + n0 : nullptr;
      // While this panel's tiles run, the next panel's K block is prefetched into L2, a
      // slice per tile, so weights streaming from memory overlap with compute.
      // (The panel after the task's last is prefetched too: the next task's first, whichever
      // thread runs it, then comes from L3 at worst.)
      const char* next = p + 1 < npanels ? reinterpret_cast<const char*>(panels + (p + 1) * K * NR + pc * NR) : nullptr;
      int64_t ti = 0;
      for (int64_t i = m0; i < m1; i += MR, ++ti) {
        const int mr = int(std::min<int64_t>(MR, m1 - i));
        const float* res = last && ep.residual ? ep.residual + i * ep.ldr + n0 : nullptr;
        float* c = C + i * ldc + n0;
        const int64_t l0 = next ? lines * ti / ntiles : 0, l1 = next ? lines * (ti + 1) / ntiles : 0;
        kernels[size_t(mr - 1)](kc, A + i * lda + pc, lda, bp, c, ldc, ncols, !first, bias, res, ep.ldr,
                                last ? ep.act : Activation::none, next ? next + l0 * 64 : nullptr, l1 - l0);
      }
    }
    pc += kc;
  } while (pc < K);
}

/// One task of gemm(): rows [m0, m1) x weight panels [p0, p1), all of K.
inline void gemm_block(const float* A, int64_t lda, const PackedWeight& W, float* C, int64_t ldc, const Epilogue& ep,
                       int64_t m0, int64_t m1, int64_t p0, int64_t p1, const GemmBlocking& blk) {
  gemm_panels<kGemmMR, kGemmNR>(A, lda, W.data(), W.rows(), W.cols(), C, ldc, ep, m0, m1, p0, p1, blk);
}

#if TAILOR_HAVE_AMX
/// This thread's buffers for the AMX path: 0, a group of A's strips converted by a task; 1,
/// a whole (small) A converted by a gemm call; 2, A converted by gemm_prepare_a. (Partial sums
/// between K blocks: amx_partial_scratch.)
inline AlignedBuffer<uint16_t>& amx_a_scratch(int which) {
  thread_local AlignedBuffer<uint16_t> bufs[3];
  return bufs[which];
}
/// A (M, K) converted by amx::pack_a into this thread's buffer `which`, split over pool's
/// threads when given: returns the converted A.
inline const uint16_t* amx_convert_a(const float* A, int64_t M, int64_t lda, int64_t K, ThreadPool* pool, int which) {
  const int64_t S = amx::round_up(M) / amx::kTile;
  AlignedBuffer<uint16_t>& buf = amx_a_scratch(which);
  if (buf.size() < amx::a_size(M, K)) buf.resize(amx::a_size(M, K));
  if (pool && pool->size() > 1 && S > 1)
    pool->parallel_for(S, 1, [&](int64_t a0, int64_t a1) { amx::pack_a(A, M, lda, K, a0, a1, buf.data()); });
  else
    amx::pack_a(A, M, lda, K, 0, S, buf.data());
  return buf.data();
}
inline float* amx_partial_scratch(size_t floats) {
  thread_local AlignedBuffer<float> buf;
  if (buf.size() < floats) buf.resize(floats);
  return buf.data();
}

/// C rows [m0, m0 + rows) x columns n0 + [c_lo, c_hi) (n0: the block's first column) =
/// epilogue(acc), acc a 32 x 32 block in amx::kernel's tile layout. Same order as the float32
/// path: sum of products, + bias, + residual, then the activation.
inline void amx_store(const float* acc, float* C, int64_t ldc, int64_t m0, int64_t rows, int64_t n0, int64_t c_lo,
                      int64_t c_hi, const Epilogue& ep) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t m = m0 + r;
    float* row = C + m * ldc + n0;
    const float* res = ep.residual ? ep.residual + m * ep.ldr + n0 : nullptr;
    for (int64_t h = 0; h < 2; ++h) {
      const int64_t lo = std::max<int64_t>(c_lo, 16 * h) - 16 * h, hi = std::min<int64_t>(c_hi, 16 * h + 16) - 16 * h;
      if (lo >= hi) continue;
      const __mmask16 mk = __mmask16(((1u << hi) - 1u) & ~((1u << lo) - 1u));
      __m512 v = _mm512_load_ps(acc + ((r / 16) * 2 + h) * 256 + (r % 16) * 16);
      if (ep.bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk, ep.bias + n0 + 16 * h));
      if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk, res + 16 * h));
      _mm512_mask_storeu_ps(row + 16 * h, mk, v);
    }
    if (ep.act != Activation::none) activate_inplace(row + c_lo, c_hi - c_lo, ep.act);
  }
}

/// Strips [s0, s1) (32 rows each, of M) x AMX panels [p0, p1) (32 columns each) of C, only
/// columns [n_lo, n_hi) written, from A converted by amx::pack_a (pa), or, when pa is null,
/// from A itself (row stride lda), converted here a group of strips at a time (so a large A
/// is read once from memory and its converted copy stays in L2). Single-threaded.
inline void amx_gemm_block(const uint16_t* pa, const float* A, int64_t lda, const PackedWeight& W, int64_t M, float* C,
                           int64_t ldc, const Epilogue& ep, int64_t s0, int64_t s1, int64_t p0, int64_t p1,
                           int64_t n_lo, int64_t n_hi) {
  using amx::kBlock;
  using amx::kTile;
  const int64_t KB = amx::round_up(W.rows()) / kTile;
  // K blocks: all of K up to 768 rows (C stays in the tiles), else 384 rows with the partial
  // sums of a group's blocks kept in L2 between them.
  const int64_t kcb = KB <= amx::kMaxKBlocks ? KB : amx::kMaxKBlocks / 2;
  // Strips per group: as many as keep the group's K block of A (kcb x 6 KiB a strip) within
  // ~1.2 MB, up to 16, the strips spread evenly over the groups.
  const int64_t max_group = std::max<int64_t>(1, std::min<int64_t>(16, (1200 * 1024) / (kcb * kBlock * 2)));
  const int64_t ngroups = (s1 - s0 + max_group - 1) / max_group;
  const int64_t group = std::max<int64_t>(1, (s1 - s0 + ngroups - 1) / std::max<int64_t>(1, ngroups)), np = p1 - p0;
  float* partial = kcb < KB ? amx_partial_scratch(size_t(group * np * 1024)) : nullptr;
  alignas(64) float acc[1024];
  const uint16_t* pb = W.amx_data();
  const int64_t W_panels = amx::round_up(W.cols()) / kTile;
  // Strip s's blocks are at base + (s - sbase) KB kBlock: the caller's whole converted A
  // (sbase 0), or this group's, converted here (sbase g0).
  const uint16_t* base = pa;
  int64_t sbase = 0;
  AlignedBuffer<uint16_t>* own = nullptr;
  if (!pa) {
    own = &amx_a_scratch(0);
    const size_t need = size_t(group * KB) * size_t(kBlock);
    if (own->size() < need) own->resize(need);
  }
  amx::configure();
  for (int64_t g0 = s0; g0 < s1; g0 += group) {
    const int64_t g1 = std::min(s1, g0 + group);
    if (own) {
      amx::pack_a(A + g0 * kTile * lda, M - g0 * kTile, lda, W.rows(), 0, g1 - g0, own->data());
      base = own->data();
      sbase = g0;
    }
    for (int64_t kb0 = 0; kb0 < KB; kb0 += kcb) {
      const int64_t nkb = std::min(kcb, KB - kb0);
      const bool first = kb0 == 0, last = kb0 + nkb == KB;
      for (int64_t pn = p0; pn < p1; ++pn) {
        const uint16_t* b = pb + (pn * KB + kb0) * kBlock;
        // While this panel's strips run, the next panel's K block (of the whole weight: the
        // next task's first panel too) is prefetched into L2, a slice per strip.
        const bool more = pn + 1 < W_panels;
        const int64_t lines = more ? nkb * (kBlock * 2 / 64) : 0, per_strip = (lines + (g1 - g0) - 1) / (g1 - g0);
        const char* next_b = reinterpret_cast<const char*>(more ? pb + ((pn + 1) * KB + kb0) * kBlock : pb);
        for (int64_t s = g0; s < g1; ++s) {
          const uint16_t* a = base + ((s - sbase) * KB + kb0) * kBlock;
          // Prefetch what comes next: the rest of this strip's K block, then the next
          // strip's (or, after the group's last strip, the group's first, for the next panel).
          const int64_t sn = s + 1 < g1 ? s + 1 : g0;
          const char* pf = reinterpret_cast<const char*>(nkb > 1 ? a + kBlock : base + ((sn - sbase) * KB + kb0) * kBlock);
          float* part = partial ? partial + ((s - g0) * np + (pn - p0)) * 1024 : nullptr;
          const int64_t l0 = std::min(lines, (s - g0) * per_strip), l1 = std::min(lines, l0 + per_strip);
          amx::kernel(a, b, nkb, first ? nullptr : part, last ? acc : part, pf, next_b + l0 * 64, (l1 - l0 + nkb - 1) / nkb);
          if (last) {
            const int64_t n0 = pn * kTile;
            amx_store(acc, C, ldc, s * kTile, std::min<int64_t>(kTile, M - s * kTile), n0,
                      std::max<int64_t>(0, n_lo - n0), std::min<int64_t>(kTile, n_hi - n0), ep);
          }
        }
      }
    }
  }
  amx::release();
}

/// C[:, n_lo:n_hi) = epilogue(A (M, K) . W) on the AMX path; A converted here unless `pa`
/// (gemm_prepare_a's) is given. pool: split over its threads, or null (the calling thread).
inline void amx_gemm(const float* A, int64_t M, int64_t lda, const PackedWeight& W, float* C, int64_t ldc,
                     const Epilogue& ep, ThreadPool* pool, int64_t n_lo, int64_t n_hi, const uint16_t* pa) {
  using amx::kTile;
  const int64_t K = W.rows(), S = amx::round_up(M) / kTile;
  const int threads = pool ? pool->size() : 1;
  const double flops = 2.0 * double(M) * double(n_hi - n_lo) * double(K);
  const bool split = threads > 1 && flops >= 2e6;
  const int64_t p0 = n_lo / kTile, p1 = (n_hi + kTile - 1) / kTile, P = p1 - p0;
  // Tasks: groups of strips x chunks of panels, several per thread (as the float32 path).
  int64_t sblocks = 1, pchunks = 1, per_s = S, per_p = P;
  if (split) {
    const int64_t want = 4 * int64_t(threads);
    sblocks = std::min<int64_t>(S, std::max<int64_t>(1, (S + 7) / 8));
    pchunks = std::min<int64_t>(P, std::max<int64_t>(1, (want + sblocks - 1) / sblocks));
    if (sblocks * pchunks < threads) sblocks = std::min<int64_t>(S, (threads + pchunks - 1) / pchunks);
    per_s = (S + sblocks - 1) / sblocks;
    per_p = (P + pchunks - 1) / pchunks;
    sblocks = (S + per_s - 1) / per_s;
    pchunks = (P + per_p - 1) / per_p;
  }
  // A converted up front when it is small, or when several tasks share its strips (few rows
  // split over the panels: each would convert them again); else by each task a group of
  // strips at a time (a large A, e.g. a 1x1 conv over 8 x 56 x 56 pixels, would otherwise go
  // to memory and back twice more).
  if (!pa && (amx::a_size(M, K) * sizeof(uint16_t) <= (size_t(1) << 20) || pchunks > 1))
    pa = amx_convert_a(A, M, lda, K, split ? pool : nullptr, 1);
  if (!split) {
    amx_gemm_block(pa, A, lda, W, M, C, ldc, ep, 0, S, p0, p1, n_lo, n_hi);
    return;
  }
  pool->run(int(sblocks * pchunks), [&](int t) {
    const int64_t sb = t / pchunks, pc = t % pchunks;
    const int64_t a0 = sb * per_s, a1 = std::min(S, a0 + per_s);
    const int64_t q0 = p0 + pc * per_p, q1 = std::min(p1, q0 + per_p);
    amx_gemm_block(pa, A, lda, W, M, C, ldc, ep, a0, a1, q0, q1, std::max(n_lo, q0 * kTile), std::min(n_hi, q1 * kTile));
  });
}
#endif  // TAILOR_HAVE_AMX

/// The AMX path of gemm() / gemm_serial() (W.amx() true).
inline void gemm_amx_path(const float* A, int64_t M, int64_t lda, const PackedWeight& W, float* C, int64_t ldc,
                          const Epilogue& ep, ThreadPool* pool, int64_t n_lo, int64_t n_hi, const uint16_t* pa) {
#if TAILOR_HAVE_AMX
  amx_gemm(A, M, lda, W, C, ldc, ep, pool, n_lo, n_hi, pa);
#else
  (void)A, (void)M, (void)lda, (void)W, (void)C, (void)ldc, (void)ep, (void)pool, (void)n_lo, (void)n_hi, (void)pa;
  tailor::detail::fail(ErrorCode::internal, "gemm: AMX weights in a build without AMX", "");
#endif
}

/// gemm() with explicit cache blocking (benchmarks sweep it).
inline void gemm_blocked(const float* A, int64_t M, int64_t lda, const PackedWeight& W, float* C, int64_t ldc,
                         const Epilogue& ep, ThreadPool& pool, const GemmBlocking& blk) {
  const int64_t K = W.rows(), N = W.cols();
  if (M <= 0 || N <= 0) return;
  TAILOR_CHECK(lda >= K && ldc >= N, ErrorCode::internal, "gemm: leading dimension smaller than the row", "");
  TAILOR_CHECK(!ep.residual || ep.residual == C || ep.ldr >= N, ErrorCode::internal,
               "gemm: residual row stride smaller than the row", "");
  if (W.amx()) {
    gemm_amx_path(A, M, lda, W, C, ldc, ep, &pool, 0, N, nullptr);
    return;
  }
  const int64_t P = W.panels();
  const int threads = pool.size();
  // Tasks: M blocks of up to mc rows (a multiple of MR) x chunks of weight panels. Several
  // tasks per thread so a thread that the OS delays does not hold the others up; a small
  // product runs on the caller alone (a fork-join costs more than it saves).
  const double flops = 2.0 * double(M) * double(N) * double(K);
  if (threads == 1 || flops < 2e5) {
    const int64_t mc = std::max<int64_t>(kGemmMR, blk.mc / kGemmMR * kGemmMR);
    for (int64_t m0 = 0; m0 < M; m0 += mc) gemm_block(A, lda, W, C, ldc, ep, m0, std::min(M, m0 + mc), 0, P, blk);
    return;
  }
  const int64_t mr_rows = (M + kGemmMR - 1) / kGemmMR;  // row tiles
  int64_t mblocks = (M + blk.mc - 1) / std::max<int64_t>(1, blk.mc);
  const int64_t want_tasks = 4 * int64_t(threads);
  int64_t pchunks = std::min<int64_t>(P, std::max<int64_t>(1, (want_tasks + mblocks - 1) / mblocks));
  if (pchunks * mblocks < threads) mblocks = std::min<int64_t>(mr_rows, (threads + pchunks - 1) / pchunks);
  const int64_t tiles_per_mblock = (mr_rows + mblocks - 1) / mblocks;
  mblocks = (mr_rows + tiles_per_mblock - 1) / tiles_per_mblock;
  const int64_t panels_per_chunk = (P + pchunks - 1) / pchunks;
  pchunks = (P + panels_per_chunk - 1) / panels_per_chunk;
  pool.run(int(mblocks * pchunks), [&](int t) {
    const int64_t mb = t / pchunks, pb = t % pchunks;
    const int64_t m0 = mb * tiles_per_mblock * kGemmMR, m1 = std::min(M, m0 + tiles_per_mblock * kGemmMR);
    const int64_t p0 = pb * panels_per_chunk, p1 = std::min(P, p0 + panels_per_chunk);
    gemm_block(A, lda, W, C, ldc, ep, m0, m1, p0, p1, blk);
  });
}

}  // namespace detail

/// C (M, N; row stride ldc) = epilogue(A (M, K; row stride lda) . W (K, N)).
/// C must not alias A; it may alias ep.residual only element for element (same ldc).
/// Every element's dot product is summed in the same order whatever the thread count.
inline void gemm(const float* A, int64_t M, int64_t lda, const PackedWeight& W, float* C, int64_t ldc,
                 const Epilogue& ep, ThreadPool& pool) {
  detail::gemm_blocked(A, M, lda, W, C, ldc, ep, pool, detail::GemmBlocking{});
}

/// For several gemm_serial() calls over the same A (M, K) and weights of K rows (column
/// slices of one product, e.g. one per attention head): A converted once for the AMX path,
/// to pass as their `prepared_a`. Null when W does not use AMX (nothing to convert). Valid
/// until this thread's next call; pool (or null) splits the conversion.
inline const uint16_t* gemm_prepare_a(const float* A, int64_t M, int64_t lda, const PackedWeight& W, ThreadPool* pool) {
#if TAILOR_HAVE_AMX
  if (!W.amx() || M <= 0) return nullptr;
  return detail::amx_convert_a(A, M, lda, W.rows(), pool, 2);
#else
  (void)A, (void)M, (void)lda, (void)W, (void)pool;
  return nullptr;
#endif
}

/// gemm() on the calling thread alone, for callers that split the work themselves (a task
/// of a model's own parallel region): rows [0, M) and the output columns of weight panels
/// [p0, p1) (p1 < 0: all), i.e. C[:, p0 kPanel : min(N, p1 kPanel)]. Same numerics as gemm().
/// prepared_a: gemm_prepare_a(A, M, lda, W) of this very A, or null.
inline void gemm_serial(const float* A, int64_t M, int64_t lda, const PackedWeight& W, float* C, int64_t ldc,
                        const Epilogue& ep, int64_t p0 = 0, int64_t p1 = -1, const uint16_t* prepared_a = nullptr) {
  const int64_t K = W.rows(), N = W.cols();
  if (p1 < 0 || p1 > W.panels()) p1 = W.panels();
  if (M <= 0 || N <= 0 || p0 >= p1) return;
  TAILOR_CHECK(lda >= K && ldc >= N, ErrorCode::internal, "gemm: leading dimension smaller than the row", "");
  if (W.amx()) {
    detail::gemm_amx_path(A, M, lda, W, C, ldc, ep, nullptr, p0 * W.kPanel, std::min(N, p1 * W.kPanel), prepared_a);
    return;
  }
  const detail::GemmBlocking blk{};
  const int64_t mc = std::max<int64_t>(detail::kGemmMR, blk.mc / detail::kGemmMR * detail::kGemmMR);
  for (int64_t m0 = 0; m0 < M; m0 += mc) detail::gemm_block(A, lda, W, C, ldc, ep, m0, std::min(M, m0 + mc), p0, p1, blk);
}

/// The same contract as gemm() computed by Eigen's GEMM (on W unpacked into a (K, N)
/// matrix by the caller: `w_in_out`, row stride N): the baseline for tests and benchmarks.
inline void gemm_eigen(const float* A, int64_t M, int64_t lda, const float* w_in_out, int64_t K, int64_t N, float* C,
                       int64_t ldc, const Epilogue& ep, ThreadPool& pool) {
  if (M == 0 || N == 0) return;
  TAILOR_CHECK(lda >= K && ldc >= N, ErrorCode::internal, "gemm: leading dimension smaller than the row", "");
  const ConstMatrixMap Wm(w_in_out, K, N, Eigen::OuterStride<>(N));
  const int threads = pool.size();
  const bool split_n = N >= 64 * threads && N * 4 >= M;
  const int64_t extent = split_n ? N : M;
  const int64_t align = split_n ? 16 : 1;
  const int64_t nblocks = std::max<int64_t>(1, std::min<int64_t>(threads, (extent + align - 1) / align));
  int64_t block = (extent + nblocks - 1) / nblocks;
  block = (block + align - 1) / align * align;
  pool.run(int((extent + block - 1) / block), [&](int t) {
    const int64_t b0 = int64_t(t) * block, b1 = std::min(extent, b0 + block);
    const int64_t m0 = split_n ? 0 : b0, m1 = split_n ? M : b1;
    const int64_t n0 = split_n ? b0 : 0, n1 = split_n ? b1 : N;
    ConstMatrixMap a(A + m0 * lda, m1 - m0, K, Eigen::OuterStride<>(lda));
    MatrixMap c(C + m0 * ldc + n0, m1 - m0, n1 - n0, Eigen::OuterStride<>(ldc));
    if (ep.residual == C) {
      c.noalias() += a * Wm.middleCols(n0, n1 - n0);
      Epilogue rest = ep;
      rest.residual = nullptr;
      detail::apply_epilogue(C, ldc, m0, m1, n0, n1, rest);
    } else {
      c.noalias() = a * Wm.middleCols(n0, n1 - n0);
      detail::apply_epilogue(C, ldc, m0, m1, n0, n1, ep);
    }
  });
}

/// C (M, N) = alpha . op(A) . op(B) + beta . C, all row-major with the given row strides;
/// op(X) is X or X^T. Single-threaded: callers parallelise over heads / batch items.
inline void matmul(const float* A, int64_t lda, bool trans_a, const float* B, int64_t ldb, bool trans_b, float* C,
                   int64_t ldc, int64_t M, int64_t N, int64_t K, float alpha = 1.f, float beta = 0.f) {
  if (M == 0 || N == 0) return;
  MatrixMap c(C, M, N, Eigen::OuterStride<>(ldc));
  if (beta == 0.f) c.setZero();
  else if (beta != 1.f) c *= beta;
  if (K == 0) return;
  const ConstMatrixMap a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  const ConstMatrixMap b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  if (!trans_a && !trans_b) c.noalias() += alpha * (a * b);
  else if (!trans_a && trans_b) c.noalias() += alpha * (a * b.transpose());
  else if (trans_a && !trans_b) c.noalias() += alpha * (a.transpose() * b);
  else c.noalias() += alpha * (a.transpose() * b.transpose());
}

}  // namespace tailor::nn
