// kernels/pooling.cuh: image pooling (NHWC), text pooling, and the fusion head's linear.
//
//   maxpool2d_nhwc_kernel        torchvision's stem MaxPool2d(3, 2, 1): padded taps never win
//   avgpool_global_nhwc_kernel   AdaptiveAvgPool2d((1, 1)) + flatten: (N, H, W, C) -> (N, C)
//   text_pool_kernel             sentence-transformers' Pooling (cls / masked mean) and
//                                Normalize (x / max(|x|_2, 1e-12)), one block per sequence
//   fusion_concat_linear_kernel  Linear over [image features | text features], one warp per
//                                output, the concatenation never materialised
#pragma once

#include "common.cuh"

namespace tailor::cuda::kernels {

template <class T>
__global__ void maxpool2d_nhwc_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t N, int64_t H, int64_t W,
                                      int64_t C, int k, int stride, int pad, int64_t Ho, int64_t Wo) {
  const int64_t total = N * Ho * Wo * C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % C, ox = (i / C) % Wo, oy = (i / (C * Wo)) % Ho, n = i / (C * Wo * Ho);
    float best = -INFINITY;
    for (int ky = 0; ky < k; ++ky) {
      const int64_t iy = oy * stride - pad + ky;
      if (iy < 0 || iy >= H) continue;
      for (int kx = 0; kx < k; ++kx) {
        const int64_t ix = ox * stride - pad + kx;
        if (ix < 0 || ix >= W) continue;
        best = fmaxf(best, to_f32(x[((n * H + iy) * W + ix) * C + c]));
      }
    }
    y[i] = from_f32<T>(best);
  }
}

template <class T, class Tout>
__global__ void avgpool_global_nhwc_kernel(const T* __restrict__ x, Tout* __restrict__ y, int64_t N, int64_t HW,
                                           int64_t C) {
  const int64_t total = N * C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % C, n = i / C;
    const T* p = x + n * HW * C + c;
    float s = 0.f;
    for (int64_t q = 0; q < HW; ++q) s += to_f32(p[q * C]);
    y[i] = from_f32<Tout>(s / float(HW));
  }
}

constexpr int kTextPoolThreads = 256;

/// One block per sequence b; threads stride over the C columns.
template <class T, class Tout>
__global__ void __launch_bounds__(kTextPoolThreads)
    text_pool_kernel(const T* __restrict__ hidden, const int32_t* __restrict__ mask, Tout* __restrict__ out, int Tlen,
                     int64_t C, int mode, bool normalize) {
  __shared__ float partial[kTextPoolThreads / kWarp];
  __shared__ float shared_scale;
  const int64_t b = blockIdx.x;
  const T* h = hidden + b * Tlen * C;
  const int32_t* mk = mask ? mask + b * Tlen : nullptr;
  Tout* o = out + b * C;

  float count = 0.f;
  if (mode == int(TextPool::mean))
    for (int t = 0; t < Tlen; ++t) count += (!mk || mk[t] != 0) ? 1.f : 0.f;
  // sentence-transformers: sum / clamp(count, min=1e-9).
  const float inv_count = 1.f / fmaxf(count, 1e-9f);

  float sq = 0.f;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float v;
    if (mode == int(TextPool::cls)) {
      v = to_f32(h[c]);
    } else {
      float s = 0.f;
      for (int t = 0; t < Tlen; ++t)
        if (!mk || mk[t] != 0) s += to_f32(h[int64_t(t) * C + c]);
      v = s * inv_count;
    }
    sq += v * v;
    o[c] = from_f32<Tout>(v);
  }
  if (!normalize) return;
  sq = warp_sum(sq);
  if (threadIdx.x % kWarp == 0) partial[threadIdx.x / kWarp] = sq;
  __syncthreads();
  if (threadIdx.x == 0) {
    float total = 0.f;
    for (int w = 0; w < int(blockDim.x / kWarp); ++w) total += partial[w];
    shared_scale = 1.f / fmaxf(sqrtf(total), 1e-12f);
  }
  __syncthreads();
  // Each thread rescales the columns it wrote itself (same c loop): no cross-thread hazard.
  // Rescales the unrounded value when Tout is float; recomputing would cost another pass.
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) o[c] = from_f32<Tout>(to_f32(o[c]) * shared_scale);
}

__global__ void fusion_concat_linear_kernel(const float* __restrict__ img, const float* __restrict__ txt,
                                            const float* __restrict__ w, const float* __restrict__ bias,
                                            float* __restrict__ out, int64_t N, int64_t Di, int64_t Dt, int64_t O,
                                            Act act) {
  const int64_t id = int64_t(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;  // (n, o)
  if (id >= N * O) return;
  const int lane = threadIdx.x % kWarp;
  const int64_t n = id / O, o = id % O;
  const float* wr = w + o * (Di + Dt);
  float s = 0.f;
  for (int64_t i = lane; i < Di; i += kWarp) s += img[n * Di + i] * wr[i];
  for (int64_t i = lane; i < Dt; i += kWarp) s += txt[n * Dt + i] * wr[Di + i];
  s = warp_sum(s);
  if (lane == 0) out[id] = activate(s + (bias ? bias[o] : 0.f), act);
}

}  // namespace tailor::cuda::kernels
