// kernels/device_probe.cu: a kernel that exists only to ask whether this binary has code for
// the current device (used by device.cpp's available()).
#include <cuda_runtime.h>

namespace tailor::cuda::detail {

namespace {
__global__ void probe_kernel(int* p) {
  if (p) *p = 1;
}
}  // namespace

/// cudaSuccess when the current device can run this build's kernels.
cudaError_t probe_kernel_image() {
  cudaFuncAttributes attr{};
  return cudaFuncGetAttributes(&attr, probe_kernel);
}

}  // namespace tailor::cuda::detail
