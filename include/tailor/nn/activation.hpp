// tailor/nn/activation.hpp: elementwise activations, in place over contiguous floats.
//
// GELU follows HF transformers' activations.py: "gelu" is the exact erf form
// 0.5 x (1 + erf(x / sqrt 2)) (BERT's default; not the tanh approximation), "gelu_new" and
// "gelu_pytorch_tanh" the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// activate_inplace() runs them over whole SIMD vectors (nn/simd.hpp: erf and tanh as
// float32-accurate rational approximations, as PyTorch's vectorised kernels do); the scalar
// gelu_erf() / gelu_tanh() below use the C library and are the reference in tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "tailor/core/error.hpp"
#include "tailor/nn/simd.hpp"

namespace tailor::nn {

/// `tanh` is BertPooler's activation; the others are HF `hidden_act` values.
enum class Activation { none, relu, gelu_erf, gelu_tanh, tanh };

/// Maps an HF `hidden_act` name to an Activation.
inline Activation activation_from_name(const std::string& name) {
  if (name == "gelu") return Activation::gelu_erf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Activation::gelu_tanh;
  if (name == "relu") return Activation::relu;
  tailor::detail::fail(ErrorCode::unsupported, "activation '" + name + "' is not supported", "use gelu, gelu_new or relu");
}

inline float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
inline float gelu_tanh(float x) {
  return 0.5f * x * (1.0f + std::tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

namespace detail {
template <Activation A>
inline simd::V activate(simd::V x) {
  using namespace simd;
  if constexpr (A == Activation::relu) return max(x, zero());
  if constexpr (A == Activation::gelu_erf) {
    const V half_x = x * set1(0.5f);
    return fmadd(half_x, erf(x * set1(0.70710678118654752f)), half_x);
  }
  if constexpr (A == Activation::gelu_tanh) {
    const V half_x = x * set1(0.5f);
    const V inner = set1(0.79788456080286536f) * fmadd(set1(0.044715f) * x, x * x, x);
    return fmadd(half_x, simd::tanh(inner), half_x);
  }
  if constexpr (A == Activation::tanh) return simd::tanh(x);
  return x;
}
template <Activation A>
inline void activate_span(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + simd::kWidth <= n; i += simd::kWidth) simd::store(x + i, activate<A>(simd::load(x + i)));
  if (i < n) simd::store(x + i, activate<A>(simd::load(x + i, int(n - i))), int(n - i));
}
}  // namespace detail

/// x[i] = act(x[i]) for i < n, a SIMD vector at a time.
inline void activate_inplace(float* x, int64_t n, Activation act) {
  switch (act) {
    case Activation::none: return;
    case Activation::relu: detail::activate_span<Activation::relu>(x, n); return;
    case Activation::gelu_erf: detail::activate_span<Activation::gelu_erf>(x, n); return;
    case Activation::gelu_tanh: detail::activate_span<Activation::gelu_tanh>(x, n); return;
    case Activation::tanh: detail::activate_span<Activation::tanh>(x, n); return;
  }
}

}  // namespace tailor::nn
