// kernels/model_common.hpp: what the GPU models share on the host side: weights converted to
// the storage type and uploaded, the storage type per precision, and a precision dispatch.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "device.hpp"
#include "tailor/core/options.hpp"
#include "tailor/core/tensor.hpp"

namespace tailor::cuda::detail {

/// Uploads float32 values as T (float copied; __half / __nv_bfloat16 rounded to nearest even).
template <class T>
DeviceBuffer upload_as(const float* v, size_t n) {
  if constexpr (std::is_same_v<T, float>) {
    return upload(v, n * sizeof(float));
  } else {
    std::vector<uint16_t> bits(n);
    for (size_t i = 0; i < n; ++i)
      bits[i] = std::is_same_v<T, __half> ? ::tailor::f32_to_f16(v[i]) : ::tailor::f32_to_bf16(v[i]);
    return upload(bits.data(), n * sizeof(uint16_t));
  }
}
template <class T>
DeviceBuffer upload_as(const std::vector<float>& v) {
  return upload_as<T>(v.data(), v.size());
}

template <class T>
struct TypeTag {
  using type = T;
};
/// Calls f(TypeTag<T>{}) with T the storage type of precision p (C++17's stand-in for a
/// templated lambda: `[&](auto tag) { using T = typename decltype(tag)::type; ... }`).
template <class F>
decltype(auto) dispatch_precision(Precision p, F&& f) {
  switch (p) {
    case Precision::fp16: return f(TypeTag<__half>{});
    case Precision::bf16: return f(TypeTag<__nv_bfloat16>{});
    default: return f(TypeTag<float>{});
  }
}

inline const char* precision_name(Precision p) {
  switch (p) {
    case Precision::fp32: return "fp32";
    case Precision::tf32: return "tf32";
    case Precision::fp16: return "fp16";
    case Precision::bf16: return "bf16";
  }
  return "?";
}

}  // namespace tailor::cuda::detail
