// benchmarks/bench_common.hpp: the measured FMA peak every benchmark reports against.
//
// PERFORMANCE.md's peak numbers were read on one machine; CI and development machines
// differ (AVX2 vs AVX-512, clocks), so each run measures its own: an unrolled loop of
// independent FMAs at the widest vector width this build targets, on 1..N threads.
#pragma once

#include <chrono>
#include <thread>
#include <vector>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace tailor::bench {

/// Flops one thread does in `iters` iterations of the probe loop, and the loop itself.
inline double fma_probe(long iters) {
#if defined(__AVX512F__)
  __m512 a[12];
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(float(i));
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], m, c);
  alignas(64) float out[16];
  float s = 0;
  for (int i = 0; i < 12; ++i) { _mm512_store_ps(out, a[i]); for (float v : out) s += v; }
  volatile float sink = s;
  (void)sink;
  return double(iters) * 12 * 16 * 2;
#elif defined(__AVX2__) && defined(__FMA__)
  __m256 a[12];
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_ps(float(i));
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = _mm256_fmadd_ps(a[i], m, c);
  alignas(32) float out[8];
  float s = 0;
  for (int i = 0; i < 12; ++i) { _mm256_store_ps(out, a[i]); for (float v : out) s += v; }
  volatile float sink = s;
  (void)sink;
  return double(iters) * 12 * 8 * 2;
#else
  float a[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  for (long it = 0; it < iters; ++it)
    for (float& v : a) v = v * 0.999999f + 1e-7f;
  volatile float sink = a[0];
  (void)sink;
  return double(iters) * 8 * 2;
#endif
}

/// Measured single-precision FMA peak in GFLOP/s with `threads` threads (best of 5 runs).
inline double measured_peak_gflops(int threads) {
  static double cache[65] = {};
  if (threads >= 1 && threads <= 64 && cache[threads] > 0) return cache[threads];
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const long iters = 2'000'000;
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    double flops = 0;
    for (int t = 1; t < threads; ++t) ts.emplace_back([&] { fma_probe(iters); });
    flops = fma_probe(iters) * threads;
    for (auto& t : ts) t.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, flops / s * 1e-9);
  }
  if (threads >= 1 && threads <= 64) cache[threads] = best;
  return best;
}

}  // namespace tailor::bench
