// kernels/pooling.cu: launchers for pooling.cuh.
#include "pooling.cuh"

namespace tailor::cuda::kernels {

template <class T>
void maxpool2d_nhwc(const T* d_x, T* d_y, int64_t N, int64_t H, int64_t W, int64_t C, int64_t k, int64_t stride,
                    int64_t pad, cudaStream_t stream) {
  require(N >= 0 && H >= 1 && W >= 1 && C >= 1 && k >= 1 && k <= 64 && stride >= 1 && pad >= 0 && pad <= k / 2,
          "maxpool2d_nhwc", "bad pooling shape (PyTorch needs pad <= kernel / 2)");
  require(H + 2 * pad >= k && W + 2 * pad >= k, "maxpool2d_nhwc", "image smaller than the pooling window");
  const int64_t Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  const int64_t total = N * Ho * Wo * C;
  if (total == 0) return;
  maxpool2d_nhwc_kernel<T><<<grid_stride_blocks(total, 256), 256, 0, stream>>>(d_x, d_y, N, H, W, C, int(k),
                                                                               int(stride), int(pad), Ho, Wo);
  TAILOR_CUDA_CHECK_LAUNCH("maxpool2d_nhwc_kernel");
}

template <class T, class Tout>
void avgpool_global_nhwc(const T* d_x, Tout* d_y, int64_t N, int64_t H, int64_t W, int64_t C, cudaStream_t stream) {
  require(N >= 0 && H >= 1 && W >= 1 && C >= 1, "avgpool_global_nhwc", "bad shape");
  if (N == 0) return;
  avgpool_global_nhwc_kernel<T, Tout><<<grid_stride_blocks(N * C, 256), 256, 0, stream>>>(d_x, d_y, N, H * W, C);
  TAILOR_CUDA_CHECK_LAUNCH("avgpool_global_nhwc_kernel");
}

template <class T, class Tout>
void text_pool(const T* d_hidden, const int32_t* d_mask, Tout* d_out, int64_t B, int64_t Tlen, int64_t C,
               TextPool mode, bool normalize, cudaStream_t stream) {
  require(B >= 0 && Tlen >= 1 && Tlen <= INT32_MAX && C >= 1, "text_pool", "bad shape");
  require(B <= INT32_MAX, "text_pool", "batch too large");
  if (B == 0) return;
  text_pool_kernel<T, Tout><<<unsigned(B), kTextPoolThreads, 0, stream>>>(d_hidden, d_mask, d_out, int(Tlen), C,
                                                                          int(mode), normalize);
  TAILOR_CUDA_CHECK_LAUNCH("text_pool_kernel");
}

void fusion_concat_linear(const float* d_img, const float* d_txt, const float* d_w, const float* d_bias, float* d_out,
                          int64_t N, int64_t Di, int64_t Dt, int64_t O, Act act, cudaStream_t stream) {
  require(N >= 0 && Di >= 0 && Dt >= 0 && Di + Dt >= 1 && O >= 1, "fusion_concat_linear", "bad shape");
  require(Di == 0 || d_img, "fusion_concat_linear", "image features missing");
  require(Dt == 0 || d_txt, "fusion_concat_linear", "text features missing");
  if (N == 0) return;
  constexpr int kWarpsPerBlock = 8;
  fusion_concat_linear_kernel<<<grid_for(N * O, kWarpsPerBlock, "fusion_concat_linear"), kWarpsPerBlock * kWarp, 0,
                                stream>>>(d_img, d_txt, d_w, d_bias, d_out, N, Di, Dt, O, act);
  TAILOR_CUDA_CHECK_LAUNCH("fusion_concat_linear_kernel");
}

#define TAILOR_INSTANTIATE(T)                                                                                        \
  template void maxpool2d_nhwc<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,       \
                                  cudaStream_t);                                                                     \
  template void avgpool_global_nhwc<T, T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, cudaStream_t);           \
  template void text_pool<T, T>(const T*, const int32_t*, T*, int64_t, int64_t, int64_t, TextPool, bool,             \
                                cudaStream_t);
TAILOR_FOR_EACH_STORAGE(TAILOR_INSTANTIATE)
#undef TAILOR_INSTANTIATE
#define TAILOR_INSTANTIATE_TO_F32(T)                                                                                 \
  template void avgpool_global_nhwc<T, float>(const T*, float*, int64_t, int64_t, int64_t, int64_t, cudaStream_t);   \
  template void text_pool<T, float>(const T*, const int32_t*, float*, int64_t, int64_t, int64_t, TextPool, bool,     \
                                    cudaStream_t);
TAILOR_INSTANTIATE_TO_F32(__half)
TAILOR_INSTANTIATE_TO_F32(__nv_bfloat16)
#undef TAILOR_INSTANTIATE_TO_F32

}  // namespace tailor::cuda::kernels
