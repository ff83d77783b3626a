// tailor/models/device_outputs.hpp: the GPU towers' results in the CPU models' layouts.
//
// The GPU API (tailor/cuda.hpp) returns padded, device-shaped host buffers; code that runs
// either device (the try-on pipeline, the CLI's --device) converts them here to the CPU
// models' output types (models/resnet50.hpp ResNetOutput, models/bert.hpp BertOutput), so
// everything downstream is written once.
#pragma once

#include <cstring>
#include <utility>
#include <vector>

#include "tailor/cuda.hpp"
#include "tailor/models/bert.hpp"
#include "tailor/models/resnet50.hpp"

namespace tailor {

/// cuda::ResNetOutput -> ResNetOutput (same buffers, moved).
inline ResNetOutput to_host_output(cuda::ResNetOutput&& g) {
  ResNetOutput r;
  r.n = g.batch;
  r.feature_dim = g.features;
  r.num_classes = g.num_classes;
  r.pooled = std::move(g.pooled);
  r.logits = std::move(g.logits);
  r.feature_map = std::move(g.feature_map);
  r.feature_h = g.feature_h;
  r.feature_w = g.feature_w;
  return r;
}

/// A BertSequence view of a tokenizer encoding (valid while the encoding lives).
inline BertSequence sequence_view(const Encoding& e) {
  return {e.ids.data(), e.type_ids.empty() ? nullptr : e.type_ids.data(),
          e.attention_mask.empty() ? nullptr : e.attention_mask.data(), int64_t(e.ids.size())};
}

/// BertSequence views of tokenizer encodings (valid while the encodings live).
inline std::vector<BertSequence> sequence_views(const std::vector<Encoding>& enc) {
  std::vector<BertSequence> v;
  v.reserve(enc.size());
  for (const Encoding& e : enc) v.push_back(sequence_view(e));
  return v;
}

/// Views of token sequences in the GPU API's layout (same pointers).
inline std::vector<cuda::TokenSequence> token_views(const std::vector<BertSequence>& seqs) {
  std::vector<cuda::TokenSequence> v;
  v.reserve(seqs.size());
  for (const BertSequence& s : seqs) v.push_back({s.ids, s.type_ids, s.attention_mask, s.length});
  return v;
}

/// What BertSession::forward would return, from a GPU forward of `seqs` that asked for
/// last_hidden_state (and pooled / logits when the model has them): each sequence's rows
/// back to back, without padding; a sequence's length excludes its trailing masked tokens,
/// as on the CPU.
inline BertOutput to_host_output(const cuda::BertOutput& g, const std::vector<BertSequence>& seqs) {
  TAILOR_CHECK(size_t(g.batch) == seqs.size() && !g.last_hidden_state.empty(), ErrorCode::internal,
               "GPU BERT output does not match its batch", "");
  BertOutput out;
  out.hidden_size = g.hidden;
  out.num_labels = g.num_labels;
  out.offsets.assign(1, 0);
  for (size_t i = 0; i < seqs.size(); ++i) {
    const BertSequence& s = seqs[i];
    int64_t len = s.length;
    while (len > 0 && s.attention_mask && s.attention_mask[len - 1] == 0) --len;
    const float* rows = g.last_hidden_state.data() + int64_t(i) * g.seq_len * g.hidden;
    out.last_hidden_state.insert(out.last_hidden_state.end(), rows, rows + len * g.hidden);
    for (int64_t t = 0; t < len; ++t) out.attention_mask.push_back(s.attention_mask ? uint8_t(s.attention_mask[t] != 0) : 1);
    out.offsets.push_back(out.offsets.back() + len);
  }
  out.pooled = g.pooled;
  out.logits = g.logits;
  return out;
}

/// The request that makes a GPU forward's output convertible by to_host_output().
inline cuda::BertRequest full_request(const BertConfig& c) {
  cuda::BertRequest req;
  req.last_hidden_state = true;
  req.pooled = c.has_pooler;
  req.logits = c.num_labels > 0;
  req.sentence = cuda::Pooling::none;
  return req;
}

}  // namespace tailor
