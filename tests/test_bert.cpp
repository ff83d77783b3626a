// tests/test_bert.cpp: the BERT model (models/bert.hpp) on small random bundles built in
// memory, against a float64 transcription of HF modeling_bert.py written here from scratch:
// outputs, masking, batching and padding invariance, chunked passes, 8 threads sharing one
// model, the tryon-part constructor, and the errors bad inputs must raise.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "st_builder.hpp"
#include "tailor/models/bert.hpp"

using namespace tailor;
using tailor::test::StTensor;

namespace {

/// Options::amx values to test: false, and true where this machine and build have AMX.
std::vector<bool> amx_modes() {
  if (tailor::nn::amx::supported()) return {false, true};
  return {false};
}


struct TinyBert {
  nlohmann::json config;
  std::map<std::string, std::vector<float>> w;  // name -> values (PyTorch layout)
  std::string bytes;                            // the bundle
};

/// A random BERT: vocab 40, H 24, 3 heads, I 40, 2 layers, 32 positions, pooler, `labels` labels.
TinyBert make_tiny(const std::string& act = "gelu", int labels = 3, bool pooler = true, const std::string& prefix = "",
                   const std::string& arch = "bert", uint32_t seed = 1, bool special_vocab = true) {
  TinyBert t;
  t.config = {{"vocab_size", 40},      {"hidden_size", 24},           {"num_hidden_layers", 2},
              {"num_attention_heads", 3}, {"intermediate_size", 40},  {"max_position_embeddings", 32},
              {"type_vocab_size", 2},  {"layer_norm_eps", 1e-12},     {"hidden_act", act},
              {"num_labels", labels},  {"has_pooler", pooler},        {"tailor", {{"pooling", "mean"}}}};
  const BertConfig c = BertConfig::from_json(t.config, "tiny");
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, 0.3f);
  std::vector<StTensor> ts;
  for (const TensorSpec& s : c.tensor_specs()) {
    std::vector<float> v(static_cast<size_t>(s.shape.numel()));
    const bool ln_weight = s.name.find("LayerNorm.weight") != std::string::npos;
    for (auto& x : v) x = ln_weight ? 1.f + 0.3f * d(g) : d(g);
    StTensor st{prefix + s.name, DType::F32, s.shape, std::string(v.size() * 4, '\0')};
    std::memcpy(&st.bytes[0], v.data(), v.size() * 4);
    ts.push_back(st);
    t.w[s.name] = std::move(v);
  }
  std::string vocab = special_vocab ? "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\nthe\n" : "";
  for (int i = special_vocab ? 9 : 0; i < 40; ++i) vocab += "tok" + std::to_string(i) + "\n";
  auto meta = test::bundle_meta(arch, arch == "bert" ? t.config : nlohmann::json{{"text", t.config}}, vocab);
  t.bytes = test::st_file(ts, meta);
  return t;
}

// ---- float64 reference: HF modeling_bert.py, line for line ----------------------------------
using Mat = std::vector<double>;  // row-major

Mat linear(const Mat& x, int64_t rows, int64_t in, const std::vector<float>& W, const std::vector<float>& b, int64_t out) {
  Mat y(static_cast<size_t>(rows * out));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = 0;
      for (int64_t i = 0; i < in; ++i) s += x[size_t(r * in + i)] * double(W[size_t(o * in + i)]);
      y[size_t(r * out + o)] = s + b[size_t(o)];
    }
  return y;
}
void layer_norm(Mat& x, int64_t rows, int64_t H, const std::vector<float>& g, const std::vector<float>& b) {
  for (int64_t r = 0; r < rows; ++r) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < H; ++i) m += x[size_t(r * H + i)];
    m /= double(H);
    for (int64_t i = 0; i < H; ++i) v += (x[size_t(r * H + i)] - m) * (x[size_t(r * H + i)] - m);
    v /= double(H);
    for (int64_t i = 0; i < H; ++i) x[size_t(r * H + i)] = (x[size_t(r * H + i)] - m) / std::sqrt(v + 1e-12) * g[size_t(i)] + b[size_t(i)];
  }
}
double act_ref(double x, const std::string& a) {
  if (a == "relu") return x > 0 ? x : 0;
  if (a == "gelu_new") return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
}

struct RefOut {
  Mat hidden, pooled, logits;
};

/// BertModel (+ pooler, + classifier) for one sequence of T tokens with a mask (HF semantics:
/// every row computed, masked keys get the additive minimum).
RefOut reference(const TinyBert& t, const std::vector<int32_t>& ids, const std::vector<int32_t>& types,
                 const std::vector<int32_t>& mask) {
  const int64_t H = 24, NH = 3, D = 8, I = 40, T = int64_t(ids.size());
  const std::string act = t.config["hidden_act"];
  auto W = [&](const std::string& n) -> const std::vector<float>& { return t.w.at(n); };
  Mat x(static_cast<size_t>(T * H));
  for (int64_t r = 0; r < T; ++r)
    for (int64_t i = 0; i < H; ++i)
      x[size_t(r * H + i)] = double(W("embeddings.word_embeddings.weight")[size_t(ids[size_t(r)] * H + i)]) +
                             W("embeddings.token_type_embeddings.weight")[size_t(types[size_t(r)] * H + i)] +
                             W("embeddings.position_embeddings.weight")[size_t(r * H + i)];
  layer_norm(x, T, H, W("embeddings.LayerNorm.weight"), W("embeddings.LayerNorm.bias"));
  for (int l = 0; l < 2; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    const Mat q = linear(x, T, H, W(p + "attention.self.query.weight"), W(p + "attention.self.query.bias"), H);
    const Mat k = linear(x, T, H, W(p + "attention.self.key.weight"), W(p + "attention.self.key.bias"), H);
    const Mat v = linear(x, T, H, W(p + "attention.self.value.weight"), W(p + "attention.self.value.bias"), H);
    Mat ctx(static_cast<size_t>(T * H), 0.0);
    for (int64_t h = 0; h < NH; ++h)
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> s(static_cast<size_t>(T));
        double m = -1e300, sum = 0;
        for (int64_t j = 0; j < T; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < D; ++e) dot += q[size_t(i * H + h * D + e)] * k[size_t(j * H + h * D + e)];
          s[size_t(j)] = dot / std::sqrt(double(D)) + (mask[size_t(j)] ? 0.0 : -3.4028234663852886e38);
          m = std::max(m, s[size_t(j)]);
        }
        for (int64_t j = 0; j < T; ++j) sum += (s[size_t(j)] = std::exp(s[size_t(j)] - m));
        for (int64_t j = 0; j < T; ++j)
          for (int64_t e = 0; e < D; ++e) ctx[size_t(i * H + h * D + e)] += s[size_t(j)] / sum * v[size_t(j * H + h * D + e)];
      }
    Mat a = linear(ctx, T, H, W(p + "attention.output.dense.weight"), W(p + "attention.output.dense.bias"), H);
    for (size_t i = 0; i < a.size(); ++i) a[i] += x[i];
    layer_norm(a, T, H, W(p + "attention.output.LayerNorm.weight"), W(p + "attention.output.LayerNorm.bias"));
    Mat inter = linear(a, T, H, W(p + "intermediate.dense.weight"), W(p + "intermediate.dense.bias"), I);
    for (auto& e : inter) e = act_ref(e, act);
    Mat o = linear(inter, T, I, W(p + "output.dense.weight"), W(p + "output.dense.bias"), H);
    for (size_t i = 0; i < o.size(); ++i) o[i] += a[i];
    layer_norm(o, T, H, W(p + "output.LayerNorm.weight"), W(p + "output.LayerNorm.bias"));
    x = o;
  }
  RefOut out;
  out.hidden = x;
  if (t.config["has_pooler"]) {
    Mat cls(x.begin(), x.begin() + H);
    out.pooled = linear(cls, 1, H, W("pooler.dense.weight"), W("pooler.dense.bias"), H);
    for (auto& e : out.pooled) e = std::tanh(e);
    const int64_t L = t.config["num_labels"];
    if (L > 0) out.logits = linear(out.pooled, 1, H, W("classifier.weight"), W("classifier.bias"), L);
  }
  return out;
}

double max_diff(const float* a, const double* b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::abs(double(a[i]) - b[i]));
  return m;
}

struct Seq {
  std::vector<int32_t> ids, types, mask;
  BertSequence view() const {
    BertSequence s;
    s.ids = ids.data();
    s.type_ids = types.data();
    s.attention_mask = mask.data();
    s.length = int64_t(ids.size());
    return s;
  }
};
Seq random_seq(std::mt19937& g, int64_t T, bool pair) {
  Seq s;
  for (int64_t t = 0; t < T; ++t) {
    s.ids.push_back(int32_t(g() % 40));
    s.types.push_back(pair && t >= T / 2 ? 1 : 0);
    s.mask.push_back(1);
  }
  return s;
}

}  // namespace

TEST_CASE("Bert matches a float64 transcription of modeling_bert.py, for every activation") {
  for (bool amx : amx_modes())
  for (const std::string act : {"gelu", "gelu_new", "relu"}) {
    const TinyBert t = make_tiny(act);
    const Bundle b = Bundle::from_memory(t.bytes.data(), t.bytes.size(), "tiny");
    Options opt;
    opt.threads = 2;
    opt.amx = amx;
    CAPTURE(amx);
    const Bert model(b, opt);
    CHECK(model.config().hidden_act == act);
    BertSession s = model.session();
    std::mt19937 g(5);
    for (int64_t T : {1, 2, 7, 19, 32}) {
      const Seq q = random_seq(g, T, T > 2);
      const BertOutput o = s.forward(std::vector<BertSequence>{q.view()});
      const RefOut r = reference(t, q.ids, q.types, q.mask);
      CAPTURE(act);
      CAPTURE(T);
      REQUIRE(o.size() == 1);
      REQUIRE(o.length(0) == T);
      CHECK(max_diff(o.hidden(0), r.hidden.data(), r.hidden.size()) < 1e-4);
      CHECK(max_diff(o.pooled.data(), r.pooled.data(), 24) < 1e-4);
      REQUIRE(o.logits.size() == 3);
      CHECK(max_diff(o.logits.data(), r.logits.data(), 3) < 1e-4);
    }
  }
}

TEST_CASE("masked tokens inside a sequence are excluded as keys, as HF does") {
  const TinyBert t = make_tiny();
  const Bundle b = Bundle::from_memory(t.bytes.data(), t.bytes.size(), "tiny");
  const Bert model(b);
  BertSession s = model.session();
  std::mt19937 g(9);
  Seq q = random_seq(g, 12, false);
  q.mask[3] = q.mask[4] = q.mask[9] = 0;
  const BertOutput o = s.forward(std::vector<BertSequence>{q.view()});
  const RefOut r = reference(t, q.ids, q.types, q.mask);
  REQUIRE(o.length(0) == 12);
  CHECK(max_diff(o.hidden(0), r.hidden.data(), r.hidden.size()) < 1e-4);
  CHECK(o.attention_mask[3] == 0);
  CHECK(o.attention_mask[5] == 1);
  // Mean pooling skips the masked rows.
  const auto mean = o.sentence_embedding(0, Pooling::mean, false);
  for (int64_t c = 0; c < 24; ++c) {
    double sum = 0;
    for (int64_t r2 = 0; r2 < 12; ++r2) sum += q.mask[size_t(r2)] ? r.hidden[size_t(r2 * 24 + c)] : 0.0;
    CHECK(mean[size_t(c)] == doctest::Approx(sum / 9).epsilon(1e-4));
  }
}

TEST_CASE("a sequence's outputs are bit-identical alone, batched, padded, and in chunked passes") {
  for (bool amx : amx_modes()) {
  CAPTURE(amx);
  const TinyBert t = make_tiny();
  const Bundle b = Bundle::from_memory(t.bytes.data(), t.bytes.size(), "tiny");
  Options opt;
  opt.threads = 3;
  opt.amx = amx;
  const Bert model(b, opt);
  BertSession s = model.session();
  std::mt19937 g(11);
  std::vector<Seq> seqs;
  for (int64_t T : {5, 32, 1, 17, 9, 2, 30}) seqs.push_back(random_seq(g, T, true));
  std::vector<BertOutput> alone;
  for (const Seq& q : seqs) alone.push_back(s.forward(std::vector<BertSequence>{q.view()}));
  auto same = [](const BertOutput& a, size_t i, const BertOutput& b, size_t j) {
    REQUIRE(a.length(i) == b.length(j));
    CHECK(std::memcmp(a.hidden(i), b.hidden(j), size_t(a.length(i) * a.hidden_size) * sizeof(float)) == 0);
    CHECK(std::memcmp(a.pooled.data() + i * 24, b.pooled.data() + j * 24, 24 * sizeof(float)) == 0);
    CHECK(std::memcmp(a.logits.data() + i * 3, b.logits.data() + j * 3, 3 * sizeof(float)) == 0);
  };
  // One unpadded batch.
  std::vector<BertSequence> views;
  for (const Seq& q : seqs) views.push_back(q.view());
  const BertOutput all = s.forward(views);
  for (size_t i = 0; i < seqs.size(); ++i) same(alone[i], 0, all, i);
  // Padded to the longest with [PAD] (id 0) and attention_mask 0: the padding is dropped.
  std::vector<Seq> padded = seqs;
  for (Seq& q : padded)
    while (q.ids.size() < 32) {
      q.ids.push_back(0);
      q.types.push_back(0);
      q.mask.push_back(0);
    }
  std::vector<BertSequence> pviews;
  for (const Seq& q : padded) pviews.push_back(q.view());
  const BertOutput pad = s.forward(pviews);
  for (size_t i = 0; i < seqs.size(); ++i) same(alone[i], 0, pad, i);
  // More rows than one pass holds: several passes, same results.
  std::vector<BertSequence> many;
  for (int rep = 0; rep < 40; ++rep) many.push_back(views[size_t(rep) % views.size()]);
  s.set_max_rows_per_pass(50);
  const BertOutput big = s.forward(many);
  s.set_max_rows_per_pass(BertSession::kMaxRowsPerPass);
  REQUIRE(big.offsets.back() > 10 * 50);
  for (size_t i = 0; i < many.size(); ++i) same(alone[i % seqs.size()], 0, big, i);
  // Sentence embeddings from the batch API agree with BertOutput's.
  for (Pooling p : {Pooling::cls, Pooling::mean, Pooling::pooler}) {
    const auto e = s.sentence_embeddings(views, p, true);
    for (size_t i = 0; i < seqs.size(); ++i) {
      const auto want = all.sentence_embedding(i, p, true);
      CHECK(std::memcmp(e[i].data(), want.data(), want.size() * sizeof(float)) == 0);
      double n2 = 0;
      for (float v : want) n2 += double(v) * v;
      CHECK(n2 == doctest::Approx(1.0).epsilon(1e-5));
    }
  }
  }
}

TEST_CASE("Options::amx: an error where AMX is not available, else float32-close to the FMA path") {
  const TinyBert t = make_tiny();
  const Bundle b = Bundle::from_memory(t.bytes.data(), t.bytes.size(), "tiny");
  Options opt;
  opt.threads = 1;
  opt.amx = true;
  if (!nn::amx::supported()) {
    CHECK_THROWS_AS(Bert(b, opt), tailor::Error);
    return;
  }
  const Bert am(b, opt);
  opt.amx = false;
  const Bert fp(b, opt);
  std::mt19937 g(3);
  const Seq q = random_seq(g, 19, true);
  const BertOutput x = am.session().forward(std::vector<BertSequence>{q.view()});
  const BertOutput y = fp.session().forward(std::vector<BertSequence>{q.view()});
  double d = 0;
  for (size_t i = 0; i < size_t(19 * 24); ++i) d = std::max(d, std::abs(double(x.hidden(0)[i]) - double(y.hidden(0)[i])));
  CHECK(d < 1e-5);
  CHECK(d > 0);  // really two paths
}

TEST_CASE("8 threads sharing one model get exactly the sequential results") {
  const TinyBert t = make_tiny("gelu", 2);
  const Bundle b = Bundle::from_memory(t.bytes.data(), t.bytes.size(), "tiny");
  Options opt;
  opt.threads = 2;
  const Bert model(b, opt);
  std::mt19937 g(21);
  std::vector<std::vector<Seq>> work(8);
  for (auto& batch : work)
    for (int i = 0; i < 5; ++i) batch.push_back(random_seq(g, 1 + int64_t(g() % 32), i % 2 == 1));
  auto run = [&](const std::vector<Seq>& batch, BertSession& s) {
    std::vector<BertSequence> v;
    for (const Seq& q : batch) v.push_back(q.view());
    return s.forward(v);
  };
  std::vector<BertOutput> want;
  {
    BertSession s = model.session();
    for (const auto& batch : work) want.push_back(run(batch, s));
  }
  std::vector<BertOutput> got(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      BertSession s = model.session();
      for (int rep = 0; rep < 3; ++rep) got[size_t(i)] = run(work[size_t(i)], s);
    });
  for (auto& th : threads) th.join();
  for (int i = 0; i < 8; ++i) {
    REQUIRE(got[size_t(i)].last_hidden_state.size() == want[size_t(i)].last_hidden_state.size());
    CHECK(got[size_t(i)].last_hidden_state == want[size_t(i)].last_hidden_state);
    CHECK(got[size_t(i)].pooled == want[size_t(i)].pooled);
    CHECK(got[size_t(i)].logits == want[size_t(i)].logits);
  }
}

TEST_CASE("a BERT inside a tryon bundle loads from its config object and prefix") {
  const TinyBert t = make_tiny("gelu", 0, true, "text.", "tryon");
  const Bundle b = Bundle::from_memory(t.bytes.data(), t.bytes.size(), "tryon-part");
  Options opt;
  opt.threads = 1;
  const Bert model(b, b.config()["text"], "text.", opt);
  CHECK(model.config().hidden_size == 24);
  CHECK(model.config().pooling == "mean");
  BertSession s = model.session();
  std::mt19937 g(3);
  const Seq q = random_seq(g, 6, false);
  const BertOutput o = s.forward(std::vector<BertSequence>{q.view()});
  const RefOut r = reference(t, q.ids, q.types, q.mask);
  CHECK(max_diff(o.hidden(0), r.hidden.data(), r.hidden.size()) < 1e-4);
  CHECK(o.logits.empty());
  // The whole-bundle constructor says what to do instead.
  try {
    Bert whole(b);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unsupported);
    CHECK(std::string(e.what()).find("text.") != std::string::npos);
  }
}

TEST_CASE("bad inputs are errors naming the problem, and the session stays usable") {
  const TinyBert t = make_tiny("gelu", 0, false);
  const Bundle b = Bundle::from_memory(t.bytes.data(), t.bytes.size(), "tiny");
  const Bert model(b);
  BertSession s = model.session();
  auto expect = [&](const std::vector<BertSequence>& batch, ErrorCode code, const std::string& needle) {
    try {
      s.forward(batch);
      FAIL("expected an error containing: " << needle);
    } catch (const Error& e) {
      CAPTURE(e.what());
      CHECK(e.code() == code);
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
  };
  std::vector<int32_t> ok = {2, 5, 6, 3}, neg = {2, -1, 3}, big = {2, 40, 3}, long_(33, 5);
  std::vector<int32_t> types_bad = {0, 2, 0, 0}, mask_zero = {0, 0, 0, 0}, mask_two = {1, 2, 1, 1};
  auto seq = [](const std::vector<int32_t>& ids, const int32_t* types = nullptr, const int32_t* mask = nullptr) {
    BertSequence q;
    q.ids = ids.data();
    q.type_ids = types;
    q.attention_mask = mask;
    q.length = int64_t(ids.size());
    return q;
  };
  expect({}, ErrorCode::invalid_argument, "empty batch");
  expect({BertSequence{}}, ErrorCode::invalid_argument, "sequence 0 is empty");
  expect({seq(ok), seq(neg)}, ErrorCode::invalid_argument, "sequence 1, position 1: token id -1 is outside the vocabulary (0..39)");
  expect({seq(big)}, ErrorCode::invalid_argument, "token id 40 is outside");
  expect({seq(long_)}, ErrorCode::limit, "has 33 tokens; the model takes at most 32");
  expect({seq(ok, types_bad.data())}, ErrorCode::invalid_argument, "token type id 2");
  expect({seq(ok, nullptr, mask_zero.data())}, ErrorCode::invalid_argument, "no token with attention_mask 1");
  expect({seq(ok, nullptr, mask_two.data())}, ErrorCode::invalid_argument, "attention_mask is 2");
  CHECK_THROWS_AS(s.sentence_embeddings({seq(ok)}, Pooling::pooler, false), Error);
  CHECK_THROWS_AS(s.sentence_embeddings({seq(ok)}, Pooling::none, false), Error);
  // A padded sequence longer than the position table is fine when its valid part fits.
  std::vector<int32_t> long_padded(40, 0), long_mask(40, 0);
  for (int i = 0; i < 4; ++i) { long_padded[size_t(i)] = ok[size_t(i)]; long_mask[size_t(i)] = 1; }
  const BertOutput lp = s.forward({seq(long_padded, nullptr, long_mask.data())});
  const BertOutput o = s.forward({seq(ok)});
  CHECK(lp.last_hidden_state == o.last_hidden_state);
  CHECK(o.pooled.empty());
  // Batch limit.
  Options lim;
  lim.limits.max_batch = 2;
  const Bert small(b, lim);
  BertSession s2 = small.session();
  CHECK_THROWS_AS(s2.forward({seq(ok), seq(ok), seq(ok)}), Error);
}

TEST_CASE("embed: texts through the model's tokenizer, default pooling from the bundle") {
  const TinyBert t = make_tiny();
  const Bundle b = Bundle::from_memory(t.bytes.data(), t.bytes.size(), "tiny");
  const Bert model(b);
  BertSession s = model.session();
  const std::vector<std::string> texts = {"hello world", "", "The worlds, hello!", "tok12 tok13 hello tok39"};
  const auto enc = s.encode(texts);
  REQUIRE(enc.size() == 4);
  CHECK(enc[0].ids == std::vector<int32_t>{2, 5, 6, 3});      // [CLS] hello world [SEP]
  CHECK(enc[1].ids == std::vector<int32_t>{2, 3});            // empty text: [CLS] [SEP]
  CHECK(enc[2].ids == std::vector<int32_t>{2, 8, 6, 7, 1, 5, 1, 3});  // the world ##s [UNK] hello [UNK]
  // The bundle's default: mean pooling (config "tailor"), not normalised.
  const auto e = s.embed(texts);
  const BertOutput o = s.forward(enc);
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto want = o.sentence_embedding(i, Pooling::mean, false);
    CHECK(e[i] == want);
  }
  // Truncation to max_length tokens ([CLS] + 2 + [SEP]).
  const auto enc2 = s.encode({"hello world hello world hello"}, 4);
  CHECK(enc2[0].ids.size() == 4);
  CHECK_THROWS_AS(s.encode({"x"}, 33), Error);  // over max_position_embeddings
  // Padded encodings (encode_batch with padding) give the same results as unpadded ones.
  EncodeOptions eo;
  eo.padding = PaddingStrategy::longest;
  const BertOutput padded = s.forward(model.tokenizer().encode_batch(texts, eo));
  CHECK(padded.last_hidden_state == o.last_hidden_state);
  // A vocab without [CLS] / [SEP] still runs on ids; only the text entry points refuse.
  const TinyBert nv = make_tiny("gelu", 3, true, "", "bert", 1, false);
  const Bundle b2 = Bundle::from_memory(nv.bytes.data(), nv.bytes.size(), "no-specials");
  const Bert m2(b2);
  BertSession s2 = m2.session();
  CHECK(s2.forward(std::vector<std::vector<int32_t>>{{1, 2, 3}}).size() == 1);
  CHECK_THROWS_AS(s2.embed({"hello"}), Error);
}

TEST_CASE("pooling names round-trip") {
  for (auto p : {Pooling::cls, Pooling::mean, Pooling::pooler, Pooling::none})
    CHECK(pooling_from_name(pooling_name(p)) == p);
  CHECK_THROWS_AS(pooling_from_name("max"), Error);
}

TEST_CASE("config: a classifier needs a pooler") {
  nlohmann::json c = make_tiny().config;
  c["has_pooler"] = false;
  CHECK_THROWS_AS(BertConfig::from_json(c, "t"), Error);
}
