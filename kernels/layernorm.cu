// kernels/layernorm.cu: launchers for layernorm.cuh (and the embedding gathers).
#include "layernorm.cuh"

namespace tailor::cuda::kernels {

namespace {
void check_rows(int64_t rows, int64_t C, const char* k) {
  require(rows >= 0, k, "negative row count");
  require(C >= 1 && C <= (int64_t(1) << 20), k, "row width " + std::to_string(C) + " outside 1..2^20");
}
constexpr int kThreads = kLnWarpsPerBlock * kWarp;
}  // namespace

template <class T>
void layernorm_warp_per_row(const T* d_x, const T* d_gamma, const T* d_beta, T* d_y, int64_t rows, int64_t C,
                            float eps, cudaStream_t stream) {
  check_rows(rows, C, "layernorm_warp_per_row");
  if (rows == 0) return;
  const unsigned grid = grid_for(rows, kLnWarpsPerBlock, "layernorm_warp_per_row");
  if (C <= kLnMaxPerLane * kWarp)
    layernorm_warp_per_row_kernel<true, T><<<grid, kThreads, 0, stream>>>(d_x, d_gamma, d_beta, d_y, rows, int(C), eps);
  else
    layernorm_warp_per_row_kernel<false, T><<<grid, kThreads, 0, stream>>>(d_x, d_gamma, d_beta, d_y, rows, int(C), eps);
  TAILOR_CUDA_CHECK_LAUNCH("layernorm_warp_per_row_kernel");
}

template <class T>
void bias_residual_layernorm(const T* d_x, const T* d_bias, const T* d_residual, const T* d_gamma, const T* d_beta,
                             T* d_y, int64_t rows, int64_t C, float eps, cudaStream_t stream) {
  check_rows(rows, C, "bias_residual_layernorm");
  require(d_x != d_y, "bias_residual_layernorm", "the output may alias the residual, not x");
  if (rows == 0) return;
  const unsigned grid = grid_for(rows, kLnWarpsPerBlock, "bias_residual_layernorm");
  if (C <= kLnMaxPerLane * kWarp)
    bias_residual_layernorm_kernel<true, T>
        <<<grid, kThreads, 0, stream>>>(d_x, d_bias, d_residual, d_gamma, d_beta, d_y, rows, int(C), eps);
  else
    bias_residual_layernorm_kernel<false, T>
        <<<grid, kThreads, 0, stream>>>(d_x, d_bias, d_residual, d_gamma, d_beta, d_y, rows, int(C), eps);
  TAILOR_CUDA_CHECK_LAUNCH("bias_residual_layernorm_kernel");
}

template <class T>
void embedding_sum_layernorm(const int32_t* d_ids, const int32_t* d_type_ids, const T* d_word, const T* d_pos,
                             const T* d_type, const T* d_gamma, const T* d_beta, T* d_out, int64_t B, int64_t Tlen,
                             int64_t C, int64_t vocab, int64_t max_pos, int64_t type_vocab, float eps,
                             cudaStream_t stream) {
  check_rows(B * Tlen, C, "embedding_sum_layernorm");
  require(vocab >= 1 && type_vocab >= 1 && max_pos >= 1, "embedding_sum_layernorm", "empty embedding table");
  require(Tlen <= max_pos, "embedding_sum_layernorm",
          "sequence of " + std::to_string(Tlen) + " tokens is longer than the " + std::to_string(max_pos) +
              " position embeddings");
  if (B * Tlen == 0) return;
  const unsigned grid = grid_for(B * Tlen, kLnWarpsPerBlock, "embedding_sum_layernorm");
  if (C <= kLnMaxPerLane * kWarp)
    embedding_sum_layernorm_kernel<true, T><<<grid, kThreads, 0, stream>>>(
        d_ids, d_type_ids, d_word, d_pos, d_type, d_gamma, d_beta, d_out, B, int(Tlen), int(C), vocab, max_pos,
        type_vocab, eps);
  else
    embedding_sum_layernorm_kernel<false, T><<<grid, kThreads, 0, stream>>>(
        d_ids, d_type_ids, d_word, d_pos, d_type, d_gamma, d_beta, d_out, B, int(Tlen), int(C), vocab, max_pos,
        type_vocab, eps);
  TAILOR_CUDA_CHECK_LAUNCH("embedding_sum_layernorm_kernel");
}

template <class T>
void embedding_gather(const int32_t* d_ids, const T* d_table, T* d_out, int64_t rows, int64_t C, int64_t table_rows,
                      cudaStream_t stream) {
  require(rows >= 0 && C >= 0, "embedding_gather", "negative size");
  require(table_rows >= 1, "embedding_gather", "empty table");
  if (rows * C == 0) return;
  embedding_gather_kernel<T><<<grid_stride_blocks(rows * C, 256), 256, 0, stream>>>(d_ids, d_table, d_out, rows, C,
                                                                                     table_rows);
  TAILOR_CUDA_CHECK_LAUNCH("embedding_gather_kernel");
}

#define TAILOR_INSTANTIATE(T)                                                                                     \
  template void layernorm_warp_per_row<T>(const T*, const T*, const T*, T*, int64_t, int64_t, float, cudaStream_t); \
  template void bias_residual_layernorm<T>(const T*, const T*, const T*, const T*, const T*, T*, int64_t, int64_t,  \
                                           float, cudaStream_t);                                                   \
  template void embedding_sum_layernorm<T>(const int32_t*, const int32_t*, const T*, const T*, const T*, const T*, \
                                           const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,     \
                                           float, cudaStream_t);                                                   \
  template void embedding_gather<T>(const int32_t*, const T*, T*, int64_t, int64_t, int64_t, cudaStream_t);
TAILOR_FOR_EACH_STORAGE(TAILOR_INSTANTIATE)
#undef TAILOR_INSTANTIATE

}  // namespace tailor::cuda::kernels
