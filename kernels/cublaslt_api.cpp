// kernels/cublaslt_api.cpp: see cublaslt_api.hpp.
#include "cublaslt_api.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <type_traits>
#include <vector>

#include "tailor/core/error.hpp"

namespace tailor::cuda::detail {

namespace {

CublasLtApi load_cublaslt() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("TAILOR_CUBLASLT"); env && *env) candidates.push_back(env);
  candidates.push_back("libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR));
#ifdef TAILOR_CUBLASLT_BUILD_PATH
  candidates.push_back(TAILOR_CUBLASLT_BUILD_PATH);
#endif
  std::string tried;
  void* h = nullptr;
  CublasLtApi api;
  for (const std::string& c : candidates) {
    h = ::dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h) {
      api.path = c;
      break;
    }
    const char* why = ::dlerror();
    tried += "\n  " + c + ": " + (why ? why : "not found");
  }
  if (!h)
    ::tailor::detail::fail(ErrorCode::device, "cannot load cuBLASLt, which the GPU models need; tried:" + tried,
                           "install the CUDA toolkit's cuBLAS (or pip's nvidia-cublas) and put its lib directory "
                           "on LD_LIBRARY_PATH, or set TAILOR_CUBLASLT to the library's path");
  auto sym = [&](auto& fn, const char* name) {
    ::dlerror();
    void* p = ::dlsym(h, name);
    if (!p)
      ::tailor::detail::fail(ErrorCode::device, api.path + " has no " + name + ": not a cuBLASLt " +
                                                    std::to_string(CUBLAS_VER_MAJOR) + ".x library",
                             "point TAILOR_CUBLASLT at the cuBLASLt of the CUDA version tailor was built with");
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(p);
  };
#define TAILOR_CUBLASLT_SYM(name) sym(api.name, "cublasLt" #name);
  TAILOR_CUBLASLT_FUNCTIONS(TAILOR_CUBLASLT_SYM)
#undef TAILOR_CUBLASLT_SYM
  return api;  // the library stays loaded for the process's life
}

}  // namespace

const CublasLtApi& cublaslt() {
  static const CublasLtApi api = load_cublaslt();  // a failed load throws, and is retried next call
  return api;
}

}  // namespace tailor::cuda::detail
