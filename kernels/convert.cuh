// kernels/convert.cuh: storage-type conversions and the NCHW -> NHWC image layout change.
//
// Grid-stride elementwise loops (the pattern of llm.c's dev/cuda/*.cu elementwise kernels).
// NHWC is what the convolution kernels take: a 1x1 convolution over it is a plain GEMM.
#pragma once

#include "common.cuh"

namespace tailor::cuda::kernels {

template <class T>
__global__ void convert_from_f32_grid_stride(const float* __restrict__ in, T* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = from_f32<T>(in[i]);
}

template <class T>
__global__ void convert_to_f32_grid_stride(const T* __restrict__ in, float* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = to_f32(in[i]);
}

/// One thread per output element (n, y, x, c): writes coalesced, reads strided by H*W.
template <class T>
__global__ void nchw_to_nhwc_grid_stride(const float* __restrict__ in, T* __restrict__ out, int64_t N, int64_t C,
                                         int64_t H, int64_t W) {
  const int64_t total = N * H * W * C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % C;
    const int64_t p = i / C;  // (n, y, x)
    const int64_t x = p % W, y = (p / W) % H, n = p / (W * H);
    out[i] = from_f32<T>(in[((n * C + c) * H + y) * W + x]);
  }
}

}  // namespace tailor::cuda::kernels
