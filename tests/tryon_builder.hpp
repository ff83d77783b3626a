// tests/tryon_builder.hpp: a small random tryon bundle built in memory (ResNet blocks
// [1, 1, 1, 1] on 64 x 64 crops, a 2-layer BERT over a 20-token vocab, any head), and random
// images. Shared by tests/test_tryon.cpp and tests/cuda/test_cuda_models.cpp.
#pragma once

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "st_builder.hpp"
#include "tailor/image/image.hpp"
#include "tailor/models/fusion_head_config.hpp"
#include "tailor/models/registry.hpp"

namespace tailor::test {

inline StTensor tryon_random_tensor(const std::string& name, const Shape& s, std::mt19937& g, float scale) {
  std::normal_distribution<float> d(0.f, scale);
  StTensor t{name, DType::F32, s, std::string(size_t(s.numel()) * 4, '\0')};
  for (int64_t i = 0; i < s.numel(); ++i) {
    const float v = d(g);
    std::memcpy(&t.bytes[size_t(i) * 4], &v, 4);
  }
  return t;
}

inline std::string tryon_vocab_text() {
  std::string v = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  for (const char* w : {"a", "red", "dress", "black", "jeans", "blue", "coat", "with", "##s", "pocket", "wool",
                        "summer", "green", "silk", "shirt"})
    v += std::string(w) + "\n";
  return v;
}

/// A complete tryon bundle (bytes) for the given head.
inline std::string tiny_tryon(const json& head, uint32_t seed = 1, int num_labels = 3) {
  std::mt19937 g(seed);
  const json image = {{"layers", {1, 1, 1, 1}}, {"num_classes", 5}};
  json text = {{"vocab_size", 20}, {"hidden_size", 16}, {"num_hidden_layers", 2}, {"num_attention_heads", 2},
               {"intermediate_size", 32}, {"max_position_embeddings", 64}, {"type_vocab_size", 2},
               {"hidden_act", "gelu"}, {"num_labels", num_labels}, {"has_pooler", true}};
  const ResNetConfig rc = ResNetConfig::from_json(image, "t");
  const BertConfig bc = BertConfig::from_json(text, "t");
  const FusionHeadConfig hc = FusionHeadConfig::from_json(head, "t");
  const int64_t d_img = hc.image_feature == "pooled" ? 2048 : 5, d_txt = hc.text_feature == "logits" ? 3 : 16;
  std::vector<StTensor> ts;
  for (const auto& s : rc.tensor_specs()) {
    // Kaiming-like scale keeps the activations finite and of order 1 through the blocks.
    const float fan_in = s.shape.rank == 4 ? float(s.shape[1] * s.shape[2] * s.shape[3]) : float(s.shape[s.shape.rank - 1]);
    ts.push_back(tryon_random_tensor("image." + s.name, s.shape, g, s.shape.rank == 1 ? 0.05f : std::sqrt(1.f / fan_in)));
  }
  for (const auto& s : bc.tensor_specs()) ts.push_back(tryon_random_tensor("text." + s.name, s.shape, g, 0.2f));
  for (const auto& s : hc.tensor_specs(d_img, d_txt)) ts.push_back(tryon_random_tensor("head." + s.name, s.shape, g, 0.1f));
  auto meta = bundle_meta("tryon", {{"image", image}, {"text", text}, {"head", head}}, tryon_vocab_text());
  meta["tailor.transforms"] = "[\"bn_folded\"]";
  meta["tailor.untrained"] = "[\"image\", \"text\", \"head\"]";
  meta["tailor.preprocess"] = R"({"resize": 72, "crop": 64, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]})";
  return st_file(ts, meta);
}

inline Image random_image(int w, int h, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<uint8_t> px(size_t(w) * size_t(h) * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((i * 7 + (g() & 63)) & 0xff);
  return Image::from_rgb(px.data(), w, h);
}

}  // namespace tailor::test
