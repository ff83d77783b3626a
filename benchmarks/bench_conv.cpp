// benchmarks/bench_conv.cpp: nn::conv2d at every distinct convolution shape of ResNet50
// (224 x 224 input), batch 1 and 8, 1 and 2 threads, plus the stem's maxpool.
//
// Counters: GFLOP/s (2 x multiply-adds / time) and %peak of tailor::bench::measured_peak_gflops
// (the FMA peak measured in this run, with the same thread count). Each benchmark name says
// the layer: e.g. conv/layer3.3x3/batch:1/threads:2.
//   build-resnet/benchmarks/bench_conv --benchmark_filter=batch:1/threads:1
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "tailor/nn/conv2d.hpp"
#include "tailor/nn/pooling.hpp"

using namespace tailor;
using namespace tailor::nn;

namespace {

struct Layer {
  const char* name;
  int64_t hw;  // input side
  Conv2dShape s;
  bool nchw;
  int count;   // how many times ResNet50 runs this shape
};

// Every distinct conv of torchvision's resnet50 at 224 x 224 (v1.5: stride on the 3x3).
const Layer kLayers[] = {
    {"stem.7x7s2", 224, {3, 64, 7, 7, 2, 3}, true, 1},
    {"layer1.conv1.first", 56, {64, 64, 1, 1, 1, 0}, false, 1},
    {"layer1.conv1", 56, {256, 64, 1, 1, 1, 0}, false, 2},
    {"layer1.3x3", 56, {64, 64, 3, 3, 1, 1}, false, 3},
    {"layer1.conv3", 56, {64, 256, 1, 1, 1, 0}, false, 3},
    {"layer1.downsample", 56, {64, 256, 1, 1, 1, 0}, false, 1},
    {"layer2.conv1.first", 56, {256, 128, 1, 1, 1, 0}, false, 1},
    {"layer2.3x3s2", 56, {128, 128, 3, 3, 2, 1}, false, 1},
    {"layer2.downsample.s2", 56, {256, 512, 1, 1, 2, 0}, false, 1},
    {"layer2.conv1", 28, {512, 128, 1, 1, 1, 0}, false, 3},
    {"layer2.3x3", 28, {128, 128, 3, 3, 1, 1}, false, 3},
    {"layer2.conv3", 28, {128, 512, 1, 1, 1, 0}, false, 4},
    {"layer3.conv1.first", 28, {512, 256, 1, 1, 1, 0}, false, 1},
    {"layer3.3x3s2", 28, {256, 256, 3, 3, 2, 1}, false, 1},
    {"layer3.downsample.s2", 28, {512, 1024, 1, 1, 2, 0}, false, 1},
    {"layer3.conv1", 14, {1024, 256, 1, 1, 1, 0}, false, 5},
    {"layer3.3x3", 14, {256, 256, 3, 3, 1, 1}, false, 5},
    {"layer3.conv3", 14, {256, 1024, 1, 1, 1, 0}, false, 6},
    {"layer4.conv1.first", 14, {1024, 512, 1, 1, 1, 0}, false, 1},
    {"layer4.3x3s2", 14, {512, 512, 3, 3, 2, 1}, false, 1},
    {"layer4.downsample.s2", 14, {1024, 2048, 1, 1, 2, 0}, false, 1},
    {"layer4.conv1", 7, {2048, 512, 1, 1, 1, 0}, false, 2},
    {"layer4.3x3", 7, {512, 512, 3, 3, 1, 1}, false, 2},
    {"layer4.conv3", 7, {512, 2048, 1, 1, 1, 0}, false, 3},
    {"fc", 1, {2048, 1000, 1, 1, 1, 0}, false, 1},
};

std::vector<float> randn(size_t n, uint32_t seed, float scale) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

void BM_conv(benchmark::State& state, const Layer* L, GemmPath path) {
  const int64_t n = state.range(0);
  const int threads = int(state.range(1));
  const Conv2dShape& s = L->s;
  const auto w = randn(size_t(s.cout * s.cin * s.kh * s.kw), 1, 0.05f);
  const auto b = randn(size_t(s.cout), 2, 0.1f);
  const auto x = randn(size_t(n * L->hw * L->hw * s.cin), 3, 1.f);
  std::vector<float> y(size_t(n * s.out_h(L->hw) * s.out_w(L->hw) * s.cout));
  const Conv2d conv =
      Conv2d::from_oihw(w.data(), b.data(), s, L->nchw ? ConvInput::nchw : ConvInput::nhwc, ConvAlgo::automatic, path);
  ThreadPool pool(threads);
  Arena arena;
  for (auto _ : state) {
    arena.reset();
    conv2d(conv, x.data(), n, L->hw, L->hw, y.data(), nullptr, Activation::relu, pool, arena);
    benchmark::DoNotOptimize(y.data());
  }
  const double flops = 2.0 * conv.macs(L->hw, L->hw) * double(n);
  const double gf = flops * double(state.iterations()) / 1e9;
  state.counters["GFLOP/s"] = benchmark::Counter(gf, benchmark::Counter::kIsRate);
  state.counters["%peak"] =
      benchmark::Counter(gf * 100.0 / bench::measured_peak_gflops(threads), benchmark::Counter::kIsRate);
  state.counters["x_in_net"] = L->count;
}

void BM_maxpool_stem(benchmark::State& state) {
  const int64_t n = state.range(0);
  ThreadPool pool(int(state.range(1)));
  const auto x = randn(size_t(n * 112 * 112 * 64), 4, 1.f);
  std::vector<float> y(size_t(n * 56 * 56 * 64));
  for (auto _ : state) {
    maxpool2d_nhwc(x.data(), n, 112, 112, 64, 3, 2, 1, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(x.size() + y.size()) * 4);
}

int register_all() {
  for (const Layer& L : kLayers)
    benchmark::RegisterBenchmark((std::string("conv/") + L.name).c_str(), BM_conv, &L, GemmPath::fp32)
        ->ArgsProduct({{1, 8}, {1, 2}})
        ->ArgNames({"batch", "threads"})
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  // The same convs as ResNet50 builds them with Options::amx (where this machine has AMX):
  // the 1x1s as GEMMs on AMX tiles (strided ones over the gathered pixels); the others float32.
  if (tailor::nn::amx::supported())
    for (const Layer& L : kLayers)
      if (!L.nchw && std::string(L.name) != "fc")
        benchmark::RegisterBenchmark((std::string("conv_amx/") + L.name).c_str(), BM_conv, &L, GemmPath::amx)
            ->ArgsProduct({{1, 8}, {1, 2}})
            ->ArgNames({"batch", "threads"})
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
  benchmark::RegisterBenchmark("maxpool/stem", BM_maxpool_stem)
      ->ArgsProduct({{1, 8}, {1, 2}})
      ->ArgNames({"batch", "threads"})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
