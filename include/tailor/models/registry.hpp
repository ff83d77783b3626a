// tailor/models/registry.hpp: per-architecture validation of a bundle.
//
// validate_bundle() parses the architecture's config (range checks) and checks every tensor
// against it: present, the shape the config implies, a float dtype, and nothing extra. It
// is what `tailor inspect` reports and what every model constructor runs first. One table
// entry per architecture; the model code itself never branches on the architecture.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tailor/io/bundle.hpp"
#include "tailor/models/bert_config.hpp"
#include "tailor/models/fusion_head_config.hpp"
#include "tailor/models/resnet50_config.hpp"

namespace tailor {

/// What validation found: one line per part, for `tailor inspect`.
struct BundleReport {
  std::vector<std::string> parts;
};

namespace detail {

inline std::string describe(const BertConfig& c) {
  return "bert: " + std::to_string(c.num_hidden_layers) + " layers, hidden " + std::to_string(c.hidden_size) + ", " +
         std::to_string(c.num_attention_heads) + " heads, intermediate " + std::to_string(c.intermediate_size) +
         ", vocab " + std::to_string(c.vocab_size) + ", max positions " + std::to_string(c.max_position_embeddings) +
         ", act " + c.hidden_act + (c.has_pooler ? ", pooler" : "") +
         (c.num_labels ? ", classifier " + std::to_string(c.num_labels) : "") + ", pooling " + c.pooling +
         (c.normalize ? " + L2" : "");
}
inline std::string describe(const ResNetConfig& c) {
  return "resnet: blocks [" + std::to_string(c.layers[0]) + ", " + std::to_string(c.layers[1]) + ", " +
         std::to_string(c.layers[2]) + ", " + std::to_string(c.layers[3]) + "], " +
         (c.num_classes ? std::to_string(c.num_classes) + " classes" : std::string("no fc (features only)"));
}

inline void validate_vocab(const Bundle& b, int64_t vocab_size, const std::string& where) {
  if (b.vocab().empty())
    fail(ErrorCode::format, b.path() + ": has no tailor.vocab", "convert the text model again with its vocab.txt");
  int64_t lines = 0;
  for (size_t i = 0; i < b.vocab().size(); ++i)
    if (b.vocab()[i] == '\n') ++lines;
  if (!b.vocab().empty() && b.vocab().back() != '\n') ++lines;
  if (lines != vocab_size)
    fail(ErrorCode::shape,
         b.path() + ": tailor.vocab has " + std::to_string(lines) + " tokens but " + where + " vocab_size is " +
             std::to_string(vocab_size),
         "the vocab and the weights come from different models");
}

inline BertConfig validate_bert(const Bundle& b, const json& cfg, const std::string& prefix, const std::string& where) {
  BertConfig c = BertConfig::from_json(cfg, b.path() + ": " + where);
  b.check_tensors(c.tensor_specs(), prefix);
  validate_vocab(b, c.vocab_size, where);
  return c;
}
inline ResNetConfig validate_resnet(const Bundle& b, const json& cfg, const std::string& prefix, const std::string& where) {
  ResNetConfig c = ResNetConfig::from_json(cfg, b.path() + ": " + where);
  if (!b.has_transform("bn_folded"))
    fail(ErrorCode::format, b.path() + ": ResNet weights without BatchNorm folded",
         "convert the checkpoint with converters/convert.py resnet50, which folds BN");
  b.check_tensors(c.tensor_specs(), prefix);
  return c;
}

/// Feature widths the head sees for a tryon config: (d_img, d_txt). Throws when a feature
/// needs a layer the tower lacks (image "logits" without fc, text "logits" without classifier).
inline std::pair<int64_t, int64_t> tryon_feature_dims(const ResNetConfig& img, const BertConfig& txt,
                                                      const FusionHeadConfig& head, const std::string& where) {
  if (head.image_feature == "logits" && img.num_classes == 0)
    fail(ErrorCode::format, where + ": head.image_feature is 'logits' but the image tower has no fc", "");
  if (head.text_feature == "logits" && txt.num_labels == 0)
    fail(ErrorCode::format, where + ": head.text_feature is 'logits' but the text tower has no classifier", "");
  if (head.text_feature == "pooler" && !txt.has_pooler)
    fail(ErrorCode::format, where + ": head.text_feature is 'pooler' but the text tower has no pooler", "");
  return {head.image_feature == "pooled" ? img.feature_dim() : img.num_classes,
          head.text_feature == "logits" ? txt.num_labels : txt.hidden_size};
}

inline std::string describe(const FusionHeadConfig& h, int64_t d_img, int64_t d_txt) {
  return "head: " + h.fusion + " over image " + h.image_feature + " (" + std::to_string(d_img) + ") + text " +
         h.text_feature + " (" + std::to_string(d_txt) + ") -> " + std::to_string(h.n_out) +
         (h.n_out == 1 ? " logit (sigmoid)" : " logits (softmax)");
}

}  // namespace detail

/// Validates `b` for its architecture; throws tailor::Error naming the first problem.
inline BundleReport validate_bundle(const Bundle& b) {
  BundleReport r;
  if (b.arch() == "bert") {
    r.parts.push_back(detail::describe(detail::validate_bert(b, b.config(), "", "tailor.config")));
  } else if (b.arch() == "resnet50") {
    r.parts.push_back(detail::describe(detail::validate_resnet(b, b.config(), "", "tailor.config")));
  } else {  // tryon: image. + text. + head. parts, config {"image": .., "text": .., "head": ..}
    const detail::ConfigReader cr{b.config(), b.path() + ": tailor.config"};
    const ResNetConfig img = detail::validate_resnet(b, cr.child("image").j, "image.", "tailor.config.image");
    const BertConfig txt = detail::validate_bert(b, cr.child("text").j, "text.", "tailor.config.text");
    const FusionHeadConfig head = FusionHeadConfig::from_json(cr.child("head").j, b.path() + ": tailor.config.head");
    const auto [d_img, d_txt] = detail::tryon_feature_dims(img, txt, head, b.path() + ": tailor.config");
    b.check_tensors(head.tensor_specs(d_img, d_txt), "head.");
    for (const TensorInfo& t : b.file().tensors())
      if (t.name.rfind("image.", 0) != 0 && t.name.rfind("text.", 0) != 0 && t.name.rfind("head.", 0) != 0)
        detail::fail(ErrorCode::shape, b.path() + ": unexpected tensor '" + t.name + "' outside image./text./head.",
                     "convert the checkpoint again");
    r.parts.push_back("image " + detail::describe(img));
    r.parts.push_back("text " + detail::describe(txt));
    r.parts.push_back(detail::describe(head, d_img, d_txt));
  }
  return r;
}

}  // namespace tailor
