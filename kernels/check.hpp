// kernels/check.hpp: every CUDA / cuBLAS call checked, failures become tailor::Error.
//
// Host-side only (compiled by nvcc in the launchers and by the C++ compiler in the model
// code). Follows llm.c's cudaCheck/cublasCheck (llmc/cuda_common.h), except that a failure
// throws tailor::Error(ErrorCode::device, "<what> failed: <cudaGetErrorString>", hint)
// instead of calling exit(): tailor is embedded in programs that must survive a GPU error.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>

#include "tailor/core/error.hpp"

namespace tailor::cuda::detail {

/// A hint for the common CUDA failures; empty when the message says enough.
inline std::string cuda_hint(cudaError_t e) {
  switch (e) {
    case cudaErrorMemoryAllocation:
      return "the GPU is out of memory: lower the batch size or free other GPU programs";
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
      return "no usable NVIDIA GPU/driver: run with --device cpu";
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorInvalidDeviceFunction:
      return "this build has no kernels for this GPU's architecture: rebuild with "
             "-DCMAKE_CUDA_ARCHITECTURES=<your GPU's compute capability, e.g. 80 or 90>";
    default:
      return "this is a GPU fault; run the CUDA tests under compute-sanitizer and report it";
  }
}

[[noreturn]] inline void cuda_fail(cudaError_t e, const char* what) {
  ::tailor::detail::fail(e == cudaErrorMemoryAllocation ? ErrorCode::out_of_memory : ErrorCode::device,
                         std::string(what) + " failed: " + cudaGetErrorString(e), cuda_hint(e));
}

inline const char* cublas_status_string(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
  }
}

[[noreturn]] inline void cublas_fail(cublasStatus_t s, const char* what) {
  ::tailor::detail::fail(s == CUBLAS_STATUS_ALLOC_FAILED ? ErrorCode::out_of_memory : ErrorCode::device,
                         std::string(what) + " failed: " + cublas_status_string(s),
                         s == CUBLAS_STATUS_NOT_SUPPORTED || s == CUBLAS_STATUS_ARCH_MISMATCH
                             ? "cuBLAS has no kernel for this shape/precision on this GPU; try --precision fp32"
                             : "this is a GPU fault; run the CUDA tests under compute-sanitizer and report it");
}

}  // namespace tailor::cuda::detail

/// Checks a cudaError_t; throws tailor::Error naming the call.
#define TAILOR_CUDA_CHECK(call)                                                   \
  do {                                                                            \
    const cudaError_t tailor_cuda_e_ = (call);                                    \
    if (tailor_cuda_e_ != cudaSuccess) ::tailor::cuda::detail::cuda_fail(tailor_cuda_e_, #call); \
  } while (0)

/// Checks a cublasStatus_t; throws tailor::Error naming the call.
#define TAILOR_CUBLAS_CHECK(call)                                                     \
  do {                                                                                \
    const cublasStatus_t tailor_cublas_s_ = (call);                                   \
    if (tailor_cublas_s_ != CUBLAS_STATUS_SUCCESS)                                    \
      ::tailor::cuda::detail::cublas_fail(tailor_cublas_s_, #call);                   \
  } while (0)

/// After a kernel launch: the launch configuration error, if any (not a sync).
#define TAILOR_CUDA_CHECK_LAUNCH(name)                                                 \
  do {                                                                                 \
    const cudaError_t tailor_cuda_e_ = cudaGetLastError();                             \
    if (tailor_cuda_e_ != cudaSuccess) ::tailor::cuda::detail::cuda_fail(tailor_cuda_e_, "launch of " name); \
  } while (0)
