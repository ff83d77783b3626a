// tests/test_nn_gemm.cpp: gemm() and matmul() against a float64 triple loop, odd sizes,
// every epilogue, 1-3 threads; several K blocks (K > GemmBlocking::kc) with an in-place
// residual; results independent of the thread count; PackedWeight's layout. Each gemm test
// runs on the float32 FMA path and, where this machine and build have it, the AMX bf16x6
// path (gemm_amx.hpp), which must be at least as accurate.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "tailor/nn/gemm.hpp"

using namespace tailor;
using namespace tailor::nn;

namespace {
std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}
/// The gemm paths to test here: float32 always, AMX where available.
std::vector<GemmPath> paths() {
  std::vector<GemmPath> p{GemmPath::fp32};
  if (amx::supported()) p.push_back(GemmPath::amx);
  return p;
}
double act_ref(double x, Activation a) {
  switch (a) {
    case Activation::relu: return x > 0 ? x : 0;
    case Activation::gelu_erf: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Activation::gelu_tanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case Activation::tanh: return std::tanh(x);
    default: return x;
  }
}
}  // namespace

TEST_CASE("gemm matches a float64 reference for odd sizes and every epilogue") {
  // M, N, K: tails of every tile dimension, K over two blocks of GemmBlocking::kc (768),
  // K = 0 (the epilogue alone).
  const int64_t sizes[][3] = {{1, 1, 1},      {7, 13, 5},    {33, 65, 17}, {128, 384, 384}, {3, 1000, 64},
                              {200, 16, 300}, {19, 97, 1700}, {9, 49, 769}, {5, 3, 0},
                              {700, 40, 300}};  // (AMX: A over 1 MB, converted per group of strips)
  for (GemmPath path : paths())
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (const auto& s : sizes) {
      const int64_t M = s[0], N = s[1], K = s[2];
      const auto a = randn(size_t(M * (K + 3)), 1), w = randn(size_t(N * K), 2), bias = randn(size_t(N), 3),
                 res = randn(size_t(M * N), 4);
      const PackedWeight pw = PackedWeight::from_out_in(w.data(), N, K, path);
      CHECK(pw.amx() == (path == GemmPath::amx && K > 0));
      std::vector<double> dot(static_cast<size_t>(M * N));  // bias + A W in float64
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) {
          double acc = bias[size_t(n)];
          for (int64_t k = 0; k < K; ++k) acc += double(a[size_t(m * (K + 3) + k)]) * double(w[size_t(n * K + k)]);
          dot[size_t(m * N + n)] = acc;
        }
      for (Activation act : {Activation::none, Activation::relu, Activation::gelu_erf, Activation::gelu_tanh,
                             Activation::tanh}) {
        for (int with_res = 0; with_res < 3; ++with_res) {  // 0: none, 1: separate, 2: in place
          std::vector<float> c(size_t(M * (N + 1)), NAN);
          Epilogue ep;
          ep.bias = bias.data();
          ep.act = act;
          if (with_res == 1) { ep.residual = res.data(); ep.ldr = N; }
          if (with_res == 2) {
            for (int64_t m = 0; m < M; ++m)
              for (int64_t n = 0; n < N; ++n) c[size_t(m * (N + 1) + n)] = res[size_t(m * N + n)];
            ep.residual = c.data();
            ep.ldr = N + 1;
          }
          gemm(a.data(), M, K + 3, pw, c.data(), N + 1, ep, pool);
          double max_err = 0;
          for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
              double acc = dot[size_t(m * N + n)];
              if (with_res) acc += res[size_t(m * N + n)];
              const double want = act_ref(acc, act);
              max_err = std::max(max_err, std::abs(want - double(c[size_t(m * (N + 1) + n)])) / (1 + std::abs(want)));
            }
          CAPTURE(M); CAPTURE(N); CAPTURE(K); CAPTURE(threads); CAPTURE(with_res); CAPTURE(int(path));
          CHECK(max_err < 2e-5 * std::sqrt(double(K + 1)));
        }
      }
    }
  }
}

TEST_CASE("matmul handles every transpose combination, alpha and beta") {
  const int64_t M = 9, N = 11, K = 7;
  const auto a = randn(size_t(M * K), 5), b = randn(size_t(K * N), 6), c0 = randn(size_t(M * N), 7);
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      // Lay out op(A) = A_logical (M, K) as stored: A or A^T.
      std::vector<float> as(size_t(M * K)), bs(size_t(K * N));
      for (int64_t m = 0; m < M; ++m)
        for (int64_t k = 0; k < K; ++k) as[size_t(ta ? k * M + m : m * K + k)] = a[size_t(m * K + k)];
      for (int64_t k = 0; k < K; ++k)
        for (int64_t n = 0; n < N; ++n) bs[size_t(tb ? n * K + k : k * N + n)] = b[size_t(k * N + n)];
      std::vector<float> c = c0;
      matmul(as.data(), ta ? M : K, ta, bs.data(), tb ? K : N, tb, c.data(), N, M, N, K, 0.5f, 2.f);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) {
          double acc = 0;
          for (int64_t k = 0; k < K; ++k) acc += double(a[size_t(m * K + k)]) * b[size_t(k * N + n)];
          REQUIRE(c[size_t(m * N + n)] == doctest::Approx(0.5 * acc + 2.0 * c0[size_t(m * N + n)]).epsilon(1e-5));
        }
    }
}

TEST_CASE("gemm gives bit-identical results for any thread count and blocking") {
  for (GemmPath path : paths()) {
  CAPTURE(int(path));
  const int64_t M = 77, N = 130, K = 1000;
  const auto a = randn(size_t(M * K), 11), w = randn(size_t(N * K), 12), bias = randn(size_t(N), 13);
  const PackedWeight pw = PackedWeight::from_out_in(w.data(), N, K, path);
  Epilogue ep;
  ep.bias = bias.data();
  ep.act = Activation::gelu_erf;
  std::vector<float> want(size_t(M * N));
  {
    ThreadPool one(1);
    gemm(a.data(), M, K, pw, want.data(), N, ep, one);
  }
  for (int threads : {2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t mc : {8, 16, 256}) {
      std::vector<float> got(size_t(M * N), NAN);
      nn::detail::gemm_blocked(a.data(), M, K, pw, got.data(), N, ep, pool, nn::detail::GemmBlocking{768, mc});
      CAPTURE(threads);
      CAPTURE(mc);
      CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0);
    }
  }
  // gemm_serial over column slices of whole kPanel groups (not multiples of AMX's 32), with
  // A converted once by gemm_prepare_a or per call, and row subsets: the same bits.
  const uint16_t* prepared = gemm_prepare_a(a.data(), M, K, pw, nullptr);
  CHECK((prepared != nullptr) == pw.amx());
  std::vector<float> sliced(size_t(M * N), NAN), sliced2(size_t(M * N), NAN);
  for (int64_t p = 0; p < pw.panels(); ++p) {
    gemm_serial(a.data(), M, K, pw, sliced.data(), N, ep, p, p + 1, prepared);
    gemm_serial(a.data(), M, K, pw, sliced2.data(), N, ep, p, p + 1);
  }
  CHECK(std::memcmp(sliced.data(), want.data(), want.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(sliced2.data(), want.data(), want.size() * sizeof(float)) == 0);
  std::vector<float> rows(size_t(M * N), NAN);
  for (int64_t m0 = 0; m0 < M; m0 += 13)
    gemm_serial(a.data() + m0 * K, std::min<int64_t>(13, M - m0), K, pw, rows.data() + m0 * N, N, ep);
  CHECK(std::memcmp(rows.data(), want.data(), want.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("AMX: a large A (converted per group of strips) gives the bits of small products") {
  if (!amx::supported()) {
    MESSAGE("AMX not available here (CPU, build or TAILOR_AMX=0): skipped");
    return;
  }
  const int64_t M = 1500, N = 72, K = 260;  // 1536 x 288 x 6 bytes of converted A: over 1 MB
  const auto a = randn(size_t(M * K), 51), w = randn(size_t(N * K), 52), bias = randn(size_t(N), 53);
  const PackedWeight pw = PackedWeight::from_out_in(w.data(), N, K, GemmPath::amx);
  Epilogue ep;
  ep.bias = bias.data();
  ep.act = Activation::relu;
  std::vector<float> big(size_t(M * N), NAN), small(size_t(M * N), NAN);
  ThreadPool one(1), two(2);
  gemm(a.data(), M, K, pw, big.data(), N, ep, one);
  std::vector<float> big2(size_t(M * N), NAN);
  gemm(a.data(), M, K, pw, big2.data(), N, ep, two);
  CHECK(big2 == big);
  for (int64_t m0 = 0; m0 < M; m0 += 100)
    gemm(a.data() + m0 * K, std::min<int64_t>(100, M - m0), K, pw, small.data() + m0 * N, N, ep, one);
  CHECK(std::memcmp(big.data(), small.data(), big.size() * sizeof(float)) == 0);
}

TEST_CASE("the AMX path is at least as accurate as float32 FMA") {
  if (!amx::supported()) {
    MESSAGE("AMX not available here (CPU, build or TAILOR_AMX=0): skipped");
    return;
  }
  for (const auto& s : {std::array<int64_t, 3>{64, 96, 384}, std::array<int64_t, 3>{100, 300, 1536}}) {
    const int64_t M = s[0], N = s[1], K = s[2];
    const auto a = randn(size_t(M * K), 41), w = randn(size_t(N * K), 42);
    ThreadPool pool(1);
    double err[2] = {0, 0}, norm = 0;
    std::vector<float> c(size_t(M * N));
    for (int i = 0; i < 2; ++i) {
      const PackedWeight pw = PackedWeight::from_out_in(w.data(), N, K, i ? GemmPath::amx : GemmPath::fp32);
      gemm(a.data(), M, K, pw, c.data(), N, Epilogue{}, pool);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) {
          double acc = 0;
          for (int64_t k = 0; k < K; ++k) acc += double(a[size_t(m * K + k)]) * double(w[size_t(n * K + k)]);
          err[i] += (c[size_t(m * N + n)] - acc) * (c[size_t(m * N + n)] - acc);
          if (i == 0) norm += acc * acc;
        }
    }
    const double rel_fp32 = std::sqrt(err[0] / norm), rel_amx = std::sqrt(err[1] / norm);
    CAPTURE(K);
    CAPTURE(rel_fp32);
    CAPTURE(rel_amx);
    CHECK(rel_amx < 1e-6);
    CHECK(rel_amx <= 1.5 * rel_fp32);
  }
}

TEST_CASE("PackedWeight stores W (K, N) in zero-padded panels") {
  const int64_t N = PackedWeight::kPanel + 3, K = 5;
  const auto w = randn(size_t(N * K), 21);
  const PackedWeight a = PackedWeight::from_out_in(w.data(), N, K, GemmPath::fp32);
  std::vector<float> t(size_t(K * N));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) t[size_t(k * N + n)] = w[size_t(n * K + k)];
  const PackedWeight b = PackedWeight::from_in_out(t.data(), K, N, GemmPath::fp32);
  CHECK(a.rows() == K);
  CHECK(a.cols() == N);
  CHECK(a.panels() == 2);
  CHECK(a.bytes() == size_t(2 * PackedWeight::kPanel * K) * sizeof(float));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n) {
      REQUIRE(a.at(k, n) == w[size_t(n * K + k)]);
      REQUIRE(b.at(k, n) == w[size_t(n * K + k)]);
    }
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 3; j < PackedWeight::kPanel; ++j) CHECK(a.panel(1)[k * PackedWeight::kPanel + j] == 0.f);
  if (amx::supported()) {  // three bfloat16 parts that sum back to every weight exactly
    const PackedWeight x = PackedWeight::from_out_in(w.data(), N, K, GemmPath::amx);
    CHECK(x.amx());
    CHECK(x.data() == nullptr);
    CHECK(x.bytes() == size_t(amx::round_up(N) * amx::round_up(K) * 3) * sizeof(uint16_t));
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < N; ++n) REQUIRE(x.at(k, n) == w[size_t(n * K + k)]);
  } else {
    CHECK_THROWS_AS(PackedWeight::from_out_in(w.data(), N, K, GemmPath::amx), tailor::Error);
  }
}

TEST_CASE("gemm_eigen, the baseline, agrees with gemm") {
  const int64_t M = 45, N = 70, K = 33;
  const auto a = randn(size_t(M * K), 31), w = randn(size_t(N * K), 32), bias = randn(size_t(N), 33);
  std::vector<float> t(size_t(K * N));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) t[size_t(k * N + n)] = w[size_t(n * K + k)];
  const PackedWeight pw = PackedWeight::from_out_in(w.data(), N, K);
  ThreadPool pool(2);
  Epilogue ep;
  ep.bias = bias.data();
  ep.act = Activation::relu;
  std::vector<float> c1(size_t(M * N)), c2(size_t(M * N));
  gemm(a.data(), M, K, pw, c1.data(), N, ep, pool);
  gemm_eigen(a.data(), M, K, t.data(), K, N, c2.data(), N, ep, pool);
  for (size_t i = 0; i < c1.size(); ++i) REQUIRE(c1[i] == doctest::Approx(c2[i]).epsilon(1e-4));
}

TEST_CASE("pack_panels_transposed equals pack_panels of the transpose, tails included") {
  for (int64_t T : {1, 15, 16, 17, 48, 50, 129})
    for (int64_t D : {1, 8, 16, 32, 33, 64}) {
      const int64_t ld = D + 5;
      const auto src = randn(size_t(T * ld), uint32_t(T * 7 + D));
      const int64_t panels = (T + nn::detail::kGemmNR - 1) / nn::detail::kGemmNR;
      std::vector<float> a(static_cast<size_t>(panels * nn::detail::kGemmNR * D), NAN), b = a;
      nn::detail::pack_panels<nn::detail::kGemmNR>(src.data(), D, T, 1, ld, a.data());
      nn::detail::pack_panels_transposed<nn::detail::kGemmNR>(src.data(), T, D, ld, b.data());
      CAPTURE(T);
      CAPTURE(D);
      CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    }
}
