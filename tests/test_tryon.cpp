// tests/test_tryon.cpp: the try-on model on a small random tryon bundle built in memory
// (ResNet blocks [1, 1, 1, 1] on 64 x 64 crops, a 2-layer BERT, each head): the API paths
// agree with each other (score, rank, rank_images, cached features), 8 threads sharing one
// model get exactly the sequential results, the CAM cells sum to the image part, and bad
// inputs are errors. Parity with PyTorch is converters/tests/test_tryon.py.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <random>
#include <thread>

#include "tryon_builder.hpp"
#include "tailor/models/tryon.hpp"

using namespace tailor;
using namespace tailor::test;

namespace {

const std::vector<std::string> kTexts = {"a red summer dress", "black jeans with pockets", "a blue wool coat",
                                         "green silk shirt", "", "a a a a a a a a a a a a red dress"};

}  // namespace

TEST_CASE("score, rank, rank_images and cached features agree") {
  for (const char* fusion : {"concat_linear", "concat_mlp", "late"}) {
    CAPTURE(std::string(fusion));
    const std::string bytes = tiny_tryon({{"fusion", fusion}, {"image_feature", "pooled"}, {"text_feature", "mean"},
                                          {"n_out", 1}, {"mlp_hidden", 8}});
    const Bundle b = Bundle::from_memory(bytes.data(), bytes.size(), "tiny-tryon");
    Options opt;
    opt.threads = 2;
    const TryOn model(b, opt);
    CHECK(model.untrained() == std::vector<std::string>{"image", "text", "head"});
    TryOnSession s = model.session();
    const Image img = random_image(90, 70, 3);
    const auto ranked = s.rank(img, kTexts);
    REQUIRE(ranked.size() == kTexts.size());
    for (size_t i = 1; i < ranked.size(); ++i) CHECK(ranked[i - 1].logit >= ranked[i].logit);
    for (const auto& r : ranked) {
      const Score sc = s.score(img, kTexts[r.index]);
      CHECK(sc.logit() == doctest::Approx(r.logit).epsilon(1e-6));
      CHECK(sc.probability() == doctest::Approx(1.0 / (1.0 + std::exp(-double(sc.logit())))).epsilon(1e-6));
    }
    const auto top2 = s.rank(img, kTexts, 2);
    CHECK(top2.size() == 2);
    CHECK(top2[0].index == ranked[0].index);
    // One text against several images.
    const std::vector<Image> imgs = {random_image(64, 64, 1), random_image(120, 80, 2), img};
    const auto by_image = s.rank_images(imgs, kTexts[0], 0, 2);
    REQUIRE(by_image.size() == 3);
    for (const auto& r : by_image) CHECK(s.score(imgs[r.index], kTexts[0]).logit() == doctest::Approx(r.logit).epsilon(1e-6));
    // The timings of the last call are filled in.
    const TryOnTimings& t = s.timings();
    CHECK(t.image_tower > 0);
    CHECK(t.text_tower > 0);
    CHECK_FALSE(t.overlapped);
    CHECK(t.total >= t.text_tower + t.image_tower);
  }
}

TEST_CASE("rank_images from a source: photos loaded a batch at a time, the unreadable left out") {
  const std::string bytes = tiny_tryon({{"fusion", "concat_mlp"}, {"image_feature", "pooled"}, {"text_feature", "mean"},
                                        {"n_out", 2}, {"mlp_hidden", 8}});
  const Bundle b = Bundle::from_memory(bytes.data(), bytes.size(), "tiny-tryon");
  const TryOn model(b);
  TryOnSession s = model.session();
  std::vector<Image> imgs;
  for (uint32_t i = 0; i < 7; ++i) imgs.push_back(random_image(64 + int(i) * 7, 60 + int(i) * 3, 10 + i));
  const auto want = s.rank_images(imgs, kTexts[1], 0, 3);
  REQUIRE(want.size() == imgs.size());
  // Photo 4 "does not decode": it is left out, the others keep the source's indices and the
  // same scores (a different batch composition does not change them).
  std::vector<size_t> calls, progress;
  s.set_progress([&](size_t done, size_t total) {
    CHECK(total == imgs.size());
    progress.push_back(done);
  });
  const auto got = s.rank_images(
      imgs.size(),
      [&](size_t i) -> std::optional<Image> {
        calls.push_back(i);
        if (i == 4) return std::nullopt;
        return imgs[i];
      },
      kTexts[1], 0, 3);
  CHECK(calls == std::vector<size_t>{0, 1, 2, 3, 4, 5, 6});
  CHECK(progress == std::vector<size_t>{3, 6, 7});  // photos of the source gone through, batch by batch
  s.set_progress({});
  REQUIRE(got.size() == imgs.size() - 1);
  size_t j = 0;
  for (const RankedItem& w : want) {
    if (w.index == 4) continue;
    CHECK(got[j].index == w.index);
    CHECK(got[j].score.logits == w.score.logits);
    ++j;
  }
  CHECK(s.timings().decode >= 0);
  CHECK(s.timings().image_tower > 0);
  // top_k, every photo left out, no photos, no source.
  const auto top = s.rank_images(imgs.size(), [&](size_t i) -> std::optional<Image> { return imgs[i]; }, kTexts[1], 2, 4);
  REQUIRE(top.size() == 2);
  CHECK(top[0].index == want[0].index);
  CHECK(top[1].index == want[1].index);
  progress.clear();
  s.set_progress([&](size_t done, size_t) { progress.push_back(done); });
  CHECK(s.rank_images(3, [](size_t) -> std::optional<Image> { return std::nullopt; }, kTexts[1], 0, 2).empty());
  CHECK(progress == std::vector<size_t>{2, 3});
  CHECK_THROWS_WITH_AS(s.rank_images(0, [&](size_t i) -> std::optional<Image> { return imgs[i]; }, "x"),
                       doctest::Contains("no images"), Error);
  CHECK_THROWS_WITH_AS(s.rank_images(2, TryOnSession::ImageSource{}, "x"), doctest::Contains("no image source"), Error);
}

TEST_CASE("8 threads sharing one model get exactly the sequential results") {
  const std::string bytes = tiny_tryon({{"fusion", "concat_mlp"}, {"image_feature", "logits"}, {"text_feature", "pooler"},
                                        {"n_out", 3}, {"mlp_hidden", 8}});
  const Bundle b = Bundle::from_memory(bytes.data(), bytes.size(), "tiny-tryon");
  Options opt;
  opt.threads = 1;
  const TryOn model(b, opt);
  std::vector<Image> imgs;
  for (uint32_t i = 0; i < 4; ++i) imgs.push_back(random_image(64 + int(i) * 9, 64 + int(i) * 5, i));
  std::vector<std::vector<float>> want;
  {
    TryOnSession s = model.session();
    for (const auto& img : imgs)
      for (const auto& t : kTexts) want.push_back(s.score(img, t).probabilities);
  }
  std::vector<std::vector<std::vector<float>>> got(8);
  std::vector<std::thread> threads;
  for (int k = 0; k < 8; ++k)
    threads.emplace_back([&, k] {
      TryOnSession s = model.session();
      for (const auto& img : imgs)
        for (const auto& t : kTexts) got[size_t(k)].push_back(s.score(img, t).probabilities);
    });
  for (auto& th : threads) th.join();
  for (int k = 0; k < 8; ++k) CHECK(got[size_t(k)] == want);  // bit for bit
}

TEST_CASE("rank on several threads: batches run one per thread, same bits as one thread") {
  // Each model is also loaded on its thread count (the towers pack their weights in parallel).
  const std::string bytes = tiny_tryon({{"fusion", "concat_linear"}, {"image_feature", "pooled"}, {"text_feature", "mean"},
                                        {"n_out", 1}});
  const Bundle b = Bundle::from_memory(bytes.data(), bytes.size(), "tiny-tryon");
  std::vector<std::string> texts;
  // 40 distinct texts (identical ones would go through the tower once).
  for (int i = 0; i < 40; ++i) texts.push_back(kTexts[size_t(i) % kTexts.size()] + std::string(size_t(i) / 6, '!'));
  const Image img = random_image(80, 72, 7);
  std::vector<std::pair<size_t, float>> want;
  for (int threads : {1, 2, 3}) {
    CAPTURE(threads);
    Options opt;
    opt.threads = threads;
    const TryOn model(b, opt);
    TryOnSession s = model.session();
    // 20 batches of 2 (one per thread at a time); batches of at most 12, the last ones shared
    // out smaller on 2 threads (10, 8, 8, 8, 6) and split op by op on 3 (40 < 3 x 2 x 8);
    // then one batch of all 40.
    for (size_t batch : {size_t(2), size_t(12), size_t(64)}) {
      CAPTURE(batch);
      s.set_text_batch_size(batch);
      // Progress: one call per batch, one at a time, counting up to every text.
      std::vector<size_t> done;
      std::atomic<int> inside{0};
      bool overlapped = false;
      s.set_progress([&](size_t d, size_t total) {
        overlapped |= inside.fetch_add(1) != 0;
        CHECK(total == texts.size());
        done.push_back(d);
        inside.fetch_sub(1);
      });
      for (int rep = 0; rep < 2; ++rep) {  // the per-thread sessions are reused
        done.clear();
        std::vector<std::pair<size_t, float>> got;
        for (const auto& r : s.rank(img, texts)) got.emplace_back(r.index, r.logit);
        REQUIRE(got.size() == texts.size());
        if (want.empty()) want = got;
        CHECK(got == want);  // bit for bit, same order
        CHECK_FALSE(overlapped);
        // With texts enough for every thread, the image tower ran on one of them beside the
        // text tower (same bits as on all threads): its stretch holds the image tower's.
        const TryOnTimings& t = s.timings();
        CHECK(t.overlapped == (threads == 2 || (threads == 3 && batch == 2)));
        CHECK(t.image_tower > 0);
        CHECK(t.total >= t.text_tower + t.tokenize);
        if (t.overlapped) CHECK(t.text_tower >= t.preprocess + t.image_tower);
        else CHECK(t.total >= t.preprocess + t.image_tower + t.tokenize + t.text_tower);
        REQUIRE(done.size() >= (texts.size() + batch - 1) / batch);
        CHECK(std::is_sorted(done.begin(), done.end()));
        CHECK(done.front() > 0);
        CHECK(done.back() == texts.size());
      }
      s.set_progress({});
    }
  }
}

TEST_CASE("rank runs identical texts once and gives them the same scores") {
  const std::string bytes = tiny_tryon({{"fusion", "concat_mlp"}, {"image_feature", "pooled"}, {"text_feature", "mean"},
                                        {"n_out", 1}, {"mlp_hidden", 8}});
  const Bundle b = Bundle::from_memory(bytes.data(), bytes.size(), "tiny-tryon");
  std::vector<std::string> distinct, texts;
  for (int i = 0; i < 36; ++i) distinct.push_back(kTexts[size_t(i) % kTexts.size()] + std::string(size_t(i) / 6, '!'));
  // Each distinct text, then every third again, shuffled in.
  texts = distinct;
  for (size_t i = 0; i < distinct.size(); i += 3) texts.insert(texts.begin() + long(i * 7 % texts.size()), distinct[i]);
  const Image img = random_image(70, 90, 5);
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    Options opt;
    opt.threads = threads;
    const TryOn model(b, opt);
    TryOnSession s = model.session();
    s.set_text_batch_size(8);
    std::map<std::string, float> want;
    for (const auto& r : s.rank(img, distinct)) want[distinct[r.index]] = r.logit;
    size_t last_done = 0, total = 0, calls = 0;
    s.set_progress([&](size_t done, size_t all) {
      last_done = done;
      total = all;
      ++calls;
    });
    const auto got = s.rank(img, texts);
    REQUIRE(got.size() == texts.size());
    for (const auto& r : got) CHECK(r.logit == want.at(texts[r.index]));  // bit for bit
    CHECK(total == texts.size());
    CHECK(last_done == texts.size());
    if (threads == 1) CHECK(calls == (distinct.size() + 7) / 8);  // batches of the 36 distinct texts, not of 48
    // Encodings: a repeated text gets its twin's features.
    const auto enc = s.encode_texts({distinct[1], distinct[2], distinct[1]});
    CHECK(enc[0].feature == enc[2].feature);
    CHECK(enc[0].feature != enc[1].feature);
  }
}

TEST_CASE("explanations: CAM cells sum to the image part, tokens to the text part") {
  const std::string bytes = tiny_tryon({{"fusion", "late"}, {"image_feature", "pooled"}, {"text_feature", "mean"}, {"n_out", 2}});
  const Bundle b = Bundle::from_memory(bytes.data(), bytes.size(), "tiny-tryon");
  Options opt;
  opt.threads = 2;
  const TryOn model(b, opt);
  TryOnSession s = model.session();
  const Image img = random_image(100, 64, 9);
  const Explanation ex = s.explain(img, "a green silk shirt");
  CHECK(ex.image_method == "cam");
  CHECK(ex.token_method == "exact");
  CHECK(ex.grid_h == 2);  // 64 / 32
  double cells = 0, toks = 0;
  for (float v : ex.map) cells += v;
  for (float v : ex.token_contributions) toks += v;
  CHECK(cells == doctest::Approx(ex.image_part).epsilon(1e-5));
  CHECK(toks == doctest::Approx(ex.text_part).epsilon(1e-5));
  // logit = image part + text part + bias, exactly for a linear head.
  CHECK(ex.logit == doctest::Approx(ex.image_part + ex.text_part + model.head().bias(ex.output)).epsilon(1e-5));
  CHECK(ex.tokens.front() == "[CLS]");
  CHECK(ex.tokens.back() == "[SEP]");
  // The crop box: Resize(72) of 100x64 -> 112x72, CenterCrop(64) at (24, 4) -> photo pixels.
  CHECK(ex.crop.x0 == doctest::Approx(24 * 100.0 / 112));
  CHECK(ex.crop.x1 == doctest::Approx(88 * 100.0 / 112));
  CHECK(ex.crop.y0 == doctest::Approx(4 * 64.0 / 72));
}

TEST_CASE("bad inputs are errors, and the session stays usable") {
  const std::string bytes = tiny_tryon({{"fusion", "concat_linear"}, {"image_feature", "pooled"}, {"text_feature", "cls"}});
  const Bundle b = Bundle::from_memory(bytes.data(), bytes.size(), "tiny-tryon");
  const TryOn model(b);
  TryOnSession s = model.session();
  CHECK_THROWS_WITH_AS(s.rank(random_image(64, 64, 1), {}), doctest::Contains("no texts"), Error);
  CHECK_THROWS_WITH_AS(s.rank_images({}, "x"), doctest::Contains("no images"), Error);
  CHECK(std::isfinite(s.score(random_image(64, 64, 1), "a red dress").logit()));
  // A bert bundle is not a tryon bundle.
  const std::string bert = st_file(tensors_for(BertConfig::from_json(tiny_bert_config(), "t").tensor_specs()),
                                   bundle_meta("bert", tiny_bert_config(), tiny_vocab()));
  const Bundle bb = Bundle::from_memory(bert.data(), bert.size(), "bert.safetensors");
  CHECK_THROWS_WITH_AS(TryOn{bb}, doctest::Contains("is a 'bert' bundle, not a tryon one"), Error);
  // A head that reads the text classifier's logits needs one.
  const std::string no_cls =
      tiny_tryon({{"fusion", "concat_linear"}, {"image_feature", "pooled"}, {"text_feature", "logits"}}, 1, 0);
  const Bundle nc = Bundle::from_memory(no_cls.data(), no_cls.size(), "tiny-tryon");
  CHECK_THROWS_WITH_AS(TryOn{nc}, doctest::Contains("head.text_feature is 'logits' but the text tower has no classifier"),
                       Error);
}
