// kernels/activation.cu: launcher for activation.cuh.
#include "activation.cuh"

namespace tailor::cuda::kernels {

template <class T>
void bias_activation(T* d_x, const T* d_bias, int64_t rows, int64_t C, Act act, cudaStream_t stream) {
  require(rows >= 0 && C >= 0, "bias_activation", "negative size");
  if (rows * C == 0) return;
  const dim3 grid(grid_for(C, 256, "bias_activation"), unsigned(rows < 1024 ? rows : 1024));
  bias_activation_column_per_thread<T><<<grid, 256, 0, stream>>>(d_x, d_bias, rows, C, act);
  TAILOR_CUDA_CHECK_LAUNCH("bias_activation_column_per_thread");
}

#define TAILOR_INSTANTIATE(T) \
  template void bias_activation<T>(T*, const T*, int64_t, int64_t, Act, cudaStream_t);
TAILOR_FOR_EACH_STORAGE(TAILOR_INSTANTIATE)
#undef TAILOR_INSTANTIATE

}  // namespace tailor::cuda::kernels
