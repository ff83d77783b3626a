// kernels/blas.hpp: the GEMMs tailor hands to cuBLASLt, over row-major operands.
//
//   C (M, N) = epilogue(alpha . A (M, K) . op(B) + beta . C_in)    [batched, strided]
//   op(B) = B^T when B is stored (N, K) (PyTorch's Linear weight), B when stored (K, N).
//   epilogue: + bias[n] (N), then ReLU, fused in the cuBLASLt kernel
//             (CUBLASLT_EPILOGUE_BIAS / RELU / RELU_BIAS); C_in (M, N) is the residual,
//             added before the epilogue's activation (cuBLASLt's D = act(alpha AB + beta C + bias)).
//
// cuBLAS is column-major: a row-major X (M, N) is a column-major X^T (N, M), so the call
// made is C^T = op(B)^T . A^T with m = N, n = M (the trick of llm.c's matmul_cublaslt).
// Plans (descriptors + the heuristic's algorithm) are cached per shape, precision and
// pointer alignment, so a replayed shape costs one cublasLtMatmul.
//
// Precision -> (storage, compute): fp32 -> (float, CUBLAS_COMPUTE_32F: IEEE fp32 FMAs),
// tf32 -> (float, CUBLAS_COMPUTE_32F_FAST_TF32), fp16 -> (half, 32F), bf16 -> (bf16, 32F).
// NVIDIA_TF32_OVERRIDE=1 in the environment would silently turn fp32 into tf32: don't set it.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "device.hpp"
#include "tailor/core/options.hpp"

namespace tailor::cuda::detail {

struct GemmArgs {
  int64_t M = 0, N = 0, K = 0;
  const void* A = nullptr;
  int64_t lda = 0;
  const void* B = nullptr;
  int64_t ldb = 0;
  bool b_is_n_by_k = true;  ///< B stored (N, K) row-major (a Linear weight): op(B) = B^T
  void* C = nullptr;
  int64_t ldc = 0;
  const void* C_in = nullptr;  ///< residual (M, N) with row stride ldc, or null
  const void* bias = nullptr;  ///< (N) in the storage type, or null
  bool relu = false;
  float alpha = 1.f;
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_c = 0;  ///< elements between batch items
};

class BlasLt {
 public:
  static constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // NVIDIA's advice for Hopper

  BlasLt();
  ~BlasLt();
  BlasLt(const BlasLt&) = delete;
  BlasLt& operator=(const BlasLt&) = delete;

  /// Enqueues one (batched) GEMM on `stream`; throws tailor::Error on a cuBLAS failure or
  /// when no algorithm fits.
  void gemm(const GemmArgs& g, Precision p, cudaStream_t stream);

  size_t plans() const noexcept { return plans_.size(); }

 private:
  struct Plan;
  std::unique_ptr<Plan> make_plan(const GemmArgs& g, Precision p);

  cublasLtHandle_t handle_ = nullptr;
  DeviceBuffer workspace_;
  std::map<std::vector<int64_t>, std::unique_ptr<Plan>> plans_;
};

}  // namespace tailor::cuda::detail
