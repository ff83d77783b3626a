// kernels/cublaslt_api.hpp: cuBLASLt's entry points, resolved at first use (dlopen).
//
// libcublasLt is ~500 MB; linked in, the dynamic loader maps and relocates it and runs its
// static constructors at every start of every program that links tailor::cuda, GPU or not
// (the CLI: `tailor --version` took 0.13-0.16 s and 214 MB of RSS, against ~1 ms and a few MB
// without it), and a binary built with CUDA would not start at all on a machine without the
// library. So nothing links it: the first BlasLt (a GPU model's first GEMM plan) loads it
// and looks up the 13 functions tailor calls. A CPU-only run never touches it.
//
// Where it is looked for, in order: $TAILOR_CUBLASLT (a path), libcublasLt.so.<major of the
// headers built against> through the usual search (LD_LIBRARY_PATH, ld.so.cache), then the
// file found at build time (TAILOR_CUBLASLT_BUILD_PATH). Failing all three is an Error(device)
// naming each path tried and why, with what to do.
#pragma once

#include <cublasLt.h>

#include <string>

namespace tailor::cuda::detail {

struct CublasLtApi {
  decltype(&cublasLtCreate) Create = nullptr;
  decltype(&cublasLtDestroy) Destroy = nullptr;
  decltype(&cublasLtMatmul) Matmul = nullptr;
  decltype(&cublasLtMatmulAlgoGetHeuristic) MatmulAlgoGetHeuristic = nullptr;
  decltype(&cublasLtMatmulDescCreate) MatmulDescCreate = nullptr;
  decltype(&cublasLtMatmulDescDestroy) MatmulDescDestroy = nullptr;
  decltype(&cublasLtMatmulDescSetAttribute) MatmulDescSetAttribute = nullptr;
  decltype(&cublasLtMatmulPreferenceCreate) MatmulPreferenceCreate = nullptr;
  decltype(&cublasLtMatmulPreferenceDestroy) MatmulPreferenceDestroy = nullptr;
  decltype(&cublasLtMatmulPreferenceSetAttribute) MatmulPreferenceSetAttribute = nullptr;
  decltype(&cublasLtMatrixLayoutCreate) MatrixLayoutCreate = nullptr;
  decltype(&cublasLtMatrixLayoutDestroy) MatrixLayoutDestroy = nullptr;
  decltype(&cublasLtMatrixLayoutSetAttribute) MatrixLayoutSetAttribute = nullptr;
  std::string path;  ///< the library loaded
};

/// The loaded library's entry points (loaded once, thread-safe); throws Error(device) when
/// it cannot be loaded or lacks one of them.
const CublasLtApi& cublaslt();

}  // namespace tailor::cuda::detail
