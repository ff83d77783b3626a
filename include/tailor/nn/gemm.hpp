// tailor/nn/gemm.hpp: the matrix products every model spends its time in.
//
//   gemm(A, W, C, epilogue, pool)   C (M, N) = act(A (M, K) . W (K, N) + bias (+ residual))
//                                   W is a PackedWeight: a PyTorch Linear / 1x1-conv weight
//                                   (N, K) packed once at load time.
//   matmul(...)                     C (M, N) = alpha op(A) . op(B) + beta C over plain
//                                   row-major operands (attention's Q K^T and P V).
//
// Both split the work over the session's ThreadPool. The reference implementation is
// Eigen's GEMM on each thread's block; the epilogue (bias, residual, activation) is applied
// to each block while it is still in cache, so a Linear + GELU or a conv + BN + ReLU +
// residual makes one pass over C.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include <Eigen/Core>

#include "tailor/core/arena.hpp"
#include "tailor/core/error.hpp"
#include "tailor/core/thread_pool.hpp"
#include "tailor/nn/activation.hpp"

namespace tailor::nn {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>>;
using ConstMatrixMap = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;

/// A weight packed for gemm(): logically W (K, N) = the transpose of PyTorch's (N, K).
class PackedWeight {
 public:
  PackedWeight() = default;
  /// Packs PyTorch's row-major (N, K) weight (Linear: (out, in); 1x1 conv: (out, in, 1, 1)).
  static PackedWeight from_out_in(const float* w, int64_t N, int64_t K) {
    PackedWeight p;
    p.N_ = N;
    p.K_ = K;
    p.data_.resize(size_t(N * K));
    // Stored as (K, N) row-major: row k holds every output's weight for input k.
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) p.data_[size_t(k * N + n)] = w[n * K + k];
    return p;
  }
  /// Packs a row-major (K, N) matrix already in input-major order.
  static PackedWeight from_in_out(const float* w, int64_t K, int64_t N) {
    PackedWeight p;
    p.N_ = N;
    p.K_ = K;
    p.data_.resize(size_t(N * K));
    if (N * K > 0) std::memcpy(p.data_.data(), w, size_t(N * K) * sizeof(float));
    return p;
  }
  int64_t rows() const noexcept { return K_; }  // K
  int64_t cols() const noexcept { return N_; }  // N
  const float* data() const noexcept { return data_.data(); }
  size_t bytes() const noexcept { return data_.size() * sizeof(float); }

 private:
  int64_t K_ = 0, N_ = 0;
  AlignedBuffer<float> data_;
};

/// What gemm() applies to each output element: act(acc + bias[n] + residual[m, n]).
struct Epilogue {
  const float* bias = nullptr;      // (N) or null
  const float* residual = nullptr;  // (M, N) with row stride ldr, or null
  int64_t ldr = 0;
  Activation act = Activation::none;
};

namespace detail {
inline void apply_epilogue(float* c, int64_t ldc, int64_t m0, int64_t m1, int64_t n0, int64_t n1, const Epilogue& ep) {
  for (int64_t m = m0; m < m1; ++m) {
    float* row = c + m * ldc;
    if (ep.bias)
      for (int64_t n = n0; n < n1; ++n) row[n] += ep.bias[n];
    if (ep.residual) {
      const float* r = ep.residual + m * ep.ldr;
      for (int64_t n = n0; n < n1; ++n) row[n] += r[n];
    }
    activate_inplace(row + n0, n1 - n0, ep.act);
  }
}
}  // namespace detail

/// C (M, N; row stride ldc) = epilogue(A (M, K; row stride lda) . W (K, N)).
/// C must not alias A; it may alias ep.residual only element for element (same ldc).
inline void gemm(const float* A, int64_t M, int64_t lda, const PackedWeight& W, float* C, int64_t ldc,
                 const Epilogue& ep, ThreadPool& pool) {
  const int64_t K = W.rows(), N = W.cols();
  if (M == 0 || N == 0) return;
  TAILOR_CHECK(lda >= K && ldc >= N, ErrorCode::internal, "gemm: leading dimension smaller than the row", "");
  const ConstMatrixMap Wm(W.data(), K, N, Eigen::OuterStride<>(N));
  const int threads = pool.size();
  // Split the larger side into blocks of whole cache lines (N) or rows (M).
  const bool split_n = N >= 64 * threads && N * 4 >= M;
  const int64_t extent = split_n ? N : M;
  const int64_t align = split_n ? 16 : 1;
  const int64_t nblocks = std::max<int64_t>(1, std::min<int64_t>(threads, (extent + align - 1) / align));
  int64_t block = (extent + nblocks - 1) / nblocks;
  block = (block + align - 1) / align * align;
  pool.run(int((extent + block - 1) / block), [&](int t) {
    const int64_t b0 = int64_t(t) * block, b1 = std::min(extent, b0 + block);
    const int64_t m0 = split_n ? 0 : b0, m1 = split_n ? M : b1;
    const int64_t n0 = split_n ? b0 : 0, n1 = split_n ? b1 : N;
    ConstMatrixMap a(A + m0 * lda, m1 - m0, K, Eigen::OuterStride<>(lda));
    MatrixMap c(C + m0 * ldc + n0, m1 - m0, n1 - n0, Eigen::OuterStride<>(ldc));
    if (ep.residual == C) {
      // In-place residual: add the product onto C, then bias + activation.
      c.noalias() += a * Wm.middleCols(n0, n1 - n0);
      Epilogue rest = ep;
      rest.residual = nullptr;
      detail::apply_epilogue(C, ldc, m0, m1, n0, n1, rest);
    } else {
      c.noalias() = a * Wm.middleCols(n0, n1 - n0);
      detail::apply_epilogue(C, ldc, m0, m1, n0, n1, ep);
    }
  });
}

/// C (M, N) = alpha . op(A) . op(B) + beta . C, all row-major with the given row strides;
/// op(X) is X or X^T. Single-threaded: callers parallelise over heads / batch items.
inline void matmul(const float* A, int64_t lda, bool trans_a, const float* B, int64_t ldb, bool trans_b, float* C,
                   int64_t ldc, int64_t M, int64_t N, int64_t K, float alpha = 1.f, float beta = 0.f) {
  if (M == 0 || N == 0) return;
  MatrixMap c(C, M, N, Eigen::OuterStride<>(ldc));
  if (beta == 0.f) c.setZero();
  else if (beta != 1.f) c *= beta;
  if (K == 0) return;
  const ConstMatrixMap a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  const ConstMatrixMap b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  if (!trans_a && !trans_b) c.noalias() += alpha * (a * b);
  else if (!trans_a && trans_b) c.noalias() += alpha * (a * b.transpose());
  else if (trans_a && !trans_b) c.noalias() += alpha * (a.transpose() * b);
  else c.noalias() += alpha * (a.transpose() * b.transpose());
}

}  // namespace tailor::nn
