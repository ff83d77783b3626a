// examples/cli/cli_device.hpp: `--device cpu|cuda` and `--precision` for the CLI commands,
// and the towers behind one interface whichever device runs them.
//
// The CPU models (models/resnet50.hpp, models/bert.hpp) and the GPU ones (tailor/cuda.hpp)
// load the same bundles; a command declares the options with device_options(args) where it
// reads its others, then builds an ImageTower / TextTower instead of the model directly. Both
// return the CPU models' output types, so the printing code does not change.
// `--device cuda` on a machine without a usable GPU (or a build without the CUDA backend)
// fails with the tailor::Error(ErrorCode::device) cuda::require_device gives: what is
// missing and the hint to use --device cpu. The CPU path is unchanged.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "tailor/core/options.hpp"
#include "tailor/cuda.hpp"
#include "tailor/image/image.hpp"
#include "tailor/image/preprocess.hpp"
#include "tailor/io/bundle.hpp"
#include "tailor/models/bert.hpp"
#include "tailor/models/device_outputs.hpp"
#include "tailor/models/resnet50.hpp"
#include "tailor/text/tokenizer.hpp"

namespace tailor::cli {

/// Declares and reads --device, --precision and --amx into `opt` (device, precision,
/// cuda_device, amx).
inline void device_options(Args& args, Options& opt) {
  const std::string dev = args.option("--device", "D", "cpu | cuda (cuda[:N] for GPU N)", "cpu");
  const std::string prec =
      args.option("--precision", "P", "GPU precision: fp32 | tf32 | fp16 | bf16 (the CPU always computes fp32)", "fp32");
  opt.amx = args.flag("--amx",
                      "CPU: BERT's products and ResNet50's 1x1 convs on Intel AMX tiles (bf16x6, float32-accurate; "
                      "faster on big batches, slower on single short texts)") ||
            opt.amx;
  if (dev == "cpu") {
    opt.device = Device::cpu;
  } else if (dev == "cuda" || dev.rfind("cuda:", 0) == 0) {
    opt.device = Device::cuda;
    opt.cuda_device = 0;
    if (dev != "cuda") {
      const std::string n = dev.substr(5);
      if (n.empty() || n.size() > 3 || n.find_first_not_of("0123456789") != std::string::npos)
        throw UsageError("--device must be cpu, cuda or cuda:N, not '" + dev + "'");
      opt.cuda_device = std::stoi(n);
    }
  } else {
    throw UsageError("--device must be cpu, cuda or cuda:N, not '" + dev + "'");
  }
  if (prec == "fp32") opt.precision = Precision::fp32;
  else if (prec == "tf32") opt.precision = Precision::tf32;
  else if (prec == "fp16") opt.precision = Precision::fp16;
  else if (prec == "bf16") opt.precision = Precision::bf16;
  else throw UsageError("--precision must be fp32, tf32, fp16 or bf16, not '" + prec + "'");
  if (opt.device == Device::cpu && opt.precision != Precision::fp32)
    throw UsageError("--precision " + prec + " needs --device cuda (the CPU computes in fp32)");
  if (opt.amx && opt.device != Device::cpu) throw UsageError("--amx is a CPU option; drop it or --device");
  // No GPU check here (--help must still work): the GPU models' constructors call
  // cuda::require_device, whose tailor::Error names what is missing.
}

/// The ResNet image tower on opt.device: the bundle's preprocessing, then the CPU or GPU model.
class ImageTower {
 public:
  ImageTower(const Bundle& b, const Options& opt)
      : pre_(Preprocess::from_json(b.preprocess(), b.path() + ": tailor.preprocess")), limits_(opt.limits) {
    if (opt.device == Device::cuda) {
      gpu_ = std::make_unique<cuda::ResNet50>(b, opt);
      gpu_session_.emplace(gpu_->session());
      num_classes_ = gpu_->config().num_classes;
    } else {
      cpu_ = std::make_unique<ResNet50>(b, opt);
      cpu_session_.emplace(cpu_->session());
      num_classes_ = cpu_->num_classes();
    }
    for (const auto& u : b.untrained())
      if (u == "image" || u == "resnet50") untrained_ = true;
  }
  int64_t num_classes() const noexcept { return num_classes_; }
  bool untrained() const noexcept { return untrained_; }

  /// x: (N, 3, H, W) normalized float32.
  ResNetOutput forward(const float* x, int64_t n, int64_t h, int64_t w, bool keep_feature_map = false) {
    if (cpu_session_) return cpu_session_->forward(x, n, h, w, keep_feature_map);
    return to_host_output(gpu_session_->forward(x, n, h, w, true, keep_feature_map));
  }
  /// Decoded images through the bundle's torchvision transform, as one batch.
  ResNetOutput forward(const std::vector<Image>& images, bool keep_feature_map = false) {
    if (cpu_session_) return cpu_session_->forward(images, keep_feature_map);
    TAILOR_CHECK(!images.empty(), ErrorCode::invalid_argument, "ResNet50: no images", "pass at least one image");
    const size_t per = pre_.output_size();
    batch_.resize(per * images.size());
    for (size_t i = 0; i < images.size(); ++i) pre_.run(images[i], batch_.data() + i * per);
    return forward(batch_.data(), int64_t(images.size()), pre_.crop, pre_.crop, keep_feature_map);
  }

 private:
  Preprocess pre_;
  Limits limits_;
  bool untrained_ = false;
  int64_t num_classes_ = 0;
  std::unique_ptr<ResNet50> cpu_;
  std::optional<ResNetSession> cpu_session_;
  std::unique_ptr<cuda::ResNet50> gpu_;
  std::optional<cuda::ResNetSession> gpu_session_;
  std::vector<float> batch_;
};

/// The BERT text tower on opt.device: the bundle's tokenizer, then the CPU or GPU model.
class TextTower {
 public:
  /// A "bert" bundle, or the text tower of a "tryon" one (config()["text"], prefix "text.").
  TextTower(const Bundle& b, const Options& opt) {
    const bool tryon = b.arch() == "tryon";
    if (tryon && !b.config().contains("text"))
      detail::fail(ErrorCode::format, b.path() + ": tailor.config has no \"text\" object", "convert the checkpoint again");
    if (opt.device == Device::cuda) {
      gpu_ = tryon ? std::make_unique<cuda::Bert>(b, b.config()["text"], "text.", opt) : std::make_unique<cuda::Bert>(b, opt);
      gpu_session_.emplace(gpu_->session());
      tokenizer_ = std::make_shared<const BertTokenizer>(BertTokenizer::from_vocab(
          b.vocab(), gpu_->config().tokenizer, opt.limits, b.path() + ": tailor.vocab"));
    } else {
      cpu_ = tryon ? std::make_unique<Bert>(b, b.config()["text"], "text.", opt) : std::make_unique<Bert>(b, opt);
      cpu_session_.emplace(cpu_->session());
    }
  }
  const BertConfig& config() const noexcept { return cpu_ ? cpu_->config() : gpu_->config(); }

  /// Sentence embeddings (B, H) of the texts, tokenized and truncated to max_length (0: the
  /// bundle's model_max_length), as BertSession::embed.
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts, Pooling p, bool normalize,
                                        int64_t max_length) {
    if (cpu_session_) return cpu_session_->embed(texts, p, normalize, max_length);
    TAILOR_CHECK(p != Pooling::none, ErrorCode::invalid_argument,
                 "a sentence embedding needs a pooling (cls, mean or pooler)", "");
    const std::vector<Encoding> enc = encode(texts, max_length);
    cuda::BertRequest req;
    req.sentence = p == Pooling::cls ? cuda::Pooling::cls : p == Pooling::mean ? cuda::Pooling::mean
                                                                               : cuda::Pooling::pooler;
    req.normalize = normalize ? 1 : 0;
    const cuda::BertOutput o = gpu_session_->forward(token_views(sequence_views(enc)), req);
    std::vector<std::vector<float>> out(texts.size());
    for (size_t i = 0; i < out.size(); ++i)
      out[i].assign(o.sentence.begin() + int64_t(i) * o.hidden, o.sentence.begin() + int64_t(i + 1) * o.hidden);
    return out;
  }

  /// BertModel's outputs for the texts, laid out as BertSession::forward lays them out
  /// (each sequence's rows back to back, no padding).
  BertOutput forward(const std::vector<std::string>& texts, int64_t max_length) {
    if (cpu_session_) return cpu_session_->forward(cpu_session_->encode(texts, max_length));
    const std::vector<Encoding> enc = encode(texts, max_length);
    const std::vector<BertSequence> seqs = sequence_views(enc);
    return to_host_output(gpu_session_->forward(token_views(seqs), full_request(config())), seqs);
  }

 private:
  std::vector<Encoding> encode(const std::vector<std::string>& texts, int64_t max_length) const {
    const BertConfig& c = config();
    TAILOR_CHECK(max_length >= 0 && max_length <= c.max_position_embeddings, ErrorCode::invalid_argument,
                 "max length " + std::to_string(max_length) + " is outside 1.." +
                     std::to_string(c.max_position_embeddings) + " (max_position_embeddings)",
                 "");
    EncodeOptions eo;
    eo.max_length = max_length > 0 ? max_length : std::min(c.tokenizer.model_max_length, c.max_position_embeddings);
    return tokenizer_->encode_batch(texts, eo);
  }

  std::unique_ptr<Bert> cpu_;
  std::optional<BertSession> cpu_session_;
  std::unique_ptr<cuda::Bert> gpu_;
  std::optional<cuda::BertSession> gpu_session_;
  std::shared_ptr<const BertTokenizer> tokenizer_;
};

}  // namespace tailor::cli
