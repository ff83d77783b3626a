// benchmarks/profile_resnet.cpp: ResNet50's forward pass conv by conv, timed inside the network.
//
//     profile_resnet BUNDLE|random [--threads T] [--batch N] [--passes P] [--json]
//
// BUNDLE: a converted resnet50 bundle; `random`: random weights built in memory (the
// arithmetic is the same).
// Defines TAILOR_RESNET_CONV_HOOK (models/resnet50.hpp) to time every conv of the trunk where
// it runs, in the network (its inputs where the previous conv left them, its weights cold or
// not as the pass leaves them), unlike bench_conv's isolated shapes. Prints, per conv, the
// median over P passes (after two warm-up passes) of its time, its GFLOP/s and % of the FMA
// peak measured in the same run, and the pass's median time. With several threads, images on
// their own lanes (models/resnet50.hpp) overlap, and a conv's time is the sum over the lanes:
// thread-seconds. --json prints the same as one JSON object, for
// benchmarks/layers_resnet.py (tailor against ONNX Runtime's own profiler, node by node).
// Pin it for one-thread figures (taskset -c 0).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace profile {
std::mutex mu;
std::map<std::pair<int, int>, std::pair<double, double>> pass;  // (block, role) -> (seconds, flops)
inline void record(int block, int role, double seconds, double flops) {
  std::lock_guard<std::mutex> lock(mu);
  auto& e = pass[{block, role}];
  e.first += seconds;
  e.second += flops;
}
}  // namespace profile

#define TAILOR_RESNET_CONV_HOOK(block, role, seconds, flops) profile::record(block, role, seconds, flops)

#include "bench_common.hpp"
#include "bench_resnet.hpp"
#include "tailor/io/bundle.hpp"
#include "tailor/models/resnet50.hpp"

using namespace tailor;

namespace {

/// torchvision's name of a conv: conv1 (the stem), layerL.J.conv1 / conv2 / downsample.0 / conv3.
std::string conv_name(const ResNetConfig& cfg, int block, int role) {
  if (block < 0) return "conv1";
  int layer = 0, j = block;
  while (layer < 3 && j >= cfg.layers[size_t(layer)]) j -= int(cfg.layers[size_t(layer++)]);
  static const char* roles[] = {"conv1", "conv2", "downsample.0", "conv3"};
  return "layer" + std::to_string(layer + 1) + "." + std::to_string(j) + "." + roles[role];
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

int usage() {
  std::fprintf(stderr, "usage: profile_resnet BUNDLE|random [--threads T] [--batch N] [--passes P] [--json]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") return usage();
  int threads = 1, passes = 20;
  int64_t batch = 1;
  bool json = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json") json = true;
    else if (i + 1 < argc && a == "--threads") threads = std::atoi(argv[++i]);
    else if (i + 1 < argc && a == "--batch") batch = std::atoll(argv[++i]);
    else if (i + 1 < argc && a == "--passes") passes = std::atoi(argv[++i]);
    else return usage();
  }
  if (threads < 1 || batch < 1 || batch > 64 || passes < 1) return usage();
  try {
    const std::string path = argv[1];
    const std::string bytes = path == "random" ? bench::random_resnet50_bytes() : std::string();
    const Bundle bundle = path == "random" ? Bundle::from_memory(bytes.data(), bytes.size(), "random-resnet50")
                                           : Bundle::open(path);
    Options opt;
    opt.threads = threads;
    const ResNet50 model(bundle, opt);
    ResNetSession s = model.session();
    const std::vector<float> x = bench::random_images(batch);
    std::map<std::pair<int, int>, std::vector<double>> times;
    std::map<std::pair<int, int>, double> flops;
    std::vector<double> pass_ms;
    for (int p = -2; p < passes; ++p) {
      profile::pass.clear();
      const auto t0 = std::chrono::steady_clock::now();
      s.forward(x.data(), batch, 224, 224);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (p < 0) continue;  // warm-up
      pass_ms.push_back(ms);
      for (const auto& [key, e] : profile::pass) {
        times[key].push_back(e.first * 1e3);
        flops[key] = e.second;
      }
    }
    const double peak = bench::measured_peak_gflops(threads);
    double sum = 0;
    for (const auto& [key, v] : times) sum += median(v);
    if (json) {
      std::printf("{\"threads\":%d,\"batch\":%lld,\"passes\":%d,\"pass_ms\":%.4f,\"peak_gflops\":%.2f,\"convs\":[",
                  threads, static_cast<long long>(batch), passes, median(pass_ms), peak);
      bool first = true;
      for (const auto& [key, v] : times) {
        std::printf("%s{\"name\":\"%s\",\"ms\":%.4f,\"gflop\":%.5f}", first ? "" : ",",
                    conv_name(model.config(), key.first, key.second).c_str(), median(v), flops[key] / 1e9);
        first = false;
      }
      std::printf("]}\n");
      return 0;
    }
    std::printf("ResNet50 at 224 x 224, batch %lld, %d thread(s): pass %.2f ms (median of %d), convs %.2f ms; "
                "FMA peak %.0f GFLOP/s\n",
                static_cast<long long>(batch), threads, median(pass_ms), passes, sum, peak);
    std::printf("%-24s %9s %9s %7s\n", "conv", "ms", "GFLOP/s", "% peak");
    for (const auto& [key, v] : times) {
      const double ms = median(v), g = flops[key] / (ms * 1e-3) / 1e9;
      std::printf("%-24s %9.3f %9.1f %6.0f%%\n", conv_name(model.config(), key.first, key.second).c_str(), ms, g,
                  100 * g / peak);
    }
    std::printf("(Winograd convs do fewer multiplies than their GFLOP/s count, which is the direct conv's.)\n");
  } catch (const Error& e) {
    std::fprintf(stderr, "profile_resnet: %s\n", e.what());
    return 1;
  }
  return 0;
}
