// kernels/device.cpp: is there a GPU this build can run on? (tailor::cuda::available & co.)
//
// "Available" means: the driver answers, the device exists, and this binary holds machine
// code (or PTX the driver can compile) for its architecture. The last is asked the only
// reliable way, by querying a kernel's attributes on that device: cudaFuncGetAttributes
// fails with cudaErrorNoKernelImageForDevice / InvalidDeviceFunction when it has none.
#include <string>

#include "check.hpp"
#include "tailor/cuda.hpp"

#ifndef TAILOR_CUDA_ARCHS
#define TAILOR_CUDA_ARCHS "unknown"
#endif

namespace tailor::cuda {

namespace detail {
cudaError_t probe_kernel_image();  // device_probe.cu
}

namespace {

std::string cc_string(const cudaDeviceProp& p) { return std::to_string(p.major) + "." + std::to_string(p.minor); }

/// "" when usable; else why not. Fills *prop when the device exists.
std::string check_device(int device, cudaDeviceProp* prop) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return std::string("no usable CUDA device: ") + cudaGetErrorString(e);
  }
  if (count == 0) return "no CUDA device found";
  if (device < 0 || device >= count)
    return "CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(count) + " device" +
           (count == 1 ? "" : "s") + ")";
  e = cudaGetDeviceProperties(prop, device);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return std::string("cudaGetDeviceProperties failed: ") + cudaGetErrorString(e);
  }
  int previous = 0;
  if (cudaGetDevice(&previous) != cudaSuccess) previous = device;
  if (previous != device && cudaSetDevice(device) != cudaSuccess) {
    cudaGetLastError();
    return "cannot select CUDA device " + std::to_string(device);
  }
  e = detail::probe_kernel_image();
  if (previous != device) cudaSetDevice(previous);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return "GPU " + std::to_string(device) + " (" + prop->name + ", compute capability " + cc_string(*prop) +
           ") is not supported by this build, which has kernels for sm_" + TAILOR_CUDA_ARCHS + " (" +
           cudaGetErrorString(e) + ")";
  }
  return "";
}
}  // namespace

bool available(int device) noexcept {
  try {
    cudaDeviceProp prop{};
    return check_device(device, &prop).empty();
  } catch (...) {
    return false;
  }
}

std::string unavailable_reason(int device) {
  cudaDeviceProp prop{};
  return check_device(device, &prop);
}

DeviceInfo require_device(int device) {
  cudaDeviceProp prop{};
  const std::string why = check_device(device, &prop);
  if (!why.empty()) {
    const bool arch = why.find("not supported by this build") != std::string::npos;
    ::tailor::detail::fail(ErrorCode::device, why,
                           arch ? "rebuild with -DCMAKE_CUDA_ARCHITECTURES=<this GPU's compute capability without "
                                  "the dot>, or use --device cpu"
                                : "use --device cpu, which needs no GPU");
  }
  DeviceInfo d;
  d.index = device;
  d.name = prop.name;
  d.cc_major = prop.major;
  d.cc_minor = prop.minor;
  d.sm_count = prop.multiProcessorCount;
  d.memory_bytes = prop.totalGlobalMem;
  d.l2_bytes = uint64_t(prop.l2CacheSize);
  cudaDriverGetVersion(&d.driver_version);
  cudaRuntimeGetVersion(&d.runtime_version);
  d.compiled_archs = TAILOR_CUDA_ARCHS;
  return d;
}

}  // namespace tailor::cuda
