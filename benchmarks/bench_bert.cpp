// benchmarks/bench_bert.cpp: BERT's ops and the whole text tower, BERT-base and MiniLM
// shapes, sequence 128, batch 1 and 8, 1 and 2 threads.
//
//   bench_bert [google benchmark flags]
//       per op: the four Linear layers (fused QKV, attention output + residual, FFN in + GELU,
//       FFN out + residual), attention, LayerNorm, GELU; the
//       whole model (random weights of the real shapes, built in memory). Counters: GFLOP/s
//       and %peak of tailor::bench::measured_peak_gflops(threads) measured in this run
//       (memory-bound ops also report GB/s).
//   bench_bert --serve BUNDLE THREADS BATCH SEQ
//       for benchmarks/side_by_side_bert.py: loads BUNDLE, reads BATCH x SEQ token ids from
//       stdin, prints "ready <peak GFLOP/s>", then for each "r" line runs one forward pass
//       and prints its milliseconds ("q" quits). The script interleaves these runs with
//       PyTorch's and ONNX Runtime's so all three see the same machine load.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "tailor/models/bert.hpp"

using namespace tailor;

namespace {

struct Shape3 {
  const char* name;
  int64_t H, heads, I, L;
};
const Shape3 kBase{"base", 768, 12, 3072, 12};
const Shape3 kMiniLM{"minilm", 384, 12, 1536, 6};
const Shape3& shape_of(int64_t which) { return which == 0 ? kBase : kMiniLM; }

std::vector<float> randn(size_t n, uint32_t seed, float stdev) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, stdev);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

void counters(benchmark::State& st, double flops_per_iter, int threads, double bytes_per_iter = 0) {
  const double gflop = flops_per_iter * double(st.iterations()) / 1e9;
  st.counters["GFLOP/s"] = benchmark::Counter(gflop, benchmark::Counter::kIsRate);
  st.counters["%peak"] =
      benchmark::Counter(gflop * 100.0 / bench::measured_peak_gflops(threads), benchmark::Counter::kIsRate);
  if (bytes_per_iter > 0)
    st.counters["GB/s"] = benchmark::Counter(bytes_per_iter * double(st.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

/// A bundle of random weights with BERT's tensor names and shapes (vocab 30522, 512
/// positions), in memory. std 0.02 as HF's init; LayerNorm weight 1.
std::string random_bundle(const Shape3& s) {
  nlohmann::json cfg = {{"vocab_size", 30522},          {"hidden_size", s.H},       {"num_hidden_layers", s.L},
                        {"num_attention_heads", s.heads}, {"intermediate_size", s.I}, {"max_position_embeddings", 512},
                        {"type_vocab_size", 2},         {"hidden_act", "gelu"},     {"num_labels", 0},
                        {"has_pooler", true}};
  const BertConfig c = BertConfig::from_json(cfg, "bench");
  nlohmann::ordered_json header;
  std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  for (int i = 5; i < 30522; ++i) vocab += "t" + std::to_string(i) + "\n";
  header["__metadata__"] = {{"tailor.format", "1"}, {"tailor.arch", "bert"}, {"tailor.config", cfg.dump()},
                            {"tailor.vocab", vocab}};
  std::string data;
  uint32_t seed = 1;
  for (const TensorSpec& t : c.tensor_specs()) {
    std::vector<float> v = randn(size_t(t.shape.numel()), seed++, 0.02f);
    if (t.name.find("LayerNorm.weight") != std::string::npos) std::fill(v.begin(), v.end(), 1.f);
    nlohmann::ordered_json e;
    e["dtype"] = "F32";
    e["shape"] = nlohmann::json::array();
    for (int i = 0; i < t.shape.rank; ++i) e["shape"].push_back(t.shape[i]);
    e["data_offsets"] = {data.size(), data.size() + v.size() * 4};
    data.append(reinterpret_cast<const char*>(v.data()), v.size() * 4);
    header[t.name] = e;
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 64) h += ' ';
  std::string out(8, '\0');
  const uint64_t n = h.size();
  std::memcpy(&out[0], &n, 8);
  return out + h + data;
}

const std::string& cached_bundle(int64_t which) {
  static std::map<int64_t, std::string> cache;
  auto it = cache.find(which);
  if (it == cache.end()) it = cache.emplace(which, random_bundle(shape_of(which))).first;
  return it->second;
}

std::vector<std::vector<int32_t>> random_ids(int64_t B, int64_t T, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<std::vector<int32_t>> ids(static_cast<size_t>(B), std::vector<int32_t>(static_cast<size_t>(T)));
  for (auto& s : ids) {
    for (auto& x : s) x = int32_t(1000 + g() % 29000);
    s.front() = 101;
    s.back() = 102;
  }
  return ids;
}

double model_flops(const Shape3& s, int64_t B, int64_t T) {
  const double R = double(B * T), H = double(s.H), I = double(s.I);
  const double per_layer = 2 * R * (3 * H * H + H * H + 2 * H * I) + 4.0 * double(B) * double(T) * double(T) * H;
  return double(s.L) * per_layer + 2.0 * double(B) * H * H;  // + pooler
}

// ---- ops ----------------------------------------------------------------------------------
// Args: model (0 base, 1 minilm), batch, threads, op (0 qkv, 1 attn out + residual, 2 ffn in + gelu, 3 ffn out + residual)
void BM_bert_linear(benchmark::State& st) {
  const Shape3& s = shape_of(st.range(0));
  const int64_t R = st.range(1) * 128, op = st.range(3);
  const int threads = int(st.range(2));
  const int64_t N = op == 0 ? 3 * s.H : op == 2 ? s.I : s.H, K = op == 3 ? s.I : s.H;
  const auto a = randn(size_t(R * K), 1, 1.f), w = randn(size_t(N * K), 2, 0.02f), b = randn(size_t(N), 3, 0.02f);
  std::vector<float> c(static_cast<size_t>(R * N));
  const auto res = randn(size_t(R * N), 4, 1.f);
  const nn::PackedWeight pw = nn::PackedWeight::from_out_in(w.data(), N, K);
  ThreadPool pool(threads);
  nn::Epilogue ep;
  ep.bias = b.data();
  ep.act = op == 2 ? nn::Activation::gelu_erf : nn::Activation::none;
  for (auto _ : st) {
    if (op == 1 || op == 3) {  // in-place residual, as the model runs it
      st.PauseTiming();
      c = res;
      st.ResumeTiming();
      ep.residual = c.data();
      ep.ldr = N;
    }
    nn::gemm(a.data(), R, K, pw, c.data(), N, ep, pool);
    benchmark::DoNotOptimize(c.data());
  }
  counters(st, 2.0 * double(R) * double(N) * double(K), threads);
}

void BM_bert_attention(benchmark::State& st) {
  const Shape3& s = shape_of(st.range(0));
  const int64_t B = st.range(1), T = 128, R = B * T;
  const int threads = int(st.range(2));
  const auto qkv = randn(size_t(R * 3 * s.H), 5, 1.f);
  std::vector<float> ctx(static_cast<size_t>(R * s.H));
  std::vector<int64_t> offsets;
  for (int64_t b = 0; b <= B; ++b) offsets.push_back(b * T);
  ThreadPool pool(threads);
  Arena arena;
  for (auto _ : st) {
    arena.reset();
    nn::multi_head_attention(qkv.data(), 3 * s.H, offsets.data(), B, s.H, s.heads, nullptr, ctx.data(), s.H, pool, arena);
    benchmark::DoNotOptimize(ctx.data());
  }
  counters(st, 4.0 * double(B) * double(T) * double(T) * double(s.H), threads);
}

void BM_bert_layernorm(benchmark::State& st) {
  const Shape3& s = shape_of(st.range(0));
  const int64_t R = st.range(1) * 128;
  const int threads = int(st.range(2));
  auto x = randn(size_t(R * s.H), 6, 1.f);
  const std::vector<float> g(static_cast<size_t>(s.H), 1.f), b(static_cast<size_t>(s.H), 0.f);
  ThreadPool pool(threads);
  for (auto _ : st) {
    nn::layernorm(x.data(), s.H, x.data(), s.H, R, s.H, g.data(), b.data(), 1e-12f, pool);
    benchmark::DoNotOptimize(x.data());
  }
  counters(st, 8.0 * double(R) * double(s.H), threads, 2.0 * 4 * double(R) * double(s.H));
}

void BM_bert_gelu(benchmark::State& st) {
  const Shape3& s = shape_of(st.range(0));
  const int64_t n = st.range(1) * 128 * s.I;
  auto x = randn(size_t(n), 7, 1.f);
  for (auto _ : st) {
    auto y = x;  // fresh inputs each time (GELU of GELU would drift to 0)
    nn::activate_inplace(y.data(), n, nn::Activation::gelu_erf);
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["Gelem/s"] = benchmark::Counter(double(n) * double(st.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

// ---- layers and the model -----------------------------------------------------------------
void BM_bert_model(benchmark::State& st) {
  const Shape3& s = shape_of(st.range(0));
  const int64_t B = st.range(1), T = 128;
  const int threads = int(st.range(2));
  const std::string& bytes = cached_bundle(st.range(0));
  BundleOptions bo;
  bo.check_finite = false;
  const Bundle bundle = Bundle::from_memory(bytes.data(), bytes.size(), s.name, bo);
  Options opt;
  opt.threads = threads;
  const Bert model(bundle, opt);
  BertSession session = model.session();
  const auto ids = random_ids(B, T, 11);
  session.forward(ids);  // warm-up: scratch sized
  for (auto _ : st) {
    const BertOutput o = session.forward(ids);
    benchmark::DoNotOptimize(o.last_hidden_state.data());
  }
  counters(st, model_flops(s, B, T), threads);
}

void op_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"model", "batch", "threads"});
  for (int64_t m : {0, 1})
    for (int64_t batch : {1, 8})
      for (int64_t t : {1, 2}) b->Args({m, batch, t});
}
void linear_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"model", "batch", "threads", "op"});
  for (int64_t m : {0, 1})
    for (int64_t batch : {1, 8})
      for (int64_t t : {1, 2})
        for (int64_t op : {0, 1, 2, 3}) b->Args({m, batch, t, op});
}

// ---- the side-by-side server ----------------------------------------------------------------
int serve(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: bench_bert --serve BUNDLE THREADS BATCH SEQ\n");
    return 2;
  }
  try {
    const Bundle bundle = Bundle::open(argv[2]);
    Options opt;
    opt.threads = std::atoi(argv[3]);
    const int64_t B = std::atoll(argv[4]), T = std::atoll(argv[5]);
    const Bert model(bundle, opt);
    BertSession session = model.session();
    std::vector<std::vector<int32_t>> ids(static_cast<size_t>(B), std::vector<int32_t>(static_cast<size_t>(T)));
    for (auto& s : ids)
      for (auto& x : s)
        if (!(std::cin >> x)) throw std::runtime_error("expected BATCH x SEQ token ids on stdin");
    session.forward(ids);
    std::printf("ready %.3f\n", bench::measured_peak_gflops(opt.threads));
    std::fflush(stdout);
    std::string cmd;
    while (std::cin >> cmd && cmd != "q") {
      if (cmd == "o") {  // the outputs, for a parity check: the first sequence's first row sums
        const BertOutput o = session.forward(ids);
        for (int64_t i = 0; i < o.hidden_size * 4 && i < int64_t(o.last_hidden_state.size()); ++i)
          std::printf("%.9g ", o.last_hidden_state[size_t(i)]);
        std::printf("\n");
      } else {
        const auto t0 = std::chrono::steady_clock::now();
        const BertOutput o = session.forward(ids);
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        benchmark::DoNotOptimize(o.last_hidden_state.data());
        std::printf("%.4f\n", ms);
      }
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_bert: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

BENCHMARK(BM_bert_linear)->Apply(linear_args)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_bert_attention)->Apply(op_args)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_bert_layernorm)->Apply(op_args)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_bert_gelu)->ArgNames({"model", "batch"})->Args({0, 1})->Args({0, 8})->Args({1, 1})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_bert_model)->Apply(op_args)->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--serve") == 0) return serve(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
