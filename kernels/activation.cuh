// kernels/activation.cuh: fused bias + activation, in place (BertIntermediate's dense bias +
// GELU, the pooler's bias + tanh). Grid-stride elementwise, float32 arithmetic; the
// activations are common.cuh's activate(), the same formulas as nn/activation.hpp.
#pragma once

#include "common.cuh"

namespace tailor::cuda::kernels {

template <class T>
__global__ void bias_activation_grid_stride(T* __restrict__ x, const T* __restrict__ bias, int64_t rows, int64_t C,
                                            Act act) {
  const int64_t total = rows * C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const float b = bias ? to_f32(bias[i % C]) : 0.f;
    x[i] = from_f32<T>(activate(to_f32(x[i]) + b, act));
  }
}

}  // namespace tailor::cuda::kernels
