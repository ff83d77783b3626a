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

/// The cuBLASLt functions tailor calls, as X(name) for cublasLt<name>.
#define TAILOR_CUBLASLT_FUNCTIONS(X)                                                                    \
  X(Create) X(Destroy) X(Matmul) X(MatmulAlgoGetHeuristic) X(MatmulDescCreate) X(MatmulDescDestroy)    \
  X(MatmulDescSetAttribute) X(MatmulPreferenceCreate) X(MatmulPreferenceDestroy)                        \
  X(MatmulPreferenceSetAttribute) X(MatrixLayoutCreate) X(MatrixLayoutDestroy) X(MatrixLayoutSetAttribute)

/// Each function as a pointer of its own type: cublaslt().Matmul(...) calls cublasLtMatmul.
struct CublasLtApi {
#define TAILOR_CUBLASLT_FIELD(name) decltype(&cublasLt##name) name = nullptr;
  TAILOR_CUBLASLT_FUNCTIONS(TAILOR_CUBLASLT_FIELD)
#undef TAILOR_CUBLASLT_FIELD
  std::string path;  ///< the library loaded
};

/// The loaded library's entry points (loaded once, thread-safe); throws Error(device) when
/// it cannot be loaded or lacks one of them.
const CublasLtApi& cublaslt();

}  // namespace tailor::cuda::detail
