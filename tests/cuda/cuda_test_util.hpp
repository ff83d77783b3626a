// tests/cuda/cuda_test_util.hpp: what the GPU tests share.
//
// llm.c's dev/cuda discipline (STYLE.md point 1): fresh random inputs every run (the seed is
// printed on failure), odd sizes, outputs poisoned with NaN before each launch so an element
// a kernel forgot to write fails the finiteness check, and a comparison with a CPU reference
// by relative L2 error. Inputs are rounded to the storage type on the host first, so the CPU
// reference and the GPU see the same numbers.
//
// Every GPU test case carries `* gpu_required()`: doctest skips it when no usable GPU exists
// (CI, this machine), so the suites compile everywhere nvcc is and stay green without a GPU.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "device.hpp"
#include "launchers.hpp"
#include "model_common.hpp"
#include "tailor/core/tensor.hpp"
#include "tailor/cuda.hpp"

namespace tailor::test {

/// doctest decorator: skip the test case when there is no usable GPU (reason printed once).
inline bool gpu_present() {
  static const bool present = [] {
    const std::string why = cuda::unavailable_reason(0);
    if (!why.empty()) std::fprintf(stderr, "GPU tests skipped: %s\n", why.c_str());
    return why.empty();
  }();
  return present;
}
inline doctest::skip gpu_required() { return doctest::skip(!gpu_present()); }

/// A fresh seed per run (printed by CAPTURE on failure), overridable with TAILOR_TEST_SEED.
inline uint32_t fresh_seed() {
  if (const char* s = std::getenv("TAILOR_TEST_SEED")) return uint32_t(std::strtoul(s, nullptr, 10));
  return std::random_device{}();
}

inline std::vector<float> random_vector(std::mt19937& rng, size_t n, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

/// The value float x becomes when stored as T.
template <class T>
float round_to(float x) {
  if constexpr (std::is_same_v<T, __half>) return f16_to_f32(f32_to_f16(x));
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return bf16_to_f32(f32_to_bf16(x));
  else return x;
}
template <class T>
std::vector<float> rounded(std::vector<float> v) {
  for (float& x : v) x = round_to<T>(x);
  return v;
}

template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, __half>) return "fp16";
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return "bf16";
  else return "fp32";
}

/// Relative-L2 bar of a kernel whose output is stored as T (float math inside).
template <class T>
double kernel_tolerance() {
  if constexpr (std::is_same_v<T, __half>) return 2e-3;        // output rounding alone: ~3e-4
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return 1e-2;  // ~2e-3
  else return 1e-5;
}

/// A device array of T built from host floats (rounded to T) or poisoned with NaN.
template <class T>
struct DevArray {
  cuda::detail::DeviceBuffer buf;
  size_t n = 0;

  static DevArray from(const std::vector<float>& v) {
    DevArray a;
    a.n = v.size();
    a.buf = cuda::detail::upload_as<T>(v);
    return a;
  }
  /// Every byte 0xFF: a NaN in float, fp16 and bf16 alike.
  static DevArray poisoned(size_t n) {
    DevArray a;
    a.n = n;
    a.buf.resize(n * sizeof(T));
    if (n) TAILOR_CUDA_CHECK(cudaMemset(a.buf.get(), 0xFF, n * sizeof(T)));
    return a;
  }
  void poison() {
    if (n) TAILOR_CUDA_CHECK(cudaMemset(buf.get(), 0xFF, n * sizeof(T)));
  }
  T* get() const { return static_cast<T*>(buf.get()); }
  std::vector<float> download() const {
    TAILOR_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<float> out(n);
    if constexpr (std::is_same_v<T, float>) {
      if (n) TAILOR_CUDA_CHECK(cudaMemcpy(out.data(), buf.get(), n * sizeof(float), cudaMemcpyDeviceToHost));
    } else {
      std::vector<uint16_t> bits(n);
      if (n) TAILOR_CUDA_CHECK(cudaMemcpy(bits.data(), buf.get(), n * sizeof(uint16_t), cudaMemcpyDeviceToHost));
      for (size_t i = 0; i < n; ++i)
        out[i] = std::is_same_v<T, __half> ? f16_to_f32(bits[i]) : bf16_to_f32(bits[i]);
    }
    return out;
  }
};

inline cuda::detail::DeviceBuffer upload_i32(const std::vector<int32_t>& v) {
  return cuda::detail::upload(v.data(), v.size() * sizeof(int32_t));
}

/// |a - b|_2 / |b|_2 (|a|_2 when b is all zero); NaN if anything is NaN.
inline double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double d = double(a[i]) - double(b[i]);
    num += d * d;
    den += double(b[i]) * double(b[i]);
  }
  if (a.size() != b.size()) return INFINITY;
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}
inline size_t count_non_finite(const std::vector<float>& v) {
  size_t n = 0;
  for (float x : v) n += std::isfinite(x) ? 0 : 1;
  return n;
}

/// Checks that every output element was written (no NaN poison left) and that it matches
/// the reference within `tol` relative L2.
#define TAILOR_CHECK_CLOSE(got, want, tol)                                         \
  do {                                                                            \
    const auto& tailor_got_ = (got);                                              \
    const auto& tailor_want_ = (want);                                            \
    REQUIRE(tailor_got_.size() == tailor_want_.size());                           \
    CHECK_MESSAGE(::tailor::test::count_non_finite(tailor_got_) == 0,             \
                  "elements left unwritten (NaN poison) or non-finite");          \
    const double tailor_err_ = ::tailor::test::rel_l2(tailor_got_, tailor_want_); \
    CAPTURE(tailor_err_);                                                         \
    CHECK(tailor_err_ <= (tol));                                                  \
  } while (0)

}  // namespace tailor::test
