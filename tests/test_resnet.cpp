// tests/test_resnet.cpp: the ResNet50 model code against a float64 reference network built
// from the reference ops (conv2d_reference, plain pooling loops), on a small random bundle
// (one Bottleneck per stage, 10 classes, odd input sizes); batch and thread independence;
// many threads sharing one model; the Image path; and the errors the API promises.
// Parity with torchvision itself is the python suite (converters/parity/).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "st_builder.hpp"
#include "tailor/models/resnet50.hpp"

using namespace tailor;

namespace {

/// Options::amx values to test: false, and true where this machine and build have AMX.
std::vector<bool> amx_modes() {
  if (tailor::nn::amx::supported()) return {false, true};
  return {false};
}


struct TinyNet {
  std::string bytes;
  std::map<std::string, std::vector<float>> w;  // name -> values (PyTorch layouts)
};

/// A BN-folded ResNet bundle with random (He-scaled) weights: layers [1, 1, 1, 1].
TinyNet tiny_resnet(int64_t num_classes, uint32_t seed, const std::string& prefix = "", const std::string& arch = "resnet50",
                    bool folded = true) {
  ResNetConfig cfg;
  cfg.layers = {1, 1, 1, 1};
  cfg.num_classes = num_classes;
  // Uniform in [-sqrt(3), sqrt(3)) (unit variance) from a 64-bit LCG: cheap enough for
  // millions of weights under the sanitizers.
  uint64_t state = seed * 6364136223846793005ull + 1442695040888963407ull;
  auto nd = [&state](auto&) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (float(state >> 40) * (1.f / 16777216.f) * 2.f - 1.f) * 1.7320508f;
  };
  int g = 0;
  TinyNet t;
  std::vector<test::StTensor> ts;
  for (const TensorSpec& s : cfg.tensor_specs()) {
    const int64_t n = s.shape.numel();
    std::vector<float> v(static_cast<size_t>(n));
    const bool is_bias = s.shape.rank == 1;
    const float fan_in = s.shape.rank > 1 ? float(n / s.shape[0]) : 1.f;
    const float scale = is_bias ? 0.1f : std::sqrt(2.f / fan_in);
    for (auto& x : v) x = nd(g) * scale;
    t.w[s.name] = v;
    test::StTensor st{prefix + s.name, DType::F32, s.shape, {}};
    st.bytes.resize(size_t(n) * 4);
    std::memcpy(st.bytes.data(), v.data(), size_t(n) * 4);
    ts.push_back(st);
  }
  nlohmann::json config = {{"layers", {1, 1, 1, 1}}, {"num_classes", num_classes}};
  auto meta = test::bundle_meta(arch, arch == "tryon" ? nlohmann::json{{"image", config}} : config);
  if (folded) meta["tailor.transforms"] = "[\"bn_folded\"]";
  meta["tailor.preprocess"] = R"({"resize": 40, "crop": 32})";
  t.bytes = test::st_file(ts, meta);
  return t;
}

/// The float64 reference forward of the tiny net: x (N, 3, H, W) -> pooled, logits, fmap.
void reference_forward(const TinyNet& t, const std::vector<float>& x, int64_t n, int64_t h, int64_t w, int64_t nc,
                       std::vector<float>* pooled, std::vector<float>* logits, std::vector<float>* fmap,
                       int64_t* fh, int64_t* fw) {
  using nn::Activation;
  using nn::Conv2dShape;
  auto conv = [&](const std::string& name, const std::vector<float>& in, int64_t ih, int64_t iw, const Conv2dShape& s,
                  const std::vector<float>* res, Activation act, bool nchw = false) {
    std::vector<float> out(size_t(n * s.out_h(ih) * s.out_w(iw) * s.cout));
    nn::conv2d_reference(in.data(), n, ih, iw, t.w.at(name + ".weight").data(), t.w.at(name + ".bias").data(), s,
                         out.data(), res ? res->data() : nullptr, act, nchw);
    return out;
  };
  const Conv2dShape stem{3, 64, 7, 7, 2, 3};
  std::vector<float> a = conv("conv1", x, h, w, stem, nullptr, Activation::relu, true);
  int64_t hh = stem.out_h(h), ww = stem.out_w(w);
  // maxpool 3/2 pad 1
  const int64_t ph = (hh - 1) / 2 + 1, pw = (ww - 1) / 2 + 1;
  std::vector<float> p(size_t(n * ph * pw * 64), -std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t oy = 0; oy < ph; ++oy)
      for (int64_t ox = 0; ox < pw; ++ox)
        for (int64_t c = 0; c < 64; ++c)
          for (int64_t dy = 0; dy < 3; ++dy)
            for (int64_t dx = 0; dx < 3; ++dx) {
              const int64_t iy = oy * 2 - 1 + dy, ix = ox * 2 - 1 + dx;
              if (iy < 0 || iy >= hh || ix < 0 || ix >= ww) continue;
              float& r = p[size_t(((i * ph + oy) * pw + ox) * 64 + c)];
              r = std::max(r, a[size_t(((i * hh + iy) * ww + ix) * 64 + c)]);
            }
  a = p;
  hh = ph;
  ww = pw;
  int64_t inplanes = 64;
  for (int st = 0; st < 4; ++st) {
    const int64_t planes = ResNetConfig::kPlanes[size_t(st)], out = planes * 4, stride = st == 0 ? 1 : 2;
    const std::string pre = "layer" + std::to_string(st + 1) + ".0.";
    const Conv2dShape c1{inplanes, planes, 1, 1, 1, 0}, c2{planes, planes, 3, 3, stride, 1}, c3{planes, out, 1, 1, 1, 0},
        dsh{inplanes, out, 1, 1, stride, 0};
    const auto t1 = conv(pre + "conv1", a, hh, ww, c1, nullptr, Activation::relu);
    const auto t2 = conv(pre + "conv2", t1, hh, ww, c2, nullptr, Activation::relu);
    const auto idn = conv(pre + "downsample.0", a, hh, ww, dsh, nullptr, Activation::none);
    const int64_t oh = c2.out_h(hh), ow = c2.out_w(ww);
    a = conv(pre + "conv3", t2, oh, ow, c3, &idn, Activation::relu);
    hh = oh;
    ww = ow;
    inplanes = out;
  }
  *fmap = a;
  *fh = hh;
  *fw = ww;
  pooled->assign(size_t(n * 2048), 0.f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < 2048; ++c) {
      double s = 0;
      for (int64_t q = 0; q < hh * ww; ++q) s += a[size_t((i * hh * ww + q) * 2048 + c)];
      (*pooled)[size_t(i * 2048 + c)] = float(s / double(hh * ww));
    }
  logits->assign(size_t(n * nc), 0.f);
  const auto& fcw = t.w.at("fc.weight");
  const auto& fcb = t.w.at("fc.bias");
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < nc; ++k) {
      double s = fcb[size_t(k)];
      for (int64_t c = 0; c < 2048; ++c) s += double((*pooled)[size_t(i * 2048 + c)]) * fcw[size_t(k * 2048 + c)];
      (*logits)[size_t(i * nc + k)] = float(s);
    }
}

double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

}  // namespace

TEST_CASE("ResNet50 forward matches the float64 reference network") {
  for (bool amx : amx_modes()) {
  CAPTURE(amx);
  const int64_t nc = 10;
  const TinyNet t = tiny_resnet(nc, 11);
  const Bundle b = Bundle::from_memory(t.bytes.data(), t.bytes.size(), "tiny");
  Options opt;
  opt.threads = 2;
  opt.amx = amx;
  const ResNet50 model(b, opt);
  CHECK(model.num_classes() == nc);
  CHECK(model.feature_dim() == 2048);
  CHECK(model.preprocess().resize == 40);
  CHECK(model.preprocess().crop == 32);
  CHECK_FALSE(model.untrained());
  ResNetSession s = model.session();
  for (const auto& nhw : {std::tuple<int64_t, int64_t, int64_t>{2, 35, 29}, {1, 1, 1}, {3, 17, 40}}) {
    const int64_t n = std::get<0>(nhw), h = std::get<1>(nhw), w = std::get<2>(nhw);
    CAPTURE(n);
    CAPTURE(h);
    CAPTURE(w);
    const auto x = randn(size_t(n * 3 * h * w), uint32_t(n * 1000 + h * 10 + w));
    const ResNetOutput out = s.forward(x.data(), n, h, w, true);
    std::vector<float> pooled, logits, fmap;
    int64_t fh = 0, fw = 0;
    reference_forward(t, x, n, h, w, nc, &pooled, &logits, &fmap, &fh, &fw);
    REQUIRE(out.n == n);
    REQUIRE(out.logits.size() == logits.size());
    CHECK(out.feature_h == fh);
    CHECK(out.feature_w == fw);
    CHECK(rel_l2(out.pooled, pooled) < 1e-5);
    CHECK(rel_l2(out.logits, logits) < 1e-5);
    CHECK(rel_l2(out.feature_map, fmap) < 1e-5);
  }
  }
}

TEST_CASE("ResNet50 results do not depend on threads, batch composition or the session") {
  for (bool amx : amx_modes()) {
  CAPTURE(amx);
  const TinyNet t = tiny_resnet(7, 12);
  const Bundle b = Bundle::from_memory(t.bytes.data(), t.bytes.size(), "tiny");
  // 5 images through layer1-2: one thread runs them one by one; two run four on their own
  // lanes and the last split over both; three run three on lanes and the last two as one
  // batch over all three. Then layer3-4 take all five as one batch. One image alone runs
  // the whole network as a batch of one.
  const int64_t n = 5, h = 48, w = 40;
  const auto x = randn(size_t(n * 3 * h * w), 5);
  std::vector<float> base, base_pooled, base_fmap;
  for (int threads : {1, 2, 3}) {
    CAPTURE(threads);
    Options opt;
    opt.threads = threads;
    opt.amx = amx;
    const ResNet50 model(b, opt);
    ResNetSession s = model.session();
    const ResNetOutput out = s.forward(x.data(), n, h, w, true);
    if (base.empty()) {
      base = out.logits;
      base_pooled = out.pooled;
      base_fmap = out.feature_map;
    }
    CHECK(out.logits == base);
    CHECK(out.pooled == base_pooled);
    CHECK(out.feature_map == base_fmap);
    // One image at a time gives the same bits as the batch.
    const size_t map_per = base_fmap.size() / size_t(n);
    for (int64_t i = 0; i < n; ++i) {
      const ResNetOutput one = s.forward(x.data() + i * 3 * h * w, 1, h, w, true);
      CHECK(std::equal(one.logits.begin(), one.logits.end(), base.begin() + i * 7));
      CHECK(std::equal(one.pooled.begin(), one.pooled.end(), base_pooled.begin() + i * 2048));
      REQUIRE(one.feature_map.size() == map_per);
      CHECK(std::equal(one.feature_map.begin(), one.feature_map.end(), base_fmap.begin() + i * int64_t(map_per)));
    }
  }
  // Many threads, one shared model, one session each.
  Options opt;
  opt.threads = 1;
  opt.amx = amx;
  const ResNet50 model(b, opt);
  std::vector<std::vector<float>> got(4);
  std::vector<std::thread> th;
  for (int i = 0; i < 4; ++i)
    th.emplace_back([&, i] {
      ResNetSession s = model.session();
      for (int rep = 0; rep < 2; ++rep) got[size_t(i)] = s.forward(x.data(), n, h, w).logits;
    });
  for (auto& tt : th) tt.join();
  for (const auto& g : got) CHECK(g == base);
  }
}

TEST_CASE("ResNet50 on decoded images equals the model on the preprocessed tensor") {
  const TinyNet t = tiny_resnet(5, 13);
  const Bundle b = Bundle::from_memory(t.bytes.data(), t.bytes.size(), "tiny");
  const ResNet50 model(b);
  ResNetSession s = model.session();
  std::vector<Image> imgs;
  for (int k = 0; k < 2; ++k) {
    std::vector<uint8_t> px(size_t(53 * 37 * 3));
    for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((i * 7 + size_t(k) * 31) % 251);
    imgs.push_back(Image::from_rgb(px.data(), 53, 37));
  }
  const ResNetOutput a = s.forward(imgs);
  std::vector<float> x;
  for (const auto& im : imgs) {
    const auto v = model.preprocess().run(im);
    x.insert(x.end(), v.begin(), v.end());
  }
  const ResNetOutput r = s.forward(x.data(), 2, 32, 32);
  CHECK(a.logits == r.logits);
  CHECK(a.pooled == r.pooled);
}

TEST_CASE("ResNet50 loads the image tower of a try-on bundle under its prefix") {
  const TinyNet t = tiny_resnet(4, 14, "image.", "tryon");
  const Bundle b = Bundle::from_memory(t.bytes.data(), t.bytes.size(), "tiny-tryon");
  CHECK_THROWS_WITH_AS(ResNet50{b}, doctest::Contains("not a resnet50"), Error);
  const ResNet50 model(b, b.config()["image"], "image.", Options{});
  CHECK(model.num_classes() == 4);
  const TinyNet plain = tiny_resnet(4, 14);
  const Bundle pb = Bundle::from_memory(plain.bytes.data(), plain.bytes.size(), "tiny");
  const ResNet50 ref(pb);
  const auto x = randn(3 * 32 * 32, 3);
  ResNetSession s1 = model.session(), s2 = ref.session();
  CHECK(s1.forward(x.data(), 1, 32, 32).logits == s2.forward(x.data(), 1, 32, 32).logits);
}

TEST_CASE("ResNet50 refuses bad bundles and bad calls with clear errors") {
  {
    const TinyNet t = tiny_resnet(3, 15, "", "resnet50", /*folded=*/false);
    const Bundle b = Bundle::from_memory(t.bytes.data(), t.bytes.size(), "unfolded");
    CHECK_THROWS_WITH_AS(ResNet50{b}, doctest::Contains("BatchNorm"), Error);
  }
  const TinyNet t = tiny_resnet(3, 16);
  const Bundle b = Bundle::from_memory(t.bytes.data(), t.bytes.size(), "tiny");
  Options opt;
  opt.limits.max_batch = 4;
  const ResNet50 model(b, opt);
  ResNetSession s = model.session();
  const auto x = randn(6 * 3 * 16 * 16, 4);
  CHECK_THROWS_AS(s.forward(x.data(), 0, 16, 16), Error);
  CHECK_THROWS_AS(s.forward(nullptr, 1, 16, 16), Error);
  CHECK_THROWS_WITH_AS(s.forward(x.data(), 5, 16, 16), doctest::Contains("batch"), Error);
  CHECK_THROWS_AS(s.forward(x.data(), 1, 0, 16), Error);
  CHECK_THROWS_AS(s.forward(x.data(), 1, 100000, 100000), Error);
  CHECK_THROWS_AS(s.forward(std::vector<Image>{}), Error);
  // The session still works after errors.
  CHECK(s.forward(x.data(), 1, 16, 16).logits.size() == 3);
}
