// tailor/nn/simd.hpp: the one small SIMD layer tailor's CPU ops are written over.
//
// `simd::V` is the widest float vector the translation unit is compiled for: AVX-512
// (16 lanes, `__AVX512F__`), AVX2 + FMA (8 lanes, `__AVX2__` and `__FMA__`), or one plain
// float (the portable fallback, which compilers still auto-vectorise where they can). Every
// op has a partial-vector form (`load(p, n)`, `store(p, v, n)`) so row tails need no scalar
// loop. On top of it: exp, erf and tanh for whole vectors, with their accuracy documented.
//
// The transcendental functions follow well-known float32 approximations:
//   exp   Cephes expf (range reduction by ln 2 in two parts + degree-6 polynomial), <= 2 ulp
//   erf   Eigen 3.4's generic_fast_erf_float (SpecialFunctionsImpl.h): x P(x^2) / Q(x^2)
//         on [-4, 4], erf = +-1 beyond; abs error < 4e-7 (tested against std::erf)
//   tanh  Eigen 3.4's generic_fast_tanh_float (MathFunctionsImpl.h): x P(x^2) / Q(x^2)
//         on [-7.99, 7.99]; abs error < 3e-7 (tested against std::tanh)
// These are what PyTorch's own vectorised CPU kernels do (Sleef / polynomial erf), so a
// 1e-4 parity bar on BERT's hidden states is met with a wide margin.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

/// Marks a register-tile micro-kernel whose loops must start on a 64-byte boundary. GCC
/// aligns loops to 16 bytes by default, so where the GEMM's k loop (~115 bytes) lands depends
/// on the code around it: three 64-byte fetch windows instead of two cost Zen 3 5-12% of a
/// BERT product (measured: the same kernel against itself in two objects, 0.89-0.95x, and
/// 1.03-1.12x for the aligned one). Clang has no per-function form (-mllvm -align-loops=64
/// does it for a whole build).
#if defined(__GNUC__) && !defined(__clang__)
#define TAILOR_ALIGN_HOT_LOOPS __attribute__((optimize("align-loops=64")))
#else
#define TAILOR_ALIGN_HOT_LOOPS
#endif

namespace tailor::nn::simd {

#if defined(__AVX512F__)

inline constexpr int kWidth = 16;
inline constexpr const char* kIsa = "avx512";
struct V {
  __m512 v;
};
inline __mmask16 tail_mask(int n) { return __mmask16(n >= 16 ? 0xffffu : ((1u << n) - 1u)); }
inline V set1(float x) { return {_mm512_set1_ps(x)}; }
inline V zero() { return {_mm512_setzero_ps()}; }
inline V load(const float* p) { return {_mm512_loadu_ps(p)}; }
/// The first n lanes from p (n <= kWidth), the rest 0; reads only p[0..n).
inline V load(const float* p, int n) { return {_mm512_maskz_loadu_ps(tail_mask(n), p)}; }
inline void store(float* p, V x) { _mm512_storeu_ps(p, x.v); }
/// Writes only p[0..n).
inline void store(float* p, V x, int n) { _mm512_mask_storeu_ps(p, tail_mask(n), x.v); }
inline V operator+(V a, V b) { return {_mm512_add_ps(a.v, b.v)}; }
inline V operator-(V a, V b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline V operator*(V a, V b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline V operator/(V a, V b) { return {_mm512_div_ps(a.v, b.v)}; }
/// a * b + c with one rounding.
inline V fmadd(V a, V b, V c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline V min(V a, V b) { return {_mm512_min_ps(a.v, b.v)}; }
inline V max(V a, V b) { return {_mm512_max_ps(a.v, b.v)}; }
inline V abs(V a) { return {_mm512_abs_ps(a.v)}; }
/// Lane-wise: |a| < b ? x : y.
inline V select_abs_lt(V a, V b, V x, V y) {
  return {_mm512_mask_blend_ps(_mm512_cmp_ps_mask(_mm512_abs_ps(a.v), b.v, _CMP_LT_OQ), y.v, x.v)};
}
inline V round_nearest(V a) { return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
/// 2^n for integral n in [-126, 127].
inline V pow2i(V n) {
  const __m512i i = _mm512_add_epi32(_mm512_cvtps_epi32(n.v), _mm512_set1_epi32(127));
  return {_mm512_castsi512_ps(_mm512_slli_epi32(i, 23))};
}
inline float reduce_add(V a) { return _mm512_reduce_add_ps(a.v); }
inline float reduce_max(V a) { return _mm512_reduce_max_ps(a.v); }
/// Lanes [0, n) of x, the others `fill`.
inline V first_or(V x, int n, float fill) { return {_mm512_mask_blend_ps(tail_mask(n), _mm512_set1_ps(fill), x.v)}; }
/// Lane u = reduce_add(a[u]) for u < kWidth (the same bits).
inline V reduce_add_lanes(const V* a) {
  alignas(64) float s[16];
  for (int u = 0; u < 16; ++u) s[u] = reduce_add(a[u]);
  return load(s);
}

#elif defined(__AVX2__) && defined(__FMA__)

inline constexpr int kWidth = 8;
inline constexpr const char* kIsa = "avx2";
struct V {
  __m256 v;
};
inline __m256i tail_mask(int n) {
  alignas(32) static constexpr int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(m + 8 - (n > 8 ? 8 : n)));
}
inline V set1(float x) { return {_mm256_set1_ps(x)}; }
inline V zero() { return {_mm256_setzero_ps()}; }
inline V load(const float* p) { return {_mm256_loadu_ps(p)}; }
// A whole vector takes the plain load / store: AVX2's masked forms cost several times more
// (on Zen 3 the masked store is microcoded; measured: a 6 x 16 conv tile with K = 64 and a
// residual read through masked loads ran at 73 GFLOP/s, through plain ones at 93).
inline V load(const float* p, int n) {
  return n >= kWidth ? V{_mm256_loadu_ps(p)} : V{_mm256_maskload_ps(p, tail_mask(n))};
}
inline void store(float* p, V x) { _mm256_storeu_ps(p, x.v); }
inline void store(float* p, V x, int n) {
  if (n >= kWidth) _mm256_storeu_ps(p, x.v);
  else _mm256_maskstore_ps(p, tail_mask(n), x.v);
}
inline V operator+(V a, V b) { return {_mm256_add_ps(a.v, b.v)}; }
inline V operator-(V a, V b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline V operator*(V a, V b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline V operator/(V a, V b) { return {_mm256_div_ps(a.v, b.v)}; }
inline V fmadd(V a, V b, V c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline V min(V a, V b) { return {_mm256_min_ps(a.v, b.v)}; }
inline V max(V a, V b) { return {_mm256_max_ps(a.v, b.v)}; }
inline V abs(V a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
inline V select_abs_lt(V a, V b, V x, V y) {
  return {_mm256_blendv_ps(y.v, x.v, _mm256_cmp_ps(abs(a).v, b.v, _CMP_LT_OQ))};
}
inline V round_nearest(V a) { return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
inline V pow2i(V n) {
  const __m256i i = _mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127));
  return {_mm256_castsi256_ps(_mm256_slli_epi32(i, 23))};
}
inline float reduce_add(V a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float reduce_max(V a) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline V first_or(V x, int n, float fill) {
  return {_mm256_blendv_ps(_mm256_set1_ps(fill), x.v, _mm256_castsi256_ps(tail_mask(n)))};
}
/// Eight reduce_adds at once, each summing in reduce_add's order: (x_i + x_{i+4}) for i < 4,
/// then (s_0 + s_2) + (s_1 + s_3). Three rounds of pairwise adds over shuffles instead of
/// eight horizontal reductions.
inline V reduce_add_lanes(const V* a) {
  __m256 x[4];
  for (int u = 0; u < 4; ++u)  // [lo + hi of a[2u] | lo + hi of a[2u + 1]]
    x[u] = _mm256_add_ps(_mm256_permute2f128_ps(a[2 * u].v, a[2 * u + 1].v, 0x20),
                         _mm256_permute2f128_ps(a[2 * u].v, a[2 * u + 1].v, 0x31));
  // (s0 + s2, s1 + s3) of keys 0, 2 | 1, 3 and of 4, 6 | 5, 7
  const __m256 y0 = _mm256_add_ps(_mm256_shuffle_ps(x[0], x[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm256_shuffle_ps(x[0], x[1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m256 y1 = _mm256_add_ps(_mm256_shuffle_ps(x[2], x[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm256_shuffle_ps(x[2], x[3], _MM_SHUFFLE(3, 2, 3, 2)));
  // sums of a[0], a[2], a[4], a[6] | a[1], a[3], a[5], a[7], then into lane order
  const __m256 z = _mm256_add_ps(_mm256_shuffle_ps(y0, y1, _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm256_shuffle_ps(y0, y1, _MM_SHUFFLE(3, 1, 3, 1)));
  return {_mm256_permutevar8x32_ps(z, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))};
}

#else

inline constexpr int kWidth = 1;
inline constexpr const char* kIsa = "portable";
struct V {
  float v;
};
inline V set1(float x) { return {x}; }
inline V zero() { return {0.f}; }
inline V load(const float* p) { return {*p}; }
inline V load(const float* p, int n) { return {n > 0 ? *p : 0.f}; }
inline void store(float* p, V x) { *p = x.v; }
inline void store(float* p, V x, int n) {
  if (n > 0) *p = x.v;
}
inline V operator+(V a, V b) { return {a.v + b.v}; }
inline V operator-(V a, V b) { return {a.v - b.v}; }
inline V operator*(V a, V b) { return {a.v * b.v}; }
inline V operator/(V a, V b) { return {a.v / b.v}; }
inline V fmadd(V a, V b, V c) { return {std::fma(a.v, b.v, c.v)}; }
inline V min(V a, V b) { return {a.v < b.v ? a.v : b.v}; }
inline V max(V a, V b) { return {a.v > b.v ? a.v : b.v}; }
inline V abs(V a) { return {std::fabs(a.v)}; }
inline V select_abs_lt(V a, V b, V x, V y) { return std::fabs(a.v) < b.v ? x : y; }
inline V round_nearest(V a) { return {std::nearbyint(a.v)}; }
inline V pow2i(V n) { return {std::ldexp(1.0f, int(n.v))}; }
inline float reduce_add(V a) { return a.v; }
inline float reduce_max(V a) { return a.v; }
inline V first_or(V x, int n, float fill) { return {n > 0 ? x.v : fill}; }
inline V reduce_add_lanes(const V* a) { return a[0]; }

#endif

/// The part of e^x that exp() and exp_nonpositive() share: x = n ln2 + r, |r| <= ln2 / 2,
/// with ln2 split in two so n ln2 is exact (Cephes); returns e^r and sets n.
inline V exp_reduced(V x, V& n) {
  n = round_nearest(x * set1(1.44269504088896341f));
  V r = fmadd(n, set1(-0.693359375f), x);
  r = fmadd(n, set1(2.12194440e-4f), r);
  V p = set1(1.9875691500e-4f);
  p = fmadd(p, r, set1(1.3981999507e-3f));
  p = fmadd(p, r, set1(8.3334519073e-3f));
  p = fmadd(p, r, set1(4.1665795894e-2f));
  p = fmadd(p, r, set1(1.6666665459e-1f));
  p = fmadd(p, r, set1(5.0000001201e-1f));
  return fmadd(p, r * r, r + set1(1.f));
}

/// e^x. Inputs below -87.3 give ~1e-38 (not 0), above 88.7 give ~FLT_MAX; callers here
/// pass x - max(x) <= 0 (softmax) or clamped values.
inline V exp(V x) {
  V n;
  const V p = exp_reduced(min(max(x, set1(-87.33654f)), set1(88.72283f)), n);
  // n = 128 only for x at the top clamp: split the scale so 2^n never overflows the exponent.
  const V n1 = min(n, set1(127.f));
  return p * pow2i(n1) * pow2i(n - n1);
}

/// e^x for x <= 0 (softmax's max-subtracted scores): exp() without the overflow guard; x is
/// clamped to [-87.3, 0] (below: ~1e-38; above 0: 1).
inline V exp_nonpositive(V x) {
  V n;
  const V p = exp_reduced(min(max(x, set1(-87.33654f)), zero()), n);
  return p * pow2i(n);
}

/// erf(x), Eigen's generic_fast_erf_float: a [13/8] rational function of x on [-4, 4]
/// (erf(+-4) rounds to +-1 in float32).
inline V erf(V x) {
  x = min(max(x, set1(-4.f)), set1(4.f));
  const V x2 = x * x;
  V p = fmadd(x2, set1(-2.72614225801306e-10f), set1(2.77068142495902e-08f));
  p = fmadd(x2, p, set1(-2.10102402082508e-06f));
  p = fmadd(x2, p, set1(-5.69250639462346e-05f));
  p = fmadd(x2, p, set1(-7.34990630326855e-04f));
  p = fmadd(x2, p, set1(-2.95459980854025e-03f));
  p = fmadd(x2, p, set1(-1.60960333262415e-02f));
  p = x * p;
  V q = fmadd(x2, set1(-1.45660718464996e-05f), set1(-2.13374055278905e-04f));
  q = fmadd(x2, q, set1(-1.68282697438203e-03f));
  q = fmadd(x2, q, set1(-7.37332916720468e-03f));
  q = fmadd(x2, q, set1(-1.42647390514189e-02f));
  return p / q;
}

/// tanh(x), Eigen's generic_fast_tanh_float (FMA variant): x P(x^2) / Q(x^2) on
/// [-7.9988, 7.9988]; x itself below |x| < 4e-4, where tanh(x) = x to float precision.
inline V tanh(V x) {
  const V c = min(max(x, set1(-7.99881172180175781f)), set1(7.99881172180175781f));
  const V x2 = c * c;
  V p = fmadd(x2, set1(-2.76076847742355e-16f), set1(2.00018790482477e-13f));
  p = fmadd(x2, p, set1(-8.60467152213735e-11f));
  p = fmadd(x2, p, set1(5.12229709037114e-08f));
  p = fmadd(x2, p, set1(1.48572235717979e-05f));
  p = fmadd(x2, p, set1(6.37261928875436e-04f));
  p = fmadd(x2, p, set1(4.89352455891786e-03f));
  p = c * p;
  V q = fmadd(x2, set1(1.19825839466702e-06f), set1(1.18534705686654e-04f));
  q = fmadd(x2, q, set1(2.26843463243900e-03f));
  q = fmadd(x2, q, set1(4.89352518554385e-03f));
  return select_abs_lt(x, set1(0.0004f), x, p / q);
}

/// Scalar forms of the same approximations (for tests and scalar tails).
inline float exp(float x) {
  float o;
  store(&o, exp(load(&x, 1)), 1);
  return o;
}
inline float erf(float x) {
  float o;
  store(&o, erf(load(&x, 1)), 1);
  return o;
}
inline float tanh(float x) {
  float o;
  store(&o, tanh(load(&x, 1)), 1);
  return o;
}

/// Asks for the cache lines of a register tile's Rows x Cols floats of output c (row stride
/// ldc, for writing) and, when res is non-null, of its residual (row stride ldr, for reading),
/// so that a micro-kernel calling this before its k loop finds them in L1 at its epilogue
/// instead of stalling there (they come from L3 when the feature map outgrows L2). Hints
/// only: nothing is read, so addresses past a partial tile's end are harmless.
template <int Rows, int Cols>
inline void prefetch_tile(const float* c, int64_t ldc, const float* res, int64_t ldr) {
  constexpr int kLineFloats = 64 / int(sizeof(float));
  for (int r = 0; r < Rows; ++r)
    for (int j = 0; j < Cols; j += kLineFloats) {
      if (res) __builtin_prefetch(res + r * ldr + j, 0, 3);
      __builtin_prefetch(c + r * ldc + j, 1, 3);
    }
}

/// The next weight panel's slice, `lines` cache lines from pf, brought into L2 along a
/// micro-kernel's k loop of `total` steps. The loop runs in chunks of `step` k (>= 8; `whole`
/// when there is nothing to fetch) and calls issue() before each, which asks for that chunk's
/// share of the lines: the k loop itself carries no prefetch branch (a countdown tested every
/// k in the GEMM kernel made tailor rank's work ~10% slower on Zen 3).
class L2Stream {
 public:
  L2Stream(const char* pf, int64_t lines, int64_t total, int64_t whole)
      : step(lines > 0 ? std::max<int64_t>(8, total / lines) : whole),
        pf_(pf),
        end_(pf + lines * 64),
        per_(lines > 0 ? (lines * step + total - 1) / total : 0) {}
  void issue() {
    for (int64_t i = 0; i < per_ && pf_ < end_; ++i, pf_ += 64) __builtin_prefetch(pf_, 0, 2);  // prefetcht1
  }
  const int64_t step;

 private:
  const char* pf_;
  const char* const end_;
  const int64_t per_;
};

/// Stores a register tile acc (Rows x NV vectors) to c (rows ldc apart): whole vectors when
/// `full`, else nv[j] lanes of vector column j (columns with none are skipped).
template <int Rows, int NV>
inline void store_tile(float* c, int64_t ldc, const V (&acc)[Rows][NV], const int (&nv)[NV], bool full) {
  if (full) {
    for (int r = 0; r < Rows; ++r)
      for (int j = 0; j < NV; ++j) store(c + r * ldc + j * kWidth, acc[r][j]);
  } else {
    for (int r = 0; r < Rows; ++r)
      for (int j = 0; j < NV; ++j)
        if (nv[j] > 0) store(c + r * ldc + j * kWidth, acc[r][j], nv[j]);
  }
}

}  // namespace tailor::nn::simd
