// tailor/models/resnet50_config.hpp: the ResNet config and the tensors it implies.
//
// torchvision's ResNet with Bottleneck blocks (resnet.py; v1.5: the stride sits on the 3x3
// conv). The converter folds every BatchNorm into the conv before it (recorded as
// "bn_folded" in tailor.transforms), so each conv carries a bias and no bn* tensor remains:
//   conv1.{weight (64, 3, 7, 7), bias (64)}
//   layer{s}.{b}.conv{1,2,3}.{weight, bias}, layer{s}.0.downsample.0.{weight, bias}
//   fc.{weight (num_classes, 2048), bias}            absent when num_classes is 0
// Config: {"layers": [3, 4, 6, 3], "num_classes": 1000}. Other block counts (ResNet-101:
// [3, 4, 23, 3], ResNet-152: [3, 8, 36, 3]) are the same network and load the same way.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "tailor/io/bundle.hpp"
#include "tailor/io/config.hpp"

namespace tailor {

struct ResNetConfig {
  std::array<int64_t, 4> layers{3, 4, 6, 3};
  int64_t num_classes = 1000;  // 0: no fc, features only
  static constexpr int64_t kExpansion = 4;
  static constexpr int64_t kStem = 64;
  static constexpr std::array<int64_t, 4> kPlanes{64, 128, 256, 512};
  int64_t feature_dim() const { return kPlanes[3] * kExpansion; }  // 2048

  static ResNetConfig from_json(const json& j, const std::string& where) {
    const detail::ConfigReader r{j, where};
    ResNetConfig c;
    if (r.has("layers")) {
      const json& l = j.at("layers");
      if (!l.is_array() || l.size() != 4) r.bad("layers", "must be a list of 4 block counts");
      for (size_t i = 0; i < 4; ++i) {
        if (!l[i].is_number_integer() || l[i].get<int64_t>() < 1 || l[i].get<int64_t>() > 64)
          r.bad("layers", "must hold block counts in 1..64");
        c.layers[i] = l[i].get<int64_t>();
      }
    }
    c.num_classes = r.integer("num_classes", 0, 1 << 20, 1000);
    return c;
  }

  /// Every tensor of the BN-folded network, (out, in, kh, kw) for convs.
  std::vector<TensorSpec> tensor_specs() const {
    std::vector<TensorSpec> s = {{"conv1.weight", {kStem, 3, 7, 7}}, {"conv1.bias", {kStem}}};
    int64_t in = kStem;
    for (int st = 0; st < 4; ++st) {
      const int64_t planes = kPlanes[size_t(st)], out = planes * kExpansion;
      for (int64_t b = 0; b < layers[size_t(st)]; ++b) {
        const std::string p = "layer" + std::to_string(st + 1) + "." + std::to_string(b) + ".";
        const int64_t bin = b == 0 ? in : out;
        s.push_back({p + "conv1.weight", {planes, bin, 1, 1}});
        s.push_back({p + "conv1.bias", {planes}});
        s.push_back({p + "conv2.weight", {planes, planes, 3, 3}});
        s.push_back({p + "conv2.bias", {planes}});
        s.push_back({p + "conv3.weight", {out, planes, 1, 1}});
        s.push_back({p + "conv3.bias", {out}});
        if (b == 0) {
          s.push_back({p + "downsample.0.weight", {out, bin, 1, 1}});
          s.push_back({p + "downsample.0.bias", {out}});
        }
      }
      in = out;
    }
    if (num_classes > 0) {
      s.push_back({"fc.weight", {num_classes, feature_dim()}});
      s.push_back({"fc.bias", {num_classes}});
    }
    return s;
  }
};

}  // namespace tailor
