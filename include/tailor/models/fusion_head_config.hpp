// tailor/models/fusion_head_config.hpp: the fusion head's config and the tensors it
// implies (see models/fusion_head.hpp for the head itself and converters/reference_model.py
// for the reference). Light on purpose: bundle validation needs it, not the GEMM.
#pragma once

#include <string>
#include <vector>

#include "tailor/io/bundle.hpp"
#include "tailor/io/config.hpp"

namespace tailor {

struct FusionHeadConfig {
  std::string image_feature = "pooled";  // "pooled" (2048) | "logits" (ResNet fc outputs)
  std::string text_feature = "pooler";   // "pooler" | "cls" | "mean" | "logits" (BERT classifier outputs)
  std::string fusion = "concat_linear";  // "concat_linear" | "concat_mlp" | "late"
  int64_t n_out = 1;
  int64_t mlp_hidden = 512;

  static FusionHeadConfig from_json(const json& j, const std::string& where) {
    const detail::ConfigReader r{j, where};
    FusionHeadConfig c;
    c.image_feature = r.string("image_feature", {"pooled", "logits"}, "pooled");
    c.text_feature = r.string("text_feature", {"pooler", "cls", "mean", "logits"}, "pooler");
    c.fusion = r.string("fusion", {"concat_linear", "concat_mlp", "late"}, "concat_linear");
    c.n_out = r.integer("n_out", 1, 1 << 20, 1);
    c.mlp_hidden = r.integer("mlp_hidden", 1, 1 << 20, 512);
    return c;
  }

  /// The head's tensors for the given feature widths (names without the "head." prefix).
  std::vector<TensorSpec> tensor_specs(int64_t d_img, int64_t d_txt) const {
    if (fusion == "concat_linear") return {{"fc.weight", {n_out, d_img + d_txt}}, {"fc.bias", {n_out}}};
    if (fusion == "concat_mlp")
      return {{"fc.0.weight", {mlp_hidden, d_img + d_txt}}, {"fc.0.bias", {mlp_hidden}},
              {"fc.2.weight", {n_out, mlp_hidden}}, {"fc.2.bias", {n_out}}};
    return {{"fc_image.weight", {n_out, d_img}}, {"fc_image.bias", {n_out}},
            {"fc_text.weight", {n_out, d_txt}},  {"fc_text.bias", {n_out}},
            {"late_weight", {2}}};
  }
  /// True when the logits are affine in the image feature (and in the text feature): every
  /// fusion but concat_mlp. Explanations are then exact decompositions.
  bool is_linear() const { return fusion != "concat_mlp"; }
};

}  // namespace tailor
