// benchmarks/bench_image.cpp: the image tower end to end: PNG/JPEG decode, the torchvision
// transform (resize + crop + normalize), and the ResNet50 forward pass at batch 1 and 8 on 1
// and 2 threads.
//
// The ResNet50 weights come from $TAILOR_RESNET_BUNDLE (a converted bundle, as
// benchmarks/side_by_side_resnet.py passes) or are random (He-scaled, built in memory: the
// arithmetic is the same). Counters: GFLOP/s of the forward pass (2 x multiply-adds of every
// conv and the fc) and %peak of the FMA peak measured in this run; images/s. Decode
// benchmarks use python3-skimage's photos when installed. Two modes for scripts:
// `--forward-times BATCH THREADS ITERS` (times as JSON) and `--serve T...` (one forward pass
// per stdin request, for benchmarks/side_by_side_resnet.py's pass-by-pass interleaving).
#include <benchmark/benchmark.h>
#include <sched.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_common.hpp"
#include "bench_resnet.hpp"
#include "tailor/image/image.hpp"
#include "tailor/image/preprocess.hpp"
#include "tailor/io/bundle.hpp"
#include "tailor/models/resnet50.hpp"

using namespace tailor;

namespace {

const char* kSkimage = "/usr/lib/python3/dist-packages/skimage/data/";

std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

struct Model {
  std::string bytes;
  std::unique_ptr<Bundle> bundle;
};

Model& model_bundle() {
  static Model m = [] {
    Model r;
    if (const char* p = std::getenv("TAILOR_RESNET_BUNDLE")) {
      r.bundle = std::make_unique<Bundle>(Bundle::open(p));
    } else {
      r.bytes = bench::random_resnet50_bytes();
      r.bundle = std::make_unique<Bundle>(Bundle::from_memory(r.bytes.data(), r.bytes.size(), "random-resnet50"));
    }
    return r;
  }();
  return m;
}

double resnet50_flops(const ResNet50& m, int64_t h, int64_t w) {
  // 2 x multiply-adds: the convs at this input size, plus the fc.
  double macs = 0;
  auto conv = [&](int64_t cin, int64_t cout, int64_t k, int64_t oh, int64_t ow) { macs += double(cin * cout * k * k * oh * ow); };
  int64_t hh = (h - 1) / 2 + 1, ww = (w - 1) / 2 + 1;
  conv(3, 64, 7, hh, ww);
  hh = (hh - 1) / 2 + 1;
  ww = (ww - 1) / 2 + 1;
  int64_t in = 64;
  for (int s = 0; s < 4; ++s)
    for (int64_t b = 0; b < m.config().layers[size_t(s)]; ++b) {
      const int64_t planes = ResNetConfig::kPlanes[size_t(s)], out = planes * 4, stride = (b == 0 && s > 0) ? 2 : 1;
      const int64_t oh = (hh - 1) / stride + 1, ow = (ww - 1) / stride + 1;
      conv(in, planes, 1, hh, ww);
      conv(planes, planes, 3, oh, ow);
      conv(planes, out, 1, oh, ow);
      if (b == 0) conv(in, out, 1, oh, ow);
      in = out;
      hh = oh;
      ww = ow;
    }
  macs += double(2048 * m.num_classes());
  return 2 * macs;
}

void BM_resnet50_forward(benchmark::State& state) {
  const int64_t n = state.range(0);
  Options opt;
  opt.threads = int(state.range(1));
  const ResNet50 model(*model_bundle().bundle, opt);
  ResNetSession s = model.session();
  const std::vector<float> x = bench::random_images(n);
  s.forward(x.data(), n, 224, 224);  // warm-up: scratch grows once
  for (auto _ : state) {
    const ResNetOutput out = s.forward(x.data(), n, 224, 224);
    benchmark::DoNotOptimize(out.logits.data());
  }
  const double gf = resnet50_flops(model, 224, 224) * double(n) * double(state.iterations()) / 1e9;
  state.counters["GFLOP/s"] = benchmark::Counter(gf, benchmark::Counter::kIsRate);
  state.counters["%peak"] = benchmark::Counter(gf * 100.0 / bench::measured_peak_gflops(opt.threads), benchmark::Counter::kIsRate);
  state.counters["img/s"] = benchmark::Counter(double(n) * double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_resnet50_forward)
    ->ArgsProduct({{1, 8}, {1, 2}})
    ->ArgNames({"batch", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2.0);

void BM_decode(benchmark::State& state, const char* file) {
  const std::string bytes = read_file(std::string(kSkimage) + file);
  if (bytes.empty()) {
    state.SkipWithError("python3-skimage's data images are not installed");
    return;
  }
  int64_t px = 0;
  for (auto _ : state) {
    const Image im = Image::decode(bytes.data(), bytes.size());
    px = int64_t(im.width()) * im.height();
    benchmark::DoNotOptimize(im.rgb());
  }
  state.counters["MP/s"] = benchmark::Counter(double(px) * double(state.iterations()) / 1e6, benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_decode, png_coffee_600x400, "coffee.png")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_decode, jpeg_rocket_640x427, "rocket.jpg")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_decode, jpeg_retina_1411x1411, "retina.jpg")->Unit(benchmark::kMillisecond);

void BM_preprocess(benchmark::State& state) {
  const int w = int(state.range(0)), h = int(state.range(1));
  std::vector<uint8_t> px(size_t(w) * size_t(h) * 3);
  std::mt19937 g(3);
  for (auto& v : px) v = uint8_t(g());
  const Image im = Image::from_rgb(px.data(), w, h);
  const Preprocess p = Preprocess::imagenet();
  std::vector<float> out(p.output_size());
  for (auto _ : state) {
    p.run(im, out.data());
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_preprocess)->Args({640, 427})->Args({1411, 1411})->Args({4000, 3000})->Unit(benchmark::kMillisecond);

/// `bench_image --forward-times BATCH THREADS ITERS`: times ITERS forward passes (after one
/// warm-up) and prints them as JSON, for benchmarks/side_by_side_resnet.py.
int forward_times(int64_t n, int threads, int iters) {
  Options opt;
  opt.threads = threads;
  const ResNet50 model(*model_bundle().bundle, opt);
  ResNetSession s = model.session();
  const std::vector<float> x = bench::random_images(n);
  s.forward(x.data(), n, 224, 224);
  std::string times, cpu;
  for (int i = 0; i < iters; ++i) {
    const std::clock_t c0 = std::clock();
    const auto t0 = std::chrono::steady_clock::now();
    const ResNetOutput out = s.forward(x.data(), n, 224, 224);
    benchmark::DoNotOptimize(out.logits.data());
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    times += (i ? "," : "") + std::to_string(ms);
    cpu += (i ? "," : "") + std::to_string(1e3 * double(std::clock() - c0) / CLOCKS_PER_SEC);
  }
  std::printf("{\"batch\":%lld,\"threads\":%d,\"times_ms\":[%s],\"cpu_ms\":[%s],\"gflop_per_image\":%.4f,"
              "\"peak_gflops\":%.2f}\n",
              static_cast<long long>(n), threads, times.c_str(), cpu.c_str(), resnet50_flops(model, 224, 224) / 1e9,
              bench::measured_peak_gflops(threads));
  return 0;
}

/// `bench_image --serve T...`: one model and session per thread count T, made up front with
/// every CPU allowed (so their worker threads may run anywhere); then, for every line
/// "BATCH THREADS CPU" read from stdin, one forward pass, its thread pinned to CPU when
/// CPU >= 0 (for one-thread runs: the caller pins its other frameworks to the same core), and
/// one JSON line back: {"ms": wall, "cpu_ms": process CPU}. An empty line or EOF ends it.
/// benchmarks/side_by_side_resnet.py alternates single passes of tailor, PyTorch and ONNX
/// Runtime this way, so each pass is timed next to the others on a machine whose speed
/// drifts.
int serve(const std::vector<int>& thread_counts) {
  std::vector<std::unique_ptr<ResNet50>> models;
  std::vector<ResNetSession> sessions;
  for (int t : thread_counts) {
    Options opt;
    opt.threads = t;
    models.push_back(std::make_unique<ResNet50>(*model_bundle().bundle, opt));
    sessions.push_back(models.back()->session());
  }
  std::vector<std::vector<float>> inputs;
  cpu_set_t all;
  sched_getaffinity(0, sizeof(all), &all);
  std::printf("{\"ready\":true,\"gflop_per_image\":%.4f,\"peak_gflops\":[", resnet50_flops(*models.at(0), 224, 224) / 1e9);
  for (size_t i = 0; i < thread_counts.size(); ++i)
    std::printf("%s%.2f", i ? "," : "", bench::measured_peak_gflops(thread_counts[i]));
  std::printf("]}\n");
  std::fflush(stdout);
  for (std::string line; std::getline(std::cin, line) && !line.empty();) {
    long long n = 0;
    int t = 0, cpu = -1;
    if (std::sscanf(line.c_str(), "%lld %d %d", &n, &t, &cpu) != 3 || n < 1 || n > 64) return 2;
    size_t k = 0;
    while (k < thread_counts.size() && thread_counts[k] != t) ++k;
    if (k == thread_counts.size()) return 2;
    if (inputs.size() <= size_t(n)) inputs.resize(size_t(n) + 1);
    if (inputs[size_t(n)].empty()) inputs[size_t(n)] = bench::random_images(n);
    if (cpu >= 0) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      sched_setaffinity(0, sizeof(one), &one);
    } else {
      sched_setaffinity(0, sizeof(all), &all);
    }
    const std::clock_t c0 = std::clock();
    const auto t0 = std::chrono::steady_clock::now();
    const ResNetOutput out = sessions[k].forward(inputs[size_t(n)].data(), n, 224, 224);
    benchmark::DoNotOptimize(out.logits.data());
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("{\"ms\":%.4f,\"cpu_ms\":%.4f}\n", ms, 1e3 * double(std::clock() - c0) / CLOCKS_PER_SEC);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "--forward-times")
    return forward_times(std::atoll(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]));
  if (argc >= 3 && std::string(argv[1]) == "--serve") {
    std::vector<int> t;
    for (int i = 2; i < argc; ++i) t.push_back(std::atoi(argv[i]));
    return serve(t);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
