// tests/cuda/test_cuda_models.cpp: whole models on the GPU against tailor's CPU models.
//
// DESIGN.md's bars for CUDA vs CPU: fp32 rel L2 <= 1e-5, tf32 <= 1e-3, fp16 / bf16 <= 1e-2,
// on fresh random weights and inputs each run (seed captured; TAILOR_TEST_SEED replays).
//   BERT      tailor::Bert (models/bert.hpp, itself checked against HF transformers):
//             last_hidden_state (valid rows), pooler, classifier, cls / mean / normalised
//             sentence features; fused and unfused attention; graph replay; varied lengths
//   ResNet    tailor::ResNet50 (models/resnet50.hpp, checked against torchvision): pooled
//             features and logits, ResNet-50 at 224 and a 1-block-per-stage net at 64 x 80
//   head      tailor::FusionHead (models/fusion_head.hpp) for every fusion
//   try-on    tailor::TryOn with Options::device = cuda vs cpu: rank (probabilities of every
//             output), the exact CAM from the GPU feature map, per-token contributions
// Skipped without a usable GPU.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cuda_test_util.hpp"
#include "st_builder.hpp"
#include "tailor/models/bert.hpp"
#include "tailor/models/fusion_head.hpp"
#include "tailor/models/resnet50.hpp"
#include "tailor/models/tryon.hpp"
#include "tryon_builder.hpp"

using namespace tailor;
using namespace tailor::test;

namespace {

double precision_bar(Precision p) {
  switch (p) {
    case Precision::fp32: return 1e-5;
    case Precision::tf32: return 1e-3;
    default: return 1e-2;
  }
}
const char* precision_label(Precision p) { return cuda::detail::precision_name(p); }
const Precision kPrecisions[] = {Precision::fp32, Precision::tf32, Precision::fp16, Precision::bf16};

StTensor random_tensor(std::mt19937& rng, const std::string& name, const Shape& shape, float stddev, float mean = 0.f) {
  StTensor t{name, DType::F32, shape, {}};
  const int64_t n = shape.numel();
  t.bytes.resize(size_t(n) * 4);
  std::normal_distribution<float> d(mean, stddev);
  for (int64_t i = 0; i < n; ++i) {
    const float v = d(rng);
    std::memcpy(&t.bytes[size_t(i) * 4], &v, 4);
  }
  return t;
}

// ---- BERT ------------------------------------------------------------------------------------

json bert_config(int64_t H, int64_t NH, int64_t L, int64_t I, int64_t V, int64_t P, int64_t labels,
                 const std::string& act = "gelu") {
  return {{"vocab_size", V},        {"hidden_size", H},          {"num_hidden_layers", L},
          {"num_attention_heads", NH}, {"intermediate_size", I},  {"max_position_embeddings", P},
          {"type_vocab_size", 2},   {"layer_norm_eps", 1e-12},   {"hidden_act", act},
          {"num_labels", labels},   {"has_pooler", true}};
}

/// A bundle of random BERT weights: HF's init (normal(0, std)) for matrices and embeddings,
/// LayerNorm gamma around 1 and beta around 0, small random biases.
std::string bert_bundle(std::mt19937& rng, const json& cfg_json, float stddev) {
  const BertConfig cfg = BertConfig::from_json(cfg_json, "test");
  std::vector<StTensor> ts;
  for (const TensorSpec& s : cfg.tensor_specs()) {
    const bool ln = s.name.find("LayerNorm") != std::string::npos;
    const bool weight = s.name.size() > 7 && s.name.compare(s.name.size() - 7, 7, ".weight") == 0;
    if (ln) ts.push_back(random_tensor(rng, s.name, s.shape, 0.1f, weight ? 1.f : 0.f));
    else ts.push_back(random_tensor(rng, s.name, s.shape, weight ? stddev : 0.02f));
  }
  std::string vocab;
  for (int64_t i = 0; i < cfg.vocab_size; ++i) vocab += "tok" + std::to_string(i) + "\n";
  return st_file(ts, bundle_meta("bert", cfg_json, vocab));
}

std::vector<std::vector<int32_t>> random_sequences(std::mt19937& rng, const std::vector<int64_t>& lengths, int64_t V) {
  std::vector<std::vector<int32_t>> seqs;
  for (int64_t len : lengths) {
    std::vector<int32_t> s(static_cast<size_t>(len));
    for (auto& id : s) id = int32_t(rng() % uint32_t(V));
    seqs.push_back(s);
  }
  return seqs;
}
std::vector<std::vector<int64_t>> widen(const std::vector<std::vector<int32_t>>& s) {
  std::vector<std::vector<int64_t>> out;
  for (const auto& v : s) out.emplace_back(v.begin(), v.end());
  return out;
}

/// GPU BertOutput's valid rows of last_hidden_state, (sum T_i, H), as the CPU model lays them out.
std::vector<float> valid_rows(const cuda::BertOutput& g, const std::vector<std::vector<int32_t>>& seqs) {
  std::vector<float> out;
  for (size_t b = 0; b < seqs.size(); ++b)
    for (size_t t = 0; t < seqs[b].size(); ++t) {
      const float* r = g.last_hidden_state.data() + (int64_t(b) * g.seq_len + int64_t(t)) * g.hidden;
      out.insert(out.end(), r, r + g.hidden);
    }
  return out;
}

void check_bert(const Bundle& bundle, const std::vector<std::vector<int32_t>>& seqs, Precision p,
                cuda::Attention att, bool graphs) {
  CAPTURE(precision_label(p));
  CAPTURE(int(att));
  CAPTURE(graphs);
  tailor::Bert cpu(bundle);
  const BertOutput want = cpu.session().forward(seqs);
  Options opt;
  opt.device = Device::cuda;
  opt.precision = p;
  cuda::Bert gpu(bundle, opt);
  cuda::SessionOptions so;
  so.graphs = graphs;
  so.attention = att;
  cuda::BertSession s = gpu.session(so);
  cuda::BertRequest req;
  req.last_hidden_state = true;
  req.pooled = true;
  req.logits = gpu.config().num_labels > 0;
  req.sentence = cuda::Pooling::mean;
  req.normalize = 1;
  const double bar = precision_bar(p);
  for (int rep = 0; rep < 2; ++rep) {  // the second run replays the captured graph
    CAPTURE(rep);
    const cuda::BertOutput got = s.forward(widen(seqs), req);
    TAILOR_CHECK_CLOSE(valid_rows(got, seqs), want.last_hidden_state, bar);
    TAILOR_CHECK_CLOSE(got.pooled, want.pooled, bar);
    if (req.logits) TAILOR_CHECK_CLOSE(got.logits, want.logits, bar);
    std::vector<float> mean;
    for (size_t i = 0; i < seqs.size(); ++i) {
      const auto e = want.sentence_embedding(i, tailor::Pooling::mean, true);
      mean.insert(mean.end(), e.begin(), e.end());
    }
    TAILOR_CHECK_CLOSE(got.sentence, mean, bar);
  }
  // cls pooling, unnormalised, and a smaller batch through the same session (new graph).
  cuda::BertRequest cls;
  cls.sentence = cuda::Pooling::cls;
  cls.normalize = 0;
  const std::vector<std::vector<int32_t>> first(seqs.begin(), seqs.begin() + 1);
  const cuda::BertOutput got = s.forward(widen(first), cls);
  CHECK(got.last_hidden_state.empty());
  const BertOutput want1 = cpu.session().forward(first);
  TAILOR_CHECK_CLOSE(got.sentence, want1.sentence_embedding(0, tailor::Pooling::cls, false), bar);
}

}  // namespace

TEST_CASE("GPU BERT matches the CPU BERT in every precision and attention kernel" * gpu_required()) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const json cfg = bert_config(64, 4, 2, 128, 97, 64, 3);
  const std::string bytes = bert_bundle(rng, cfg, 0.2f);
  const Bundle bundle = Bundle::from_memory(bytes.data(), bytes.size(), "tiny-bert");
  const auto seqs = random_sequences(rng, {17, 1, 33, 5}, 97);
  for (Precision p : kPrecisions)
    for (cuda::Attention att : {cuda::Attention::fused, cuda::Attention::unfused})
      for (bool graphs : {true, false}) check_bert(bundle, seqs, p, att, graphs);
}

TEST_CASE("GPU BERT: odd sizes (hidden 80, 5 heads of 16, relu, no classifier, head size 128)" * gpu_required()) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  for (const json& cfg : {bert_config(80, 5, 1, 72, 31, 40, 0, "relu"), bert_config(256, 2, 1, 100, 50, 300, 2, "gelu_new")}) {
    const std::string bytes = bert_bundle(rng, cfg, 0.15f);
    const Bundle bundle = Bundle::from_memory(bytes.data(), bytes.size(), "odd-bert");
    const auto seqs = random_sequences(rng, {3, 40, 29}, cfg["vocab_size"].get<int64_t>());
    for (Precision p : {Precision::fp32, Precision::fp16})
      check_bert(bundle, seqs, p, cuda::Attention::automatic, true);
  }
}

TEST_CASE("GPU BERT-base (12 x 768, seq 128) matches the CPU in fp32 and fp16" * gpu_required()) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const json cfg = bert_config(768, 12, 12, 3072, 30522, 512, 0);
  const std::string bytes = bert_bundle(rng, cfg, 0.02f);
  const Bundle bundle = Bundle::from_memory(bytes.data(), bytes.size(), "bert-base");
  const auto seqs = random_sequences(rng, {128, 77}, 30522);
  for (Precision p : {Precision::fp32, Precision::fp16}) check_bert(bundle, seqs, p, cuda::Attention::automatic, true);
}

TEST_CASE("GPU BERT over token sequences with type ids and masked tokens matches the CPU" * gpu_required()) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const json cfg = bert_config(64, 4, 2, 128, 97, 64, 2);
  const std::string bytes = bert_bundle(rng, cfg, 0.2f);
  const Bundle bundle = Bundle::from_memory(bytes.data(), bytes.size(), "tiny-bert");
  const auto ids = random_sequences(rng, {21, 9, 14}, 97);
  std::vector<std::vector<int32_t>> types, masks;
  for (const auto& s : ids) {
    std::vector<int32_t> t(s.size(), 0), m(s.size(), 1);
    for (size_t i = s.size() / 2; i < s.size(); ++i) t[i] = 1;  // a pair: second segment
    m[s.size() / 3] = 0;                                       // a masked token inside
    m.back() = 0;                                              // trailing padding
    types.push_back(t);
    masks.push_back(m);
  }
  std::vector<BertSequence> cpu_batch;
  std::vector<cuda::TokenSequence> gpu_batch;
  for (size_t i = 0; i < ids.size(); ++i) {
    cpu_batch.push_back({ids[i].data(), types[i].data(), masks[i].data(), int64_t(ids[i].size())});
    gpu_batch.push_back({ids[i].data(), types[i].data(), masks[i].data(), int64_t(ids[i].size())});
  }
  tailor::Bert cpu(bundle);
  const BertOutput want = cpu.session().forward(cpu_batch);
  for (Precision p : {Precision::fp32, Precision::bf16}) {
    CAPTURE(precision_label(p));
    Options opt;
    opt.precision = p;
    cuda::Bert gpu(bundle, opt);
    cuda::BertRequest req;
    req.last_hidden_state = req.pooled = req.logits = true;
    req.sentence = cuda::Pooling::mean;
    req.normalize = 0;
    const cuda::BertOutput got = gpu.session().forward(gpu_batch, req);
    std::vector<float> rows, mean;
    for (size_t b = 0; b < ids.size(); ++b) {
      const int64_t len = want.length(b);  // trailing padding dropped by the CPU model
      const float* r = got.last_hidden_state.data() + int64_t(b) * got.seq_len * got.hidden;
      rows.insert(rows.end(), r, r + len * got.hidden);
      const auto e = want.sentence_embedding(b, tailor::Pooling::mean, false);
      mean.insert(mean.end(), e.begin(), e.end());
    }
    TAILOR_CHECK_CLOSE(rows, want.last_hidden_state, precision_bar(p));
    TAILOR_CHECK_CLOSE(got.pooled, want.pooled, precision_bar(p));
    TAILOR_CHECK_CLOSE(got.logits, want.logits, precision_bar(p));
    TAILOR_CHECK_CLOSE(got.sentence, mean, precision_bar(p));
  }
}

TEST_CASE("GPU BERT refuses bad inputs with named errors" * gpu_required()) {
  std::mt19937 rng(1);
  const json cfg = bert_config(32, 2, 1, 64, 20, 16, 0);
  const std::string bytes = bert_bundle(rng, cfg, 0.2f);
  const Bundle bundle = Bundle::from_memory(bytes.data(), bytes.size(), "tiny-bert");
  cuda::Bert gpu(bundle);
  cuda::BertSession s = gpu.session();
  auto code_of = [&](const std::vector<std::vector<int64_t>>& ids) {
    try {
      s.forward(ids);
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::internal;
  };
  CHECK(code_of({{1, 2, 20}}) == ErrorCode::invalid_argument);         // id == vocab_size
  CHECK(code_of({{1, -1}}) == ErrorCode::invalid_argument);
  CHECK(code_of({std::vector<int64_t>(17, 1)}) == ErrorCode::limit);   // longer than max positions
  cuda::BertRequest logits;
  logits.logits = true;
  CHECK_THROWS_AS(s.forward({{1, 2}}, logits), Error);                 // no classifier
  CHECK(s.forward(std::vector<std::vector<int64_t>>{}).batch == 0);
  // The session still works after the errors.
  CHECK(s.forward({{1, 2, 3}}).sentence.size() == 32);
}

TEST_CASE("GPU BERT sessions on many threads give the single-thread results" * gpu_required()) {
  std::mt19937 rng(fresh_seed());
  const json cfg = bert_config(64, 4, 2, 128, 97, 64, 0);
  const std::string bytes = bert_bundle(rng, cfg, 0.2f);
  const Bundle bundle = Bundle::from_memory(bytes.data(), bytes.size(), "tiny-bert");
  const cuda::Bert gpu(bundle);
  const auto seqs = widen(random_sequences(rng, {9, 31, 4}, 97));
  const std::vector<float> want = gpu.session().forward(seqs).sentence;
  std::vector<std::vector<float>> got(6);
  std::vector<std::thread> ts;
  for (size_t i = 0; i < got.size(); ++i)
    ts.emplace_back([&, i] {
      cuda::BertSession s = gpu.session();
      for (int r = 0; r < 3; ++r) got[i] = s.forward(seqs).sentence;
    });
  for (auto& t : ts) t.join();
  for (const auto& g : got) CHECK(g == want);
}

// ---- ResNet ----------------------------------------------------------------------------------

namespace {

/// Random BN-folded ResNet weights: He-normal convs (the residual branch's last conv scaled
/// by 0.2 so activations stay in fp16 range through 16 blocks, as BN does for trained nets).
std::string resnet_bundle(std::mt19937& rng, const json& cfg_json) {
  const ResNetConfig cfg = ResNetConfig::from_json(cfg_json, "test");
  std::vector<StTensor> ts;
  for (const TensorSpec& s : cfg.tensor_specs()) {
    if (s.shape.rank == 4) {
      const float fan_in = float(s.shape[1] * s.shape[2] * s.shape[3]);
      const bool last = s.name.find("conv3") != std::string::npos;
      ts.push_back(random_tensor(rng, s.name, s.shape, std::sqrt(2.f / fan_in) * (last ? 0.2f : 1.f)));
    } else if (s.shape.rank == 2) {
      ts.push_back(random_tensor(rng, s.name, s.shape, 0.02f));
    } else {
      ts.push_back(random_tensor(rng, s.name, s.shape, 0.05f));
    }
  }
  auto meta = bundle_meta("resnet50", cfg_json);
  meta["tailor.transforms"] = "[\"bn_folded\"]";
  return st_file(ts, meta);
}

}  // namespace

TEST_CASE("GPU ResNet matches the CPU ResNet50 in every precision" * gpu_required()) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  struct Case { json cfg; int64_t N, H, W; };
  for (const Case& c : {Case{json{{"layers", {1, 1, 1, 1}}, {"num_classes", 10}}, 3, 64, 80},
                        Case{json{{"layers", {3, 4, 6, 3}}, {"num_classes", 1000}}, 2, 224, 224}}) {
    const std::string bytes = resnet_bundle(rng, c.cfg);
    const Bundle bundle = Bundle::from_memory(bytes.data(), bytes.size(), "resnet");
    const tailor::ResNet50 cpu(bundle);
    const std::vector<float> x = random_vector(rng, size_t(c.N * 3 * c.H * c.W), -2.f, 2.f);
    const tailor::ResNetOutput want = cpu.session().forward(x.data(), c.N, c.H, c.W, /*keep_feature_map=*/true);
    const std::vector<float>& pooled = want.pooled;
    const std::vector<float>& logits = want.logits;
    for (Precision p : kPrecisions) {
      CAPTURE(precision_label(p));
      CAPTURE(c.H);
      Options opt;
      opt.precision = p;
      cuda::ResNet50 gpu(bundle, opt);
      cuda::ResNetSession s = gpu.session();
      for (int rep = 0; rep < 2; ++rep) {
        const cuda::ResNetOutput got = s.forward(x.data(), c.N, c.H, c.W);
        TAILOR_CHECK_CLOSE(got.pooled, pooled, precision_bar(p));
        TAILOR_CHECK_CLOSE(got.logits, logits, precision_bar(p));
      }
      // The last feature map (N, h, w, 2048) NHWC, for class-activation maps.
      const cuda::ResNetOutput fm = s.forward(x.data(), c.N, c.H, c.W, true, true);
      CHECK(fm.feature_h == want.feature_h);
      CHECK(fm.feature_w == want.feature_w);
      TAILOR_CHECK_CLOSE(fm.feature_map, want.feature_map, precision_bar(p));
      TAILOR_CHECK_CLOSE(fm.pooled, pooled, precision_bar(p));
      CHECK(s.forward(x.data(), c.N, c.H, c.W, false).logits.empty());
    }
  }
}

TEST_CASE("GPU ResNet refuses bad inputs" * gpu_required()) {
  std::mt19937 rng(2);
  const json cfg = {{"layers", {1, 1, 1, 1}}, {"num_classes", 0}};
  const std::string bytes = resnet_bundle(rng, cfg);
  const Bundle bundle = Bundle::from_memory(bytes.data(), bytes.size(), "resnet");
  cuda::ResNet50 gpu(bundle);
  cuda::ResNetSession s = gpu.session();
  std::vector<float> x(3 * 16 * 16, 0.5f);
  CHECK_THROWS_AS(s.forward(x.data(), 1, 16, 16), Error);  // under 32 pixels
  CHECK_THROWS_AS(s.forward(nullptr, 1, 64, 64), Error);
  CHECK(s.forward(x.data(), 0, 64, 64).pooled.empty());
}

// ---- fusion head -----------------------------------------------------------------------------

TEST_CASE("GPU fusion head matches the CPU head for every fusion" * gpu_required()) {
  const uint32_t seed = fresh_seed();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const int64_t Di = 2048, Dt = 384, N = 9;
  for (const char* fusion : {"concat_linear", "concat_mlp", "late"})
    for (int64_t n_out : {1, 3}) {
      CAPTURE(fusion);
      CAPTURE(n_out);
      const FusionHeadConfig hc = FusionHeadConfig::from_json(
          json{{"fusion", fusion}, {"n_out", n_out}, {"mlp_hidden", 96}}, "test");
      std::vector<StTensor> ts;
      for (const TensorSpec& s : hc.tensor_specs(Di, Dt)) ts.push_back(random_tensor(rng, "head." + s.name, s.shape, 0.05f));
      const std::string bytes = st_file(ts, bundle_meta("bert", bert_config(32, 2, 1, 64, 20, 16, 0)));
      // Both heads read their tensors through a Bundle; any architecture's container will do.
      const Bundle b = Bundle::from_memory(bytes.data(), bytes.size(), "head");
      const FusionHead cpu(b, hc, Di, Dt, "head.");
      const cuda::FusionHead gpu(b, hc, Di, Dt, "head.");
      const auto img = random_vector(rng, size_t(N * Di)), txt = random_vector(rng, size_t(N * Dt));
      std::vector<float> want(size_t(N * n_out));
      ThreadPool pool(1);
      cpu.forward(img.data(), txt.data(), N, want.data(), pool);
      TAILOR_CHECK_CLOSE(gpu.forward(img.data(), txt.data(), N), want, 1e-5);
    }
}

// ---- the try-on pipeline ---------------------------------------------------------------------

TEST_CASE("GPU try-on (TryOn with device cuda) matches the CPU pipeline" * gpu_required()) {
  const std::vector<std::string> texts = {"a red summer dress", "black jeans with pockets", "a blue wool coat", ""};
  const std::vector<Image> images = {random_image(90, 70, 1), random_image(64, 64, 2), random_image(40, 120, 3)};
  for (const char* fusion : {"concat_linear", "concat_mlp", "late"}) {
    CAPTURE(fusion);
    const std::string bytes = tiny_tryon({{"fusion", fusion}, {"image_feature", "pooled"}, {"text_feature", "mean"},
                                          {"n_out", 2}, {"mlp_hidden", 8}});
    const Bundle b = Bundle::from_memory(bytes.data(), bytes.size(), "tiny-tryon");
    Options cpu_opt, gpu_opt;
    cpu_opt.threads = 2;
    gpu_opt.device = Device::cuda;
    const TryOn cpu(b, cpu_opt), gpu(b, gpu_opt);
    TryOnSession cs = cpu.session(), gs = gpu.session();
    for (const Image& img : images) {
      const auto want = cs.rank(img, texts), got = gs.rank(img, texts);
      REQUIRE(got.size() == want.size());
      std::vector<float> w, g;
      for (size_t i = 0; i < want.size(); ++i) {
        // Sort by the caller's index so that near ties cannot swap the comparison.
        const auto& wi = *std::find_if(want.begin(), want.end(), [&](const RankedItem& r) { return r.index == i; });
        const auto& gi = *std::find_if(got.begin(), got.end(), [&](const RankedItem& r) { return r.index == i; });
        w.insert(w.end(), wi.score.probabilities.begin(), wi.score.probabilities.end());
        g.insert(g.end(), gi.score.probabilities.begin(), gi.score.probabilities.end());
      }
      TAILOR_CHECK_CLOSE(g, w, 1e-5);
    }
    if (std::string(fusion) != "concat_mlp") {  // exact CAM: from the GPU's feature map
      const Explanation we = cs.explain(images[0], texts[1]), ge = gs.explain(images[0], texts[1]);
      CHECK(ge.image_method == "cam");
      TAILOR_CHECK_CLOSE(ge.map, we.map, 1e-5);
      TAILOR_CHECK_CLOSE(ge.token_contributions, we.token_contributions, 1e-5);
    }
  }
}
