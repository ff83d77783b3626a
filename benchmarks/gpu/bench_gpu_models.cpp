// benchmarks/gpu/bench_gpu_models.cpp: whole-model latency and throughput on the GPU.
//
// BERT-base at sequence 128 and ResNet50 at 224 x 224, batch 1 (latency), 32 and 128
// (throughput), in fp32 / tf32 / fp16 / bf16, end to end as a caller sees them: host ids or
// host images in, host features out (the same work benchmarks/gpu/side_by_side_torch.py
// times for PyTorch), plus the GPU's own time (counter gpu_ms: CUDA events around the
// computation, host copies excluded; SessionOptions::timing). Each case: warm-up (the first call captures the CUDA graph), then
// repetitions of timed forwards; Google Benchmark reports the median repetition.
//
// Weights: $TAILOR_BERT_BUNDLE / $TAILOR_RESNET_BUNDLE when set (check.sh points them at the
// bundles converted from the seeded PyTorch models the side-by-side uses), else random
// weights generated here with the same shapes (timing does not depend on the values).
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "gpu_bench_common.hpp"
#include "st_builder.hpp"
#include "tailor/cuda.hpp"

namespace tailor::bench::gpu {
namespace {

constexpr double kBertBaseFlopsPerSeq128 = 22.35e9;  // PERFORMANCE.md, 12 x 768, T = 128
constexpr double kResNet50FlopsPerImage = 8.18e9;    // 224 x 224

test::StTensor random_tensor(std::mt19937& rng, const std::string& name, const Shape& shape, float stddev, float mean) {
  test::StTensor t{name, DType::F32, shape, {}};
  const int64_t n = shape.numel();
  t.bytes.resize(size_t(n) * 4);
  std::normal_distribution<float> d(mean, stddev);
  for (int64_t i = 0; i < n; ++i) {
    const float v = d(rng);
    std::memcpy(&t.bytes[size_t(i) * 4], &v, 4);
  }
  return t;
}

/// The bundle file's bytes must outlive the Bundle (from_memory does not copy).
struct OwnedBundle {
  std::string bytes;
  std::unique_ptr<Bundle> bundle;
};

std::shared_ptr<OwnedBundle> bert_bundle() {
  auto ob = std::make_shared<OwnedBundle>();
  if (const char* path = std::getenv("TAILOR_BERT_BUNDLE")) {
    ob->bundle = std::make_unique<Bundle>(Bundle::open(path));
    return ob;
  }
  const json cfg = {{"vocab_size", 30522}, {"hidden_size", 768}, {"num_hidden_layers", 12},
                    {"num_attention_heads", 12}, {"intermediate_size", 3072}, {"max_position_embeddings", 512},
                    {"type_vocab_size", 2}, {"hidden_act", "gelu"}, {"has_pooler", true}};
  const BertConfig c = BertConfig::from_json(cfg, "bench");
  std::mt19937 rng(1);
  std::vector<test::StTensor> ts;
  for (const TensorSpec& s : c.tensor_specs()) {
    const bool ln = s.name.find("LayerNorm") != std::string::npos;
    ts.push_back(random_tensor(rng, s.name, s.shape, ln ? 0.1f : 0.02f,
                               ln && s.name.find("weight") != std::string::npos ? 1.f : 0.f));
  }
  std::string vocab;
  for (int i = 0; i < 30522; ++i) vocab += "t" + std::to_string(i) + "\n";
  ob->bytes = test::st_file(ts, test::bundle_meta("bert", cfg, vocab));
  ob->bundle = std::make_unique<Bundle>(Bundle::from_memory(ob->bytes.data(), ob->bytes.size(), "bert-base-random"));
  return ob;
}

std::shared_ptr<OwnedBundle> resnet_bundle() {
  auto ob = std::make_shared<OwnedBundle>();
  if (const char* path = std::getenv("TAILOR_RESNET_BUNDLE")) {
    ob->bundle = std::make_unique<Bundle>(Bundle::open(path));
    return ob;
  }
  const json cfg = {{"layers", {3, 4, 6, 3}}, {"num_classes", 1000}};
  const ResNetConfig c = ResNetConfig::from_json(cfg, "bench");
  std::mt19937 rng(2);
  std::vector<test::StTensor> ts;
  for (const TensorSpec& s : c.tensor_specs()) {
    const float fan_in = s.shape.rank == 4 ? float(s.shape[1] * s.shape[2] * s.shape[3]) : 1.f;
    const float sd = s.shape.rank == 4 ? std::sqrt(2.f / fan_in) * (s.name.find("conv3") != std::string::npos ? 0.2f : 1.f)
                                       : 0.02f;
    ts.push_back(random_tensor(rng, s.name, s.shape, sd, 0.f));
  }
  auto meta = test::bundle_meta("resnet50", cfg);
  meta["tailor.transforms"] = "[\"bn_folded\"]";
  ob->bytes = test::st_file(ts, meta);
  ob->bundle = std::make_unique<Bundle>(Bundle::from_memory(ob->bytes.data(), ob->bytes.size(), "resnet50-random"));
  return ob;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void register_bert(const std::shared_ptr<OwnedBundle>& ob) {
  struct Case {
    Precision p;
    int64_t B;
    bool graphs;
  };
  std::vector<Case> cases;
  for (Precision p : {Precision::fp32, Precision::tf32, Precision::fp16, Precision::bf16})
    for (int64_t B : {1, 32, 128}) cases.push_back({p, B, true});
  cases.push_back({Precision::fp32, 1, false});
  cases.push_back({Precision::fp16, 1, false});
  for (const Case c : cases) {
    const std::string name = std::string("bert_base_seq128/") + cuda::detail::precision_name(c.p) + "/b" +
                             std::to_string(c.B) + (c.graphs ? "" : "/no_graph");
    benchmark::RegisterBenchmark(name.c_str(),
                                 [ob, c](benchmark::State& st) {
                                   Options opt;
                                   opt.precision = c.p;
                                   static std::map<int, std::shared_ptr<cuda::Bert>> models;  // one load per precision
                                   auto& m = models[int(c.p)];
                                   if (!m) m = std::make_shared<cuda::Bert>(*ob->bundle, opt);
                                   cuda::SessionOptions so;
                                   so.graphs = c.graphs;
                                   so.timing = true;
                                   cuda::BertSession s = m->session(so);
                                   const int64_t T = 128, V = m->config().vocab_size;
                                   std::vector<int64_t> ids(size_t(c.B * T));
                                   std::mt19937 rng(3);
                                   for (auto& i : ids) i = int64_t(rng() % uint32_t(V));
                                   cuda::BertRequest req;  // the sentence features only (cls)
                                   req.sentence = cuda::Pooling::cls;
                                   for (int i = 0; i < 3; ++i) s.forward(ids.data(), nullptr, nullptr, c.B, T, req);
                                   double gpu_ms = 0;
                                   for (auto _ : st) {
                                     const double t0 = now_s();
                                     auto out = s.forward(ids.data(), nullptr, nullptr, c.B, T, req);
                                     benchmark::DoNotOptimize(out.sentence.data());
                                     st.SetIterationTime(now_s() - t0);
                                     gpu_ms += s.last_gpu_ms();
                                   }
                                   // The GPU's own time (events around the computation, no host copies).
                                   st.counters["gpu_ms"] = benchmark::Counter(gpu_ms, benchmark::Counter::kAvgIterations);
                                   st.SetItemsProcessed(st.iterations() * c.B);
                                   st.counters["TFLOP/s"] = benchmark::Counter(
                                       kBertBaseFlopsPerSeq128 * double(c.B) * 1e-12,
                                       benchmark::Counter::kIsIterationInvariantRate);
                                 })
        ->UseManualTime()
        ->Iterations(c.B >= 128 ? 5 : c.B >= 32 ? 10 : 50)
        ->Repetitions(5)
        ->ReportAggregatesOnly(true)
        ->Unit(benchmark::kMillisecond);
  }
}

void register_resnet(const std::shared_ptr<OwnedBundle>& ob) {
  for (Precision p : {Precision::fp32, Precision::tf32, Precision::fp16, Precision::bf16})
    for (int64_t B : {1, 32, 128}) {
      const std::string name =
          std::string("resnet50_224/") + cuda::detail::precision_name(p) + "/b" + std::to_string(B);
      benchmark::RegisterBenchmark(name.c_str(),
                                   [ob, p, B](benchmark::State& st) {
                                     Options opt;
                                     opt.precision = p;
                                     static std::map<int, std::shared_ptr<cuda::ResNet50>> models;
                                     auto& m = models[int(p)];
                                     if (!m) m = std::make_shared<cuda::ResNet50>(*ob->bundle, opt);
                                     cuda::SessionOptions so;
                                     so.timing = true;
                                     cuda::ResNetSession s = m->session(so);
                                     std::vector<float> x(size_t(B * 3 * 224 * 224));
                                     std::mt19937 rng(4);
                                     std::uniform_real_distribution<float> d(-2.f, 2.f);
                                     for (float& v : x) v = d(rng);
                                     for (int i = 0; i < 3; ++i) s.forward(x.data(), B, 224, 224, false);
                                     double gpu_ms = 0;
                                     for (auto _ : st) {
                                       const double t0 = now_s();
                                       auto out = s.forward(x.data(), B, 224, 224, false);
                                       benchmark::DoNotOptimize(out.pooled.data());
                                       st.SetIterationTime(now_s() - t0);
                                       gpu_ms += s.last_gpu_ms();
                                     }
                                     st.counters["gpu_ms"] =
                                         benchmark::Counter(gpu_ms, benchmark::Counter::kAvgIterations);
                                     st.SetItemsProcessed(st.iterations() * B);
                                     st.counters["TFLOP/s"] = benchmark::Counter(
                                         kResNet50FlopsPerImage * double(B) * 1e-12,
                                         benchmark::Counter::kIsIterationInvariantRate);
                                   })
          ->UseManualTime()
          ->Iterations(B >= 128 ? 5 : B >= 32 ? 10 : 50)
          ->Repetitions(5)
          ->ReportAggregatesOnly(true)
          ->Unit(benchmark::kMillisecond);
    }
}

}  // namespace

void register_benchmarks() {
  const char* only = std::getenv("TAILOR_BENCH_MODELS");  // "bert", "resnet" or unset for both
  if (!only || std::string(only) != "resnet") register_bert(bert_bundle());
  if (!only || std::string(only) != "bert") register_resnet(resnet_bundle());
}

}  // namespace tailor::bench::gpu

TAILOR_GPU_BENCHMARK_MAIN(false)
