// tests/test_nn_ops.cpp: BERT's CPU ops against float64 references on fresh random inputs,
// odd sizes included: the SIMD exp / erf / tanh, activations, LayerNorm, masked softmax,
// attention (one head and multi-head over unpadded sequences, any thread count), embedding
// sum and the sentence poolings.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tailor/nn/activation.hpp"
#include "tailor/nn/attention.hpp"
#include "tailor/nn/embedding.hpp"
#include "tailor/nn/layernorm.hpp"
#include "tailor/nn/pooling_text.hpp"
#include "tailor/nn/simd.hpp"
#include "tailor/nn/softmax.hpp"

using namespace tailor;
using namespace tailor::nn;

namespace {
std::vector<float> randn(size_t n, uint32_t seed, float stdev = 1.f, float mean = 0.f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(mean, stdev);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}
}  // namespace

TEST_CASE("simd exp, erf and tanh are float32-accurate") {
  double e_exp = 0, e_erf = 0, e_tanh = 0;
  for (int i = -200000; i <= 200000; ++i) {
    const float x = float(i) * 4.5e-4f;  // [-90, 90] for exp, [-9, 9] for erf / tanh
    const float xe = x;
    const double want = std::exp(double(xe));
    if (xe > -87.f && xe < 88.f) e_exp = std::max(e_exp, std::abs(double(simd::exp(xe)) - want) / want);
    const float xs = x * 0.1f;
    e_erf = std::max(e_erf, std::abs(double(simd::erf(xs)) - std::erf(double(xs))));
    e_tanh = std::max(e_tanh, std::abs(double(simd::tanh(xs)) - std::tanh(double(xs))));
  }
  const std::string isa = simd::kIsa;
  CAPTURE(isa);
  CHECK(e_exp < 4e-7);   // relative, ~3 ulp
  CHECK(e_erf < 4e-7);   // absolute
  CHECK(e_tanh < 3e-7);  // absolute
  CHECK(simd::erf(100.f) == 1.f);
  CHECK(simd::erf(-100.f) == -1.f);
  CHECK(simd::tanh(1e4f) == doctest::Approx(1.f).epsilon(1e-7));
  CHECK(simd::exp(-1000.f) < 1e-37f);
  CHECK(std::isfinite(simd::exp(1000.f)));
}

TEST_CASE("vectorised activations match the scalar references, tails included") {
  for (int64_t n : {1, 7, 16, 33, 1000}) {
    const auto x = randn(size_t(n), uint32_t(n), 3.f);
    for (Activation a : {Activation::relu, Activation::gelu_erf, Activation::gelu_tanh, Activation::tanh}) {
      std::vector<float> y = x;
      activate_inplace(y.data(), n, a);
      for (int64_t i = 0; i < n; ++i) {
        const double v = x[size_t(i)];
        double want = 0;
        switch (a) {
          case Activation::relu: want = v > 0 ? v : 0; break;
          case Activation::gelu_erf: want = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); break;
          case Activation::gelu_tanh:
            want = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
            break;
          case Activation::tanh: want = std::tanh(v); break;
          default: break;
        }
        REQUIRE(std::abs(double(y[size_t(i)]) - want) <= 2e-6 * (1 + std::abs(want)));
      }
    }
  }
  CHECK(activation_from_name("gelu") == Activation::gelu_erf);
  CHECK(activation_from_name("gelu_new") == Activation::gelu_tanh);
  CHECK(activation_from_name("gelu_pytorch_tanh") == Activation::gelu_tanh);
  CHECK(activation_from_name("relu") == Activation::relu);
  CHECK_THROWS_AS(activation_from_name("swish"), Error);
}

TEST_CASE("layernorm matches a float64 reference; eps is honoured") {
  ThreadPool pool(2);
  for (int64_t C : {1, 5, 16, 37, 384, 768}) {
    const int64_t rows = 13, ld = C + 3;
    const auto x = randn(size_t(rows * ld), uint32_t(C), 2.f, 0.7f), g = randn(size_t(C), 2), b = randn(size_t(C), 3);
    std::vector<float> y(size_t(rows * ld), NAN);
    layernorm(x.data(), ld, y.data(), ld, rows, C, g.data(), b.data(), 1e-12f, pool);
    for (int64_t r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      for (int64_t c = 0; c < C; ++c) mean += x[size_t(r * ld + c)];
      mean /= double(C);
      for (int64_t c = 0; c < C; ++c) var += (x[size_t(r * ld + c)] - mean) * (x[size_t(r * ld + c)] - mean);
      var /= double(C);
      for (int64_t c = 0; c < C; ++c) {
        const double want = (x[size_t(r * ld + c)] - mean) / std::sqrt(var + 1e-12) * g[size_t(c)] + b[size_t(c)];
        REQUIRE(std::abs(y[size_t(r * ld + c)] - want) <= 2e-5 * (1 + std::abs(want)));
      }
    }
  }
  // A constant row: the variance is 0 and eps alone sets the scale (torch gives beta).
  std::vector<float> x(8, 3.f), y(8), g(8, 2.f), b(8, 0.5f);
  layernorm_row(x.data(), y.data(), 8, g.data(), b.data(), 1e-5f);
  for (float v : y) CHECK(v == doctest::Approx(0.5f));
  // In place.
  auto z = randn(40, 9);
  std::vector<float> want(40), g1(40, 1.f), b0(40, 0.f);
  layernorm_row(z.data(), want.data(), 40, g1.data(), b0.data(), 1e-12f);
  layernorm_row(z.data(), z.data(), 40, g1.data(), b0.data(), 1e-12f);
  CHECK(std::memcmp(z.data(), want.data(), z.size() * sizeof(float)) == 0);
}

TEST_CASE("softmax matches a float64 reference, with and without a key mask") {
  for (int64_t n : {1, 3, 16, 31, 128, 515}) {
    const auto x = randn(size_t(n), uint32_t(n + 100), 4.f);
    std::vector<uint8_t> keep(size_t(n), 1);
    for (int64_t j = 0; j < n; j += 3) keep[size_t(j)] = uint8_t(j == 0);  // mask every third key but the first
    for (int masked = 0; masked < 2; ++masked) {
      std::vector<float> y = x;
      softmax_inplace(y.data(), n, 0.125f, masked ? keep.data() : nullptr);
      double m = -1e300, sum = 0;
      for (int64_t j = 0; j < n; ++j)
        if (!masked || keep[size_t(j)]) m = std::max(m, 0.125 * x[size_t(j)]);
      for (int64_t j = 0; j < n; ++j)
        if (!masked || keep[size_t(j)]) sum += std::exp(0.125 * x[size_t(j)] - m);
      double total = 0;
      for (int64_t j = 0; j < n; ++j) {
        const double want = (!masked || keep[size_t(j)]) ? std::exp(0.125 * x[size_t(j)] - m) / sum : 0.0;
        REQUIRE(std::abs(y[size_t(j)] - want) <= 1e-6 * (1 + want));
        if (masked && !keep[size_t(j)]) REQUIRE(y[size_t(j)] == 0.f);
        total += y[size_t(j)];
      }
      CHECK(total == doctest::Approx(1.0).epsilon(1e-5));
    }
  }
}

namespace {
/// softmax(q k^T scale, masked) v in float64 for one head.
std::vector<double> attention_ref(const float* q, const float* k, const float* v, int64_t ld, int64_t T, int64_t D,
                                  double scale, const uint8_t* keep) {
  std::vector<double> out(static_cast<size_t>(T * D), 0.0), p(static_cast<size_t>(T));
  for (int64_t i = 0; i < T; ++i) {
    double m = -1e300, sum = 0;
    for (int64_t j = 0; j < T; ++j) {
      double s = 0;
      for (int64_t d = 0; d < D; ++d) s += double(q[i * ld + d]) * double(k[j * ld + d]);
      p[size_t(j)] = s * scale;
      if (!keep || keep[j]) m = std::max(m, p[size_t(j)]);
    }
    for (int64_t j = 0; j < T; ++j) {
      p[size_t(j)] = (!keep || keep[j]) ? std::exp(p[size_t(j)] - m) : 0.0;
      sum += p[size_t(j)];
    }
    for (int64_t j = 0; j < T; ++j)
      for (int64_t d = 0; d < D; ++d) out[size_t(i * D + d)] += p[size_t(j)] / sum * double(v[j * ld + d]);
  }
  return out;
}
}  // namespace

TEST_CASE("attention_head matches a float64 reference for odd sizes, masked or not") {
  // T <= kAttentionSmallT (16) takes attention_head_small(), longer ones the GEMM path.
  for (int64_t T : {1, 2, 9, 16, 17, 50, 129}) {
    for (int64_t D : {1, 8, 32, 64, 70}) {
      const int64_t ld = 3 * D + 5;
      const auto qkv = randn(size_t(T * ld), uint32_t(T * 100 + D), 1.f);
      std::vector<uint8_t> keep(size_t(T), 1);
      for (int64_t j = 1; j < T; j += 4) keep[size_t(j)] = 0;
      std::vector<float> scratch(size_t(attention_head_scratch(T, D)) + 16);
      for (int masked = 0; masked < 2; ++masked) {
        std::vector<float> out(size_t(T * (D + 2)), NAN);
        const float scale = float(1 / std::sqrt(double(D)));
        attention_head(qkv.data(), qkv.data() + D, qkv.data() + 2 * D, ld, T, D, scale,
                       masked ? keep.data() : nullptr, out.data(), D + 2, scratch.data());
        const auto want = attention_ref(qkv.data(), qkv.data() + D, qkv.data() + 2 * D, ld, T, D, scale,
                                        masked ? keep.data() : nullptr);
        double err = 0;
        for (int64_t i = 0; i < T; ++i)
          for (int64_t d = 0; d < D; ++d) err = std::max(err, std::abs(out[size_t(i * (D + 2) + d)] - want[size_t(i * D + d)]));
        CAPTURE(T);
        CAPTURE(D);
        CAPTURE(masked);
        CHECK(err < 2e-5);
      }
    }
  }
}

TEST_CASE("simd reduce_add_lanes sums each vector in reduce_add's order; first_or keeps the first n lanes") {
  using namespace simd;
  constexpr int W = kWidth;
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    // Magnitudes spread over 1e-3..1e3 so that a different summation order shows in the bits.
    auto x = randn(size_t(W * W), seed, 1.f);
    for (size_t i = 0; i < x.size(); ++i) x[i] *= std::pow(10.f, float(int(i * 7 % 7) - 3));
    V a[W];
    for (int u = 0; u < W; ++u) a[u] = load(x.data() + u * W);
    float got[W];
    store(got, reduce_add_lanes(a));
    for (int u = 0; u < W; ++u) {
      const float want = reduce_add(a[u]);
      CAPTURE(u);
      CHECK(std::memcmp(&got[u], &want, sizeof(float)) == 0);
    }
  }
  const auto x = randn(size_t(W), 3);
  for (int n = 0; n <= W; ++n) {
    float got[W];
    store(got, first_or(load(x.data()), n, -7.f));
    for (int u = 0; u < W; ++u) CHECK(got[u] == (u < n ? x[size_t(u)] : -7.f));
  }
}

TEST_CASE("short-sequence attention gives the bits of one query row at a time") {
  // attention_head_small() computes the scores a vector of keys at a time and the softmax on
  // whole vectors; every sum keeps the order of this plain row-at-a-time form (one reduce_add
  // per score, softmax_exp_inplace, one FMA chain over the keys per output vector).
  using namespace simd;
  constexpr int W = kWidth;
  for (int64_t T = 1; T <= kAttentionSmallT; ++T)
    for (int64_t D : {8, 32, 37}) {
      const int64_t ld = 3 * D + 3;
      const auto qkv = randn(size_t(T * ld), uint32_t(T * 31 + D), 1.5f);
      const float *q = qkv.data(), *k = q + D, *v = q + 2 * D;
      const float scale = float(1 / std::sqrt(double(D)));
      std::vector<float> scratch(size_t(attention_head_scratch(T, D)) + 16), got(size_t(T * D)), want(size_t(T * D));
      attention_head(q, k, v, ld, T, D, scale, nullptr, got.data(), D, scratch.data());
      std::vector<float> s(static_cast<size_t>(T));
      for (int64_t i = 0; i < T; ++i) {
        for (int64_t j = 0; j < T; ++j) {
          V acc = zero();
          for (int64_t d = 0; d < D; d += W) acc = fmadd(load(q + i * ld + d, int(D - d)), load(k + j * ld + d, int(D - d)), acc);
          s[size_t(j)] = reduce_add(acc);
        }
        const float inv = 1.f / softmax_exp_inplace(s.data(), T, scale, nullptr);
        for (int64_t d = 0; d < D; d += W) {
          V acc = zero();
          for (int64_t j = 0; j < T; ++j) acc = fmadd(set1(s[size_t(j)]), load(v + j * ld + d, int(D - d)), acc);
          store(want.data() + i * D + d, acc * set1(inv), int(D - d));
        }
      }
      CAPTURE(T);
      CAPTURE(D);
      CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("multi_head_attention over unpadded sequences equals per-sequence attention, any thread count") {
  const int64_t H = 48, heads = 3, D = H / heads;
  const std::vector<int64_t> lens = {5, 1, 33, 17, 64};
  std::vector<int64_t> offsets = {0};
  for (int64_t t : lens) offsets.push_back(offsets.back() + t);
  const int64_t R = offsets.back(), ldq = 3 * H + 4;
  const auto qkv = randn(size_t(R * ldq), 77);
  std::vector<uint8_t> keep(size_t(R), 1);
  keep[size_t(offsets[2] + 3)] = 0;  // one masked key inside sequence 2
  std::vector<float> want(size_t(R * H), NAN);
  {
    ThreadPool one(1);
    Arena arena;
    multi_head_attention(qkv.data(), ldq, offsets.data(), int64_t(lens.size()), H, heads, keep.data(), want.data(), H,
                         one, arena);
  }
  // Each (sequence, head) against the float64 reference.
  double err = 0;
  for (size_t b = 0; b < lens.size(); ++b)
    for (int64_t h = 0; h < heads; ++h) {
      const float* base = qkv.data() + offsets[b] * ldq + h * D;
      const auto ref = attention_ref(base, base + H, base + 2 * H, ldq, lens[b], D, 1 / std::sqrt(double(D)),
                                     keep.data() + offsets[b]);
      for (int64_t i = 0; i < lens[b]; ++i)
        for (int64_t d = 0; d < D; ++d)
          err = std::max(err, std::abs(want[size_t((offsets[b] + i) * H + h * D + d)] - ref[size_t(i * D + d)]));
    }
  CHECK(err < 2e-5);
  for (int threads : {2, 3, 8}) {
    ThreadPool pool(threads);
    Arena arena;
    std::vector<float> got(size_t(R * H), NAN);
    multi_head_attention(qkv.data(), ldq, offsets.data(), int64_t(lens.size()), H, heads, keep.data(), got.data(), H,
                         pool, arena);
    CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("embedding sum, cls / mean pooling and L2 normalisation") {
  const int64_t C = 21;
  const auto w = randn(size_t(C), 1), t = randn(size_t(C), 2), p = randn(size_t(C), 3);
  std::vector<float> out(static_cast<size_t>(C));
  embedding_sum_row(w.data(), t.data(), p.data(), out.data(), C);
  for (int64_t i = 0; i < C; ++i) CHECK(out[size_t(i)] == (w[size_t(i)] + t[size_t(i)]) + p[size_t(i)]);

  const int64_t T = 6, ld = C + 2;
  const auto h = randn(size_t(T * ld), 4);
  const uint8_t keep[T] = {1, 1, 0, 1, 0, 1};
  std::vector<float> mean(static_cast<size_t>(C)), cls(static_cast<size_t>(C));
  pool_cls(h.data(), C, cls.data());
  pool_mean(h.data(), T, C, ld, keep, mean.data());
  for (int64_t c = 0; c < C; ++c) {
    CHECK(cls[size_t(c)] == h[size_t(c)]);
    double s = 0;
    for (int64_t r = 0; r < T; ++r) s += keep[r] ? h[size_t(r * ld + c)] : 0.0;
    CHECK(mean[size_t(c)] == doctest::Approx(s / 4).epsilon(1e-6));
  }
  pool_mean(h.data(), T, C, ld, nullptr, mean.data());
  double s0 = 0;
  for (int64_t r = 0; r < T; ++r) s0 += h[size_t(r * ld)];
  CHECK(mean[0] == doctest::Approx(s0 / T).epsilon(1e-6));

  std::vector<float> v = {3.f, 4.f};
  l2_normalize(v.data(), 2);
  CHECK(v[0] == doctest::Approx(0.6f));
  CHECK(v[1] == doctest::Approx(0.8f));
  std::vector<float> zero(3, 0.f);
  l2_normalize(zero.data(), 3);  // F.normalize: 0 / max(0, 1e-12) = 0, no NaN
  for (float z : zero) CHECK(z == 0.f);
}
