// benchmarks/bench_resnet.hpp: a random ResNet50 bundle in memory and random input batches, for
// the image benchmarks.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tailor/models/resnet50_config.hpp"

namespace tailor::bench {

/// A BN-folded ResNet50 bundle with random weights, in memory (safetensors bytes).
inline std::string random_resnet50_bytes() {
  ResNetConfig cfg;
  std::mt19937 g(7);
  std::normal_distribution<float> nd;
  nlohmann::ordered_json h;
  h["__metadata__"] = {{"tailor.format", "1"},
                       {"tailor.arch", "resnet50"},
                       {"tailor.config", R"({"layers": [3, 4, 6, 3], "num_classes": 1000})"},
                       {"tailor.transforms", R"(["bn_folded"])"}};
  std::string data;
  for (const TensorSpec& s : cfg.tensor_specs()) {
    const int64_t n = s.shape.numel();
    const float scale = s.shape.rank > 1 ? std::sqrt(2.f / float(n / s.shape[0])) : 0.1f;
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = nd(g) * scale;
    nlohmann::ordered_json e;
    e["dtype"] = "F32";
    e["shape"] = nlohmann::json::array();
    for (int i = 0; i < s.shape.rank; ++i) e["shape"].push_back(s.shape[i]);
    e["data_offsets"] = {data.size(), data.size() + size_t(n) * 4};
    data.append(reinterpret_cast<const char*>(v.data()), size_t(n) * 4);
    h[s.name] = e;
  }
  std::string header = h.dump();
  while ((8 + header.size()) % 8) header += ' ';
  std::string out(8, '\0');
  const uint64_t len = header.size();
  std::memcpy(out.data(), &len, 8);
  return out + header + data;
}

/// n normalized-looking (N, 3, 224, 224) inputs, the same every call.
inline std::vector<float> random_images(int64_t n) {
  std::mt19937 g(1);
  std::normal_distribution<float> nd;
  std::vector<float> x(size_t(n * 3 * 224 * 224));
  for (auto& v : x) v = nd(g);
  return x;
}

}  // namespace tailor::bench
