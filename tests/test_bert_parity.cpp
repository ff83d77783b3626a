// tests/test_bert_parity.cpp: tailor's BERT against HF transformers and sentence-transformers.
//
// The fixtures come from converters/make_bert_fixtures.py, run at test time by the ctest
// fixture `bert_fixtures` into $TAILOR_FIXTURES/bert: the real all-MiniLM-L6-v2, a random
// BERT-base (12 x 768), a BertForSequenceClassification (gelu_new, sentence pairs) and a small
// relu BERT, each with token ids from the real tokenizer and the frameworks' outputs. Each
// model runs here (1) one sequence per call, (2) all sequences in one unpadded batch, (3) the
// same padded batches HF ran (pad rows with attention_mask 0), and is compared with HF's
// outputs for every valid token: last_hidden_state and pooler max abs diff <= 1e-4, logits
// <= 1e-4, sentence embeddings (MiniLM, mean + L2 as sentence-transformers) cosine >= 0.99999.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tailor/models/bert.hpp"

using namespace tailor;

namespace {

std::string fixture_dir() {
  const char* f = std::getenv("TAILOR_FIXTURES");
  REQUIRE_MESSAGE(f != nullptr, "TAILOR_FIXTURES is not set (run through ctest)");
  return std::string(f) + "/bert/";
}

/// The reference file: int and float tensors by name.
struct Ref {
  SafetensorsFile f;
  explicit Ref(const std::string& path) : f(SafetensorsFile::open(path)) {}
  bool has(const std::string& n) const { return f.find(n) != nullptr; }
  std::vector<int32_t> ints(const std::string& n) const {
    const TensorInfo& t = f.get(n);
    REQUIRE(t.dtype == DType::I32);
    std::vector<int32_t> v(static_cast<size_t>(t.numel()));
    std::memcpy(v.data(), f.bytes(t), v.size() * sizeof(int32_t));
    return v;
  }
  std::vector<float> floats(const std::string& n) const { return f.to_f32(f.get(n)); }
  const Shape& shape(const std::string& n) const { return f.get(n).shape; }
  int64_t meta_int(const std::string& k) const { return std::stoll(f.meta(k).value()); }
};

struct MaxDiff {
  double v = 0;
  void add(const float* a, const float* b, size_t n) {
    for (size_t i = 0; i < n; ++i) v = std::max(v, std::abs(double(a[i]) - double(b[i])));
  }
};

void check_model(const std::string& name, int threads, bool amx = false) {
  const std::string dir = fixture_dir();
  const Bundle bundle = Bundle::open(dir + name + ".safetensors");
  const Ref ref(dir + name + "_ref.safetensors");
  Options opt;
  opt.threads = threads;
  opt.amx = amx;
  const Bert model(bundle, opt);
  BertSession s = model.session();
  const int64_t n = ref.meta_int("count"), nb = ref.meta_int("batches"), H = model.config().hidden_size;
  const int64_t L = model.config().num_labels;
  REQUIRE(n >= 1);
  std::vector<std::vector<int32_t>> ids(static_cast<size_t>(n)), types(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    ids[size_t(i)] = ref.ints("ids." + std::to_string(i));
    types[size_t(i)] = ref.ints("types." + std::to_string(i));
  }
  auto seq = [&](int64_t i) {
    BertSequence q;
    q.ids = ids[size_t(i)].data();
    q.type_ids = types[size_t(i)].data();
    q.length = int64_t(ids[size_t(i)].size());
    return q;
  };
  MaxDiff single, batched, padded, pooled, logits;
  int64_t tokens = 0;
  // (1) One sequence per call.
  for (int64_t i = 0; i < n; ++i) {
    const BertOutput o = s.forward(std::vector<BertSequence>{seq(i)});
    const auto want = ref.floats("hidden." + std::to_string(i));
    REQUIRE(o.length(0) == int64_t(ids[size_t(i)].size()));
    REQUIRE(want.size() == size_t(o.length(0) * H));
    single.add(o.hidden(0), want.data(), want.size());
    tokens += o.length(0);
    if (model.config().has_pooler) pooled.add(o.pooled.data(), ref.floats("pooled." + std::to_string(i)).data(), size_t(H));
    if (L > 0) logits.add(o.logits.data(), ref.floats("logits." + std::to_string(i)).data(), size_t(L));
  }
  // (2) Every sequence in one call, no padding.
  {
    std::vector<BertSequence> all;
    for (int64_t i = 0; i < n; ++i) all.push_back(seq(i));
    const BertOutput o = s.forward(all);
    for (int64_t i = 0; i < n; ++i) {
      const auto want = ref.floats("hidden." + std::to_string(i));
      batched.add(o.hidden(size_t(i)), want.data(), want.size());
      if (L > 0) logits.add(o.logits.data() + i * L, ref.floats("logits." + std::to_string(i)).data(), size_t(L));
    }
  }
  // (3) HF's padded batches, padding included in the input.
  for (int64_t j = 0; j < nb; ++j) {
    const std::string p = "batch." + std::to_string(j) + ".";
    const auto members = ref.ints(p + "members");
    const auto bids = ref.ints(p + "ids"), btypes = ref.ints(p + "types"), mask = ref.ints(p + "mask");
    const auto want = ref.floats(p + "hidden");
    const int64_t B = int64_t(members.size()), T = ref.shape(p + "mask")[1];
    std::vector<BertSequence> batch(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
      batch[size_t(b)].ids = bids.data() + b * T;
      batch[size_t(b)].type_ids = btypes.data() + b * T;
      batch[size_t(b)].attention_mask = mask.data() + b * T;
      batch[size_t(b)].length = T;
    }
    const BertOutput o = s.forward(batch);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t valid = int64_t(ids[size_t(members[size_t(b)])].size());
      REQUIRE(o.length(size_t(b)) == valid);  // trailing padding dropped
      padded.add(o.hidden(size_t(b)), want.data() + b * T * H, size_t(valid * H));
    }
    if (model.config().has_pooler) pooled.add(o.pooled.data(), ref.floats(p + "pooled").data(), size_t(B * H));
    if (L > 0) logits.add(o.logits.data(), ref.floats(p + "logits").data(), size_t(B * L));
  }
  char lg[32] = "n/a";
  if (L > 0) std::snprintf(lg, sizeof lg, "%.2e", logits.v);
  std::printf("bert parity %-6s (%d threads): %lld sequences, %lld tokens; last_hidden_state max abs diff: single %.2e, "
              "unpadded batch %.2e, padded batches %.2e; pooler %.2e; logits %s\n",
              name.c_str(), threads, (long long)n, (long long)tokens, single.v, batched.v, padded.v, pooled.v, lg);
  CHECK(single.v <= 1e-4);
  CHECK(batched.v <= 1e-4);
  CHECK(padded.v <= 1e-4);
  CHECK(pooled.v <= 1e-4);
  CHECK(logits.v <= 1e-4);

  if (ref.has("st.0")) {
    // sentence-transformers: the bundle's default pooling (mean) + Normalize.
    REQUIRE(model.config().pooling == "mean");
    REQUIRE(model.config().normalize);
    std::vector<BertSequence> all;
    for (int64_t i = 0; i < n; ++i) all.push_back(seq(i));
    const auto emb = s.sentence_embeddings(all, Pooling::mean, true);
    double min_cos = 1, max_abs = 0;
    for (int64_t i = 0; i < n; ++i) {
      const auto want = ref.floats("st." + std::to_string(i));
      double dot = 0, na = 0, nw = 0;
      for (int64_t k = 0; k < H; ++k) {
        const double a = emb[size_t(i)][size_t(k)], w = want[size_t(k)];
        dot += a * w;
        na += a * a;
        nw += w * w;
        max_abs = std::max(max_abs, std::abs(a - w));
      }
      min_cos = std::min(min_cos, dot / std::sqrt(na * nw));
    }
    std::printf("bert parity %-6s sentence-transformers embeddings: min cosine %.9f, max abs diff %.2e\n", name.c_str(),
                min_cos, max_abs);
    CHECK(min_cos >= 0.99999);
    CHECK(max_abs <= 1e-4);
  }
}

}  // namespace

TEST_CASE("all-MiniLM-L6-v2 matches transformers and sentence-transformers") { check_model("minilm", 2); }
TEST_CASE("random BERT-base (12 x 768) matches transformers") { check_model("base", 2); }
TEST_CASE("BertForSequenceClassification (gelu_new, sentence pairs) matches transformers") { check_model("cls", 3); }
TEST_CASE("a relu BERT matches transformers, single-threaded") { check_model("relu", 1); }
TEST_CASE("on AMX (Options::amx, bf16x6): all-MiniLM-L6-v2 and BERT-base match transformers") {
  if (!nn::amx::supported()) {
    MESSAGE("AMX not available here (CPU, build or TAILOR_AMX=0): skipped");
    return;
  }
  check_model("minilm", 2, true);
  check_model("base", 1, true);
}
