// kernels/convert.cu: launchers for convert.cuh.
#include "convert.cuh"

namespace tailor::cuda::kernels {

template <class T>
void convert_from_f32(const float* d_in, T* d_out, int64_t n, cudaStream_t stream) {
  require(n >= 0, "convert_from_f32", "negative size");
  if (n == 0) return;
  convert_from_f32_grid_stride<T><<<grid_stride_blocks(n, 256), 256, 0, stream>>>(d_in, d_out, n);
  TAILOR_CUDA_CHECK_LAUNCH("convert_from_f32_grid_stride");
}

template <class T>
void convert_to_f32(const T* d_in, float* d_out, int64_t n, cudaStream_t stream) {
  require(n >= 0, "convert_to_f32", "negative size");
  if (n == 0) return;
  convert_to_f32_grid_stride<T><<<grid_stride_blocks(n, 256), 256, 0, stream>>>(d_in, d_out, n);
  TAILOR_CUDA_CHECK_LAUNCH("convert_to_f32_grid_stride");
}

template <class T>
void nchw_to_nhwc(const float* d_in, T* d_out, int64_t N, int64_t C, int64_t H, int64_t W, cudaStream_t stream) {
  require(N >= 0 && C >= 0 && H >= 0 && W >= 0, "nchw_to_nhwc", "negative dimension");
  const int64_t total = N * C * H * W;
  if (total == 0) return;
  nchw_to_nhwc_grid_stride<T><<<grid_stride_blocks(total, 256), 256, 0, stream>>>(d_in, d_out, N, C, H, W);
  TAILOR_CUDA_CHECK_LAUNCH("nchw_to_nhwc_grid_stride");
}

#define TAILOR_INSTANTIATE(T)                                                        \
  template void convert_from_f32<T>(const float*, T*, int64_t, cudaStream_t);        \
  template void convert_to_f32<T>(const T*, float*, int64_t, cudaStream_t);          \
  template void nchw_to_nhwc<T>(const float*, T*, int64_t, int64_t, int64_t, int64_t, cudaStream_t);
TAILOR_FOR_EACH_STORAGE(TAILOR_INSTANTIATE)
#undef TAILOR_INSTANTIATE

}  // namespace tailor::cuda::kernels
