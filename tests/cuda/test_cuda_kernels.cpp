// tests/cuda/test_cuda_kernels.cpp: every CUDA kernel against its CPU reference.
//
// llm.c's dev/cuda discipline: fresh random inputs each run (seed captured on failure;
// TAILOR_TEST_SEED replays one), odd sizes and sizes that are not multiples of the tiles
// (1, 31, 33, 65, 130...), outputs poisoned with NaN before each launch, relative L2 against
// the CPU with the precision's bar. Each kernel runs in fp32, fp16 and bf16 storage.
// Skipped (doctest skip) without a usable GPU; the launcher validation cases and the
// no-GPU error cases run everywhere.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "blas.hpp"
#include "cpu_reference.hpp"
#include "cublaslt_api.hpp"
#include "cuda_test_util.hpp"

using namespace tailor;
using namespace tailor::test;
namespace k = tailor::cuda::kernels;

#define TAILOR_STORAGE_TYPES float, __half, __nv_bfloat16

// ---- what runs without a GPU -----------------------------------------------------------------

TEST_CASE("no GPU, or an unusable one, is a clear device error") {
  if (cuda::available()) {
    const cuda::DeviceInfo d = cuda::require_device(0);
    MESSAGE("GPU 0: " << d.name << ", compute capability " << d.cc_major << "." << d.cc_minor << ", " << d.sm_count
                      << " SMs, built for sm_" << d.compiled_archs);
    CHECK(d.sm_count > 0);
    CHECK(cuda::unavailable_reason(0).empty());
  } else {
    const std::string why = cuda::unavailable_reason(0);
    CHECK(!why.empty());
    try {
      cuda::require_device(0);
      FAIL("require_device did not throw");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::device);
      CHECK(e.message() == why);
      CHECK(!e.hint().empty());
    }
  }
  // A device that does not exist is named, GPU or not.
  CHECK(!cuda::available(4096));
  CHECK(!cuda::unavailable_reason(4096).empty());
}

TEST_CASE("cuBLASLt is loaded on first use, not linked, with every entry point resolved") {
  // Nothing has used a GPU GEMM yet in this process: the library is not mapped.
  std::string maps;
  if (std::FILE* f = std::fopen("/proc/self/maps", "r")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) maps.append(buf, n);
    std::fclose(f);
  }
  CHECK(maps.find("libcublasLt") == std::string::npos);
  // Loading needs no GPU: dlopen + dlsym of the 13 functions BlasLt calls.
  const cuda::detail::CublasLtApi& api = cuda::detail::cublaslt();
  MESSAGE("cuBLASLt loaded from " << api.path);
  CHECK(!api.path.empty());
#define TAILOR_CHECK_RESOLVED(name) CHECK_MESSAGE(bool(api.name), "cublasLt" #name);
  TAILOR_CUBLASLT_FUNCTIONS(TAILOR_CHECK_RESOLVED)
#undef TAILOR_CHECK_RESOLVED
  CHECK(&cuda::detail::cublaslt() == &api);  // loaded once
  // A descriptor round trip needs no device either.
  cublasLtMatrixLayout_t layout = nullptr;
  CHECK(api.MatrixLayoutCreate(&layout, CUDA_R_32F, 4, 3, 4) == CUBLAS_STATUS_SUCCESS);
  CHECK(layout != nullptr);
  if (layout) CHECK(api.MatrixLayoutDestroy(layout) == CUBLAS_STATUS_SUCCESS);
}

TEST_CASE("launchers refuse shapes they cannot run, before touching the GPU") {
  auto refuses = [](auto&& launch) {
    try {
      launch();
    } catch (const Error& e) {
      return e.code() == ErrorCode::invalid_argument || e.code() == ErrorCode::limit;
    }
    return false;
  };
  CHECK(refuses([] { k::attention_online_softmax<float>(nullptr, nullptr, nullptr, 1, 8, 2, 129, nullptr); }));
  CHECK(refuses([] { k::attention_online_softmax<float>(nullptr, nullptr, nullptr, -1, 8, 2, 64, nullptr); }));
  CHECK(refuses([] { k::layernorm_warp_per_row<float>(nullptr, nullptr, nullptr, nullptr, 4, 0, 1e-5f, nullptr); }));
  CHECK(refuses([] {
    k::embedding_sum_layernorm<float>(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 1, 600,
                                      64, 100, 512, 2, 1e-12f, nullptr);
  }));
  CHECK(refuses([] {
    float x = 0.f;
    k::bias_residual_layernorm<float>(&x, nullptr, &x, nullptr, nullptr, &x, 1, 1, 1e-5f, nullptr);  // y aliases x
  }));
  k::ConvShape s;
  s.N = 1; s.H = 2; s.W = 2; s.C = 3; s.O = 4; s.kh = s.kw = 7; s.stride = 1; s.pad = 0;  // kernel larger than image
  CHECK(refuses([&] { k::conv2d_implicit_gemm<float>(nullptr, nullptr, nullptr, nullptr, nullptr, s, k::Act::none, nullptr); }));
  CHECK(refuses([&] { k::im2col_nhwc<float>(nullptr, nullptr, s, 1, nullptr); }));
  CHECK(refuses([] { k::maxpool2d_nhwc<float>(nullptr, nullptr, 1, 8, 8, 4, 3, 2, 2, nullptr); }));  // pad > k/2
  CHECK(refuses([] { k::fusion_concat_linear(nullptr, nullptr, nullptr, nullptr, nullptr, 2, 4, 4, 0, k::Act::none, nullptr); }));
}

// ---- conversions and layouts -----------------------------------------------------------------

TEST_CASE_TEMPLATE("convert_from_f32 / convert_to_f32 round to the storage type" * gpu_required(), T,
                   TAILOR_STORAGE_TYPES) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  for (int64_t n : {1, 31, 1000, 70001}) {
    CAPTURE(n);
    const std::vector<float> x = random_vector(rng, size_t(n), -50.f, 50.f);
    cuda::detail::DeviceBuffer d_x = cuda::detail::upload(x.data(), x.size() * 4);
    DevArray<T> y = DevArray<T>::poisoned(size_t(n));
    k::convert_from_f32<T>(d_x.as<float>(), y.get(), n, nullptr);
    const std::vector<float> got = y.download();
    std::vector<float> want = rounded<T>(x);
    CHECK(got == want);  // exactly: both round to nearest even
    cuda::detail::DeviceBuffer back(size_t(n) * 4);
    TAILOR_CUDA_CHECK(cudaMemset(back.get(), 0xFF, size_t(n) * 4));
    k::convert_to_f32<T>(y.get(), back.as<float>(), n, nullptr);
    std::vector<float> got32(static_cast<size_t>(n));
    TAILOR_CUDA_CHECK(cudaMemcpy(got32.data(), back.get(), size_t(n) * 4, cudaMemcpyDeviceToHost));
    CHECK(got32 == want);
  }
}

TEST_CASE_TEMPLATE("nchw_to_nhwc" * gpu_required(), T, TAILOR_STORAGE_TYPES) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const int64_t N = 3, C = 3, H = 17, W = 29;
  const std::vector<float> x = random_vector(rng, size_t(N * C * H * W));
  cuda::detail::DeviceBuffer d_x = cuda::detail::upload(x.data(), x.size() * 4);
  DevArray<T> y = DevArray<T>::poisoned(x.size());
  k::nchw_to_nhwc<T>(d_x.as<float>(), y.get(), N, C, H, W, nullptr);
  std::vector<float> want(x.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w)
          want[size_t(((n * H + h) * W + w) * C + c)] = round_to<T>(x[size_t(((n * C + c) * H + h) * W + w)]);
  CHECK(y.download() == want);
}

// ---- embeddings and LayerNorm ----------------------------------------------------------------

TEST_CASE_TEMPLATE("embedding_gather" * gpu_required(), T, TAILOR_STORAGE_TYPES) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const int64_t V = 37, C = 45, rows = 101;
  const std::vector<float> table = rounded<T>(random_vector(rng, size_t(V * C)));
  std::vector<int32_t> ids(static_cast<size_t>(rows));
  for (auto& i : ids) i = int32_t(rng() % V);
  DevArray<T> d_table = DevArray<T>::from(table);
  auto d_ids = upload_i32(ids);
  DevArray<T> out = DevArray<T>::poisoned(size_t(rows * C));
  k::embedding_gather<T>(d_ids.as<int32_t>(), d_table.get(), out.get(), rows, C, V, nullptr);
  std::vector<float> want(size_t(rows * C));
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(&want[size_t(r * C)], &table[size_t(ids[size_t(r)] * C)], size_t(C) * 4);
  CHECK(out.download() == want);
}

TEST_CASE_TEMPLATE("layernorm_warp_per_row (register and re-reading paths)" * gpu_required(), T, TAILOR_STORAGE_TYPES) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  for (int64_t C : {1, 31, 33, 384, 768, 1024, 1025, 2000}) {
    for (int64_t rows : {1, 7, 333}) {
      CAPTURE(C);
      CAPTURE(rows);
      // An offset mean and a wide range: the two-pass variance must hold up.
      const std::vector<float> x = rounded<T>(random_vector(rng, size_t(rows * C), 3.f, 9.f));
      const std::vector<float> g = rounded<T>(random_vector(rng, size_t(C), 0.5f, 1.5f));
      const std::vector<float> b = rounded<T>(random_vector(rng, size_t(C)));
      DevArray<T> dx = DevArray<T>::from(x), dg = DevArray<T>::from(g), db = DevArray<T>::from(b);
      DevArray<T> y = DevArray<T>::poisoned(x.size());
      k::layernorm_warp_per_row<T>(dx.get(), dg.get(), db.get(), y.get(), rows, C, 1e-5f, nullptr);
      std::vector<float> want(x.size());
      ref::layernorm(x.data(), g.data(), b.data(), want.data(), rows, C, 1e-5f);
      TAILOR_CHECK_CLOSE(y.download(), want, kernel_tolerance<T>());
    }
  }
}

TEST_CASE_TEMPLATE("bias_residual_layernorm, also in place over the residual" * gpu_required(), T,
                   TAILOR_STORAGE_TYPES) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  for (int64_t C : {64, 768, 1500}) {
    CAPTURE(C);
    const int64_t rows = 129;
    const std::vector<float> x = rounded<T>(random_vector(rng, size_t(rows * C)));
    const std::vector<float> bias = rounded<T>(random_vector(rng, size_t(C)));
    const std::vector<float> res = rounded<T>(random_vector(rng, size_t(rows * C), -3.f, 3.f));
    const std::vector<float> g = rounded<T>(random_vector(rng, size_t(C), 0.5f, 1.5f));
    const std::vector<float> b = rounded<T>(random_vector(rng, size_t(C)));
    std::vector<float> sum(x.size()), want(x.size());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < C; ++c)
        sum[size_t(r * C + c)] = (x[size_t(r * C + c)] + bias[size_t(c)]) + res[size_t(r * C + c)];
    ref::layernorm(sum.data(), g.data(), b.data(), want.data(), rows, C, 1e-12f);
    DevArray<T> dx = DevArray<T>::from(x), dbias = DevArray<T>::from(bias), dres = DevArray<T>::from(res);
    DevArray<T> dg = DevArray<T>::from(g), db = DevArray<T>::from(b);
    DevArray<T> y = DevArray<T>::poisoned(x.size());
    k::bias_residual_layernorm<T>(dx.get(), dbias.get(), dres.get(), dg.get(), db.get(), y.get(), rows, C, 1e-12f,
                                  nullptr);
    TAILOR_CHECK_CLOSE(y.download(), want, kernel_tolerance<T>());
    // In place: y = residual, as BERT's layers call it.
    k::bias_residual_layernorm<T>(dx.get(), dbias.get(), dres.get(), dg.get(), db.get(), dres.get(), rows, C, 1e-12f,
                                  nullptr);
    TAILOR_CHECK_CLOSE(dres.download(), want, kernel_tolerance<T>());
  }
}

TEST_CASE_TEMPLATE("embedding_sum_layernorm (BertEmbeddings)" * gpu_required(), T, TAILOR_STORAGE_TYPES) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  for (int64_t C : {32, 384, 1100}) {
    CAPTURE(C);
    const int64_t V = 50, P = 40, TV = 2, B = 3, Tlen = 13;
    const std::vector<float> word = rounded<T>(random_vector(rng, size_t(V * C)));
    const std::vector<float> pos = rounded<T>(random_vector(rng, size_t(P * C)));
    const std::vector<float> type = rounded<T>(random_vector(rng, size_t(TV * C)));
    const std::vector<float> g = rounded<T>(random_vector(rng, size_t(C), 0.5f, 1.5f));
    const std::vector<float> b = rounded<T>(random_vector(rng, size_t(C)));
    std::vector<int32_t> ids(size_t(B * Tlen)), types(size_t(B * Tlen));
    for (auto& i : ids) i = int32_t(rng() % V);
    for (auto& i : types) i = int32_t(rng() % TV);
    std::vector<float> sum(size_t(B * Tlen * C)), want(sum.size());
    for (int64_t r = 0; r < B * Tlen; ++r)
      for (int64_t c = 0; c < C; ++c)
        sum[size_t(r * C + c)] = (word[size_t(ids[size_t(r)] * C + c)] + type[size_t(types[size_t(r)] * C + c)]) +
                                 pos[size_t((r % Tlen) * C + c)];
    ref::layernorm(sum.data(), g.data(), b.data(), want.data(), B * Tlen, C, 1e-12f);
    DevArray<T> dw = DevArray<T>::from(word), dp = DevArray<T>::from(pos), dt = DevArray<T>::from(type);
    DevArray<T> dg = DevArray<T>::from(g), db = DevArray<T>::from(b);
    auto d_ids = upload_i32(ids), d_types = upload_i32(types);
    DevArray<T> y = DevArray<T>::poisoned(want.size());
    k::embedding_sum_layernorm<T>(d_ids.as<int32_t>(), d_types.as<int32_t>(), dw.get(), dp.get(), dt.get(), dg.get(),
                                  db.get(), y.get(), B, Tlen, C, V, P, TV, 1e-12f, nullptr);
    TAILOR_CHECK_CLOSE(y.download(), want, kernel_tolerance<T>());
  }
}

// ---- activations -----------------------------------------------------------------------------

TEST_CASE_TEMPLATE("bias_activation for every activation" * gpu_required(), T, TAILOR_STORAGE_TYPES) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const int64_t rows = 77, C = 3072 + 5;
  for (k::Act act : {k::Act::none, k::Act::relu, k::Act::gelu_erf, k::Act::gelu_tanh, k::Act::tanh, k::Act::sigmoid}) {
    CAPTURE(int(act));
    const std::vector<float> x = rounded<T>(random_vector(rng, size_t(rows * C), -6.f, 6.f));
    const std::vector<float> bias = rounded<T>(random_vector(rng, size_t(C)));
    std::vector<float> want(x.size());
    for (int64_t i = 0; i < rows * C; ++i) want[size_t(i)] = ref::activate(x[size_t(i)] + bias[size_t(i % C)], int(act));
    DevArray<T> dx = DevArray<T>::from(x), db = DevArray<T>::from(bias);
    k::bias_activation<T>(dx.get(), db.get(), rows, C, act, nullptr);
    TAILOR_CHECK_CLOSE(dx.download(), want, kernel_tolerance<T>());
  }
}

// ---- attention -------------------------------------------------------------------------------

namespace {
std::vector<int32_t> random_mask(std::mt19937& rng, int64_t B, int64_t Tlen) {
  // Batch item 0: no padding; item 1 (if any): every key masked (HF gives uniform weights);
  // the rest: a random valid length plus a few random holes.
  std::vector<int32_t> mask(size_t(B * Tlen), 1);
  for (int64_t b = 1; b < B; ++b) {
    if (b == 1) {
      for (int64_t t = 0; t < Tlen; ++t) mask[size_t(b * Tlen + t)] = 0;
      continue;
    }
    const int64_t len = 1 + int64_t(rng() % uint32_t(Tlen));
    for (int64_t t = len; t < Tlen; ++t) mask[size_t(b * Tlen + t)] = 0;
    for (int i = 0; i < 3; ++i) mask[size_t(b * Tlen + int64_t(rng() % uint32_t(Tlen)))] = 0;
  }
  return mask;
}
}  // namespace

TEST_CASE_TEMPLATE("softmax_masked (HF's additive float32-min mask)" * gpu_required(), T, TAILOR_STORAGE_TYPES) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  for (int64_t Tk : {1, 31, 128, 515}) {
    CAPTURE(Tk);
    const int64_t B = 4, NH = 3, Tq = 7;
    std::vector<float> s = rounded<T>(random_vector(rng, size_t(B * NH * Tq * Tk), -8.f, 8.f));
    const std::vector<int32_t> mask = random_mask(rng, B, Tk);
    DevArray<T> ds = DevArray<T>::from(s);
    auto dm = upload_i32(mask);
    k::softmax_masked<T>(ds.get(), dm.as<int32_t>(), B, NH, Tq, Tk, 0.125f, nullptr);
    ref::softmax_masked(s, mask.data(), B, NH, Tq, Tk, 0.125f);
    TAILOR_CHECK_CLOSE(ds.download(), s, kernel_tolerance<T>());
  }
}

TEST_CASE_TEMPLATE("attention_online_softmax and the unfused cuBLASLt path agree with HF's attention" *
                       gpu_required(),
                   T, TAILOR_STORAGE_TYPES) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const Precision prec = std::is_same_v<T, __half> ? Precision::fp16
                         : std::is_same_v<T, __nv_bfloat16> ? Precision::bf16 : Precision::fp32;
  cuda::detail::BlasLt blas;
  struct Case { int64_t B, Tlen, NH, D; };
  for (const Case cs : {Case{1, 1, 1, 16}, Case{2, 5, 2, 32}, Case{3, 33, 3, 64}, Case{4, 128, 2, 64},
                        Case{2, 200, 1, 80}, Case{3, 77, 2, 128}, Case{1, 513, 1, 64}}) {
    const int64_t B = cs.B, Tlen = cs.Tlen, NH = cs.NH, D = cs.D, C = NH * D;
    CAPTURE(B);
    CAPTURE(Tlen);
    CAPTURE(NH);
    CAPTURE(D);
    const std::vector<float> qkv = rounded<T>(random_vector(rng, size_t(B * Tlen * 3 * C), -2.f, 2.f));
    const std::vector<int32_t> mask = random_mask(rng, B, Tlen);
    const std::vector<float> want = ref::attention(qkv, mask.data(), B, Tlen, NH, D);
    DevArray<T> d_qkv = DevArray<T>::from(qkv);
    auto d_mask = upload_i32(mask);

    DevArray<T> fused = DevArray<T>::poisoned(want.size());
    k::attention_online_softmax<T>(d_qkv.get(), d_mask.as<int32_t>(), fused.get(), B, Tlen, NH, D, nullptr);
    TAILOR_CHECK_CLOSE(fused.download(), want, kernel_tolerance<T>());

    // Unfused: split heads, S = Q K^T / sqrt(D) (batched cuBLASLt), softmax, P V, merge.
    DevArray<T> q = DevArray<T>::poisoned(size_t(B * Tlen * C)), kk = DevArray<T>::poisoned(size_t(B * Tlen * C)),
                v = DevArray<T>::poisoned(size_t(B * Tlen * C)), heads = DevArray<T>::poisoned(size_t(B * Tlen * C));
    DevArray<T> scores = DevArray<T>::poisoned(size_t(B * NH * Tlen * Tlen));
    DevArray<T> unfused = DevArray<T>::poisoned(want.size());
    k::split_heads<T>(d_qkv.get(), q.get(), kk.get(), v.get(), B, Tlen, NH, D, nullptr);
    cuda::detail::GemmArgs qk;
    qk.M = Tlen; qk.N = Tlen; qk.K = D; qk.A = q.get(); qk.lda = D; qk.B = kk.get(); qk.ldb = D;
    qk.C = scores.get(); qk.ldc = Tlen; qk.alpha = 1.f / std::sqrt(float(D));
    qk.batch = B * NH; qk.stride_a = Tlen * D; qk.stride_b = Tlen * D; qk.stride_c = Tlen * Tlen;
    blas.gemm(qk, prec, nullptr);
    k::softmax_masked<T>(scores.get(), d_mask.as<int32_t>(), B, NH, Tlen, Tlen, 1.f, nullptr);
    cuda::detail::GemmArgs pv;
    pv.M = Tlen; pv.N = D; pv.K = Tlen; pv.A = scores.get(); pv.lda = Tlen; pv.B = v.get(); pv.ldb = D;
    pv.b_is_n_by_k = false; pv.C = heads.get(); pv.ldc = D;
    pv.batch = B * NH; pv.stride_a = Tlen * Tlen; pv.stride_b = Tlen * D; pv.stride_c = Tlen * D;
    blas.gemm(pv, prec, nullptr);
    k::merge_heads<T>(heads.get(), unfused.get(), B, Tlen, NH, D, nullptr);
    // The unfused path rounds the probabilities to T before P V: looser for 16-bit storage.
    TAILOR_CHECK_CLOSE(unfused.download(), want, (std::is_same_v<T, float> ? 1e-5 : 1e-2));
  }
}

// ---- GEMMs -----------------------------------------------------------------------------------

namespace {
struct GemmCase {
  int64_t M, N, K;
};
const GemmCase kGemmCases[] = {{1, 1, 1}, {1, 768, 768}, {65, 67, 33}, {130, 200, 17}, {128, 2304, 768},
                               {257, 96, 3072}, {49, 512, 4608}};
}  // namespace

TEST_CASE_TEMPLATE("gemm_tiled_smem with its fused epilogue vs nn::gemm" * gpu_required(), T, TAILOR_STORAGE_TYPES) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  for (const GemmCase g : kGemmCases) {
    for (int variant = 0; variant < 3; ++variant) {  // plain; bias + GELU; bias + residual + ReLU
      CAPTURE(g.M);
      CAPTURE(g.N);
      CAPTURE(g.K);
      CAPTURE(variant);
      const std::vector<float> A = rounded<T>(random_vector(rng, size_t(g.M * g.K)));
      const std::vector<float> W = rounded<T>(random_vector(rng, size_t(g.N * g.K)));
      const std::vector<float> bias = rounded<T>(random_vector(rng, size_t(g.N)));
      const std::vector<float> res = rounded<T>(random_vector(rng, size_t(g.M * g.N)));
      const nn::Activation act = variant == 1 ? nn::Activation::gelu_erf : variant == 2 ? nn::Activation::relu
                                                                                         : nn::Activation::none;
      std::vector<float> want(size_t(g.M * g.N));
      ref::linear(A.data(), g.M, g.K, W, variant ? bias.data() : nullptr, variant == 2 ? res.data() : nullptr,
                  want.data(), g.N, act);
      DevArray<T> dA = DevArray<T>::from(A), dW = DevArray<T>::from(W), db = DevArray<T>::from(bias),
                  dr = DevArray<T>::from(res);
      DevArray<T> C = DevArray<T>::poisoned(want.size());
      k::gemm_tiled_smem<T>(dA.get(), dW.get(), variant ? db.get() : nullptr, variant == 2 ? dr.get() : nullptr,
                            C.get(), g.M, g.N, g.K,
                            variant == 1 ? k::Act::gelu_erf : variant == 2 ? k::Act::relu : k::Act::none, nullptr);
      TAILOR_CHECK_CLOSE(C.download(), want, kernel_tolerance<T>());
    }
  }
}

namespace {
template <class T>
void check_blaslt(Precision prec, double tol) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  cuda::detail::BlasLt blas;
  for (const GemmCase g : kGemmCases) {
    for (int variant = 0; variant < 4; ++variant) {  // plain; bias; bias + ReLU; bias + residual + ReLU
      CAPTURE(g.M);
      CAPTURE(g.N);
      CAPTURE(g.K);
      CAPTURE(variant);
      const std::vector<float> A = rounded<T>(random_vector(rng, size_t(g.M * g.K)));
      const std::vector<float> W = rounded<T>(random_vector(rng, size_t(g.N * g.K)));
      const std::vector<float> bias = rounded<T>(random_vector(rng, size_t(g.N)));
      const std::vector<float> res = rounded<T>(random_vector(rng, size_t(g.M * g.N)));
      std::vector<float> want(size_t(g.M * g.N));
      ref::linear(A.data(), g.M, g.K, W, variant ? bias.data() : nullptr, variant == 3 ? res.data() : nullptr,
                  want.data(), g.N, variant >= 2 ? nn::Activation::relu : nn::Activation::none);
      DevArray<T> dA = DevArray<T>::from(A), dW = DevArray<T>::from(W), db = DevArray<T>::from(bias),
                  dr = DevArray<T>::from(res);
      DevArray<T> C = DevArray<T>::poisoned(want.size());
      cuda::detail::GemmArgs a;
      a.M = g.M; a.N = g.N; a.K = g.K; a.A = dA.get(); a.lda = g.K; a.B = dW.get(); a.ldb = g.K;
      a.C = C.get(); a.ldc = g.N;
      a.bias = variant ? db.get() : nullptr;
      a.relu = variant >= 2;
      a.C_in = variant == 3 ? dr.get() : nullptr;
      blas.gemm(a, prec, nullptr);
      // ReLU must come after the residual: cuBLASLt's D = act(alpha AB + beta C + bias).
      TAILOR_CHECK_CLOSE(C.download(), want, tol);
    }
  }
  // A strided A (lda > K), as the pooler reads every T-th row of the hidden states.
  const int64_t B = 5, Tlen = 9, H = 96;
  const std::vector<float> hidden = rounded<T>(random_vector(rng, size_t(B * Tlen * H)));
  const std::vector<float> W = rounded<T>(random_vector(rng, size_t(H * H)));
  std::vector<float> cls(size_t(B * H)), want(size_t(B * H));
  for (int64_t b = 0; b < B; ++b) std::memcpy(&cls[size_t(b * H)], &hidden[size_t(b * Tlen * H)], size_t(H) * 4);
  ref::linear(cls.data(), B, H, W, nullptr, nullptr, want.data(), H);
  DevArray<T> dh = DevArray<T>::from(hidden), dW = DevArray<T>::from(W);
  DevArray<T> C = DevArray<T>::poisoned(want.size());
  cuda::detail::GemmArgs a;
  a.M = B; a.N = H; a.K = H; a.A = dh.get(); a.lda = Tlen * H; a.B = dW.get(); a.ldb = H; a.C = C.get(); a.ldc = H;
  blas.gemm(a, prec, nullptr);
  TAILOR_CHECK_CLOSE(C.download(), want, tol);
}
}  // namespace

TEST_CASE("cuBLASLt GEMMs with bias / ReLU / residual epilogues, in each precision" * gpu_required()) {
  SUBCASE("fp32") { check_blaslt<float>(Precision::fp32, 1e-5); }
  SUBCASE("tf32") { check_blaslt<float>(Precision::tf32, 1e-3); }
  SUBCASE("fp16") { check_blaslt<__half>(Precision::fp16, 1e-2); }
  SUBCASE("bf16") { check_blaslt<__nv_bfloat16>(Precision::bf16, 1e-2); }
}

// ---- convolution and pooling -----------------------------------------------------------------

namespace {
struct ConvCase {
  int64_t N, H, W, C, O, k, stride, pad;
};
const ConvCase kConvCases[] = {{1, 9, 11, 3, 5, 7, 2, 3},   {2, 13, 13, 16, 24, 3, 1, 1}, {1, 14, 14, 33, 17, 3, 2, 1},
                               {3, 7, 7, 64, 40, 1, 1, 0},  {2, 9, 15, 24, 48, 1, 2, 0},  {1, 5, 5, 8, 8, 5, 1, 2}};
}  // namespace

TEST_CASE_TEMPLATE("im2col_nhwc and conv2d_implicit_gemm (bias + residual + ReLU) vs a direct convolution" *
                       gpu_required(),
                   T, TAILOR_STORAGE_TYPES) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  for (const ConvCase c : kConvCases) {
    CAPTURE(c.H);
    CAPTURE(c.W);
    CAPTURE(c.C);
    CAPTURE(c.O);
    CAPTURE(c.k);
    CAPTURE(c.stride);
    k::ConvShape s;
    s.N = c.N; s.H = c.H; s.W = c.W; s.C = c.C; s.O = c.O; s.kh = s.kw = c.k; s.stride = c.stride; s.pad = c.pad;
    const int64_t Ho = s.out_h(), Wo = s.out_w(), M = c.N * Ho * Wo, patch = s.patch();
    const std::vector<float> x = rounded<T>(random_vector(rng, size_t(c.N * c.H * c.W * c.C)));
    const std::vector<float> w = rounded<T>(random_vector(rng, size_t(c.O * patch), -0.5f, 0.5f));
    const std::vector<float> bias = rounded<T>(random_vector(rng, size_t(c.O)));
    const std::vector<float> res = rounded<T>(random_vector(rng, size_t(M * c.O)));
    DevArray<T> dx = DevArray<T>::from(x), dw = DevArray<T>::from(w), db = DevArray<T>::from(bias),
                dr = DevArray<T>::from(res);

    const int64_t ldk = (patch + 7) / 8 * 8 + 8;  // padded rows, as the model uses them
    DevArray<T> cols = DevArray<T>::poisoned(size_t(M * ldk));
    k::im2col_nhwc<T>(dx.get(), cols.get(), s, ldk, nullptr);
    CHECK(cols.download() == ref::im2col_nhwc(x, c.N, c.H, c.W, c.C, c.k, c.k, c.stride, c.pad, ldk));

    for (int variant = 0; variant < 2; ++variant) {
      const auto want = ref::conv2d_nhwc(x, w, bias.data(), variant ? res.data() : nullptr, c.N, c.H, c.W, c.C, c.O,
                                         c.k, c.k, c.stride, c.pad, variant ? 1 : 0);
      DevArray<T> y = DevArray<T>::poisoned(want.size());
      k::conv2d_implicit_gemm<T>(dx.get(), dw.get(), db.get(), variant ? dr.get() : nullptr, y.get(), s,
                                 variant ? k::Act::relu : k::Act::none, nullptr);
      TAILOR_CHECK_CLOSE(y.download(), want, kernel_tolerance<T>());
    }
  }
}

TEST_CASE_TEMPLATE("maxpool2d_nhwc and avgpool_global_nhwc" * gpu_required(), T, TAILOR_STORAGE_TYPES) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  for (const auto& [N, H, W, C] : std::vector<std::array<int64_t, 4>>{{1, 112, 112, 64}, {3, 15, 9, 5}, {2, 7, 7, 2048}}) {
    CAPTURE(H);
    CAPTURE(W);
    CAPTURE(C);
    const std::vector<float> x = rounded<T>(random_vector(rng, size_t(N * H * W * C), -4.f, 4.f));
    DevArray<T> dx = DevArray<T>::from(x);
    const auto want_max = ref::maxpool_nhwc(x, N, H, W, C, 3, 2, 1);
    DevArray<T> y = DevArray<T>::poisoned(want_max.size());
    k::maxpool2d_nhwc<T>(dx.get(), y.get(), N, H, W, C, 3, 2, 1, nullptr);
    CHECK(y.download() == want_max);  // a max of stored values is exact
    const auto want_avg = ref::avgpool_global_nhwc(x, N, H * W, C);
    DevArray<T> avg = DevArray<T>::poisoned(want_avg.size());
    k::avgpool_global_nhwc<T, T>(dx.get(), avg.get(), N, H, W, C, nullptr);
    TAILOR_CHECK_CLOSE(avg.download(), want_avg, kernel_tolerance<T>());
    cuda::detail::DeviceBuffer avg32(want_avg.size() * 4);
    k::avgpool_global_nhwc<T, float>(dx.get(), avg32.as<float>(), N, H, W, C, nullptr);
    std::vector<float> got32(want_avg.size());
    TAILOR_CUDA_CHECK(cudaMemcpy(got32.data(), avg32.get(), got32.size() * 4, cudaMemcpyDeviceToHost));
    TAILOR_CHECK_CLOSE(got32, want_avg, 1e-5);
  }
}

// ---- text pooling and the fusion head --------------------------------------------------------

TEST_CASE_TEMPLATE("text_pool: cls / masked mean, with and without L2 normalisation" * gpu_required(), T,
                   TAILOR_STORAGE_TYPES) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const int64_t B = 5, Tlen = 37, C = 384 + 3;
  const std::vector<float> h = rounded<T>(random_vector(rng, size_t(B * Tlen * C)));
  const std::vector<int32_t> mask = random_mask(rng, B, Tlen);
  DevArray<T> dh = DevArray<T>::from(h);
  auto dm = upload_i32(mask);
  for (int mean = 0; mean < 2; ++mean)
    for (int normalize = 0; normalize < 2; ++normalize) {
      CAPTURE(mean);
      CAPTURE(normalize);
      const auto want = ref::text_pool(h, mask.data(), B, Tlen, C, mean, normalize);
      cuda::detail::DeviceBuffer out(want.size() * 4);
      TAILOR_CUDA_CHECK(cudaMemset(out.get(), 0xFF, want.size() * 4));
      k::text_pool<T, float>(dh.get(), dm.as<int32_t>(), out.as<float>(), B, Tlen, C,
                             mean ? k::TextPool::mean : k::TextPool::cls, normalize, nullptr);
      std::vector<float> got(want.size());
      TAILOR_CUDA_CHECK(cudaMemcpy(got.data(), out.get(), got.size() * 4, cudaMemcpyDeviceToHost));
      TAILOR_CHECK_CLOSE(got, want, 1e-5);  // float32 output from stored inputs: float32 accuracy
    }
}

TEST_CASE("fusion_concat_linear: Linear over [image | text] without the concat" * gpu_required()) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  for (const auto& [N, Di, Dt, O] : std::vector<std::array<int64_t, 4>>{{1, 2048, 768, 1}, {7, 1000, 384, 3}, {33, 0, 65, 2}}) {
    CAPTURE(N);
    CAPTURE(Di);
    CAPTURE(Dt);
    CAPTURE(O);
    const auto img = random_vector(rng, size_t(N * Di)), txt = random_vector(rng, size_t(N * Dt));
    const auto w = random_vector(rng, size_t(O * (Di + Dt))), b = random_vector(rng, size_t(O));
    for (k::Act act : {k::Act::none, k::Act::sigmoid, k::Act::relu}) {
      std::vector<float> want(size_t(N * O));
      for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < O; ++o) {
          double s = b[size_t(o)];
          for (int64_t i = 0; i < Di; ++i) s += double(img[size_t(n * Di + i)]) * w[size_t(o * (Di + Dt) + i)];
          for (int64_t i = 0; i < Dt; ++i) s += double(txt[size_t(n * Dt + i)]) * w[size_t(o * (Di + Dt) + Di + i)];
          want[size_t(n * O + o)] = ref::activate(float(s), int(act));
        }
      auto di = cuda::detail::upload(img.data(), img.size() * 4), dt = cuda::detail::upload(txt.data(), txt.size() * 4);
      auto dw = cuda::detail::upload(w.data(), w.size() * 4), db = cuda::detail::upload(b.data(), b.size() * 4);
      cuda::detail::DeviceBuffer out(want.size() * 4);
      TAILOR_CUDA_CHECK(cudaMemset(out.get(), 0xFF, want.size() * 4));
      k::fusion_concat_linear(di.as<float>(), dt.as<float>(), dw.as<float>(), db.as<float>(), out.as<float>(), N, Di,
                              Dt, O, act, nullptr);
      std::vector<float> got(want.size());
      TAILOR_CUDA_CHECK(cudaMemcpy(got.data(), out.get(), got.size() * 4, cudaMemcpyDeviceToHost));
      TAILOR_CHECK_CLOSE(got, want, 1e-5);
    }
  }
}
