// kernels/activation.cuh: fused bias + activation, in place (BertIntermediate's dense bias +
// GELU, the pooler's bias + tanh). Grid-stride elementwise, float32 arithmetic; the
// activations are common.cuh's activate(), the same formulas as nn/activation.hpp.
#pragma once

#include "common.cuh"

namespace tailor::cuda::kernels {

/// Grid (ceil(C / 256), min(rows, 1024)): a thread owns one column (its bias read once) and
/// walks rows; no per-element division (an int64 % per element costs as much as the memory
/// traffic of this memory-bound kernel).
template <class T>
__global__ void bias_activation_column_per_thread(T* __restrict__ x, const T* __restrict__ bias, int64_t rows,
                                                  int64_t C, Act act) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const float b = bias ? to_f32(bias[c]) : 0.f;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    T* p = x + r * C + c;
    *p = from_f32<T>(activate(to_f32(*p) + b, act));
  }
}

}  // namespace tailor::cuda::kernels
