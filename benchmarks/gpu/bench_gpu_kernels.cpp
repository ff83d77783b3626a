// benchmarks/gpu/bench_gpu_kernels.cpp: every CUDA kernel, timed with CUDA events.
//
// Google Benchmark with manual (event) time; each kernel reports GB/s (bytes each launch must
// move: inputs read once, outputs written once) and/or TFLOP/s, and the "% of ceiling"
// counters against the copy bandwidth and cuBLASLt GEMM rate measured at start-up in the
// same run (gpu_bench_common.hpp). Where tailor has a hand-written kernel and cuBLAS does the
// same job, both are here under one name with /custom and /cublaslt:
//   gemm (BERT and ResNet shapes): gemm_tiled_smem vs cuBLASLt, per precision
//   conv2d (ResNet 3x3 / 7x7 shapes): conv2d_implicit_gemm vs im2col + cuBLASLt
//   attention (BERT-base heads, T = 128): attention_online_softmax vs the unfused
//             split_heads + cuBLASLt Q K^T + softmax_masked + cuBLASLt P V + merge_heads
// Shapes are the models' (BERT-base 768 / 3072 / 12 heads x 64; ResNet50's stages at batch 32).
#include <cmath>
#include <string>

#include "gpu_bench_common.hpp"

namespace tailor::bench::gpu {
namespace {
namespace k = ::tailor::cuda::kernels;

template <class T>
const char* tname() {
  return std::is_same_v<T, __half> ? "fp16" : std::is_same_v<T, __nv_bfloat16> ? "bf16" : "fp32";
}

cuda::detail::Stream& stream() {
  static cuda::detail::Stream s;
  return s;
}

/// Percent of the measured ceilings (as rates over this benchmark's iteration time).
void finish(benchmark::State& state, double bytes, double flops, Precision p) {
  const Ceilings& c = ceilings();
  if (bytes > 0 && c.copy_gbs > 0)
    state.counters["%bw"] = benchmark::Counter(bytes * 1e-9 / c.copy_gbs * 100.0,
                                               benchmark::Counter::kIsIterationInvariantRate);
  if (flops > 0 && c.gemm_tflops[int(p)] > 0)
    state.counters["%gemm"] = benchmark::Counter(flops * 1e-12 / c.gemm_tflops[int(p)] * 100.0,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

template <class T>
Precision storage_precision() {
  return std::is_same_v<T, __half> ? Precision::fp16 : std::is_same_v<T, __nv_bfloat16> ? Precision::bf16
                                                                                          : Precision::fp32;
}

// ---- memory-bound text kernels ---------------------------------------------------------------

template <class T>
void register_text_kernels() {
  const int64_t R = 128 * 128, C = 768, I = 3072;  // BERT-base, batch 128 x seq 128
  const double e = sizeof(T);
  benchmark::RegisterBenchmark((std::string("layernorm_warp_per_row/") + tname<T>() + "/16384x768").c_str(),
                               [=](benchmark::State& st) {
                                 auto x = random_device<T>(size_t(R * C), 1), y = random_device<T>(size_t(R * C), 2);
                                 auto g = random_device<T>(size_t(C), 3), b = random_device<T>(size_t(C), 4);
                                 const double bytes = 2.0 * R * C * e;
                                 run_timed(st, stream().get(), bytes, 0, [&] {
                                   k::layernorm_warp_per_row<T>(dptr<T>(x), dptr<T>(g), dptr<T>(b), dptr<T>(y), R, C,
                                                                1e-12f, stream().get());
                                 });
                                 finish(st, bytes, 0, storage_precision<T>());
                               })
      ->UseManualTime()->Iterations(20);
  benchmark::RegisterBenchmark((std::string("bias_residual_layernorm/") + tname<T>() + "/16384x768").c_str(),
                               [=](benchmark::State& st) {
                                 auto x = random_device<T>(size_t(R * C), 1), r = random_device<T>(size_t(R * C), 2);
                                 auto bias = random_device<T>(size_t(C), 5);
                                 auto g = random_device<T>(size_t(C), 3), b = random_device<T>(size_t(C), 4);
                                 const double bytes = 3.0 * R * C * e;
                                 run_timed(st, stream().get(), bytes, 0, [&] {
                                   k::bias_residual_layernorm<T>(dptr<T>(x), dptr<T>(bias), dptr<T>(r), dptr<T>(g),
                                                                 dptr<T>(b), dptr<T>(r), R, C, 1e-12f, stream().get());
                                 });
                                 finish(st, bytes, 0, storage_precision<T>());
                               })
      ->UseManualTime()->Iterations(20);
  benchmark::RegisterBenchmark((std::string("embedding_sum_layernorm/") + tname<T>() + "/128x128x768").c_str(),
                               [=](benchmark::State& st) {
                                 const int64_t V = 30522, P = 512;
                                 auto word = random_device<T>(size_t(V * C), 1), pos = random_device<T>(size_t(P * C), 2);
                                 auto type = random_device<T>(size_t(2 * C), 3);
                                 auto g = random_device<T>(size_t(C), 4), b = random_device<T>(size_t(C), 5);
                                 auto y = random_device<T>(size_t(R * C), 6);
                                 std::vector<int32_t> ids(static_cast<size_t>(R));
                                 std::mt19937 rng(8);
                                 for (auto& i : ids) i = int32_t(rng() % V);
                                 auto d_ids = cuda::detail::upload(ids.data(), ids.size() * 4);
                                 const double bytes = 4.0 * R * C * e + R * 4.0;
                                 run_timed(st, stream().get(), bytes, 0, [&] {
                                   k::embedding_sum_layernorm<T>(dptr<int32_t>(d_ids), nullptr, dptr<T>(word),
                                                                 dptr<T>(pos), dptr<T>(type), dptr<T>(g), dptr<T>(b),
                                                                 dptr<T>(y), 128, 128, C, V, P, 2, 1e-12f,
                                                                 stream().get());
                                 });
                                 finish(st, bytes, 0, storage_precision<T>());
                               })
      ->UseManualTime()->Iterations(20);
  benchmark::RegisterBenchmark((std::string("bias_activation_gelu_erf/") + tname<T>() + "/16384x3072").c_str(),
                               [=](benchmark::State& st) {
                                 auto x = random_device<T>(size_t(R * I), 1), b = random_device<T>(size_t(I), 2);
                                 const double bytes = 2.0 * R * I * e;
                                 run_timed(st, stream().get(), bytes, 0, [&] {
                                   k::bias_activation<T>(dptr<T>(x), dptr<T>(b), R, I, k::Act::gelu_erf, stream().get());
                                 });
                                 finish(st, bytes, 0, storage_precision<T>());
                               })
      ->UseManualTime()->Iterations(20);
  benchmark::RegisterBenchmark((std::string("softmax_masked/") + tname<T>() + "/32x12x128x128").c_str(),
                               [=](benchmark::State& st) {
                                 const int64_t B = 32, NH = 12, Tl = 128;
                                 auto s = random_device<T>(size_t(B * NH * Tl * Tl), 1, -4.f, 4.f);
                                 std::vector<int32_t> mask(size_t(B * Tl), 1);
                                 auto dm = cuda::detail::upload(mask.data(), mask.size() * 4);
                                 const double bytes = 2.0 * B * NH * Tl * Tl * e;
                                 run_timed(st, stream().get(), bytes, 0, [&] {
                                   k::softmax_masked<T>(dptr<T>(s), dptr<int32_t>(dm), B, NH, Tl, Tl, 1.f, stream().get());
                                 });
                                 finish(st, bytes, 0, storage_precision<T>());
                               })
      ->UseManualTime()->Iterations(20);
  benchmark::RegisterBenchmark((std::string("text_pool_mean_l2/") + tname<T>() + "/128x128x768").c_str(),
                               [=](benchmark::State& st) {
                                 auto h = random_device<T>(size_t(R * C), 1);
                                 std::vector<int32_t> mask(size_t(R), 1);
                                 auto dm = cuda::detail::upload(mask.data(), mask.size() * 4);
                                 DeviceBuffer out(size_t(128 * C) * 4);
                                 const double bytes = double(R) * C * e;
                                 run_timed(st, stream().get(), bytes, 0, [&] {
                                   k::text_pool<T, float>(dptr<T>(h), dptr<int32_t>(dm), dptr<float>(out), 128, 128, C,
                                                          k::TextPool::mean, true, stream().get());
                                 });
                                 finish(st, bytes, 0, storage_precision<T>());
                               })
      ->UseManualTime()->Iterations(20);
}

// ---- attention: fused vs unfused -------------------------------------------------------------

template <class T>
void register_attention() {
  for (int64_t B : {1, 32, 128}) {
    const int64_t Tl = 128, NH = 12, D = 64, C = NH * D;
    const double flops = 4.0 * B * NH * Tl * Tl * D, e = sizeof(T);
    const double bytes = 4.0 * B * Tl * C * e;  // qkv read + ctx written
    const std::string shape = "/B" + std::to_string(B) + "xT128x12x64";
    benchmark::RegisterBenchmark((std::string("attention/") + tname<T>() + shape + "/custom_online_softmax").c_str(),
                                 [=](benchmark::State& st) {
                                   auto qkv = random_device<T>(size_t(B * Tl * 3 * C), 1, -2.f, 2.f);
                                   auto ctx = random_device<T>(size_t(B * Tl * C), 2);
                                   std::vector<int32_t> mask(size_t(B * Tl), 1);
                                   auto dm = cuda::detail::upload(mask.data(), mask.size() * 4);
                                   run_timed(st, stream().get(), bytes, flops, [&] {
                                     k::attention_online_softmax<T>(dptr<T>(qkv), dptr<int32_t>(dm), dptr<T>(ctx), B, Tl,
                                                                    NH, D, stream().get());
                                   });
                                   finish(st, bytes, flops, storage_precision<T>());
                                 })
        ->UseManualTime()->Iterations(10);
    benchmark::RegisterBenchmark((std::string("attention/") + tname<T>() + shape + "/cublaslt_unfused").c_str(),
                                 [=](benchmark::State& st) {
                                   auto qkv = random_device<T>(size_t(B * Tl * 3 * C), 1, -2.f, 2.f);
                                   auto ctx = random_device<T>(size_t(B * Tl * C), 2);
                                   DeviceBuffer heads(size_t(4 * B * Tl * C) * sizeof(T));
                                   DeviceBuffer scores(size_t(B * NH * Tl * Tl) * sizeof(T));
                                   std::vector<int32_t> mask(size_t(B * Tl), 1);
                                   auto dm = cuda::detail::upload(mask.data(), mask.size() * 4);
                                   cuda::detail::BlasLt blas;
                                   const Precision p = storage_precision<T>();
                                   T* q = dptr<T>(heads);
                                   T* kk = q + B * Tl * C;
                                   T* v = kk + B * Tl * C;
                                   T* ch = v + B * Tl * C;
                                   cuda::detail::GemmArgs qk, pv;
                                   qk.M = Tl; qk.N = Tl; qk.K = D; qk.A = q; qk.lda = D; qk.B = kk; qk.ldb = D;
                                   qk.C = scores.get(); qk.ldc = Tl; qk.alpha = 0.125f; qk.batch = B * NH;
                                   qk.stride_a = Tl * D; qk.stride_b = Tl * D; qk.stride_c = Tl * Tl;
                                   pv.M = Tl; pv.N = D; pv.K = Tl; pv.A = scores.get(); pv.lda = Tl; pv.B = v;
                                   pv.ldb = D; pv.b_is_n_by_k = false; pv.C = ch; pv.ldc = D; pv.batch = B * NH;
                                   pv.stride_a = Tl * Tl; pv.stride_b = Tl * D; pv.stride_c = Tl * D;
                                   run_timed(st, stream().get(), bytes, flops, [&] {
                                     k::split_heads<T>(dptr<T>(qkv), q, kk, v, B, Tl, NH, D, stream().get());
                                     blas.gemm(qk, p, stream().get());
                                     k::softmax_masked<T>(dptr<T>(scores), dptr<int32_t>(dm), B, NH, Tl, Tl, 1.f,
                                                          stream().get());
                                     blas.gemm(pv, p, stream().get());
                                     k::merge_heads<T>(ch, dptr<T>(ctx), B, Tl, NH, D, stream().get());
                                   });
                                   finish(st, bytes, flops, p);
                                 })
        ->UseManualTime()->Iterations(10);
  }
}

// ---- GEMMs: hand-written tiled vs cuBLASLt ---------------------------------------------------

struct GemmShape {
  const char* what;
  int64_t M, N, K;
};
const GemmShape kGemms[] = {
    {"bert_qkv_b32", 32 * 128, 2304, 768},  {"bert_ffn1_b32", 32 * 128, 3072, 768},
    {"bert_ffn2_b32", 32 * 128, 768, 3072}, {"bert_qkv_b1", 128, 2304, 768},
    {"resnet_l1_1x1_b32", 32 * 3136, 64, 256}, {"resnet_l4_1x1_b32", 32 * 49, 2048, 512},
};

template <class T>
void register_gemm(Precision p, bool custom) {
  for (const GemmShape g : kGemms) {
    const double e = sizeof(T), flops = 2.0 * g.M * g.N * g.K;
    const double bytes = (double(g.M) * g.K + double(g.N) * g.K + double(g.M) * g.N) * e;
    const std::string name = std::string("gemm/") + cuda::detail::precision_name(p) + "/" + g.what + "/" +
                             std::to_string(g.M) + "x" + std::to_string(g.N) + "x" + std::to_string(g.K) +
                             (custom ? "/custom_tiled_smem" : "/cublaslt");
    benchmark::RegisterBenchmark(name.c_str(),
                                 [=](benchmark::State& st) {
                                   auto A = random_device<T>(size_t(g.M * g.K), 1);
                                   auto W = random_device<T>(size_t(g.N * g.K), 2);
                                   auto bias = random_device<T>(size_t(g.N), 3);
                                   DeviceBuffer C(size_t(g.M * g.N) * sizeof(T));
                                   cuda::detail::BlasLt blas;
                                   cuda::detail::GemmArgs a;
                                   a.M = g.M; a.N = g.N; a.K = g.K; a.A = A.get(); a.lda = g.K; a.B = W.get();
                                   a.ldb = g.K; a.C = C.get(); a.ldc = g.N; a.bias = bias.get(); a.relu = true;
                                   run_timed(st, stream().get(), bytes, flops, [&] {
                                     if (custom)
                                       k::gemm_tiled_smem<T>(dptr<T>(A), dptr<T>(W), dptr<T>(bias), nullptr, dptr<T>(C),
                                                             g.M, g.N, g.K, k::Act::relu, stream().get());
                                     else
                                       blas.gemm(a, p, stream().get());
                                   }, custom ? 2 : 5);
                                   finish(st, bytes, flops, p);
                                 })
        ->UseManualTime()->Iterations(custom ? 5 : 10);
  }
}

// ---- convolution: implicit GEMM vs im2col + cuBLASLt ------------------------------------------

struct ConvCaseB {
  const char* what;
  int64_t N, H, W, C, O, k, stride, pad;
};
const ConvCaseB kConvs[] = {
    {"stem_7x7s2", 32, 224, 224, 3, 64, 7, 2, 3},   {"layer1_3x3", 32, 56, 56, 64, 64, 3, 1, 1},
    {"layer2_3x3", 32, 28, 28, 128, 128, 3, 1, 1},  {"layer3_3x3", 32, 14, 14, 256, 256, 3, 1, 1},
    {"layer4_3x3", 32, 7, 7, 512, 512, 3, 1, 1},     {"layer1_3x3_b1", 1, 56, 56, 64, 64, 3, 1, 1},
};

template <class T>
void register_conv(Precision p) {
  for (const ConvCaseB& c : kConvs) {
    for (bool custom : {true, false}) {
      k::ConvShape s;
      s.N = c.N; s.H = c.H; s.W = c.W; s.C = c.C; s.O = c.O; s.kh = s.kw = c.k; s.stride = c.stride; s.pad = c.pad;
      const int64_t M = c.N * s.out_h() * s.out_w(), Kp = (s.patch() + 7) / 8 * 8;
      const double e = sizeof(T), flops = 2.0 * M * c.O * s.patch();
      const double bytes = (double(c.N) * c.H * c.W * c.C + double(c.O) * s.patch() + double(M) * c.O) * e;
      const std::string name = std::string("conv2d/") + cuda::detail::precision_name(p) + "/" + c.what + "_b" +
                               std::to_string(c.N) + (custom ? "/custom_implicit_gemm" : "/im2col_cublaslt");
      benchmark::RegisterBenchmark(name.c_str(),
                                   [=](benchmark::State& st) {
                                     auto x = random_device<T>(size_t(c.N * c.H * c.W * c.C), 1);
                                     auto w = random_device<T>(size_t(c.O * Kp), 2, -0.1f, 0.1f);
                                     auto b = random_device<T>(size_t(c.O), 3);
                                     DeviceBuffer y(size_t(M * c.O) * sizeof(T)), cols(size_t(M * Kp) * sizeof(T));
                                     cuda::detail::BlasLt blas;
                                     cuda::detail::GemmArgs a;
                                     a.M = M; a.N = c.O; a.K = Kp; a.A = cols.get(); a.lda = Kp; a.B = w.get();
                                     a.ldb = Kp; a.C = y.get(); a.ldc = c.O; a.bias = b.get(); a.relu = true;
                                     k::ConvShape sc = s;
                                     run_timed(st, stream().get(), bytes, flops, [&] {
                                       if (custom) {
                                         k::conv2d_implicit_gemm<T>(dptr<T>(x), dptr<T>(w), dptr<T>(b), nullptr, dptr<T>(y),
                                                                    sc, k::Act::relu, stream().get());
                                       } else {
                                         k::im2col_nhwc<T>(dptr<T>(x), dptr<T>(cols), sc, Kp, stream().get());
                                         blas.gemm(a, p, stream().get());
                                       }
                                     }, 2);
                                     finish(st, bytes, flops, p);
                                   })
          ->UseManualTime()->Iterations(5);
    }
  }
}

template <class T>
void register_pooling() {
  benchmark::RegisterBenchmark((std::string("maxpool2d_nhwc_3x3s2/") + tname<T>() + "/32x112x112x64").c_str(),
                               [](benchmark::State& st) {
                                 const int64_t N = 32, H = 112, W = 112, C = 64;
                                 auto x = random_device<T>(size_t(N * H * W * C), 1);
                                 DeviceBuffer y(size_t(N * 56 * 56 * C) * sizeof(T));
                                 const double bytes = double(N) * C * (H * W + 56 * 56) * sizeof(T);
                                 run_timed(st, stream().get(), bytes, 0, [&] {
                                   k::maxpool2d_nhwc<T>(dptr<T>(x), dptr<T>(y), N, H, W, C, 3, 2, 1, stream().get());
                                 });
                                 finish(st, bytes, 0, storage_precision<T>());
                               })
      ->UseManualTime()->Iterations(20);
  benchmark::RegisterBenchmark((std::string("avgpool_global_nhwc/") + tname<T>() + "/128x7x7x2048").c_str(),
                               [](benchmark::State& st) {
                                 const int64_t N = 128, H = 7, W = 7, C = 2048;
                                 auto x = random_device<T>(size_t(N * H * W * C), 1);
                                 DeviceBuffer y(size_t(N * C) * sizeof(T));
                                 const double bytes = double(N) * C * (H * W + 1) * sizeof(T);
                                 run_timed(st, stream().get(), bytes, 0, [&] {
                                   k::avgpool_global_nhwc<T, T>(dptr<T>(x), dptr<T>(y), N, H, W, C, stream().get());
                                 });
                                 finish(st, bytes, 0, storage_precision<T>());
                               })
      ->UseManualTime()->Iterations(20);
}

}  // namespace

void register_benchmarks() {
  register_text_kernels<float>();
  register_text_kernels<__half>();
  register_attention<float>();
  register_attention<__half>();
  register_gemm<float>(Precision::fp32, true);
  register_gemm<float>(Precision::fp32, false);
  register_gemm<float>(Precision::tf32, false);
  register_gemm<__half>(Precision::fp16, true);
  register_gemm<__half>(Precision::fp16, false);
  register_gemm<__nv_bfloat16>(Precision::bf16, false);
  register_conv<float>(Precision::fp32);
  register_conv<__half>(Precision::fp16);
  register_pooling<float>();
  register_pooling<__half>();
}

}  // namespace tailor::bench::gpu

TAILOR_GPU_BENCHMARK_MAIN(true)
