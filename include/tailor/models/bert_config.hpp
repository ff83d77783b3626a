// tailor/models/bert_config.hpp: the BERT config and the tensors it implies.
//
// Mirrors HF transformers' BertConfig (configuration_bert.py): the bundle's tailor.config
// holds config.json's fields verbatim, plus what the converter adds:
//   "num_labels": N            classifier.{weight,bias} present (BertForSequenceClassification); 0 = none
//   "has_pooler": bool         pooler.dense present
//   "tailor": {"pooling": "cls"|"mean"|"pooler"|"none", "normalize": bool}
//                              sentence-transformers' pooling, when converted from such a folder
//   "tokenizer": {"do_lower_case": bool, "strip_accents": null|bool,
//                 "tokenize_chinese_chars": bool, "model_max_length": N}
// Tensor names are BertModel's state_dict names (no "bert." prefix), plus "classifier.*".
#pragma once

#include <string>
#include <vector>

#include "tailor/io/bundle.hpp"
#include "tailor/io/config.hpp"

namespace tailor {

struct BertTokenizerConfig {
  bool do_lower_case = true;
  /// -1: unset (follows do_lower_case, as in HF), 0: keep accents, 1: strip them.
  int strip_accents = -1;
  bool tokenize_chinese_chars = true;
  int64_t model_max_length = 512;
};

struct BertConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;             // H
  int64_t num_hidden_layers = 0;       // L
  int64_t num_attention_heads = 0;     // NH, divides H
  int64_t intermediate_size = 0;       // I
  int64_t max_position_embeddings = 0; // P: the longest sequence the model takes
  int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;       // BERT's LayerNorm eps; the config says, we obey
  std::string hidden_act = "gelu";     // "gelu" (exact erf), "gelu_new"/"gelu_pytorch_tanh" (tanh), "relu"
  int64_t pad_token_id = 0;
  int64_t num_labels = 0;              // classifier rows; 0 when there is no classifier
  bool has_pooler = true;
  std::string pooling = "cls";         // default sentence pooling (tailor.pooling)
  bool normalize = false;              // L2-normalise sentence embeddings by default
  BertTokenizerConfig tokenizer;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }

  /// Reads and range-checks a config; `where` names it in errors.
  static BertConfig from_json(const json& j, const std::string& where) {
    const detail::ConfigReader r{j, where};
    BertConfig c;
    c.vocab_size = r.integer("vocab_size", 1, 10'000'000);
    c.hidden_size = r.integer("hidden_size", 1, 65536);
    c.num_hidden_layers = r.integer("num_hidden_layers", 1, 256);
    c.num_attention_heads = r.integer("num_attention_heads", 1, c.hidden_size);
    if (c.hidden_size % c.num_attention_heads != 0)
      r.bad("num_attention_heads", "(" + std::to_string(c.num_attention_heads) + ") does not divide hidden_size (" +
                                       std::to_string(c.hidden_size) + ")");
    c.intermediate_size = r.integer("intermediate_size", 1, 1 << 20);
    c.max_position_embeddings = r.integer("max_position_embeddings", 1, 1 << 20);
    c.type_vocab_size = r.integer("type_vocab_size", 1, 1024, 2);
    c.layer_norm_eps = r.number("layer_norm_eps", 1e-30, 1.0, 1e-12);
    c.hidden_act = r.string("hidden_act", {"gelu", "gelu_new", "gelu_pytorch_tanh", "relu"}, "gelu");
    c.pad_token_id = r.integer("pad_token_id", 0, c.vocab_size - 1, 0);
    const std::string pet = r.string("position_embedding_type", {"absolute"}, "absolute");
    (void)pet;
    c.num_labels = r.integer("num_labels", 0, 1 << 20, 0);
    c.has_pooler = r.boolean("has_pooler", true);
    if (r.has("tailor")) {
      const auto t = r.child("tailor");
      c.pooling = t.string("pooling", {"cls", "mean", "pooler", "none"}, "cls");
      c.normalize = t.boolean("normalize", false);
    }
    if (c.num_labels > 0 && !c.has_pooler)
      r.bad("num_labels", "is " + std::to_string(c.num_labels) +
                              " but the model has no pooler (BertForSequenceClassification classifies the pooled output)");
    if (c.pooling == "pooler" && !c.has_pooler)
      r.bad("tailor.pooling", "is 'pooler' but the model has no pooler");
    if (r.has("tokenizer")) {
      const auto t = r.child("tokenizer");
      c.tokenizer.do_lower_case = t.boolean("do_lower_case", true);
      if (t.has("strip_accents")) c.tokenizer.strip_accents = t.boolean("strip_accents", false) ? 1 : 0;
      c.tokenizer.tokenize_chinese_chars = t.boolean("tokenize_chinese_chars", true);
      c.tokenizer.model_max_length = t.integer("model_max_length", 1, int64_t(1) << 40, c.max_position_embeddings);
    } else {
      c.tokenizer.model_max_length = c.max_position_embeddings;
    }
    return c;
  }

  /// Every tensor the config implies, with its shape (PyTorch layout: Linear weight is (out, in)).
  std::vector<TensorSpec> tensor_specs() const {
    const int64_t H = hidden_size, I = intermediate_size;
    std::vector<TensorSpec> s = {
        {"embeddings.word_embeddings.weight", {vocab_size, H}},
        {"embeddings.position_embeddings.weight", {max_position_embeddings, H}},
        {"embeddings.token_type_embeddings.weight", {type_vocab_size, H}},
        {"embeddings.LayerNorm.weight", {H}},
        {"embeddings.LayerNorm.bias", {H}},
    };
    for (int64_t l = 0; l < num_hidden_layers; ++l) {
      const std::string p = "encoder.layer." + std::to_string(l) + ".";
      for (const char* m : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
        s.push_back({p + m + ".weight", {H, H}});
        s.push_back({p + m + ".bias", {H}});
      }
      s.push_back({p + "attention.output.LayerNorm.weight", {H}});
      s.push_back({p + "attention.output.LayerNorm.bias", {H}});
      s.push_back({p + "intermediate.dense.weight", {I, H}});
      s.push_back({p + "intermediate.dense.bias", {I}});
      s.push_back({p + "output.dense.weight", {H, I}});
      s.push_back({p + "output.dense.bias", {H}});
      s.push_back({p + "output.LayerNorm.weight", {H}});
      s.push_back({p + "output.LayerNorm.bias", {H}});
    }
    if (has_pooler) {
      s.push_back({"pooler.dense.weight", {H, H}});
      s.push_back({"pooler.dense.bias", {H}});
    }
    if (num_labels > 0) {
      s.push_back({"classifier.weight", {num_labels, H}});
      s.push_back({"classifier.bias", {num_labels}});
    }
    return s;
  }
};

}  // namespace tailor
