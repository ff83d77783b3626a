// benchmarks/bench_gemm.cpp: tailor's packed GEMM (the float32 FMA path and, where the machine has
// it, the AMX bf16x6 path) against Eigen's at the shapes of BERT's and MiniLM's Linear layers
// (and a few ResNet50 1x1 convolutions), 1 and 2 threads.
//
// Counters: GFLOP/s and %peak (of tailor::bench::measured_peak_gflops(threads), measured in
// this run). Shapes are (M rows, N outputs, K inputs): M = 128 is one sequence of 128 tokens,
// 1024 a batch of 8. Run with --benchmark_filter=... to pick shapes; TAILOR_GEMM_KC /
// TAILOR_GEMM_MC override the cache blocking for tuning sweeps.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "tailor/nn/gemm.hpp"

using namespace tailor;
using namespace tailor::nn;

namespace {

std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, 0.5f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

nn::detail::GemmBlocking blocking_from_env() {
  nn::detail::GemmBlocking b;
  if (const char* s = std::getenv("TAILOR_GEMM_KC")) b.kc = std::atoll(s);
  if (const char* s = std::getenv("TAILOR_GEMM_MC")) b.mc = std::atoll(s);
  return b;
}

void report(benchmark::State& state, double flops, int threads) {
  const double gflops = flops * double(state.iterations()) / 1e9;
  state.counters["GFLOP/s"] = benchmark::Counter(gflops, benchmark::Counter::kIsRate);
  // %peak is computed from the median by the reader; this gives it per repetition.
  state.counters["%peak"] =
      benchmark::Counter(gflops * 100.0 / bench::measured_peak_gflops(threads), benchmark::Counter::kIsRate);
}

// Args: M, N, K, threads, activation (0 none, 2 gelu_erf)
void run_gemm(benchmark::State& state, GemmPath path) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  const int threads = int(state.range(3));
  const auto act = Activation(state.range(4));
  if (path == GemmPath::amx && !amx::supported()) {
    state.SkipWithError("AMX is not available here");
    return;
  }
  const auto a = randn(size_t(M * K), 1), w = randn(size_t(N * K), 2), bias = randn(size_t(N), 3);
  std::vector<float> c(size_t(M * N));
  const PackedWeight pw = PackedWeight::from_out_in(w.data(), N, K, path);
  ThreadPool pool(threads);
  Epilogue ep;
  ep.bias = bias.data();
  ep.act = act;
  const auto blk = blocking_from_env();
  for (auto _ : state) {
    nn::detail::gemm_blocked(a.data(), M, K, pw, c.data(), N, ep, pool, blk);
    benchmark::DoNotOptimize(c.data());
  }
  report(state, 2.0 * double(M) * double(N) * double(K), threads);
}
/// The float32 FMA path.
void BM_gemm_tailor(benchmark::State& state) { run_gemm(state, GemmPath::fp32); }
/// The AMX bf16x6 path (Options::amx); GFLOP/s counts the float32 problem's flops, not the
/// six bfloat16 products, so it compares directly with the others (and may pass 100% of the
/// float32 FMA peak).
void BM_gemm_amx(benchmark::State& state) { run_gemm(state, GemmPath::amx); }

void BM_gemm_eigen(benchmark::State& state) {
  const int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  const int threads = int(state.range(3));
  const auto act = Activation(state.range(4));
  const auto a = randn(size_t(M * K), 1), w = randn(size_t(N * K), 2), bias = randn(size_t(N), 3);
  std::vector<float> w_in_out(size_t(N * K)), c(size_t(M * N));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) w_in_out[size_t(k * N + n)] = w[size_t(n * K + k)];
  ThreadPool pool(threads);
  Epilogue ep;
  ep.bias = bias.data();
  ep.act = act;
  for (auto _ : state) {
    gemm_eigen(a.data(), M, K, w_in_out.data(), K, N, c.data(), N, ep, pool);
    benchmark::DoNotOptimize(c.data());
  }
  report(state, 2.0 * double(M) * double(N) * double(K), threads);
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "N", "K", "threads", "act"});
  const int64_t bert[][4] = {
      // BERT-base: fused QKV, attention output, FFN in (+GELU), FFN out
      {2304, 768, 0, 0}, {768, 768, 0, 0}, {3072, 768, 2, 0}, {768, 3072, 0, 0},
      // MiniLM-L6 (hidden 384)
      {1152, 384, 0, 0}, {384, 384, 0, 0}, {1536, 384, 2, 0}, {384, 1536, 0, 0},
  };
  for (int threads : {1, 2})
    for (int64_t M : {128, 1024})
      for (const auto& s : bert) b->Args({M, s[0], s[1], threads, s[2]});
  // ResNet50 1x1 convolutions as GEMM (M = 56*56 / 28*28 / 14*14 / 7*7 pixels).
  for (int threads : {1, 2}) {
    b->Args({3136, 256, 64, threads, 0});
    b->Args({784, 512, 128, threads, 0});
    b->Args({196, 1024, 256, threads, 0});
    b->Args({49, 2048, 512, threads, 0});
  }
}

}  // namespace

BENCHMARK(BM_gemm_tailor)->Apply(shapes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_gemm_amx)->Apply(shapes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_gemm_eigen)->Apply(shapes)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
