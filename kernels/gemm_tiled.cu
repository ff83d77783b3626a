// kernels/gemm_tiled.cu: launchers for gemm_tiled.cuh (GEMM, implicit-GEMM conv, im2col).
#include "gemm_tiled.cuh"

namespace tailor::cuda::kernels {

namespace {
void check_conv(const ConvShape& s, const char* k) {
  require(s.N >= 0 && s.H >= 1 && s.W >= 1 && s.C >= 1 && s.O >= 1 && s.kh >= 1 && s.kw >= 1 && s.stride >= 1 &&
              s.pad >= 0,
          k, "bad convolution shape");
  require(s.H + 2 * s.pad >= s.kh && s.W + 2 * s.pad >= s.kw, k,
          "a " + std::to_string(s.H) + "x" + std::to_string(s.W) + " image is smaller than the " +
              std::to_string(s.kh) + "x" + std::to_string(s.kw) + " kernel");
}
template <class T, class ALoader>
void launch_tiled(const ALoader& a, const T* d_W, const T* d_bias, const T* d_residual, T* d_C, int64_t M, int64_t N,
                  int64_t K, Act act, cudaStream_t stream, const char* name) {
  const dim3 grid(grid_for(N, kGemmBN, name), grid_for(M, kGemmBM, name));
  require(grid.y <= 65535, name, "M = " + std::to_string(M) + " rows is over the grid's 65535 x 64");
  gemm_tiled_smem_kernel<T, ALoader><<<grid, kGemmThreads, 0, stream>>>(a, d_W, d_bias, d_residual, d_C, M, N, K, act);
  TAILOR_CUDA_CHECK_LAUNCH("gemm_tiled_smem_kernel");
}
}  // namespace

template <class T>
void gemm_tiled_smem(const T* d_A, const T* d_W, const T* d_bias, const T* d_residual, T* d_C, int64_t M, int64_t N,
                     int64_t K, Act act, cudaStream_t stream) {
  require(M >= 0 && N >= 0 && K >= 0, "gemm_tiled_smem", "negative size");
  require(d_C != d_A && d_C != d_W, "gemm_tiled_smem", "C must not alias A or W");
  if (M == 0 || N == 0) return;
  launch_tiled(DenseA<T>{d_A, K}, d_W, d_bias, d_residual, d_C, M, N, K, act, stream, "gemm_tiled_smem");
}

template <class T>
void conv2d_implicit_gemm(const T* d_x, const T* d_w, const T* d_bias, const T* d_residual, T* d_y,
                          const ConvShape& s, Act act, cudaStream_t stream) {
  check_conv(s, "conv2d_implicit_gemm");
  require(d_y != d_x, "conv2d_implicit_gemm", "y must not alias x");
  const int64_t Ho = s.out_h(), Wo = s.out_w(), M = s.N * Ho * Wo;
  if (M == 0) return;
  const Im2colA<T> a{d_x, s.H, s.W, s.C, s.kw, s.stride, s.pad, Ho, Wo};
  launch_tiled(a, d_w, d_bias, d_residual, d_y, M, s.O, s.patch(), act, stream, "conv2d_implicit_gemm");
}

template <class T>
void im2col_nhwc(const T* d_x, T* d_cols, const ConvShape& s, int64_t ldk, cudaStream_t stream) {
  check_conv(s, "im2col_nhwc");
  require(ldk >= s.patch(), "im2col_nhwc", "row stride smaller than the patch");
  const int64_t Ho = s.out_h(), Wo = s.out_w(), M = s.N * Ho * Wo;
  if (M == 0) return;
  require(ldk <= (int64_t(1) << 30) && s.C <= (int64_t(1) << 30), "im2col_nhwc", "patch too large");
  const unsigned grid = unsigned(M < (int64_t(1) << 20) ? M : (int64_t(1) << 20));
  const int threads = ldk >= 256 ? 256 : ldk >= 128 ? 128 : 64;
  im2col_nhwc_row_per_block<T><<<grid, threads, 0, stream>>>(d_x, d_cols, M, int(ldk), int(s.patch()), s.H, s.W,
                                                             int(s.C), int(s.kw), int(s.stride), int(s.pad), Ho, Wo);
  TAILOR_CUDA_CHECK_LAUNCH("im2col_nhwc_row_per_block");
}

#define TAILOR_INSTANTIATE(T)                                                                                  \
  template void gemm_tiled_smem<T>(const T*, const T*, const T*, const T*, T*, int64_t, int64_t, int64_t, Act, \
                                   cudaStream_t);                                                              \
  template void conv2d_implicit_gemm<T>(const T*, const T*, const T*, const T*, T*, const ConvShape&, Act,     \
                                        cudaStream_t);                                                         \
  template void im2col_nhwc<T>(const T*, T*, const ConvShape&, int64_t, cudaStream_t);
TAILOR_FOR_EACH_STORAGE(TAILOR_INSTANTIATE)
#undef TAILOR_INSTANTIATE

}  // namespace tailor::cuda::kernels
