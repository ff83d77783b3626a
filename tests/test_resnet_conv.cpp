// tests/test_resnet_conv.cpp: conv2d (implicit GEMM, fused epilogue) and pooling against
// float64 loop nests, on odd shapes, every epilogue and 1-3 threads. Built three times: with
// the build's flags (AVX-512 here), with AVX-512 off (the AVX2 + FMA micro-kernel) and with
// AVX off entirely (the portable micro-kernel), so every kernel is checked on this machine.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tailor/nn/conv2d.hpp"
#include "tailor/nn/pooling.hpp"

using namespace tailor;
using namespace tailor::nn;

namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(g) * scale;
  return v;
}

/// max |a - b| / (1 + |b|): relative for large values, absolute near 0.
double max_err(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - double(b[i])) / (1.0 + std::fabs(double(b[i]))));
  return m;
}

struct Case {
  int64_t n, h, w, cin, cout, k, stride, pad;
  bool nchw;
};

}  // namespace

TEST_CASE("conv2d matches the float64 reference: kernels, strides, padding, odd sizes, epilogues, threads") {
  const Case cases[] = {
      {1, 1, 1, 1, 1, 1, 1, 0, false},      {2, 7, 9, 16, 64, 1, 1, 0, false},   {1, 5, 33, 13, 70, 1, 1, 0, false},
      {1, 9, 11, 5, 37, 3, 1, 1, false},    {3, 5, 6, 17, 16, 3, 1, 1, false},   {1, 10, 13, 8, 40, 3, 2, 1, false},
      {1, 15, 15, 32, 33, 1, 2, 0, false},  {2, 14, 14, 64, 64, 3, 1, 1, false}, {1, 7, 7, 24, 96, 3, 2, 1, false},
      {1, 9, 9, 3, 70, 7, 2, 3, true},      {2, 17, 12, 3, 64, 7, 2, 3, true},   {1, 4, 4, 6, 31, 5, 1, 2, false},
      {1, 30, 29, 16, 48, 3, 1, 1, false},  {1, 1, 1, 2048, 1000, 1, 1, 0, false}, {4, 1, 1, 300, 45, 1, 1, 0, false},
      {1, 1, 1, 40, 8, 3, 1, 1, false},     {1, 31, 30, 8, 20, 3, 2, 1, false},  {1, 20, 32, 24, 33, 1, 2, 0, false},     {2, 2, 3, 16, 16, 3, 1, 1, false},   {1, 7, 7, 100, 70, 3, 1, 1, false},
      // Winograd with 1 MiB of transformed weights; a weight-heavy conv on few pixels (im2col),
      // as ResNet's layer 4 at batch 1; strided 1x1s (gathered pixels on the AMX path).
      {2, 15, 17, 160, 96, 3, 1, 1, false}, {1, 7, 7, 256, 256, 3, 1, 1, false}, {2, 9, 11, 48, 256, 1, 2, 0, false},
      {1, 8, 9, 40, 20, 1, 3, 0, false},
      // More weights than L2 on few pixels (panel by panel, next panel prefetched): a 1x1 and
      // a 3x3 through im2col, as ResNet's layer 4 at batch 1.
      {1, 7, 7, 1024, 600, 1, 1, 0, false}, {1, 5, 5, 320, 256, 3, 1, 1, false},
      // Winograd over more than 64 weight panels on one thread: its GEMM calls run up to 64
      // panels each (a partial last panel too).
      {1, 4, 5, 16, 2100, 3, 1, 1, false},
  };
  MESSAGE("conv micro-kernel: " << std::string(simd::kIsa) << ", register tile " << nn::detail::kConvMR << " x "
                                 << nn::detail::kConvNR);
  ThreadPool pools[3] = {ThreadPool(1), ThreadPool(2), ThreadPool(3)};
  Arena arena;
  uint32_t seed = 1;
  for (const Case& c : cases) {
    const Conv2dShape s{c.cin, c.cout, c.k, c.k, c.stride, c.pad};
    CAPTURE(s.str());
    CAPTURE(c.h);
    CAPTURE(c.w);
    const int64_t oh = s.out_h(c.h), ow = s.out_w(c.w);
    const auto x = randn(size_t(c.n * c.h * c.w * c.cin), seed++);
    const auto wt = randn(size_t(c.cout * c.cin * c.k * c.k), seed++, 1.f / std::sqrt(float(c.cin * c.k * c.k)));
    const auto bias = randn(size_t(c.cout), seed++);
    const auto res = randn(size_t(c.n * oh * ow * c.cout), seed++);
    const bool wino_ok = c.k == 3 && c.stride == 1 && c.pad == 1 && !c.nchw;
    std::vector<Conv2d> convs;  // every algorithm that applies
    convs.push_back(Conv2d::from_oihw(wt.data(), bias.data(), s, c.nchw ? ConvInput::nchw : ConvInput::nhwc, ConvAlgo::direct));
    if (wino_ok) convs.push_back(Conv2d::from_oihw(wt.data(), bias.data(), s, ConvInput::nhwc, ConvAlgo::winograd));
    if (!c.nchw && nn::amx::supported())  // AMX GEMM for the 1x1s (others keep float32)
      convs.push_back(Conv2d::from_oihw(wt.data(), bias.data(), s, ConvInput::nhwc, ConvAlgo::direct, nn::GemmPath::amx));
    for (int mode = 0; mode < 4; ++mode) {  // 0: plain, 1: ReLU, 2: residual + ReLU, 3: in-place residual
      CAPTURE(mode);
      const Activation act = mode == 0 ? Activation::none : Activation::relu;
      std::vector<float> ref(res.size());
      conv2d_reference(x.data(), c.n, c.h, c.w, wt.data(), bias.data(), s, ref.data(), mode >= 2 ? res.data() : nullptr,
                       act, c.nchw);
      for (const Conv2d& conv : convs)
        for (ThreadPool& pool : pools) {
          CAPTURE(conv.winograd());
          CAPTURE(conv.amx());
          CAPTURE(pool.size());
          std::vector<float> y(res.size());
          const float* r = nullptr;
          if (mode == 2) r = res.data();
          if (mode == 3) { y = res; r = y.data(); }
          arena.reset();
          conv2d(conv, x.data(), c.n, c.h, c.w, y.data(), r, act, pool, arena);
          CHECK(max_err(y, ref) < 2e-5);
        }
    }
  }
}

TEST_CASE("conv2d results do not depend on the thread count or the batch") {
  // The second shape: 2.6 MiB of Winograd weights split over output channels by the threads;
  // the third: a strided 1x1 (gathered pixels on the AMX path); the fourth: 2.4 MiB of weights,
  // taken panel by panel for one image and pixel tile by tile for the batch of 3.
  for (const Conv2dShape s : {Conv2dShape{32, 64, 3, 3, 1, 1}, Conv2dShape{160, 256, 3, 3, 1, 1},
                              Conv2dShape{96, 256, 1, 1, 2, 0}, Conv2dShape{1024, 600, 1, 1, 1, 0}})
  for (int algo_i = 0; algo_i < 3; ++algo_i) {
  if (algo_i == 2 && !nn::amx::supported()) continue;
  if (algo_i == 1 && s.kh != 3) continue;
  const ConvAlgo algo = algo_i == 1 ? ConvAlgo::winograd : ConvAlgo::direct;
  const nn::GemmPath path = algo_i == 2 ? nn::GemmPath::amx : nn::GemmPath::fp32;  // 2: AMX (1x1 convs; the others keep float32)
  CAPTURE(algo_i);
  CAPTURE(s.cin);
  const int64_t n = 3, h = 13, w = 11;
  const auto x = randn(size_t(n * h * w * s.cin), 7);
  const auto wt = randn(size_t(s.cout * s.cin * s.kh * s.kw), 8, 0.05f);
  const auto bias = randn(size_t(s.cout), 9);
  const Conv2d conv = Conv2d::from_oihw(wt.data(), bias.data(), s, ConvInput::nhwc, algo, path);
  const size_t per = size_t(s.out_h(h) * s.out_w(w) * s.cout);
  std::vector<float> base(n * per);
  {
    ThreadPool pool(1);
    Arena arena;
    conv2d(conv, x.data(), n, h, w, base.data(), nullptr, Activation::relu, pool, arena);
  }
  for (int threads : {2, 3, 4}) {
    ThreadPool pool(threads);
    Arena arena;
    std::vector<float> y(base.size());
    conv2d(conv, x.data(), n, h, w, y.data(), nullptr, Activation::relu, pool, arena);
    CHECK(y == base);
  }
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    Arena arena;
    for (int64_t i = 0; i < n; ++i) {
      std::vector<float> y(per);
      arena.reset();
      conv2d(conv, x.data() + i * h * w * s.cin, 1, h, w, y.data(), nullptr, Activation::relu, pool, arena);
      CHECK(std::equal(y.begin(), y.end(), base.begin() + i * int64_t(per)));
    }
  }
  }
}

TEST_CASE("Winograd weights built on first use: the same bits as at load, once, from any thread") {
  // WinogradPack::on_first_use (ResNet's last stage, whose 7 x 7 maps at 224 run directly):
  // the Winograd weights are made from the packed direct weights the first time an image size
  // takes the Winograd path. 8 threads race to that first use (test.sh runs this case under
  // TSan); every result must equal the conv whose Winograd weights were built at load.
  const Conv2dShape s{48, 40, 3, 3, 1, 1};
  const auto wt = randn(size_t(s.cout * s.cin * 9), 71, 0.1f);
  const auto bias = randn(size_t(s.cout), 72);
  const Conv2d eager = Conv2d::from_oihw(wt.data(), bias.data(), s);
  const Conv2d lazy =
      Conv2d::from_oihw(wt.data(), bias.data(), s, ConvInput::nhwc, ConvAlgo::automatic, GemmPath::fp32,
                        WinogradPack::on_first_use);
  CHECK(eager.winograd());
  CHECK(lazy.winograd());
  CHECK(lazy.bytes() < eager.bytes());  // not built yet
  const int64_t h = 14, w = 13;         // 49 2x2 tiles: the Winograd path
  REQUIRE(lazy.use_winograd(h, w));
  const auto x = randn(size_t(h * w * s.cin), 73);
  std::vector<float> want(size_t(h * w * s.cout));
  {
    ThreadPool pool(1);
    Arena arena;
    conv2d(eager, x.data(), 1, h, w, want.data(), nullptr, Activation::relu, pool, arena);
  }
  std::vector<std::vector<float>> got(8, std::vector<float>(want.size()));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i)
    threads.emplace_back([&, i] {
      ThreadPool pool(1);
      Arena arena;
      conv2d(lazy, x.data(), 1, h, w, got[i].data(), nullptr, Activation::relu, pool, arena);
      CHECK(lazy.bytes() == eager.bytes());  // while others may still be on their first use
    });
  for (auto& t : threads) t.join();
  for (const auto& g : got) CHECK(g == want);
  CHECK(lazy.bytes() == eager.bytes());  // built once
  // A size below the Winograd threshold runs directly, as the eager conv does.
  REQUIRE(!lazy.use_winograd(7, 7));
}

TEST_CASE("conv2d refuses shapes without output pixels and out-of-range geometry") {
  ThreadPool pool(1);
  Arena arena;
  const std::vector<float> wt(9, 1.f), x(4, 1.f);
  const Conv2d conv = Conv2d::from_oihw(wt.data(), nullptr, {1, 1, 3, 3, 1, 0});
  std::vector<float> y(16);
  CHECK_THROWS_AS(conv2d(conv, x.data(), 1, 2, 2, y.data(), nullptr, Activation::none, pool, arena), Error);
  CHECK_THROWS_AS(Conv2d::from_oihw(wt.data(), nullptr, {0, 1, 3, 3, 1, 0}), Error);
  CHECK_THROWS_AS(Conv2d::from_oihw(wt.data(), nullptr, {1, 1, 3, 3, 0, 0}), Error);
}

TEST_CASE("maxpool2d_nhwc: -inf padding, odd sizes, NaN propagation") {
  ThreadPool pool(2);
  for (auto [h, w] : {std::pair<int64_t, int64_t>{1, 1}, {2, 3}, {7, 7}, {112, 112}, {9, 4}}) {
    const int64_t n = 2, c = 19, k = 3, s = 2, p = 1;
    // Mostly negative values: a zero-padded max would be wrong at the borders.
    auto x = randn(size_t(n * h * w * c), uint32_t(h * 100 + w));
    for (auto& v : x) v -= 3.f;
    const int64_t oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
    std::vector<float> y(size_t(n * oh * ow * c)), ref(y.size(), -std::numeric_limits<float>::infinity());
    maxpool2d_nhwc(x.data(), n, h, w, c, k, s, p, y.data(), pool);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox)
          for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t a = 0; a < k; ++a)
              for (int64_t b = 0; b < k; ++b) {
                const int64_t iy = oy * s - p + a, ix = ox * s - p + b;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                float& r = ref[size_t(((i * oh + oy) * ow + ox) * c + ch)];
                r = std::max(r, x[size_t(((i * h + iy) * w + ix) * c + ch)]);
              }
    CHECK(y == ref);
  }
  std::vector<float> x(9, 1.f);
  x[4] = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> y(4);
  maxpool2d_nhwc(x.data(), 1, 3, 3, 1, 3, 2, 1, y.data(), pool);
  for (float v : y) CHECK(std::isnan(v));
}

TEST_CASE("global_avgpool_nhwc is the per-channel mean") {
  ThreadPool pool(3);
  const int64_t n = 3, h = 7, w = 5, c = 600;
  const auto x = randn(size_t(n * h * w * c), 42);
  std::vector<float> y(size_t(n * c));
  global_avgpool_nhwc(x.data(), n, h, w, c, y.data(), pool);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch) {
      double s = 0;
      for (int64_t p = 0; p < h * w; ++p) s += x[size_t((i * h * w + p) * c + ch)];
      CHECK(std::fabs(y[size_t(i * c + ch)] - s / double(h * w)) < 1e-5);
    }
}
