// kernels/blas.cpp: BlasLt (see blas.hpp).
#include "blas.hpp"

#include "cublaslt_api.hpp"

#include <string>

namespace tailor::cuda::detail {

namespace {
cudaDataType_t storage_type(Precision p) {
  switch (p) {
    case Precision::fp16: return CUDA_R_16F;
    case Precision::bf16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}
cublasComputeType_t compute_type(Precision p) {
  return p == Precision::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}
/// The largest power of two (<= 256) dividing the address: what cuBLASLt's heuristic must
/// assume about a pointer (it defaults to 256-byte alignment).
int64_t alignment_of(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  int64_t al = 256;
  while (al > 1 && (a % uintptr_t(al)) != 0) al /= 2;
  return al;
}
}  // namespace

struct BlasLt::Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
  ~Plan() {
    if (a) cublaslt().MatrixLayoutDestroy(a);
    if (b) cublaslt().MatrixLayoutDestroy(b);
    if (c) cublaslt().MatrixLayoutDestroy(c);
    if (desc) cublaslt().MatmulDescDestroy(desc);
  }
};

BlasLt::BlasLt() {
  TAILOR_CUBLAS_CHECK(cublaslt().Create(&handle_));
  try {
    workspace_.resize(kWorkspaceBytes);
  } catch (...) {
    cublaslt().Destroy(handle_);
    throw;
  }
}

BlasLt::~BlasLt() {
  plans_.clear();
  if (handle_) cublaslt().Destroy(handle_);
}

std::unique_ptr<BlasLt::Plan> BlasLt::make_plan(const GemmArgs& g, Precision p) {
  auto plan = std::make_unique<Plan>();
  const cudaDataType_t t = storage_type(p);
  TAILOR_CUBLAS_CHECK(cublaslt().MatmulDescCreate(&plan->desc, compute_type(p), CUDA_R_32F));
  // Column-major view (see blas.hpp): Lt's A is our B, Lt's B is our A, m = N, n = M.
  const cublasOperation_t ta = g.b_is_n_by_k ? CUBLAS_OP_T : CUBLAS_OP_N, tb = CUBLAS_OP_N;
  TAILOR_CUBLAS_CHECK(cublaslt().MatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
  TAILOR_CUBLAS_CHECK(cublaslt().MatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
  cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
  if (g.bias && g.relu) epi = CUBLASLT_EPILOGUE_RELU_BIAS;
  else if (g.bias) epi = CUBLASLT_EPILOGUE_BIAS;
  else if (g.relu) epi = CUBLASLT_EPILOGUE_RELU;
  TAILOR_CUBLAS_CHECK(cublaslt().MatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
  if (g.bias) {
    const int32_t bt = int32_t(t);  // bias in the output's storage type
    TAILOR_CUBLAS_CHECK(
        cublaslt().MatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt));
  }

  const uint64_t a_rows = uint64_t(g.b_is_n_by_k ? g.K : g.N), a_cols = uint64_t(g.b_is_n_by_k ? g.N : g.K);
  TAILOR_CUBLAS_CHECK(cublaslt().MatrixLayoutCreate(&plan->a, t, a_rows, a_cols, g.ldb));
  TAILOR_CUBLAS_CHECK(cublaslt().MatrixLayoutCreate(&plan->b, t, uint64_t(g.K), uint64_t(g.M), g.lda));
  TAILOR_CUBLAS_CHECK(cublaslt().MatrixLayoutCreate(&plan->c, t, uint64_t(g.N), uint64_t(g.M), g.ldc));
  if (g.batch > 1) {
    const int32_t count = int32_t(g.batch);
    const int64_t strides[3] = {g.stride_b, g.stride_a, g.stride_c};
    cublasLtMatrixLayout_t layouts[3] = {plan->a, plan->b, plan->c};
    for (int i = 0; i < 3; ++i) {
      TAILOR_CUBLAS_CHECK(
          cublaslt().MatrixLayoutSetAttribute(layouts[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count));
      TAILOR_CUBLAS_CHECK(cublaslt().MatrixLayoutSetAttribute(layouts[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                           &strides[i], sizeof strides[i]));
    }
  }

  cublasLtMatmulPreference_t pref = nullptr;
  TAILOR_CUBLAS_CHECK(cublaslt().MatmulPreferenceCreate(&pref));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
  {
    const uint64_t ws = kWorkspaceBytes;
    const uint32_t al_a = uint32_t(alignment_of(g.B)), al_b = uint32_t(alignment_of(g.A)),
                   al_c = uint32_t(alignment_of(g.C_in ? g.C_in : g.C)), al_d = uint32_t(alignment_of(g.C));
    st = cublaslt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    if (st == CUBLAS_STATUS_SUCCESS)
      st = cublaslt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a);
    if (st == CUBLAS_STATUS_SUCCESS)
      st = cublaslt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b);
    if (st == CUBLAS_STATUS_SUCCESS)
      st = cublaslt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof al_c);
    if (st == CUBLAS_STATUS_SUCCESS)
      st = cublaslt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d, sizeof al_d);
    if (st == CUBLAS_STATUS_SUCCESS)
      st = cublaslt().MatmulAlgoGetHeuristic(handle_, plan->desc, plan->a, plan->b, plan->c, plan->c, pref, 1, &result,
                                          &found);
  }
  cublaslt().MatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS) cublas_fail(st, "cublasLtMatmulAlgoGetHeuristic");
  if (found == 0)
    ::tailor::detail::fail(ErrorCode::device,
                           "cuBLASLt has no algorithm for a " + std::to_string(g.M) + "x" + std::to_string(g.N) + "x" +
                               std::to_string(g.K) + " GEMM (batch " + std::to_string(g.batch) + ") in this precision",
                           "try --precision fp32");
  plan->algo = result.algo;
  plan->workspace = result.workspaceSize;
  return plan;
}

void BlasLt::gemm(const GemmArgs& g, Precision p, cudaStream_t stream) {
  if (g.M <= 0 || g.N <= 0 || g.batch <= 0) return;
  if (g.K <= 0 || g.lda < g.K || g.ldc < g.N || g.ldb < (g.b_is_n_by_k ? g.K : g.N) || g.batch > INT32_MAX)
    ::tailor::detail::fail(ErrorCode::internal, "BlasLt::gemm: inconsistent GEMM arguments", "");
  const std::vector<int64_t> key = {g.M, g.N, g.K, g.lda, g.ldb, g.ldc, g.b_is_n_by_k, g.C_in != nullptr,
                                    g.bias != nullptr, g.relu, g.batch, g.stride_a, g.stride_b, g.stride_c,
                                    int64_t(p), alignment_of(g.A), alignment_of(g.B), alignment_of(g.C),
                                    g.C_in ? alignment_of(g.C_in) : 0};
  auto it = plans_.find(key);
  if (it == plans_.end()) it = plans_.emplace(key, make_plan(g, p)).first;
  Plan& plan = *it->second;
  if (g.bias)
    TAILOR_CUBLAS_CHECK(
        cublaslt().MatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias, sizeof g.bias));
  const float alpha = g.alpha, beta = g.C_in ? 1.f : 0.f;
  TAILOR_CUBLAS_CHECK(cublaslt().Matmul(handle_, plan.desc, &alpha, g.B, plan.a, g.A, plan.b, &beta,
                                     g.C_in ? g.C_in : g.C, plan.c, g.C, plan.c, &plan.algo, workspace_.get(),
                                     plan.workspace, stream));
}

}  // namespace tailor::cuda::detail
