// tests/st_builder.hpp: builds safetensors / bundle bytes in memory for tests and fuzz seeds.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tailor/core/tensor.hpp"
#include "tailor/io/bundle.hpp"

namespace tailor::test {

/// 8-byte little-endian length + header + data, with `declared` overriding the length.
inline std::string st_bytes(const std::string& header, const std::string& data, uint64_t declared = UINT64_MAX) {
  const uint64_t n = declared == UINT64_MAX ? header.size() : declared;
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return out + header + data;
}

struct StTensor {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  std::string bytes;  // raw little-endian data
};

inline StTensor f32_tensor(const std::string& name, Shape shape, float start = 0.f, float step = 0.25f) {
  StTensor t{name, DType::F32, shape, {}};
  const int64_t n = shape.numel();
  t.bytes.resize(size_t(n) * 4);
  for (int64_t i = 0; i < n; ++i) {
    const float v = start + step * float(i % 97) - 3.f;
    std::memcpy(&t.bytes[size_t(i) * 4], &v, 4);
  }
  return t;
}

/// A valid file from tensors (in order) and metadata.
inline std::string st_file(const std::vector<StTensor>& ts, const std::map<std::string, std::string>& meta) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!meta.empty()) h["__metadata__"] = meta;
  std::string data;
  for (const auto& t : ts) {
    nlohmann::ordered_json e;
    e["dtype"] = std::string(dtype_name(t.dtype));
    e["shape"] = nlohmann::json::array();
    for (int i = 0; i < t.shape.rank; ++i) e["shape"].push_back(t.shape[i]);
    e["data_offsets"] = {data.size(), data.size() + t.bytes.size()};
    data += t.bytes;
    h[t.name] = e;
  }
  std::string header = h.dump();
  while ((8 + header.size()) % 8) header += ' ';
  return st_bytes(header, data);
}

/// A tiny but complete BERT config (vocab 8, hidden 4, 1 layer, 2 heads).
inline nlohmann::json tiny_bert_config() {
  return {{"vocab_size", 8},          {"hidden_size", 4},          {"num_hidden_layers", 1},
          {"num_attention_heads", 2}, {"intermediate_size", 8},    {"max_position_embeddings", 16},
          {"type_vocab_size", 2},     {"layer_norm_eps", 1e-12},   {"hidden_act", "gelu"},
          {"num_labels", 0},          {"has_pooler", true}};
}
inline std::string tiny_vocab() { return "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n"; }

inline std::map<std::string, std::string> bundle_meta(const std::string& arch, const nlohmann::json& config,
                                                     const std::string& vocab = "") {
  std::map<std::string, std::string> m = {{"tailor.format", "1"}, {"tailor.arch", arch}, {"tailor.config", config.dump()}};
  if (!vocab.empty()) m["tailor.vocab"] = vocab;
  return m;
}

/// The tensors a config implies, filled with a deterministic pattern.
inline std::vector<StTensor> tensors_for(const std::vector<TensorSpec>& specs, const std::string& prefix = "") {
  std::vector<StTensor> ts;
  float start = 0.f;
  for (const auto& s : specs) ts.push_back(f32_tensor(prefix + s.name, s.shape, start += 0.5f));
  return ts;
}

}  // namespace tailor::test
