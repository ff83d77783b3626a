// tailor/nn/activation.hpp: elementwise activations, in place over contiguous floats.
//
// GELU follows HF transformers' activations.py: "gelu" is the exact erf form
// 0.5 x (1 + erf(x / sqrt 2)) (BERT's default; not the tanh approximation), "gelu_new" and
// "gelu_pytorch_tanh" the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "tailor/core/error.hpp"

namespace tailor::nn {

enum class Activation { none, relu, gelu_erf, gelu_tanh };

/// Maps an HF `hidden_act` name to an Activation.
inline Activation activation_from_name(const std::string& name) {
  if (name == "gelu") return Activation::gelu_erf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Activation::gelu_tanh;
  if (name == "relu") return Activation::relu;
  detail::fail(ErrorCode::unsupported, "activation '" + name + "' is not supported", "use gelu, gelu_new or relu");
}

inline float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
inline float gelu_tanh(float x) {
  return 0.5f * x * (1.0f + std::tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

/// x[i] = act(x[i]) for i < n.
inline void activate_inplace(float* x, int64_t n, Activation act) {
  switch (act) {
    case Activation::none: return;
    case Activation::relu: for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.f ? x[i] : 0.f; return;
    case Activation::gelu_erf: for (int64_t i = 0; i < n; ++i) x[i] = gelu_erf(x[i]); return;
    case Activation::gelu_tanh: for (int64_t i = 0; i < n; ++i) x[i] = gelu_tanh(x[i]); return;
  }
}

}  // namespace tailor::nn
