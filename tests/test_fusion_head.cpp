// tests/test_fusion_head.cpp: the fusion head against a float64 evaluation of the reference
// formulas (converters/reference_model.py ImageTextModel.fuse) for every fusion, the
// one-image-many-texts path against the pair path, and the probability functions.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "st_builder.hpp"
#include "tailor/models/fusion_head.hpp"

using namespace tailor;
using namespace tailor::test;

namespace {
std::vector<float> randn(size_t n, std::mt19937& g) {
  std::normal_distribution<float> d(0.f, 0.5f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}
StTensor tensor(const std::string& name, Shape s, const std::vector<float>& v) {
  StTensor t{name, DType::F32, s, std::string(v.size() * 4, '\0')};
  std::memcpy(&t.bytes[0], v.data(), v.size() * 4);
  return t;
}
}  // namespace

TEST_CASE("fusion heads match the reference formulas") {
  const int64_t di = 37, dt = 23, B = 5;
  for (const char* fusion : {"concat_linear", "concat_mlp", "late"}) {
    for (int64_t n_out : {1, 3}) {
      CAPTURE(std::string(fusion));
      CAPTURE(n_out);
      std::mt19937 g(42);
      FusionHeadConfig c;
      c.fusion = fusion;
      c.n_out = n_out;
      c.mlp_hidden = 11;
      std::map<std::string, std::vector<float>> w;
      std::vector<StTensor> ts;
      for (const auto& s : c.tensor_specs(di, dt)) {
        w[s.name] = randn(size_t(s.shape.numel()), g);
        ts.push_back(tensor("head." + s.name, s.shape, w[s.name]));
      }
      const std::string bytes = st_file(ts, {});
      const auto st = SafetensorsFile::from_memory(bytes.data(), bytes.size());
      // FusionHead reads through a Bundle; give the tensors the bundle metadata of a tryon file.
      const std::string bb = st_file(ts, bundle_meta("tryon", json::object()));
      const Bundle b = Bundle::from_memory(bb.data(), bb.size());
      const FusionHead head(b, c, di, dt, "head.");
      const auto img = randn(size_t(B * di), g), txt = randn(size_t(B * dt), g);
      std::vector<float> got(size_t(B * n_out), NAN), one(size_t(B * n_out), NAN);
      ThreadPool pool(2);
      head.forward(img.data(), txt.data(), B, got.data(), pool);
      for (int64_t i = 0; i < B; ++i) {
        // Reference, float64.
        std::vector<double> x(static_cast<size_t>(di + dt));
        for (int64_t k = 0; k < di; ++k) x[size_t(k)] = img[size_t(i * di + k)];
        for (int64_t k = 0; k < dt; ++k) x[size_t(di + k)] = txt[size_t(i * dt + k)];
        std::vector<double> want(static_cast<size_t>(n_out));
        auto lin = [&](const std::string& p, const std::vector<double>& in, int64_t out) {
          std::vector<double> y(static_cast<size_t>(out));
          const int64_t d = int64_t(in.size());
          for (int64_t o = 0; o < out; ++o) {
            double a = w[p + ".bias"][size_t(o)];
            for (int64_t k = 0; k < d; ++k) a += double(w[p + ".weight"][size_t(o * d + k)]) * in[size_t(k)];
            y[size_t(o)] = a;
          }
          return y;
        };
        if (c.fusion == "concat_linear") want = lin("fc", x, n_out);
        if (c.fusion == "concat_mlp") {
          auto h = lin("fc.0", x, c.mlp_hidden);
          for (auto& v : h) v = v > 0 ? v : 0;
          want = lin("fc.2", h, n_out);
        }
        if (c.fusion == "late") {
          const auto yi = lin("fc_image", std::vector<double>(x.begin(), x.begin() + di), n_out);
          const auto yt = lin("fc_text", std::vector<double>(x.begin() + di, x.end()), n_out);
          for (int64_t o = 0; o < n_out; ++o)
            want[size_t(o)] = w["late_weight"][0] * yi[size_t(o)] + w["late_weight"][1] * yt[size_t(o)];
        }
        for (int64_t o = 0; o < n_out; ++o) CHECK(got[size_t(i * n_out + o)] == doctest::Approx(want[size_t(o)]).epsilon(1e-5));
        // One image against one text through the split path gives the same logits.
        std::vector<float> ip(static_cast<size_t>(head.first_width()));
        head.image_part(img.data() + i * di, ip.data());
        head.forward_one_image(ip.data(), txt.data() + i * dt, 1, one.data() + i * n_out, pool);
        for (int64_t o = 0; o < n_out; ++o)
          CHECK(one[size_t(i * n_out + o)] == doctest::Approx(got[size_t(i * n_out + o)]).epsilon(1e-5));
        if (c.is_linear()) {  // logit = w_img . img + w_txt . txt + bias, exactly
          for (int64_t o = 0; o < n_out; ++o) {
            double a = head.bias(o);
            for (int64_t k = 0; k < di; ++k) a += double(head.image_weight(o)[k]) * img[size_t(i * di + k)];
            for (int64_t k = 0; k < dt; ++k) a += double(head.text_weight(o)[k]) * txt[size_t(i * dt + k)];
            CHECK(a == doctest::Approx(want[size_t(o)]).epsilon(1e-5));
          }
        }
      }
      (void)st;
    }
  }
}

TEST_CASE("probabilities: stable sigmoid and softmax") {
  float p[3];
  const float big[1] = {100.f}, neg[1] = {-100.f}, zero[1] = {0.f};
  FusionHead::probabilities(big, 1, p);
  CHECK(p[0] == 1.0f);
  FusionHead::probabilities(neg, 1, p);
  CHECK(p[0] > 0.f);
  CHECK(p[0] == doctest::Approx(std::exp(-100.0)).epsilon(1e-5));
  FusionHead::probabilities(zero, 1, p);
  CHECK(p[0] == 0.5f);
  const float l[3] = {1000.f, 1000.f, -1000.f};
  FusionHead::probabilities(l, 3, p);
  CHECK(p[0] == doctest::Approx(0.5));
  CHECK(p[1] == doctest::Approx(0.5));
  CHECK(p[2] == 0.f);
}

TEST_CASE("head configs are range-checked") {
  json j = {{"fusion", "attention"}};
  CHECK_THROWS_WITH_AS(FusionHeadConfig::from_json(j, "cfg"), doctest::Contains("supported: concat_linear, concat_mlp, late"), Error);
  j = {{"n_out", 0}};
  CHECK_THROWS_WITH_AS(FusionHeadConfig::from_json(j, "cfg"), doctest::Contains("'n_out' is 0"), Error);
  const auto c = FusionHeadConfig::from_json(json::object(), "cfg");
  CHECK(c.fusion == "concat_linear");
  CHECK(c.image_feature == "pooled");
}
