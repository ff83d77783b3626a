// benchmarks/bench_core.cpp: the machine's FMA peak, thread-pool fork-join overhead,
// half-precision conversion and safetensors header parsing.
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "tailor/core/tensor.hpp"
#include "tailor/core/thread_pool.hpp"
#include "tailor/io/safetensors.hpp"

static void BM_fma_peak(benchmark::State& state) {
  const int threads = int(state.range(0));
  double g = 0;
  for (auto _ : state) g = tailor::bench::measured_peak_gflops(threads);
  state.counters["GFLOP/s"] = g;
}
BENCHMARK(BM_fma_peak)->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kMillisecond);

static void BM_thread_pool_fork_join(benchmark::State& state) {
  tailor::ThreadPool pool(int(state.range(0)));
  std::vector<int> hits(64);
  for (auto _ : state) {
    pool.run(pool.size(), [&](int t) { hits[size_t(t)]++; });
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_thread_pool_fork_join)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

static void BM_f16_to_f32(benchmark::State& state) {
  const size_t n = size_t(state.range(0));
  std::vector<uint16_t> src(n);
  for (size_t i = 0; i < n; ++i) src[i] = uint16_t(i * 2654435761u >> 16);
  std::vector<float> dst(n);
  for (auto _ : state) {
    for (size_t i = 0; i < n; ++i) dst[i] = tailor::f16_to_f32(src[i]);
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n) * 6);
}
BENCHMARK(BM_f16_to_f32)->Arg(1 << 20);

static void BM_safetensors_parse_header(benchmark::State& state) {
  // A BERT-base-sized table: 200 tensors of 4 floats each.
  const int n = int(state.range(0));
  std::string h = "{\"__metadata__\":{\"tailor.format\":\"1\"}";
  for (int i = 0; i < n; ++i)
    h += ",\"encoder.layer." + std::to_string(i) + ".weight\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[" +
         std::to_string(16 * i) + "," + std::to_string(16 * i + 16) + "]}";
  h += "}";
  std::vector<uint8_t> file(8 + h.size() + size_t(16 * n));
  const uint64_t len = h.size();
  std::memcpy(file.data(), &len, 8);
  std::memcpy(file.data() + 8, h.data(), h.size());
  for (auto _ : state) {
    auto f = tailor::SafetensorsFile::from_memory(file.data(), file.size());
    benchmark::DoNotOptimize(f.tensors().data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(h.size()));
}
BENCHMARK(BM_safetensors_parse_header)->Arg(200)->Arg(20000);

BENCHMARK_MAIN();
