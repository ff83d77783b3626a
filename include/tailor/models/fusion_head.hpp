// tailor/models/fusion_head.hpp: the fusion head of the try-on model.
//
// Mirrors converters/reference_model.py (ImageTextModel.fuse): an image feature (N, d_img)
// and a text feature (N, d_txt) become n_out logits by one of
//   concat_linear   fc(cat(img, txt))                           fc.{weight (n_out, d_img + d_txt), bias}
//   concat_mlp      fc.2(relu(fc.0(cat(img, txt))))             fc.0.{weight (hidden, d), bias}, fc.2.{weight (n_out, hidden), bias}
//   late            w[0] fc_image(img) + w[1] fc_text(txt)      fc_image.*, fc_text.*, late_weight (2)
// Tensor names are the reference's state_dict names under the bundle prefix "head.".
// The probability is sigmoid(logit) for one output and softmax over the logits otherwise.
//
// Every head's first layer is linear in cat(img, txt), so it splits into an image part and a
// text part: ranking one image against many texts computes the image part once and the text
// parts as one GEMM.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tailor/core/arena.hpp"
#include "tailor/core/thread_pool.hpp"
#include "tailor/io/bundle.hpp"
#include "tailor/io/config.hpp"
#include "tailor/models/fusion_head_config.hpp"
#include "tailor/nn/gemm.hpp"

namespace tailor {

/// The loaded head. Immutable; forward() takes the caller's pool and scratch.
class FusionHead {
 public:
  FusionHead() = default;
  /// Loads the head's tensors under `prefix` (e.g. "head.") for features of the given widths.
  FusionHead(const Bundle& b, const FusionHeadConfig& cfg, int64_t d_img, int64_t d_txt, const std::string& prefix)
      : cfg_(cfg), d_img_(d_img), d_txt_(d_txt) {
    b.check_tensors(cfg.tensor_specs(d_img, d_txt), prefix);
    const int64_t d = d_img + d_txt;
    if (cfg.fusion == "late") {
      const auto wi = b.load_f32(prefix + "fc_image.weight", {cfg.n_out, d_img});
      const auto wt = b.load_f32(prefix + "fc_text.weight", {cfg.n_out, d_txt});
      const auto bi = b.load_f32(prefix + "fc_image.bias", {cfg.n_out});
      const auto bt = b.load_f32(prefix + "fc_text.bias", {cfg.n_out});
      const auto lw = b.load_f32(prefix + "late_weight", {2});
      // w0 (Wi img + bi) + w1 (Wt txt + bt) = (w0 Wi) img + (w1 Wt) txt + (w0 bi + w1 bt)
      std::vector<float> w1(static_cast<size_t>(cfg.n_out * d));
      bias1_.resize(size_t(cfg.n_out));
      for (int64_t o = 0; o < cfg.n_out; ++o) {
        for (int64_t k = 0; k < d_img; ++k) w1[size_t(o * d + k)] = lw[0] * wi[size_t(o * d_img + k)];
        for (int64_t k = 0; k < d_txt; ++k) w1[size_t(o * d + d_img + k)] = lw[1] * wt[size_t(o * d_txt + k)];
        bias1_[size_t(o)] = lw[0] * bi[size_t(o)] + lw[1] * bt[size_t(o)];
      }
      split_first_layer(w1, cfg.n_out);
      return;
    }
    const std::string l1 = cfg.fusion == "concat_mlp" ? "fc.0." : "fc.";
    const int64_t out1 = cfg.fusion == "concat_mlp" ? cfg.mlp_hidden : cfg.n_out;
    split_first_layer(b.load_f32(prefix + l1 + "weight", {out1, d}), out1);
    bias1_ = b.load_f32(prefix + l1 + "bias", {out1});
    if (cfg.fusion == "concat_mlp") {
      const auto w2 = b.load_f32(prefix + "fc.2.weight", {cfg.n_out, cfg.mlp_hidden});
      w2_ = nn::PackedWeight::from_out_in(w2.data(), cfg.n_out, cfg.mlp_hidden);
      bias2_ = b.load_f32(prefix + "fc.2.bias", {cfg.n_out});
    }
  }

  const FusionHeadConfig& config() const noexcept { return cfg_; }
  int64_t image_dim() const noexcept { return d_img_; }
  int64_t text_dim() const noexcept { return d_txt_; }
  int64_t n_out() const noexcept { return cfg_.n_out; }
  /// Width of the first layer's output: n_out, or mlp_hidden for concat_mlp.
  int64_t first_width() const noexcept { return int64_t(bias1_.size()); }

  /// The image part of the first layer: out (first_width) = W_img img. No bias.
  void image_part(const float* img, float* out) const { part(w1_img_, img, d_img_, out); }
  /// The text part of the first layer: out (first_width) = W_txt txt. No bias.
  void text_part(const float* txt, float* out) const { part(w1_txt_, txt, d_txt_, out); }

  /// logits (B, n_out) for one image (its image_part, (first_width)) against B texts
  /// (txt: (B, d_txt) row-major). Uses `pool` for the text GEMM.
  void forward_one_image(const float* img_part, const float* txt, int64_t B, float* logits, ThreadPool& pool) const {
    const int64_t F = first_width();
    std::vector<float> h(static_cast<size_t>(B * F));
    nn::Epilogue ep;
    nn::gemm(txt, B, d_txt_, w1_txt_packed_, h.data(), F, ep, pool);
    for (int64_t i = 0; i < B; ++i)
      for (int64_t f = 0; f < F; ++f) h[size_t(i * F + f)] += img_part[f] + bias1_[size_t(f)];
    finish(h.data(), B, logits, pool);
  }
  /// logits (B, n_out) for B (image, text) pairs: img (B, d_img), txt (B, d_txt).
  void forward(const float* img, const float* txt, int64_t B, float* logits, ThreadPool& pool) const {
    const int64_t F = first_width();
    std::vector<float> h(static_cast<size_t>(B * F)), hi(size_t(B * F));
    nn::Epilogue none;
    nn::gemm(txt, B, d_txt_, w1_txt_packed_, h.data(), F, none, pool);
    nn::gemm(img, B, d_img_, w1_img_packed_, hi.data(), F, none, pool);
    for (int64_t i = 0; i < B * F; ++i) h[size_t(i)] += hi[size_t(i)] + bias1_[size_t(i % F)];
    finish(h.data(), B, logits, pool);
  }

  /// For linear heads: the image weight row of output o, (d_img). logit_o = w . img + (text part + bias).
  const float* image_weight(int64_t o) const { return w1_img_.data() + o * d_img_; }
  /// For linear heads: the text weight row of output o, (d_txt).
  const float* text_weight(int64_t o) const { return w1_txt_.data() + o * d_txt_; }
  /// For linear heads: the bias of output o.
  float bias(int64_t o) const { return bias1_[size_t(o)]; }

  /// Probabilities from logits (n_out): sigmoid for one output, softmax otherwise.
  static void probabilities(const float* logits, int64_t n_out, float* p) {
    if (n_out == 1) {
      // Numerically stable for large |x|, like torch.sigmoid.
      const float x = logits[0];
      p[0] = x >= 0 ? 1.f / (1.f + std::exp(-x)) : std::exp(x) / (1.f + std::exp(x));
      return;
    }
    float m = logits[0];
    for (int64_t i = 1; i < n_out; ++i) m = std::max(m, logits[i]);
    double s = 0;
    for (int64_t i = 0; i < n_out; ++i) s += std::exp(double(logits[i] - m));
    for (int64_t i = 0; i < n_out; ++i) p[i] = float(std::exp(double(logits[i] - m)) / s);
  }

 private:
  void split_first_layer(const std::vector<float>& w1, int64_t out1) {
    const int64_t d = d_img_ + d_txt_;
    w1_img_.resize(size_t(out1 * d_img_));
    w1_txt_.resize(size_t(out1 * d_txt_));
    for (int64_t o = 0; o < out1; ++o) {
      std::copy(w1.begin() + o * d, w1.begin() + o * d + d_img_, w1_img_.begin() + o * d_img_);
      std::copy(w1.begin() + o * d + d_img_, w1.begin() + (o + 1) * d, w1_txt_.begin() + o * d_txt_);
    }
    w1_img_packed_ = nn::PackedWeight::from_out_in(w1_img_.data(), out1, d_img_);
    w1_txt_packed_ = nn::PackedWeight::from_out_in(w1_txt_.data(), out1, d_txt_);
  }
  void part(const std::vector<float>& w, const float* x, int64_t d, float* out) const {
    const int64_t F = first_width();
    for (int64_t f = 0; f < F; ++f) {
      double acc = 0;  // one vector: accumulate in double, cost is negligible
      const float* row = w.data() + f * d;
      for (int64_t k = 0; k < d; ++k) acc += double(row[k]) * double(x[k]);
      out[f] = float(acc);
    }
  }
  /// h (B, first_width) holds first-layer pre-activations with bias; writes logits (B, n_out).
  void finish(float* h, int64_t B, float* logits, ThreadPool& pool) const {
    const int64_t F = first_width();
    if (cfg_.fusion != "concat_mlp") {
      std::copy(h, h + B * F, logits);
      return;
    }
    for (int64_t i = 0; i < B * F; ++i) h[i] = h[i] > 0.f ? h[i] : 0.f;
    nn::Epilogue ep;
    ep.bias = bias2_.data();
    nn::gemm(h, B, F, w2_, logits, cfg_.n_out, ep, pool);
  }

  FusionHeadConfig cfg_;
  int64_t d_img_ = 0, d_txt_ = 0;
  std::vector<float> w1_img_, w1_txt_, bias1_, bias2_;  // first layer split: (F, d_img), (F, d_txt)
  nn::PackedWeight w1_img_packed_, w1_txt_packed_, w2_;
};

}  // namespace tailor
