// tests/cuda/cpu_reference.hpp: plain-loop CPU references for the GPU kernels.
//
// Written straight from the reference frameworks' definitions (HF modeling_bert.py,
// torch.nn.functional, torchvision resnet.py, sentence-transformers' Pooling), in float32
// with double accumulators where a sum is long, for clarity over speed. The matrix products
// use tailor's CPU GEMM (nn/gemm.hpp), which has its own tests; the other ops are compared
// with these loops until the nn/ versions (being written concurrently) are committed.
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <vector>

#include "tailor/core/thread_pool.hpp"
#include "tailor/nn/activation.hpp"
#include "tailor/nn/gemm.hpp"

namespace tailor::test::ref {

/// y (rows, C) = (x - mean) / sqrt(var + eps) * gamma + beta, biased variance (torch LayerNorm).
inline void layernorm(const float* x, const float* gamma, const float* beta, float* y, int64_t rows, int64_t C,
                      float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * C;
    double mean = 0;
    for (int64_t c = 0; c < C; ++c) mean += xr[c];
    mean /= double(C);
    double var = 0;
    for (int64_t c = 0; c < C; ++c) var += (xr[c] - mean) * (xr[c] - mean);
    var /= double(C);
    const double rstd = 1.0 / std::sqrt(var + double(eps));
    for (int64_t c = 0; c < C; ++c) y[r * C + c] = float((xr[c] - mean) * rstd * gamma[c] + beta[c]);
  }
}

/// y (rows, N) = act(x (rows, K) . W^T + bias (+ residual)), W (N, K) PyTorch layout: nn::gemm.
inline void linear(const float* x, int64_t rows, int64_t K, const std::vector<float>& W, const float* bias,
                   const float* residual, float* y, int64_t N, nn::Activation act = nn::Activation::none) {
  static ThreadPool pool(2);
  const nn::PackedWeight pw = nn::PackedWeight::from_out_in(W.data(), N, K);
  nn::Epilogue ep;
  ep.bias = bias;
  ep.residual = residual;
  ep.ldr = N;
  ep.act = act;
  nn::gemm(x, rows, K, pw, y, N, ep, pool);
}

inline float activate(float x, int act) {  // kernels::Act numbering
  switch (act) {
    case 1: return x > 0.f ? x : 0.f;
    case 2: return nn::gelu_erf(x);
    case 3: return nn::gelu_tanh(x);
    case 4: return std::tanh(x);
    case 5: return 1.f / (1.f + std::exp(-x));
    default: return x;
  }
}

/// softmax over each row of scores (B, NH, Tq, Tk) of scale * s + (mask == 0 ? float32 min : 0).
inline void softmax_masked(std::vector<float>& s, const int32_t* mask, int64_t B, int64_t NH, int64_t Tq, int64_t Tk,
                           float scale) {
  for (int64_t r = 0; r < B * NH * Tq; ++r) {
    const int64_t b = r / (NH * Tq);
    float* x = s.data() + r * Tk;
    float mx = -INFINITY;
    for (int64_t j = 0; j < Tk; ++j) {
      x[j] = x[j] * scale + (mask && mask[b * Tk + j] == 0 ? -FLT_MAX : 0.f);
      mx = std::max(mx, x[j]);
    }
    double sum = 0;
    for (int64_t j = 0; j < Tk; ++j) sum += std::exp(double(x[j]) - mx);
    for (int64_t j = 0; j < Tk; ++j) x[j] = float(std::exp(double(x[j]) - mx) / sum);
  }
}

/// HF BertSelfAttention over the fused projection qkv (B, T, 3C) -> ctx (B, T, C).
inline std::vector<float> attention(const std::vector<float>& qkv, const int32_t* mask, int64_t B, int64_t T,
                                    int64_t NH, int64_t D) {
  const int64_t C = NH * D;
  std::vector<float> ctx(size_t(B * T * C));
  std::vector<float> p(static_cast<size_t>(T));
  const double scale = 1.0 / std::sqrt(double(D));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < NH; ++h)
      for (int64_t i = 0; i < T; ++i) {
        const float* q = qkv.data() + (b * T + i) * 3 * C + h * D;
        double mx = -INFINITY;
        for (int64_t j = 0; j < T; ++j) {
          const float* k = qkv.data() + (b * T + j) * 3 * C + C + h * D;
          double s = 0;
          for (int64_t d = 0; d < D; ++d) s += double(q[d]) * k[d];
          float sf = float(s * scale);
          if (mask && mask[b * T + j] == 0) sf += -FLT_MAX;
          p[size_t(j)] = sf;
          mx = std::max(mx, double(sf));
        }
        double sum = 0;
        for (int64_t j = 0; j < T; ++j) sum += std::exp(double(p[size_t(j)]) - mx);
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < T; ++j)
            acc += std::exp(double(p[size_t(j)]) - mx) / sum * qkv[size_t((b * T + j) * 3 * C + 2 * C + h * D + d)];
          ctx[size_t((b * T + i) * C + h * D + d)] = float(acc);
        }
      }
  return ctx;
}

/// conv2d over NHWC: x (N, H, W, C), w (O, kh, kw, C), y (N, Ho, Wo, O) = act(conv + bias + residual).
inline std::vector<float> conv2d_nhwc(const std::vector<float>& x, const std::vector<float>& w, const float* bias,
                                      const float* residual, int64_t N, int64_t H, int64_t W, int64_t C, int64_t O,
                                      int64_t kh, int64_t kw, int64_t stride, int64_t pad, int act) {
  const int64_t Ho = (H + 2 * pad - kh) / stride + 1, Wo = (W + 2 * pad - kw) / stride + 1;
  std::vector<float> y(size_t(N * Ho * Wo * O));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oy = 0; oy < Ho; ++oy)
      for (int64_t ox = 0; ox < Wo; ++ox)
        for (int64_t o = 0; o < O; ++o) {
          double acc = bias ? bias[o] : 0.0;
          for (int64_t ky = 0; ky < kh; ++ky) {
            const int64_t iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= H) continue;
            for (int64_t kx = 0; kx < kw; ++kx) {
              const int64_t ix = ox * stride - pad + kx;
              if (ix < 0 || ix >= W) continue;
              const float* xp = x.data() + ((n * H + iy) * W + ix) * C;
              const float* wp = w.data() + ((o * kh + ky) * kw + kx) * C;
              for (int64_t c = 0; c < C; ++c) acc += double(xp[c]) * wp[c];
            }
          }
          const int64_t i = ((n * Ho + oy) * Wo + ox) * O + o;
          if (residual) acc += residual[i];
          y[size_t(i)] = activate(float(acc), act);
        }
  return y;
}

/// im2col over NHWC with zero-padded columns up to ldk (the layout kernels::im2col_nhwc writes).
inline std::vector<float> im2col_nhwc(const std::vector<float>& x, int64_t N, int64_t H, int64_t W, int64_t C,
                                      int64_t kh, int64_t kw, int64_t stride, int64_t pad, int64_t ldk) {
  const int64_t Ho = (H + 2 * pad - kh) / stride + 1, Wo = (W + 2 * pad - kw) / stride + 1;
  std::vector<float> cols(size_t(N * Ho * Wo * ldk), 0.f);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oy = 0; oy < Ho; ++oy)
      for (int64_t ox = 0; ox < Wo; ++ox)
        for (int64_t ky = 0; ky < kh; ++ky)
          for (int64_t kx = 0; kx < kw; ++kx)
            for (int64_t c = 0; c < C; ++c) {
              const int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
              const int64_t m = (n * Ho + oy) * Wo + ox, k = (ky * kw + kx) * C + c;
              if (iy >= 0 && iy < H && ix >= 0 && ix < W) cols[size_t(m * ldk + k)] = x[size_t(((n * H + iy) * W + ix) * C + c)];
            }
  return cols;
}

inline std::vector<float> maxpool_nhwc(const std::vector<float>& x, int64_t N, int64_t H, int64_t W, int64_t C,
                                       int64_t k, int64_t stride, int64_t pad) {
  const int64_t Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  std::vector<float> y(size_t(N * Ho * Wo * C));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oy = 0; oy < Ho; ++oy)
      for (int64_t ox = 0; ox < Wo; ++ox)
        for (int64_t c = 0; c < C; ++c) {
          float best = -INFINITY;
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
              if (iy >= 0 && iy < H && ix >= 0 && ix < W) best = std::max(best, x[size_t(((n * H + iy) * W + ix) * C + c)]);
            }
          y[size_t(((n * Ho + oy) * Wo + ox) * C + c)] = best;
        }
  return y;
}

inline std::vector<float> avgpool_global_nhwc(const std::vector<float>& x, int64_t N, int64_t HW, int64_t C) {
  std::vector<float> y(size_t(N * C));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      double s = 0;
      for (int64_t p = 0; p < HW; ++p) s += x[size_t((n * HW + p) * C + c)];
      y[size_t(n * C + c)] = float(s / double(HW));
    }
  return y;
}

/// sentence-transformers' Pooling (cls / masked mean) + optional Normalize.
inline std::vector<float> text_pool(const std::vector<float>& h, const int32_t* mask, int64_t B, int64_t T, int64_t C,
                                    bool mean, bool normalize) {
  std::vector<float> out(size_t(B * C));
  for (int64_t b = 0; b < B; ++b) {
    double count = 0;
    for (int64_t t = 0; t < T; ++t) count += (!mask || mask[b * T + t]) ? 1 : 0;
    double sq = 0;
    for (int64_t c = 0; c < C; ++c) {
      double v = 0;
      if (!mean) {
        v = h[size_t(b * T * C + c)];
      } else {
        for (int64_t t = 0; t < T; ++t)
          if (!mask || mask[b * T + t]) v += h[size_t((b * T + t) * C + c)];
        v /= std::max(count, 1e-9);
      }
      out[size_t(b * C + c)] = float(v);
      sq += v * v;
    }
    if (normalize) {
      const double inv = 1.0 / std::max(std::sqrt(sq), 1e-12);
      for (int64_t c = 0; c < C; ++c) out[size_t(b * C + c)] = float(out[size_t(b * C + c)] * inv);
    }
  }
  return out;
}

}  // namespace tailor::test::ref
