// kernels/launchers.hpp: tailor's CUDA kernels, one launcher each (host declarations).
//
// Two levels, as CUTLASS and llm.c's dev/cuda do it: a __global__ kernel named by its
// technique (in <name>.cuh), and a launcher here that validates the problem (can_implement:
// throws tailor::Error(ErrorCode::invalid_argument / internal) on a shape it cannot run),
// picks the grid and launches on the caller's stream. Launchers never synchronise; a fault
// inside a kernel surfaces at the caller's next checked synchronisation.
//
// Every launcher is a template over the storage type T of activations and weights:
// float (fp32 and tf32 modes), __half (fp16) or __nv_bfloat16 (bf16). Arithmetic inside the
// kernels is float32 whatever T is (LayerNorm statistics, softmax, GELU, accumulators).
// Pointers prefixed d_ are device pointers. Shapes use (B, T, C) for text and
// (N, H, W, C) (NHWC) for images; every matrix is row-major.
//
// Each kernel has a CPU reference it is tested against (tests/cuda/): nn/gemm.hpp,
// nn/activation.hpp and the plain loops of the tests until the other nn/ ops land.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tailor::cuda::kernels {

/// Elementwise activations the kernels fuse (HF names: "gelu" is the exact erf form).
enum class Act : int { none = 0, relu = 1, gelu_erf = 2, gelu_tanh = 3, tanh = 4, sigmoid = 5 };

// ---- conversions and layouts ---------------------------------------------------------------
/// d_out[i] = T(d_in[i]) for i < n (round to nearest even).
template <class T>
void convert_from_f32(const float* d_in, T* d_out, int64_t n, cudaStream_t stream);
/// d_out[i] = float(d_in[i]) for i < n.
template <class T>
void convert_to_f32(const T* d_in, float* d_out, int64_t n, cudaStream_t stream);
/// Images (N, C, H, W) float32 -> (N, H, W, C) T: the layout every conv kernel takes.
template <class T>
void nchw_to_nhwc(const float* d_in, T* d_out, int64_t N, int64_t C, int64_t H, int64_t W, cudaStream_t stream);

// ---- text: embeddings, LayerNorm, activations -------------------------------------------------
/// Plain row gather: d_out (rows, C) = d_table[d_ids[r]] for each row r. The caller checks
/// ids on the host (0 <= id < table_rows); the kernel clamps as a last memory-safety guard.
template <class T>
void embedding_gather(const int32_t* d_ids, const T* d_table, T* d_out, int64_t rows, int64_t C,
                      int64_t table_rows, cudaStream_t stream);

/// BERT's embeddings (HF BertEmbeddings.forward), one warp per token:
///   d_out (B, T, C) = LayerNorm(word[ids] + position[t] + token_type[type_ids]) * gamma + beta
/// d_type_ids may be null (all 0). Ids are checked on the host; clamped here as a guard.
template <class T>
void embedding_sum_layernorm(const int32_t* d_ids, const int32_t* d_type_ids, const T* d_word, const T* d_pos,
                             const T* d_type, const T* d_gamma, const T* d_beta, T* d_out, int64_t B, int64_t Tlen,
                             int64_t C, int64_t vocab, int64_t max_pos, int64_t type_vocab, float eps,
                             cudaStream_t stream);

/// d_y (rows, C) = LayerNorm(d_x) * gamma + beta, biased variance, one warp per row.
template <class T>
void layernorm_warp_per_row(const T* d_x, const T* d_gamma, const T* d_beta, T* d_y, int64_t rows, int64_t C,
                            float eps, cudaStream_t stream);

/// d_y (rows, C) = LayerNorm(d_x + bias + d_residual) * gamma + beta, one warp per row
/// (BertSelfOutput / BertOutput after their dense layer). d_y may alias d_residual.
template <class T>
void bias_residual_layernorm(const T* d_x, const T* d_bias, const T* d_residual, const T* d_gamma, const T* d_beta,
                             T* d_y, int64_t rows, int64_t C, float eps, cudaStream_t stream);

/// In place: d_x (rows, C) = act(d_x + bias), bias (C) may be null.
template <class T>
void bias_activation(T* d_x, const T* d_bias, int64_t rows, int64_t C, Act act, cudaStream_t stream);

// ---- attention ------------------------------------------------------------------------------
/// In place, one warp per row: d_scores (B, NH, Tq, Tk) = softmax(scale * scores + mask), the
/// mask additive like HF (key j of batch b gets the float32 minimum when d_mask[b, j] == 0;
/// d_mask (B, Tk) may be null).
template <class T>
void softmax_masked(T* d_scores, const int32_t* d_mask, int64_t B, int64_t NH, int64_t Tq, int64_t Tk, float scale,
                    cudaStream_t stream);

/// Fused self-attention, one pass over the keys with an online softmax (no (T, T) matrix):
///   d_qkv (B, T, 3C) = [Q | K | V] as the fused QKV projection writes it, C = NH * D,
///   d_ctx (B, T, C)  = softmax(Q K^T / sqrt(D) + mask) V, per head, heads concatenated.
/// Supports D <= 128; T of any length (meant for T <= 512).
template <class T>
void attention_online_softmax(const T* d_qkv, const int32_t* d_mask, T* d_ctx, int64_t B, int64_t Tlen, int64_t NH,
                              int64_t D, cudaStream_t stream);
/// Largest head size attention_online_softmax takes.
constexpr int64_t kAttentionMaxHeadDim = 128;

/// d_qkv (B, T, 3C) -> d_q, d_k, d_v each (B, NH, T, D): the layout batched GEMMs take.
template <class T>
void split_heads(const T* d_qkv, T* d_q, T* d_k, T* d_v, int64_t B, int64_t Tlen, int64_t NH, int64_t D,
                 cudaStream_t stream);
/// d_in (B, NH, T, D) -> d_out (B, T, NH * D).
template <class T>
void merge_heads(const T* d_in, T* d_out, int64_t B, int64_t Tlen, int64_t NH, int64_t D, cudaStream_t stream);

// ---- GEMM and convolution (the hand-written ones; cuBLASLt is in blas.hpp) ---------------------
/// d_C (M, N) = act(d_A (M, K) . d_W^T + bias + residual), d_W (N, K) in PyTorch's Linear
/// layout; bias (N) and residual (M, N) may be null. A tiled shared-memory SIMT GEMM with
/// float accumulators (no tensor cores): the readable baseline cuBLAS is compared with.
template <class T>
void gemm_tiled_smem(const T* d_A, const T* d_W, const T* d_bias, const T* d_residual, T* d_C, int64_t M, int64_t N,
                     int64_t K, Act act, cudaStream_t stream);

/// A convolution's geometry over NHWC images.
struct ConvShape {
  int64_t N = 0, H = 0, W = 0, C = 0;   // input (N, H, W, C)
  int64_t O = 0, kh = 1, kw = 1;        // O filters of kh x kw x C
  int64_t stride = 1, pad = 0;
  int64_t out_h() const { return (H + 2 * pad - kh) / stride + 1; }
  int64_t out_w() const { return (W + 2 * pad - kw) / stride + 1; }
  int64_t patch() const { return kh * kw * C; }  // K of the GEMM
};

/// im2col over NHWC: d_cols (N * Ho * Wo, ldk) with row (n, y, x) = the patch in (ky, kx, c)
/// order, zero-padded at the borders and in columns [kh*kw*C, ldk) (ldk >= patch, so rows
/// can be padded to a multiple of 8 for tensor-core alignment).
template <class T>
void im2col_nhwc(const T* d_x, T* d_cols, const ConvShape& s, int64_t ldk, cudaStream_t stream);

/// d_y (N, Ho, Wo, O) = act(conv2d(d_x, d_w) + bias + residual) as an implicit GEMM: the
/// tiled GEMM above with its A tile gathered from the NHWC image (no im2col buffer).
/// d_w is (O, kh, kw, C) (PyTorch's (O, C, kh, kw) permuted at load); residual may be null.
template <class T>
void conv2d_implicit_gemm(const T* d_x, const T* d_w, const T* d_bias, const T* d_residual, T* d_y,
                          const ConvShape& s, Act act, cudaStream_t stream);

// ---- pooling and heads ---------------------------------------------------------------------
/// Max pooling over NHWC (torchvision's MaxPool2d(k, stride, pad); padding never wins).
template <class T>
void maxpool2d_nhwc(const T* d_x, T* d_y, int64_t N, int64_t H, int64_t W, int64_t C, int64_t k, int64_t stride,
                    int64_t pad, cudaStream_t stream);
/// Global average pooling: d_y (N, C) = mean over H, W of d_x (N, H, W, C).
template <class T, class Tout>
void avgpool_global_nhwc(const T* d_x, Tout* d_y, int64_t N, int64_t H, int64_t W, int64_t C, cudaStream_t stream);

enum class TextPool : int { cls = 0, mean = 1 };
/// Sentence features from d_hidden (B, T, C): the [CLS] row or the mean of the rows whose
/// mask is 1 (sentence-transformers' Pooling), then optionally L2-normalised
/// (sentence-transformers' Normalize: x / max(|x|, 1e-12)). d_mask (B, T) may be null.
template <class T, class Tout>
void text_pool(const T* d_hidden, const int32_t* d_mask, Tout* d_out, int64_t B, int64_t Tlen, int64_t C,
               TextPool mode, bool normalize, cudaStream_t stream);

/// The fusion head's concat + Linear without materialising the concat, one warp per output:
///   d_out (N, O) = act([d_img (N, Di) | d_txt (N, Dt)] . d_w^T + bias), d_w (O, Di + Dt).
/// act is none or sigmoid (a one-logit BCE head).
void fusion_concat_linear(const float* d_img, const float* d_txt, const float* d_w, const float* d_bias,
                          float* d_out, int64_t N, int64_t Di, int64_t Dt, int64_t O, Act act, cudaStream_t stream);

}  // namespace tailor::cuda::kernels
