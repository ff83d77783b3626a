// benchmarks/gpu/gpu_bench_common.hpp: timing and ceilings for the GPU benchmarks.
//
// METHOD.md / PERFORMANCE.md: time with CUDA events after a warm-up, report medians (Google
// Benchmark's --benchmark_repetitions + aggregates, or our own median for model runs), use
// inputs larger than L2 where the kernel is memory-bound, never zeros, and report achieved
// GB/s and TFLOP/s next to the ceilings *measured in the same run*: a large device-to-device
// copy (bytes read + written) and a large cuBLASLt GEMM per precision.
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>

#include "blas.hpp"
#include "device.hpp"
#include "launchers.hpp"
#include "model_common.hpp"
#include "tailor/cuda.hpp"

namespace tailor::bench::gpu {

using cuda::detail::DeviceBuffer;
using cuda::detail::dptr;

/// Milliseconds for `reps` back-to-back runs of `fn` on `stream`, divided by reps (events).
inline double time_ms(cudaStream_t stream, int reps, const std::function<void()>& fn) {
  cudaEvent_t a, b;
  TAILOR_CUDA_CHECK(cudaEventCreate(&a));
  TAILOR_CUDA_CHECK(cudaEventCreate(&b));
  TAILOR_CUDA_CHECK(cudaEventRecord(a, stream));
  for (int i = 0; i < reps; ++i) fn();
  TAILOR_CUDA_CHECK(cudaEventRecord(b, stream));
  TAILOR_CUDA_CHECK(cudaEventSynchronize(b));
  float ms = 0;
  TAILOR_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return double(ms) / reps;
}

/// Runs a Google Benchmark state loop over `fn` (enqueue only) with event timing: each
/// iteration's time is the mean of `reps` launches (so launch gaps of tiny kernels are not
/// hidden by event resolution). Counters: bytes and FLOPs per launch as rates.
inline void run_timed(benchmark::State& state, cudaStream_t stream, double bytes, double flops,
                      const std::function<void()>& fn, int reps = 10) {
  for (int i = 0; i < 3; ++i) fn();  // warm-up: module load, plans, caches
  TAILOR_CUDA_CHECK(cudaStreamSynchronize(stream));
  for (auto _ : state) state.SetIterationTime(time_ms(stream, reps, fn) * 1e-3);
  if (bytes > 0) state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (flops > 0)
    state.counters["TFLOP/s"] = benchmark::Counter(flops * 1e-12, benchmark::Counter::kIsIterationInvariantRate);
}

/// The ceilings of this GPU, measured once: copy bandwidth and GEMM rate per precision.
struct Ceilings {
  double copy_gbs = 0;                     // device-to-device, read + write
  double gemm_tflops[4] = {0, 0, 0, 0};    // fp32, tf32, fp16, bf16 (indexed by Precision)
};

inline Ceilings measure_ceilings() {
  Ceilings c;
  cuda::detail::Stream s;
  {
    const size_t bytes = size_t(2) << 30;  // 2 GiB, far over L2
    DeviceBuffer a(bytes), b(bytes);
    TAILOR_CUDA_CHECK(cudaMemset(a.get(), 1, bytes));
    std::vector<double> t;
    for (int i = 0; i < 7; ++i)
      t.push_back(time_ms(s.get(), 1, [&] {
        TAILOR_CUDA_CHECK(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, s.get()));
      }));
    std::sort(t.begin(), t.end());
    c.copy_gbs = 2.0 * double(bytes) / (t[t.size() / 2] * 1e-3) * 1e-9;
  }
  cuda::detail::BlasLt blas;
  const int64_t n = 8192;
  for (Precision p : {Precision::fp32, Precision::tf32, Precision::fp16, Precision::bf16}) {
    const size_t e = (p == Precision::fp16 || p == Precision::bf16) ? 2 : 4;
    DeviceBuffer A(size_t(n * n) * e), B(size_t(n * n) * e), C(size_t(n * n) * e);
    // Random bits in a sane range: never time on zeros (METHOD.md).
    std::vector<float> host(size_t(n) * 64);
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> d(-1.f, 1.f);
    for (float& v : host) v = d(rng);
    cuda::detail::dispatch_precision(p, [&](auto tag) {
      using T = typename decltype(tag)::type;
      DeviceBuffer chunk = cuda::detail::upload_as<T>(host);
      for (int64_t off = 0; off < n * n; off += int64_t(host.size())) {
        TAILOR_CUDA_CHECK(cudaMemcpy(static_cast<char*>(A.get()) + off * e, chunk.get(), host.size() * e,
                                     cudaMemcpyDeviceToDevice));
        TAILOR_CUDA_CHECK(cudaMemcpy(static_cast<char*>(B.get()) + off * e, chunk.get(), host.size() * e,
                                     cudaMemcpyDeviceToDevice));
      }
      return 0;
    });
    cuda::detail::GemmArgs g;
    g.M = g.N = g.K = n;
    g.A = A.get();
    g.lda = n;
    g.B = B.get();
    g.ldb = n;
    g.C = C.get();
    g.ldc = n;
    auto run = [&] { blas.gemm(g, p, s.get()); };
    run();
    std::vector<double> t;
    for (int i = 0; i < 5; ++i) t.push_back(time_ms(s.get(), 2, run));
    std::sort(t.begin(), t.end());
    c.gemm_tflops[int(p)] = 2.0 * double(n) * n * n / (t[t.size() / 2] * 1e-3) * 1e-12;
  }
  return c;
}

inline Ceilings& ceilings() {
  static Ceilings c;
  return c;
}

/// A device array of T holding uniform random values in [lo, hi] (never zeros).
template <class T>
DeviceBuffer random_device(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return cuda::detail::upload_as<T>(v);
}

/// Prints the GPU and (when asked) measures and prints the ceilings; run once from main().
inline void print_context(bool with_ceilings) {
  const cuda::DeviceInfo d = cuda::require_device(0);
  std::printf("GPU: %s, cc %d.%d, %d SMs, %.1f GiB, L2 %.0f MiB, driver %d, runtime %d, built for sm_%s\n",
              d.name.c_str(), d.cc_major, d.cc_minor, d.sm_count, double(d.memory_bytes) / (1 << 30),
              double(d.l2_bytes) / (1 << 20), d.driver_version, d.runtime_version, d.compiled_archs.c_str());
  benchmark::AddCustomContext("gpu", d.name);
  if (!with_ceilings) return;
  ceilings() = measure_ceilings();
  const Ceilings& c = ceilings();
  std::printf("measured ceilings: copy %.0f GB/s (read+write); cuBLASLt 8192^3 GEMM: fp32 %.1f, tf32 %.1f, "
              "fp16 %.1f, bf16 %.1f TFLOP/s\n",
              c.copy_gbs, c.gemm_tflops[0], c.gemm_tflops[1], c.gemm_tflops[2], c.gemm_tflops[3]);
  benchmark::AddCustomContext("copy_gbs", std::to_string(c.copy_gbs));
  for (int i = 0; i < 4; ++i)
    benchmark::AddCustomContext(std::string("gemm_tflops_") + cuda::detail::precision_name(Precision(i)),
                                std::to_string(c.gemm_tflops[i]));
}

/// main() for a GPU benchmark binary: without a usable GPU it says why and exits 0.
#define TAILOR_GPU_BENCHMARK_MAIN(with_ceilings)                                                      \
  int main(int argc, char** argv) {                                                      \
    if (!::tailor::cuda::available()) {                                                  \
      std::printf("no usable GPU (%s): nothing to benchmark\n",                          \
                  ::tailor::cuda::unavailable_reason().c_str());                         \
      return 0;                                                                          \
    }                                                                                    \
    try {                                                                                \
      ::benchmark::Initialize(&argc, argv);                                              \
      ::tailor::bench::gpu::print_context(with_ceilings);                                             \
      ::tailor::bench::gpu::register_benchmarks();                                       \
      ::benchmark::RunSpecifiedBenchmarks();                                             \
      ::benchmark::Shutdown();                                                           \
    } catch (const std::exception& e) {                                                  \
      std::fprintf(stderr, "benchmark failed: %s\n", e.what());                          \
      return 1;                                                                          \
    }                                                                                    \
    return 0;                                                                            \
  }

}  // namespace tailor::bench::gpu
