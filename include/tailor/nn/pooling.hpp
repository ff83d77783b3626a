// tailor/nn/pooling.hpp: max pooling and global average pooling over NHWC activations.
//
//   maxpool2d_nhwc        torch.nn.MaxPool2d(kernel, stride, padding): padding counts as -inf
//                         (a window never takes a padded value), floor mode for the output size
//   global_avgpool_nhwc   torch.nn.AdaptiveAvgPool2d((1, 1)) + flatten: the mean of each
//                         channel over all pixels (summed in float, divided once, as PyTorch)
// Both vectorise over channels (contiguous in NHWC) and split rows over the session's pool.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "tailor/core/error.hpp"
#include "tailor/core/thread_pool.hpp"

namespace tailor::nn {

/// y (N, OH, OW, C) = max over k x k windows of x (N, H, W, C), stride s, padding p.
inline void maxpool2d_nhwc(const float* x, int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, int64_t p,
                           float* y, ThreadPool& pool) {
  TAILOR_CHECK(k >= 1 && s >= 1 && p >= 0 && 2 * p <= k, ErrorCode::invalid_argument, "maxpool: bad window", "");
  const int64_t oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
  TAILOR_CHECK(oh >= 1 && ow >= 1, ErrorCode::invalid_argument,
               "maxpool on a " + std::to_string(h) + "x" + std::to_string(w) + " input has no output pixels",
               "the input image is too small for the network");
  pool.parallel_for(n * oh, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t img = r / oh, oy = r % oh;
      const int64_t y0 = std::max<int64_t>(oy * s - p, 0), y1 = std::min<int64_t>(oy * s - p + k, h);
      for (int64_t ox = 0; ox < ow; ++ox) {
        const int64_t x0 = std::max<int64_t>(ox * s - p, 0), x1 = std::min<int64_t>(ox * s - p + k, w);
        float* out = y + ((img * oh + oy) * ow + ox) * c;
        std::fill(out, out + c, -std::numeric_limits<float>::infinity());
        for (int64_t iy = y0; iy < y1; ++iy)
          for (int64_t ix = x0; ix < x1; ++ix) {
            const float* in = x + ((img * h + iy) * w + ix) * c;
            // NaN propagates as in PyTorch (a NaN input makes the max NaN).
            for (int64_t ch = 0; ch < c; ++ch) out[ch] = (in[ch] > out[ch] || in[ch] != in[ch]) ? in[ch] : out[ch];
          }
      }
    }
  });
}

/// y (N, C) = mean over the H x W pixels of x (N, H, W, C).
inline void global_avgpool_nhwc(const float* x, int64_t n, int64_t h, int64_t w, int64_t c, float* y, ThreadPool& pool) {
  TAILOR_CHECK(h >= 1 && w >= 1, ErrorCode::invalid_argument, "average pooling over no pixels", "");
  const int64_t px = h * w;
  const float inv_div = float(px);
  // Split images x channel blocks over the pool.
  const int64_t cblock = 256, nblocks = (c + cblock - 1) / cblock;
  pool.run(int(n * nblocks), [&](int task) {
    const int64_t img = task / nblocks, c0 = (task % nblocks) * cblock, c1 = std::min(c, c0 + cblock);
    float* out = y + img * c;
    for (int64_t ch = c0; ch < c1; ++ch) out[ch] = 0.f;
    for (int64_t i = 0; i < px; ++i) {
      const float* in = x + (img * px + i) * c;
      for (int64_t ch = c0; ch < c1; ++ch) out[ch] += in[ch];
    }
    for (int64_t ch = c0; ch < c1; ++ch) out[ch] /= inv_div;
  });
}

}  // namespace tailor::nn
