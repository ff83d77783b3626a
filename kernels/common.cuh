// kernels/common.cuh: device helpers every kernel shares (nvcc only).
//
// Storage <-> float conversion for the three storage types, warp reductions (llm.c's
// warpReduceSum in llmc/cuda_common.h), the activations in float32, and the launcher-side
// validation helpers (CUTLASS's can_implement, reduced to "throw a tailor::Error").
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>
#include <string>

#include "check.hpp"
#include "launchers.hpp"

namespace tailor::cuda::kernels {

// ---- storage types ---------------------------------------------------------------------------
__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }

template <class T>
__device__ __forceinline__ T from_f32(float x);
template <>
__device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <>
__device__ __forceinline__ __half from_f32<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

// ---- warp reductions -------------------------------------------------------------------------
constexpr int kWarp = 32;
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// ---- activations, float32 (same formulas as nn/activation.hpp) -------------------------------
__device__ __forceinline__ float activate(float x, Act act) {
  switch (act) {
    case Act::none: return x;
    case Act::relu: return x > 0.f ? x : 0.f;
    // Exact GELU (HF "gelu"): 0.5 x (1 + erf(x / sqrt 2)); CUDA's erff is within 2 ulp.
    case Act::gelu_erf: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case Act::gelu_tanh: return 0.5f * x * (1.f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case Act::tanh: return tanhf(x);
    case Act::sigmoid: return 1.f / (1.f + expf(-x));
  }
  return x;
}

// ---- launcher helpers (host) -----------------------------------------------------------------
/// Blocks for n items at `per_block` items per block, checked against the grid limit.
inline unsigned grid_for(int64_t n, int64_t per_block, const char* kernel) {
  const int64_t g = (n + per_block - 1) / per_block;
  if (g > int64_t(INT32_MAX))
    ::tailor::detail::fail(ErrorCode::limit, std::string(kernel) + ": problem too large for one launch (" +
                                                 std::to_string(n) + " items)",
                           "split the batch");
  return unsigned(g);
}
/// can_implement: throws invalid_argument naming the kernel when `ok` is false.
inline void require(bool ok, const char* kernel, const std::string& what) {
  if (!ok) ::tailor::detail::fail(ErrorCode::invalid_argument, std::string(kernel) + ": " + what, "");
}

}  // namespace tailor::cuda::kernels

/// Explicit instantiation of a launcher for the three storage types.
#define TAILOR_FOR_EACH_STORAGE(X) X(float) X(__half) X(__nv_bfloat16)

namespace tailor::cuda::kernels {
/// A grid for grid-stride loops: enough blocks to fill the GPU a few times over.
inline unsigned grid_stride_blocks(int64_t n, int threads) {
  int64_t g = (n + threads - 1) / threads;
  if (g > 65536) g = 65536;
  return unsigned(g < 1 ? 1 : g);
}
}  // namespace tailor::cuda::kernels
