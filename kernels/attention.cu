// kernels/attention.cu: launchers for attention.cuh.
#include <cmath>

#include "attention.cuh"

namespace tailor::cuda::kernels {

namespace {
void check_attention(int64_t B, int64_t Tlen, int64_t NH, int64_t D, const char* k) {
  require(B >= 0 && Tlen >= 0, k, "negative batch or sequence length");
  require(NH >= 1 && D >= 1, k, "no heads");
  require(Tlen <= (int64_t(1) << 20) && NH <= 65535 && B <= 65535, k,
          "batch " + std::to_string(B) + " x heads " + std::to_string(NH) + " x length " + std::to_string(Tlen) +
              " is outside the launch grid");
}
}  // namespace

template <class T>
void attention_online_softmax(const T* d_qkv, const int32_t* d_mask, T* d_ctx, int64_t B, int64_t Tlen, int64_t NH,
                              int64_t D, cudaStream_t stream) {
  check_attention(B, Tlen, NH, D, "attention_online_softmax");
  require(D <= kAttentionMaxHeadDim, "attention_online_softmax",
          "head size " + std::to_string(D) + " is over " + std::to_string(kAttentionMaxHeadDim));
  if (B == 0 || Tlen == 0) return;
  const dim3 grid(grid_for(Tlen, kAttnQTile, "attention_online_softmax"), unsigned(NH), unsigned(B));
  const dim3 block(kAttnWarps * kWarp);
  const float scale = 1.f / std::sqrt(float(D));
  if (D <= 32)
    attention_online_softmax_kernel<T, 32><<<grid, block, 0, stream>>>(d_qkv, d_mask, d_ctx, int(Tlen), int(NH), int(D), scale);
  else if (D <= 64)
    attention_online_softmax_kernel<T, 64><<<grid, block, 0, stream>>>(d_qkv, d_mask, d_ctx, int(Tlen), int(NH), int(D), scale);
  else
    attention_online_softmax_kernel<T, 128><<<grid, block, 0, stream>>>(d_qkv, d_mask, d_ctx, int(Tlen), int(NH), int(D), scale);
  TAILOR_CUDA_CHECK_LAUNCH("attention_online_softmax_kernel");
}

template <class T>
void softmax_masked(T* d_scores, const int32_t* d_mask, int64_t B, int64_t NH, int64_t Tq, int64_t Tk, float scale,
                    cudaStream_t stream) {
  require(B >= 0 && NH >= 0 && Tq >= 0 && Tk >= 1 && Tk <= INT32_MAX && Tq <= INT32_MAX && NH <= INT32_MAX,
          "softmax_masked", "bad shape");
  const int64_t rows = B * NH * Tq;
  if (rows == 0) return;
  constexpr int kWarpsPerBlock = 8;
  softmax_masked_warp_per_row_kernel<T><<<grid_for(rows, kWarpsPerBlock, "softmax_masked"), kWarpsPerBlock * kWarp, 0,
                                          stream>>>(d_scores, d_mask, rows, int(NH), int(Tq), int(Tk), scale);
  TAILOR_CUDA_CHECK_LAUNCH("softmax_masked_warp_per_row_kernel");
}

template <class T>
void split_heads(const T* d_qkv, T* d_q, T* d_k, T* d_v, int64_t B, int64_t Tlen, int64_t NH, int64_t D,
                 cudaStream_t stream) {
  check_attention(B, Tlen, NH, D, "split_heads");
  const int64_t total = B * NH * Tlen * D;
  if (total == 0) return;
  split_heads_kernel<T><<<grid_stride_blocks(total, 256), 256, 0, stream>>>(d_qkv, d_q, d_k, d_v, B, int(Tlen),
                                                                            int(NH), int(D));
  TAILOR_CUDA_CHECK_LAUNCH("split_heads_kernel");
}

template <class T>
void merge_heads(const T* d_in, T* d_out, int64_t B, int64_t Tlen, int64_t NH, int64_t D, cudaStream_t stream) {
  check_attention(B, Tlen, NH, D, "merge_heads");
  const int64_t total = B * NH * Tlen * D;
  if (total == 0) return;
  merge_heads_kernel<T><<<grid_stride_blocks(total, 256), 256, 0, stream>>>(d_in, d_out, B, int(Tlen), int(NH), int(D));
  TAILOR_CUDA_CHECK_LAUNCH("merge_heads_kernel");
}

#define TAILOR_INSTANTIATE(T)                                                                                        \
  template void attention_online_softmax<T>(const T*, const int32_t*, T*, int64_t, int64_t, int64_t, int64_t,        \
                                            cudaStream_t);                                                           \
  template void softmax_masked<T>(T*, const int32_t*, int64_t, int64_t, int64_t, int64_t, float, cudaStream_t);      \
  template void split_heads<T>(const T*, T*, T*, T*, int64_t, int64_t, int64_t, int64_t, cudaStream_t);              \
  template void merge_heads<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, cudaStream_t);
TAILOR_FOR_EACH_STORAGE(TAILOR_INSTANTIATE)
#undef TAILOR_INSTANTIATE

}  // namespace tailor::cuda::kernels
