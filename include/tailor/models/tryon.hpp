// tailor/models/tryon.hpp: the whole try-on model: image -> ResNet50, text -> BERT, fusion
// head -> score; ranking and explanations on top.
//
// Mirrors converters/reference_model.py (ImageTextModel): image_features() is the ResNet's
// pooled features or fc logits, text_features() BERT's pooler / [CLS] / masked mean / classifier
// logits, fuse() the head (models/fusion_head.hpp). A "tryon" bundle holds the three parts
// under "image.", "text." and "head." with tailor.config = {"image", "text", "head"}.
//
// Caching: the head's first layer is split into an image part and a text part, so
//   - rank(image, texts) runs the image tower once and the texts as batches;
//   - rank_images(text, images) runs the text tower once;
//   - encode_image()/encode_texts() hand the cached features to a caller that scores many
//     combinations itself (score_features()).
// TryOn is immutable and shared by threads; each thread scores through its own TryOnSession.
// Options::device picks the towers' device: the CPU models, or the GPU ones of tailor/cuda.hpp
// (a program linked with tailor::cuda); their outputs are converted to the CPU layouts
// (models/device_outputs.hpp), so everything after the towers is the same code.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tailor/core/error.hpp"
#include "tailor/core/options.hpp"
#include "tailor/image/heatmap.hpp"
#include "tailor/image/image.hpp"
#include "tailor/image/preprocess.hpp"
#include "tailor/io/bundle.hpp"
#include "tailor/cuda.hpp"
#include "tailor/models/bert.hpp"
#include "tailor/models/device_outputs.hpp"
#include "tailor/models/fusion_head.hpp"
#include "tailor/models/registry.hpp"
#include "tailor/models/resnet50.hpp"
#include "tailor/text/tokenizer.hpp"

namespace tailor {

/// Milliseconds per stage of the last call on a session.
struct TryOnTimings {
  double decode = 0, preprocess = 0, image_tower = 0, tokenize = 0, text_tower = 0, head = 0;
  /// The call's wall time after decoding. The stages add up to it, except where they overlap:
  /// rank() on several threads runs the preprocess and image tower on one thread beside the
  /// text tower (`overlapped`), whose time then spans both.
  double total = 0;
  bool overlapped = false;
};

/// One (image, text) score.
struct Score {
  std::vector<float> logits;         ///< (n_out)
  std::vector<float> probabilities;  ///< (n_out): sigmoid for one output, softmax otherwise
  float logit() const { return logits.at(0); }
  float probability() const { return probabilities.at(0); }
};

/// One entry of a ranking, best first.
struct RankedItem {
  size_t index = 0;  ///< position in the caller's list
  float logit = 0, probability = 0;  ///< of the first output
  Score score;                       ///< every output
};

/// An image through the image tower, ready to be scored against any number of texts.
struct ImageEncoding {
  std::vector<float> feature;      ///< (d_img): pooled (2048) or fc logits
  std::vector<float> head_part;    ///< (first_width): the head's image part, computed once
  std::vector<float> feature_map;  ///< (gh, gw, 2048) NHWC, when kept for explanations
  int64_t grid_h = 0, grid_w = 0;
  CropBox crop;                    ///< the centre crop the tower saw, in photo pixels
};

/// A text through the tokenizer and the text tower.
struct TextEncoding {
  Encoding tokens;                 ///< ids, type ids, mask, offsets
  std::vector<float> feature;      ///< (d_txt)
  std::vector<float> hidden;       ///< (T, H) last hidden states, when kept for explanations
};

/// What --explain reports.
struct Explanation {
  int64_t output = 0;              ///< the explained output (the highest logit)
  float logit = 0;
  /// "cam": exact class-activation map (the head is linear in the image feature); each cell
  /// is its share of the image part of the logit, and the cells sum to it.
  /// "occlusion": logit drop when the cell's patch of the input is set to the mean colour.
  std::string image_method;
  int64_t grid_h = 0, grid_w = 0;
  std::vector<float> map;          ///< (grid_h, grid_w)
  float image_part = 0;            ///< cam: w_img . feature (+ the bias share of "logits" features)
  CropBox crop;
  /// "exact": per-token share of the text part of the logit (mean pooling, linear head);
  /// "occlusion": logit drop when the token is left out of the text.
  std::string token_method;
  std::vector<std::string> tokens;
  std::vector<std::pair<int32_t, int32_t>> offsets;
  std::vector<float> token_contributions;
  float text_part = 0;             ///< exact: w_txt . feature
};

class TryOnSession;

class TryOn {
 public:
  /// Loads a "tryon" bundle: validated, then the towers (on opt.device), the tokenizer and
  /// the head.
  explicit TryOn(const Bundle& b, const Options& opt = {}) : opt_(opt) {
    if (b.arch() != "tryon")
      detail::fail(ErrorCode::unsupported, b.path() + " is a '" + b.arch() + "' bundle, not a tryon one",
                   "convert an ImageTextModel checkpoint with converters/convert.py tryon");
    validate_bundle(b);
    const json& c = b.config();
    image_cfg_ = ResNetConfig::from_json(c.at("image"), b.path() + ": tailor.config.image");
    text_cfg_ = BertConfig::from_json(c.at("text"), b.path() + ": tailor.config.text");
    pre_ = Preprocess::from_json(b.preprocess(), b.path() + ": tailor.preprocess");
    if (opt.device == Device::cuda) {
      gpu_image_ = std::make_unique<cuda::ResNet50>(b, c.at("image"), "image.", opt);
      gpu_text_ = std::make_unique<cuda::Bert>(b, c.at("text"), "text.", opt);
    } else {
      image_ = std::make_unique<ResNet50>(b, c.at("image"), "image.", opt);
      text_ = std::make_unique<Bert>(b, c.at("text"), "text.", opt);
    }
    tokenizer_ = std::make_unique<BertTokenizer>(
        BertTokenizer::from_vocab(b.vocab(), text_cfg_.tokenizer, opt.limits, b.path() + ": tailor.vocab"));
    head_cfg_ = FusionHeadConfig::from_json(c.at("head"), b.path() + ": tailor.config.head");
    const auto dims = detail::tryon_feature_dims(image_cfg_, text_cfg_, head_cfg_, b.path());
    head_ = FusionHead(b, head_cfg_, dims.first, dims.second, "head.");
    if (head_cfg_.image_feature == "logits" && head_cfg_.is_linear()) {  // for exact CAMs through fc
      const int64_t K = image_cfg_.num_classes, C = image_cfg_.feature_dim();
      fc_w_ = b.load_f32("image.fc.weight", {K, C});
      fc_b_ = b.load_f32("image.fc.bias", {K});
    }
    untrained_ = b.untrained();
  }

  TryOnSession session() const;

  const ResNetConfig& image_config() const noexcept { return image_cfg_; }
  const BertConfig& text_config() const noexcept { return text_cfg_; }
  const BertTokenizer& tokenizer() const noexcept { return *tokenizer_; }
  const FusionHead& head() const noexcept { return head_; }
  const FusionHeadConfig& head_config() const noexcept { return head_cfg_; }
  /// The transform the image tower expects (the bundle's tailor.preprocess).
  const Preprocess& preprocess() const noexcept { return pre_; }
  /// Parts with random weights ("image", "text", "head"): say so next to every score.
  const std::vector<std::string>& untrained() const noexcept { return untrained_; }
  const Options& options() const noexcept { return opt_; }
  /// The image tower's fc (num_classes, 2048) and bias, kept when the head reads its logits.
  const std::vector<float>& image_fc_weight() const noexcept { return fc_w_; }
  const std::vector<float>& image_fc_bias() const noexcept { return fc_b_; }

 private:
  friend class TryOnSession;
  Options opt_;
  ResNetConfig image_cfg_;
  BertConfig text_cfg_;
  Preprocess pre_;
  std::vector<float> fc_w_, fc_b_;
  std::unique_ptr<ResNet50> image_;  // on the CPU, or
  std::unique_ptr<Bert> text_;
  std::unique_ptr<cuda::ResNet50> gpu_image_;  // on the GPU
  std::unique_ptr<cuda::Bert> gpu_text_;
  std::unique_ptr<BertTokenizer> tokenizer_;
  FusionHeadConfig head_cfg_;
  FusionHead head_;
  std::vector<std::string> untrained_;
};

/// One thread's handle on a TryOn: the towers' sessions, scratch, and the last timings.
class TryOnSession {
 public:
  explicit TryOnSession(const TryOn& m) : m_(&m), head_pool_(std::make_unique<ThreadPool>(1)) {
    if (m.image_) {
      img_.emplace(m.image_->session());
      txt_.emplace(m.text_->session());
    } else {
      gpu_img_.emplace(m.gpu_image_->session());
      gpu_txt_.emplace(m.gpu_text_->session());
    }
  }

  const TryOn& model() const noexcept { return *m_; }
  /// Per-stage milliseconds of the last score / rank / explain call.
  const TryOnTimings& timings() const noexcept { return t_; }
  /// Texts per text-tower batch (rank): at most n; on several threads the last batches are
  /// smaller, so the threads finish together. The scores do not depend on it.
  void set_text_batch_size(size_t n) { text_batch_ = std::max<size_t>(1, n); }

  /// Called as the batches of rank() / encode_texts() (texts through the text tower) or of
  /// rank_images() (photos through the image tower) finish: (items done, items in all).
  /// Calls are never concurrent (the threads of a rank take turns) and come from the threads
  /// doing the work, so keep it short. Empty (the default): no calls.
  using Progress = std::function<void(size_t done, size_t total)>;
  void set_progress(Progress p) { progress_ = std::move(p); }

  /// Decodes an image file with the model's limits (timed as "decode").
  Image load_image(const std::string& path) {
    const auto t0 = now();
    Image img = Image::load(path, m_->options().limits);
    t_.decode = ms_since(t0);
    return img;
  }

  /// Image -> preprocess -> image tower -> feature and the head's image part.
  ImageEncoding encode_image(const Image& img, bool keep_feature_map = false) {
    auto r = encode_images(std::vector<const Image*>{&img}, keep_feature_map);
    return std::move(r[0]);
  }
  std::vector<ImageEncoding> encode_images(const std::vector<Image>& imgs, bool keep_feature_map = false) {
    std::vector<const Image*> ptrs(imgs.size());
    for (size_t i = 0; i < imgs.size(); ++i) ptrs[i] = &imgs[i];
    return encode_images(ptrs, keep_feature_map);
  }
  std::vector<ImageEncoding> encode_images(const std::vector<const Image*>& imgs, bool keep_feature_map = false) {
    return encode_images_on(img_ ? &*img_ : nullptr, imgs, keep_feature_map, t_);
  }

 private:
  /// encode_images() on the CPU session s (null: the GPU), timed into t.
  std::vector<ImageEncoding> encode_images_on(ResNetSession* s, const std::vector<const Image*>& imgs,
                                              bool keep_feature_map, TryOnTimings& t) {
    TAILOR_CHECK(!imgs.empty(), ErrorCode::invalid_argument, "no images to encode", "pass at least one image");
    const Preprocess& pre = m_->preprocess();
    auto t0 = now();
    std::vector<float> x(imgs.size() * pre.output_size());
    for (size_t i = 0; i < imgs.size(); ++i) pre.run(*imgs[i], x.data() + i * pre.output_size());
    t.preprocess = ms_since(t0);
    t0 = now();
    const ResNetOutput out = image_forward(s, x.data(), int64_t(imgs.size()), pre.crop, pre.crop, keep_feature_map);
    t.image_tower = ms_since(t0);
    t0 = now();
    std::vector<ImageEncoding> encs(imgs.size());
    const FusionHead& h = m_->head();
    const bool logits = m_->head_config().image_feature == "logits";
    for (size_t i = 0; i < imgs.size(); ++i) {
      ImageEncoding& e = encs[i];
      const float* f = logits ? out.logits.data() + i * size_t(out.num_classes) : out.pooled.data() + i * size_t(out.feature_dim);
      e.feature.assign(f, f + h.image_dim());
      e.head_part.resize(size_t(h.first_width()));
      h.image_part(e.feature.data(), e.head_part.data());
      e.crop = crop_box(*imgs[i]);
      if (keep_feature_map) {
        e.grid_h = out.feature_h;
        e.grid_w = out.feature_w;
        const size_t cell = size_t(out.feature_h * out.feature_w * out.feature_dim);
        e.feature_map.assign(out.feature_map.begin() + long(i * cell), out.feature_map.begin() + long((i + 1) * cell));
      }
    }
    t.head = ms_since(t0);
    return encs;
  }

 public:
  /// Texts -> tokenizer -> text tower (batched) -> features.
  std::vector<TextEncoding> encode_texts(const std::vector<std::string>& texts, bool keep_hidden = false) {
    return encode_texts_impl(texts, keep_hidden, /*report_progress=*/true);
  }

  /// Scores cached encodings: logits of image i against every text, (texts.size(), n_out).
  std::vector<float> score_features(const ImageEncoding& img, const std::vector<TextEncoding>& texts) {
    const FusionHead& h = m_->head();
    std::vector<float> txt(texts.size() * size_t(h.text_dim()));
    for (size_t i = 0; i < texts.size(); ++i) std::copy(texts[i].feature.begin(), texts[i].feature.end(), txt.begin() + long(i * size_t(h.text_dim())));
    std::vector<float> logits(texts.size() * size_t(h.n_out()));
    h.forward_one_image(img.head_part.data(), txt.data(), int64_t(texts.size()), logits.data(), *head_pool_);
    return logits;
  }

  /// The score of one (image, text) pair.
  Score score(const Image& img, const std::string& text) {
    const auto start = now();
    TryOnTimings keep;
    const ImageEncoding ie = encode_image(img);
    keep = t_;
    keep.overlapped = false;
    const auto te = encode_texts_impl({text}, false, false);
    keep.tokenize = t_.tokenize;
    keep.text_tower = t_.text_tower;
    const auto t0 = now();
    Score s = make_score(score_features(ie, te).data());
    keep.head += ms_since(t0);
    keep.decode = t_.decode;
    keep.total = ms_since(start);
    t_ = keep;
    return s;
  }

  /// The best `top_k` of `texts` for one image (all of them when top_k is 0), best first by
  /// the first output's logit. The image tower runs once.
  std::vector<RankedItem> rank(const Image& img, const std::vector<std::string>& texts, size_t top_k = 0) {
    const auto start = now();
    TryOnTimings keep;
    ImageEncoding ie;
    std::vector<TextEncoding> te;
    if (img_ && text_lanes(texts.size()) > 1) {
      // Texts enough for every thread: one of them runs the photo through the image tower on
      // its own one-thread session first (a batch-1 ResNet splits poorly over threads), then
      // joins the others on the texts. The same bits as the image tower on all threads.
      if (!img_lane_) img_lane_.emplace(m_->image_->session(1));
      bool overlapped = false;  // false when the distinct texts are too few for the lanes
      te = encode_texts_impl(
          texts, false, true,
          [&] { ie = std::move(encode_images_on(&*img_lane_, std::vector<const Image*>{&img}, false, keep)[0]); },
          &overlapped);
      keep.overlapped = overlapped;
    } else {
      ie = encode_image(img);
      keep = t_;
      keep.overlapped = false;
      te = encode_texts(texts);
    }
    keep.decode = t_.decode;
    keep.tokenize = t_.tokenize;
    keep.text_tower = t_.text_tower;
    const auto t0 = now();
    const auto logits = score_features(ie, te);
    auto r = ranked(logits, texts.size(), top_k);
    keep.head += ms_since(t0);
    keep.total = ms_since(start);
    t_ = keep;
    return r;
  }

  /// The best `top_k` of `images` for one text. The text tower runs once; images are run in
  /// batches of `batch` through the image tower.
  std::vector<RankedItem> rank_images(const std::vector<Image>& images, const std::string& text, size_t top_k = 0,
                                      size_t batch = 8) {
    TAILOR_CHECK(!images.empty(), ErrorCode::invalid_argument, "no images to rank", "");
    return rank_images_impl(images.size(), text, top_k, batch, [&](size_t i, std::optional<Image>&) { return &images[i]; });
  }

  /// Photo i of a source of `count` photos, or std::nullopt to leave it out of the ranking
  /// (say, a file that does not decode).
  using ImageSource = std::function<std::optional<Image>(size_t i)>;

  /// rank_images() over photos loaded on demand: `load` is called once per index, in order,
  /// and at most `batch` decoded photos are held at a time, so a folder of any size ranks in
  /// bounded memory. The calls to `load` are timed as "decode". Items' `index` is the
  /// source's; photos left out are not ranked (empty when every photo was left out).
  std::vector<RankedItem> rank_images(size_t count, const ImageSource& load, const std::string& text, size_t top_k = 0,
                                      size_t batch = 8) {
    TAILOR_CHECK(count > 0, ErrorCode::invalid_argument, "no images to rank", "");
    TAILOR_CHECK(bool(load), ErrorCode::invalid_argument, "rank_images: no image source", "pass a function that loads photo i");
    double decode_ms = 0;
    auto r = rank_images_impl(count, text, top_k, batch, [&](size_t i, std::optional<Image>& slot) -> const Image* {
      const auto t0 = now();
      slot = load(i);
      decode_ms += ms_since(t0);
      return slot ? &*slot : nullptr;
    });
    t_.decode = decode_ms;
    return r;
  }

  /// Why the pair scores what it does: a map over the image and a contribution per token.
  Explanation explain(const Image& img, const std::string& text) {
    const FusionHead& h = m_->head();
    const FusionHeadConfig& hc = m_->head_config();
    const ImageEncoding ie = encode_image(img, /*keep_feature_map=*/true);
    const auto te = encode_texts_impl({text}, /*keep_hidden=*/true, false);
    const auto logits = score_features(ie, te);
    Explanation ex;
    ex.output = int64_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    ex.logit = logits[size_t(ex.output)];
    ex.crop = ie.crop;
    ex.grid_h = ie.grid_h;
    ex.grid_w = ie.grid_w;
    if (hc.is_linear())
      cam(ie, ex);
    else
      occlude_image(img, te[0], ex);
    explain_tokens(te[0], ie.head_part, ex);
    (void)h;
    return ex;
  }

 private:
  using clock = std::chrono::steady_clock;
  static clock::time_point now() { return clock::now(); }
  static double ms_since(clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  }

  /// The image tower on the model's device: x (N, 3, H, W) normalized.
  ResNetOutput image_forward(ResNetSession* s, const float* x, int64_t n, int64_t h, int64_t w, bool keep_feature_map) {
    if (s) return s->forward(x, n, h, w, keep_feature_map);
    return to_host_output(gpu_img_->forward(x, n, h, w, /*logits=*/true, keep_feature_map));
  }
  /// The text tower on the model's device, in BertSession::forward's layout.
  BertOutput text_forward(BertSession* s, const std::vector<BertSequence>& seqs) {
    if (s) return s->forward(seqs);
    return to_host_output(gpu_txt_->forward(token_views(seqs), full_request(m_->text_config())), seqs);
  }

  /// How many threads encode_texts() runs n texts on as one-thread lanes: the pool's threads
  /// when there are at least 2 x threads x the smallest batch a lane takes, else 1 (the threads
  /// then split each op).
  size_t text_lanes(size_t n) {
    const int threads = txt_ ? txt_->pool().size() : 1;
    const size_t min_chunk = std::min<size_t>(text_batch_, kMinLaneBatch);
    return threads > 1 && n >= 2 * size_t(threads) * min_chunk ? size_t(threads) : 1;
  }

  /// encode_texts(), reporting to progress_ when asked (rank's texts; not score's one).
  /// beside: run before the texts, by one of the lanes when the texts run on lanes (then
  /// *beside_overlapped is set true). Identical texts (the same tokens) go through the tower
  /// once and share the features: a catalog that repeats a description pays for it once.
  std::vector<TextEncoding> encode_texts_impl(const std::vector<std::string>& texts, bool keep_hidden,
                                             bool report_progress, const std::function<void()>& beside = {},
                                             bool* beside_overlapped = nullptr) {
    TAILOR_CHECK(!texts.empty(), ErrorCode::invalid_argument, "no texts to encode", "pass at least one text");
    auto t0 = now();
    std::vector<TextEncoding> encs(texts.size());
    for (size_t i = 0; i < texts.size(); ++i) encs[i].tokens = m_->tokenizer().encode(texts[i]);
    // order: the first text of each distinct token sequence; weight: how many texts it stands
    // for (progress counts texts); first[i]: the text whose features text i takes.
    std::vector<size_t> order, weight, first(texts.size());
    {
      std::unordered_map<std::string, size_t> seen;
      std::string key;
      for (size_t i = 0; i < texts.size(); ++i) {
        const Encoding& e = encs[i].tokens;
        key.clear();
        for (const std::vector<int32_t>* v : {&e.ids, &e.type_ids, &e.attention_mask}) {
          const size_t len = v->size();
          key.append(reinterpret_cast<const char*>(&len), sizeof len);
          key.append(reinterpret_cast<const char*>(v->data()), len * sizeof(int32_t));
        }
        const auto [it, fresh] = seen.emplace(key, order.size());
        if (fresh) {
          order.push_back(i);
          weight.push_back(0);
        }
        first[i] = order[it->second];
        ++weight[it->second];
      }
    }
    t_.tokenize = ms_since(t0);
    t0 = now();
    auto run_batch = [&](BertSession* s, size_t b0, size_t b1) {  // positions [b0, b1) of order
      std::vector<BertSequence> batch;  // views of the encodings, no copies
      batch.reserve(b1 - b0);
      for (size_t i = b0; i < b1; ++i) batch.push_back(sequence_view(encs[order[i]].tokens));
      std::vector<TextEncoding> out(b1 - b0);
      text_features(s, batch, out.data(), keep_hidden);
      for (size_t i = b0; i < b1; ++i) {
        encs[order[i]].feature = std::move(out[i - b0].feature);
        encs[order[i]].hidden = std::move(out[i - b0].hidden);
      }
    };
    auto texts_in = [&](size_t b0, size_t b1) {
      size_t c = 0;
      for (size_t i = b0; i < b1; ++i) c += weight[i];
      return c;
    };
    const size_t n = order.size();
    const bool report = progress_ && report_progress;
    const size_t lanes = text_lanes(n);
    const size_t min_chunk = std::min<size_t>(text_batch_, kMinLaneBatch);
    if (lanes > 1) {
      // Enough texts to go round: each thread runs whole batches on its own one-thread
      // session (no fork-join per op, no thread idle at an op's tail). A thread takes
      // text_batch_ texts at a time until fewer than 2 x threads full batches are left, then
      // a share of what is left (at least kMinLaneBatch), so the threads finish together
      // instead of one waiting out the other's last full batch. Every row of a batch is
      // computed the same way whatever else is in it, so the same bits as one session.
      while (txt_lanes_.size() < lanes) txt_lanes_.push_back(std::make_unique<BertSession>(*m_->text_, 1));
      std::mutex mu;
      size_t next = 0, done = 0;
      auto grab = [&](size_t& b0, size_t& b1, bool finished) {
        const std::lock_guard<std::mutex> lock(mu);
        if (finished && report) progress_(done += texts_in(b0, b1), texts.size());
        const size_t left = n - next;
        if (left == 0) return false;
        const size_t share = (left + 2 * lanes - 1) / (2 * lanes);
        b0 = next;
        b1 = next + std::min(left, std::clamp(share, min_chunk, text_batch_));
        next = b1;
        return true;
      };
      if (beside && beside_overlapped) *beside_overlapped = true;
      txt_->pool().run(int(lanes), [&](int lane) {
        if (lane == 0 && beside) beside();
        size_t b0 = 0, b1 = 0;
        for (bool finished = false; grab(b0, b1, finished); finished = true)
          run_batch(txt_lanes_[size_t(lane)].get(), b0, b1);
      });
    } else {
      if (beside) beside();
      for (size_t b0 = 0, done = 0; b0 < n; b0 += text_batch_) {
        const size_t b1 = std::min(n, b0 + text_batch_);
        run_batch(txt_ ? &*txt_ : nullptr, b0, b1);
        if (report) progress_(done += texts_in(b0, b1), texts.size());
      }
    }
    for (size_t i = 0; i < texts.size(); ++i)
      if (first[i] != i) {
        encs[i].feature = encs[first[i]].feature;
        encs[i].hidden = encs[first[i]].hidden;
      }
    t_.text_tower = ms_since(t0);
    return encs;
  }

  /// rank_images' loop: get(i, slot) gives photo i (held in slot if it loads it), or null to
  /// leave it out; `batch` at a time through the image tower, then dropped.
  template <class Get>
  std::vector<RankedItem> rank_images_impl(size_t count, const std::string& text, size_t top_k, size_t batch, Get&& get) {
    const auto start = now();
    batch = std::max<size_t>(1, batch);
    const auto te = encode_texts_impl({text}, false, false);
    TryOnTimings keep = t_;
    keep.preprocess = keep.image_tower = keep.head = 0;
    keep.overlapped = false;
    const size_t n_out = size_t(m_->head().n_out());
    std::vector<float> logits;
    std::vector<size_t> index;  // the source's index of each scored photo
    std::vector<std::optional<Image>> slots(batch);
    std::vector<const Image*> ptrs;
    for (size_t b0 = 0; b0 < count; b0 += batch) {
      const size_t b1 = std::min(count, b0 + batch);
      ptrs.clear();
      for (size_t i = b0; i < b1; ++i) {
        std::optional<Image>& slot = slots[i - b0];
        slot.reset();
        if (const Image* img = get(i, slot)) {
          ptrs.push_back(img);
          index.push_back(i);
        }
      }
      if (!ptrs.empty()) {
        const auto ies = encode_images(ptrs);
        keep.preprocess += t_.preprocess;
        keep.image_tower += t_.image_tower;
        const auto t0 = now();
        for (const ImageEncoding& ie : ies) {
          const auto l = score_features(ie, te);
          logits.insert(logits.end(), l.begin(), l.begin() + long(n_out));
        }
        keep.head += t_.head + ms_since(t0);
      }
      if (progress_) progress_(b1, count);
    }
    for (auto& slot : slots) slot.reset();
    keep.total = ms_since(start);
    t_ = keep;
    auto r = ranked(logits, index.size(), top_k);
    for (RankedItem& item : r) item.index = index[item.index];
    return r;
  }

  /// Fills encs[i].feature (and .hidden) for a batch of sequences.
  /// s: the CPU session to run on (null on the GPU).
  void text_features(BertSession* s, const std::vector<BertSequence>& seqs, TextEncoding* encs, bool keep_hidden) {
    const std::string& f = m_->head_config().text_feature;
    const BertOutput out = text_forward(s, seqs);
    for (size_t i = 0; i < seqs.size(); ++i) {
      if (f == "logits") {
        const float* l = out.logits.data() + i * size_t(out.num_labels);
        encs[i].feature.assign(l, l + out.num_labels);
      } else {
        encs[i].feature = out.sentence_embedding(i, pooling_from_name(f), /*normalize=*/false);
      }
      if (keep_hidden) encs[i].hidden.assign(out.hidden(i), out.hidden(i) + out.length(i) * out.hidden_size);
    }
  }

  Score make_score(const float* logits) const {
    Score s;
    const int64_t n = m_->head().n_out();
    s.logits.assign(logits, logits + n);
    s.probabilities.resize(size_t(n));
    FusionHead::probabilities(logits, n, s.probabilities.data());
    return s;
  }

  std::vector<RankedItem> ranked(const std::vector<float>& logits, size_t count, size_t top_k) const {
    const int64_t n = m_->head().n_out();
    std::vector<RankedItem> r(count);
    for (size_t i = 0; i < count; ++i) {
      r[i].index = i;
      r[i].score = make_score(logits.data() + i * size_t(n));
      r[i].logit = r[i].score.logit();
      r[i].probability = r[i].score.probability();
    }
    // Stable: equal logits keep the caller's order.
    std::stable_sort(r.begin(), r.end(), [](const RankedItem& a, const RankedItem& b) { return a.logit > b.logit; });
    if (top_k > 0 && top_k < r.size()) r.resize(top_k);
    return r;
  }

  /// The centre crop the image tower saw, in photo pixels (torchvision's Resize + CenterCrop
  /// geometry; see Preprocess::resize_crop).
  CropBox crop_box(const Image& img) const {
    const Preprocess& pre = m_->preprocess();
    const auto [nw, nh] = pre.resized_size(img.width(), img.height());
    const double sx = double(img.width()) / nw, sy = double(img.height()) / nh;
    // Where the crop starts in the resized image: int(round((side - crop) / 2.0)) (Python
    // rounds half to even), or minus the zero padding when the side is shorter than the crop.
    auto start = [&](int side) -> double {
      const int64_t d = int64_t(side) - pre.crop;
      if (d < 0) return -double((-d) / 2);
      if (d % 2 == 0) return double(d / 2);
      const int64_t lo = (d - 1) / 2;
      return double(lo % 2 == 0 ? lo : lo + 1);
    };
    const double left = start(nw), top = start(nh);
    CropBox b;
    b.x0 = std::max(0.0, left * sx);
    b.y0 = std::max(0.0, top * sy);
    b.x1 = std::min(double(img.width()), (left + pre.crop) * sx);
    b.y1 = std::min(double(img.height()), (top + pre.crop) * sy);
    return b;
  }

  /// Exact class-activation map: logit_o = w . feature + rest, feature = mean over cells of
  /// the feature map (or fc of it, itself linear), so cell (i, j)'s share is
  /// w . F[i, j] / cells (+ an equal share of w . fc.bias for "logits" features).
  void cam(const ImageEncoding& ie, Explanation& ex) const {
    const FusionHead& h = m_->head();
    const int64_t C = m_->image_config().feature_dim(), cells = ie.grid_h * ie.grid_w;
    const float* w = h.image_weight(ex.output);  // (d_img)
    std::vector<double> wc(static_cast<size_t>(C));           // the weight seen by one cell's C features
    double constant = 0;
    if (m_->head_config().image_feature == "logits") {
      // w . (W_fc x + b_fc): fold W_fc into w.
      const std::vector<float>& fc_w = m_->image_fc_weight();  // (num_classes, C)
      const std::vector<float>& fc_b = m_->image_fc_bias();
      const int64_t K = m_->image_config().num_classes;
      for (int64_t k = 0; k < K; ++k) {
        for (int64_t c = 0; c < C; ++c) wc[size_t(c)] += double(w[k]) * fc_w[size_t(k * C + c)];
        constant += double(w[k]) * fc_b[size_t(k)];
      }
    } else {
      for (int64_t c = 0; c < C; ++c) wc[size_t(c)] = w[c];
    }
    ex.image_method = "cam";
    ex.map.assign(size_t(cells), 0.f);
    double total = 0;
    for (int64_t p = 0; p < cells; ++p) {
      const float* f = ie.feature_map.data() + p * C;
      double a = 0;
      for (int64_t c = 0; c < C; ++c) a += wc[size_t(c)] * f[c];
      const double v = a / double(cells) + constant / double(cells);
      ex.map[size_t(p)] = float(v);
      total += v;
    }
    ex.image_part = float(total);
  }

  /// Occlusion sensitivity for non-linear heads: the logit drop when each cell's patch of
  /// the network input is set to 0 (the mean colour after normalisation).
  void occlude_image(const Image& img, const TextEncoding& te, Explanation& ex) {
    const Preprocess& pre = m_->preprocess();
    const FusionHead& h = m_->head();
    const int64_t gh = ex.grid_h, gw = ex.grid_w, S = pre.crop;
    const std::vector<float> base = pre.run(img);
    ex.image_method = "occlusion";
    ex.map.assign(size_t(gh * gw), 0.f);
    const size_t per = pre.output_size();
    const bool logits = m_->head_config().image_feature == "logits";
    std::vector<float> txt_part(static_cast<size_t>(h.first_width()));
    const int64_t batch = 7;
    for (int64_t p0 = 0; p0 < gh * gw; p0 += batch) {
      const int64_t n = std::min(batch, gh * gw - p0);
      std::vector<float> x(size_t(n) * per);
      for (int64_t k = 0; k < n; ++k) {
        float* xi = x.data() + size_t(k) * per;
        std::copy(base.begin(), base.end(), xi);
        const int64_t cy = (p0 + k) / gw, cx = (p0 + k) % gw;
        const int64_t y0 = cy * S / gh, y1 = (cy + 1) * S / gh, x0 = cx * S / gw, x1 = (cx + 1) * S / gw;
        for (int c = 0; c < 3; ++c)
          for (int64_t y = y0; y < y1; ++y)
            for (int64_t xx = x0; xx < x1; ++xx) xi[size_t(c) * size_t(S * S) + size_t(y * S + xx)] = 0.f;
      }
      const ResNetOutput out = image_forward(img_ ? &*img_ : nullptr, x.data(), n, S, S, false);
      for (int64_t k = 0; k < n; ++k) {
        const float* f = logits ? out.logits.data() + k * out.num_classes : out.pooled.data() + k * out.feature_dim;
        std::vector<float> part(static_cast<size_t>(h.first_width()));
        h.image_part(f, part.data());
        std::vector<float> l(static_cast<size_t>(h.n_out()));
        h.forward_one_image(part.data(), te.feature.data(), 1, l.data(), *head_pool_);
        ex.map[size_t(p0 + k)] = ex.logit - l[size_t(ex.output)];
      }
    }
  }

  /// Per-token contributions: exact for mean pooling under a linear head (w . h_t / T over
  /// attended tokens, summing to the text part of the logit), otherwise the logit drop when
  /// the token is left out.
  void explain_tokens(const TextEncoding& te, const std::vector<float>& image_part, Explanation& ex) {
    const FusionHead& h = m_->head();
    const auto& ids = te.tokens.ids;
    const int64_t T = int64_t(ids.size()), H = m_->text_config().hidden_size;
    for (int64_t t = 0; t < T; ++t) {
      ex.tokens.push_back(m_->tokenizer().id_to_token(ids[size_t(t)]));
      ex.offsets.push_back(te.tokens.offsets[size_t(t)]);
    }
    ex.token_contributions.assign(size_t(T), 0.f);
    if (m_->head_config().is_linear() && m_->head_config().text_feature == "mean") {
      ex.token_method = "exact";
      const float* w = h.text_weight(ex.output);
      int64_t n = 0;
      for (int64_t t = 0; t < T; ++t) n += te.tokens.attention_mask[size_t(t)] != 0;
      double total = 0;
      for (int64_t t = 0; t < T; ++t) {
        if (!te.tokens.attention_mask[size_t(t)]) continue;
        double a = 0;
        for (int64_t c = 0; c < H; ++c) a += double(w[c]) * te.hidden[size_t(t * H + c)];
        ex.token_contributions[size_t(t)] = float(a / double(std::max<int64_t>(n, 1)));
        total += a / double(std::max<int64_t>(n, 1));
      }
      ex.text_part = float(total);
      return;
    }
    // Leave-one-out: every non-special token removed in turn, the variants run as one batch.
    ex.token_method = "occlusion";
    std::vector<std::vector<int32_t>> ids_v, types_v, mask_v;
    std::vector<int64_t> which;
    for (int64_t t = 1; t + 1 < T; ++t) {
      auto cut = [&](const std::vector<int32_t>& v) {
        std::vector<int32_t> o(v);
        o.erase(o.begin() + t);
        return o;
      };
      ids_v.push_back(cut(ids));
      types_v.push_back(cut(te.tokens.type_ids));
      mask_v.push_back(cut(te.tokens.attention_mask));
      which.push_back(t);
    }
    if (which.empty()) return;
    std::vector<BertSequence> seqs(which.size());
    for (size_t i = 0; i < which.size(); ++i)
      seqs[i] = {ids_v[i].data(), types_v[i].data(), mask_v[i].data(), int64_t(ids_v[i].size())};
    std::vector<TextEncoding> variants(which.size());
    text_features(txt_ ? &*txt_ : nullptr, seqs, variants.data(), false);
    // The image part is the same for every variant.
    for (size_t i = 0; i < which.size(); ++i) {
      std::vector<float> l(static_cast<size_t>(h.n_out()));
      h.forward_one_image(image_part.data(), variants[i].feature.data(), 1, l.data(), *head_pool_);
      ex.token_contributions[size_t(which[i])] = ex.logit - l[size_t(ex.output)];
    }
  }

  const TryOn* m_;
  std::optional<ResNetSession> img_;  // CPU towers, or
  std::optional<BertSession> txt_;
  std::optional<ResNetSession> img_lane_;  // one-thread, for rank's image tower beside the texts (made on first use)
  std::vector<std::unique_ptr<BertSession>> txt_lanes_;  // one-thread sessions, made on first use (encode_texts)
  std::optional<cuda::ResNetSession> gpu_img_;  // GPU towers
  std::optional<cuda::BertSession> gpu_txt_;
  std::unique_ptr<ThreadPool> head_pool_;  // the head's small GEMMs
  TryOnTimings t_;
  Progress progress_;
  size_t text_batch_ = 32;
  // The smallest batch a thread takes when the texts are shared out at the end (encode_texts):
  // ~70 rows of short texts, still whole register tiles for the GEMM.
  static constexpr size_t kMinLaneBatch = 8;
};

inline TryOnSession TryOn::session() const { return TryOnSession(*this); }

}  // namespace tailor
