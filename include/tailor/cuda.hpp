// tailor/cuda.hpp: the GPU API. No CUDA type appears here (ggml's ggml-cuda.h rule): a
// CPU-only build includes this header, compiles, and gets a clear tailor::Error
// (ErrorCode::device) from anything that would need the GPU.
//
// The implementation is the static library tailor::cuda (kernels/: hand-written kernels,
// cuBLASLt for the large GEMMs), built when nvcc is found; linking it defines
// TAILOR_HAVE_CUDA. Models load straight from a tailor::Bundle with the same configs and
// tensor names as the CPU models (models/bert_config.hpp, models/resnet50_config.hpp) and
// follow the same references (HF modeling_bert.py, torchvision resnet.py); every kernel is
// tested against the CPU (tests/cuda/).
//
//   tailor::Options opt;  opt.device = tailor::Device::cuda;  opt.precision = tailor::Precision::fp16;
//   tailor::cuda::Bert bert(tailor::Bundle::open("weights/minilm.safetensors"), opt);  // weights on the GPU
//   auto s = bert.session();                                  // per thread: stream, buffers, graphs
//   auto out = s.forward({{101, 7592, 102}, {101, 2088, 999, 102}});   // token ids per text
//   // out.sentence: (B, H) features with the bundle's pooling; out.last_hidden_state: (B, T, H)
//
// Precision (Options::precision): fp32 (default; IEEE float32 GEMMs, rel L2 <= 1e-5 vs the
// CPU), tf32 (float32 storage, TF32 tensor cores, <= 1e-3), fp16 / bf16 (weights converted
// at load, activations in 16 bits, float32 accumulation and statistics, <= 1e-2).
// Threads: a model is immutable and shared; each thread makes its own session.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tailor/core/error.hpp"
#include "tailor/core/options.hpp"
#include "tailor/io/bundle.hpp"
#include "tailor/models/bert_config.hpp"
#include "tailor/models/resnet50_config.hpp"

namespace tailor {
struct FusionHeadConfig;  // models/fusion_head.hpp (not included: it brings the CPU GEMM)
}

namespace tailor::cuda {

/// What the CUDA runtime reports about one GPU.
struct DeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;  ///< compute capability (9.0: Hopper)
  int sm_count = 0;
  uint64_t memory_bytes = 0;
  uint64_t l2_bytes = 0;
  int driver_version = 0, runtime_version = 0;  ///< e.g. 13000 for 13.0
  std::string compiled_archs;                   ///< the architectures this build has kernels for, e.g. "90"
};

/// Sentence features from the text tower (sentence-transformers' Pooling).
enum class Pooling {
  none,    ///< no sentence features
  cls,     ///< the [CLS] row of last_hidden_state
  mean,    ///< mean of the rows whose attention mask is 1
  pooler,  ///< BertPooler: tanh(dense([CLS])); needs a model with a pooler
  config,  ///< what the bundle's config says (tailor.pooling, default cls)
};

/// Which attention kernel the BERT session uses.
enum class Attention {
  automatic,  ///< fused for short batches, unfused (cuBLAS batched GEMMs) for large ones
  fused,      ///< kernels/attention.cuh: attention_online_softmax (head size <= 128)
  unfused,    ///< split heads, cuBLASLt Q K^T, softmax_masked, cuBLASLt P V, merge heads
};

/// Per-session knobs.
struct SessionOptions {
  /// Capture each (batch, length) / (batch, height, width) once as a CUDA graph and replay it.
  bool graphs = true;
  Attention attention = Attention::automatic;
  /// Time each forward's GPU work (CUDA events around the computation, host copies
  /// excluded): read it with last_gpu_ms(). Off by default (an event pair per call).
  bool timing = false;
};

/// What BertSession::forward copies back to the host (each costs a device-to-host copy).
struct BertRequest {
  bool last_hidden_state = false;  ///< (B, T, H)
  bool pooled = false;             ///< (B, H) BertPooler output, when the model has a pooler
  bool logits = false;             ///< (B, num_labels), when the model has a classifier
  Pooling sentence = Pooling::config;  ///< (B, H) sentence features
  int normalize = -1;                  ///< L2-normalise sentence features: -1 config, 0 no, 1 yes
};

/// One token sequence, as views valid during the call (the layout of tailor::BertSequence and
/// of a tokenizer Encoding's vectors): ids with the special tokens, type_ids null = all 0,
/// attention_mask null = all 1.
struct TokenSequence {
  const int32_t* ids = nullptr;
  const int32_t* type_ids = nullptr;
  const int32_t* attention_mask = nullptr;
  int64_t length = 0;
};

/// Host float32 results of BertSession::forward. Rows of padded positions (j >= a sequence's
/// length) in last_hidden_state are computed but meaningless.
struct BertOutput {
  int64_t batch = 0, seq_len = 0, hidden = 0, num_labels = 0;
  std::vector<float> last_hidden_state;  ///< (B, T, H) or empty
  std::vector<float> pooled;             ///< (B, H) or empty
  std::vector<float> logits;             ///< (B, num_labels) or empty
  std::vector<float> sentence;           ///< (B, H) or empty
};

/// Host float32 results of ResNetSession::forward.
struct ResNetOutput {
  int64_t batch = 0, features = 0, num_classes = 0;
  std::vector<float> pooled;  ///< (N, 2048): the average-pooled features fc takes
  std::vector<float> logits;  ///< (N, num_classes) or empty
  std::vector<float> feature_map;  ///< (N, feature_h, feature_w, 2048) NHWC, when asked (CAM)
  int64_t feature_h = 0, feature_w = 0;
};

#if defined(TAILOR_HAVE_CUDA)
/// True: this program was linked with the CUDA backend.
constexpr bool kCompiled = true;
/// True when device `device` exists, its driver works and this build has kernels for it.
bool available(int device = 0) noexcept;
/// Why available() is false ("" when it is true): no driver, no device, unsupported architecture.
std::string unavailable_reason(int device = 0);
/// Throws tailor::Error(ErrorCode::device, reason, hint) unless available(device).
DeviceInfo require_device(int device = 0);
#else
constexpr bool kCompiled = false;
inline bool available(int = 0) noexcept { return false; }
inline std::string unavailable_reason(int = 0) {
  return "this build of tailor has no CUDA backend";
}
[[noreturn]] inline DeviceInfo require_device(int = 0) {
  detail::fail(ErrorCode::device, "this build of tailor has no CUDA backend",
               "rebuild with the CUDA toolkit installed (nvcc found, or -DTAILOR_CUDA=ON) and link tailor::cuda, or "
               "use --device cpu");
}
#endif

class BertSession;

/// BERT (HF BertModel, + BertPooler, + the classifier of BertForSequenceClassification) on
/// the GPU. Immutable after construction; any number of threads may call session().
class Bert {
 public:
  /// A "bert" bundle. Options::precision picks the GPU precision; cuda_device the GPU.
  explicit Bert(const Bundle& b, const Options& opt = {});
  /// The text tower of a tryon bundle: its config object and tensor prefix ("text.").
  Bert(const Bundle& b, const json& config, const std::string& prefix, const Options& opt);
  const BertConfig& config() const noexcept { return config_; }
  Precision precision() const noexcept { return precision_; }
  /// Bytes of weights on the GPU.
  uint64_t device_bytes() const noexcept { return device_bytes_; }
  /// Per-thread state: a stream, a cuBLASLt handle and workspace, activation buffers, graphs.
  BertSession session(const SessionOptions& so = {}) const;

  struct Impl;

 private:
  BertConfig config_;
  Precision precision_ = Precision::fp32;
  uint64_t device_bytes_ = 0;
  std::shared_ptr<const Impl> impl_;
};

class BertSession {
 public:
  BertSession(BertSession&&) noexcept;
  BertSession& operator=(BertSession&&) noexcept;
  ~BertSession();

  /// A padded batch: ids, type_ids, mask (B, T) row-major (type_ids null = all 0, mask null
  /// = all 1). Ids are checked against the vocab (an error names the first bad one), T
  /// against max_position_embeddings.
  BertOutput forward(const int64_t* ids, const int64_t* type_ids, const int64_t* mask, int64_t B, int64_t T,
                     const BertRequest& what = {});
  /// Sequences of different lengths (special tokens included), padded to the longest.
  BertOutput forward(const std::vector<std::vector<int64_t>>& ids, const BertRequest& what = {});
  /// Token sequences (e.g. from tokenizer Encodings), padded to the longest.
  BertOutput forward(const std::vector<TokenSequence>& batch, const BertRequest& what = {});

  /// GPU milliseconds of the last forward's computation (SessionOptions::timing), else 0.
  double last_gpu_ms() const noexcept;

  struct Impl;

 private:
  friend class Bert;
  explicit BertSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class ResNetSession;

/// ResNet-50/101/152 (torchvision resnet.py, BN folded by the converter) on the GPU, NHWC
/// activations. Immutable after construction; any number of threads may call session().
class ResNet50 {
 public:
  /// A "resnet50" bundle.
  explicit ResNet50(const Bundle& b, const Options& opt = {});
  /// The image tower of a tryon bundle: its config object and tensor prefix ("image.").
  ResNet50(const Bundle& b, const json& config, const std::string& prefix, const Options& opt);
  const ResNetConfig& config() const noexcept { return config_; }
  Precision precision() const noexcept { return precision_; }
  uint64_t device_bytes() const noexcept { return device_bytes_; }
  ResNetSession session(const SessionOptions& so = {}) const;

  struct Impl;

 private:
  ResNetConfig config_;
  Precision precision_ = Precision::fp32;
  uint64_t device_bytes_ = 0;
  std::shared_ptr<const Impl> impl_;
};

class ResNetSession {
 public:
  ResNetSession(ResNetSession&&) noexcept;
  ResNetSession& operator=(ResNetSession&&) noexcept;
  ~ResNetSession();

  /// x: (N, 3, H, W) normalized float32 on the host (what Preprocess writes), H, W >= 32.
  /// Returns pooled (N, 2048), logits when `logits` and the model has fc, and with
  /// keep_feature_map the last feature map before pooling (as tailor::ResNetSession).
  ResNetOutput forward(const float* x, int64_t n, int64_t h, int64_t w, bool logits = true,
                       bool keep_feature_map = false);

  /// GPU milliseconds of the last forward's computation (SessionOptions::timing), else 0.
  double last_gpu_ms() const noexcept;

  struct Impl;

 private:
  friend class ResNet50;
  explicit ResNetSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The try-on fusion head (models/fusion_head.hpp: concat_linear, concat_mlp, late) on the
/// GPU, float32: the concatenation [image (N, Di) | text (N, Dt)] is never materialised
/// (kernels' fusion_concat_linear reads both halves). Immutable; forward() is thread-safe
/// (each call uses its own stream and buffers; the head is tiny).
class FusionHead {
 public:
  /// The head of a tryon bundle: config()["head"], tensors under `prefix` (normally "head.").
  FusionHead(const Bundle& b, const FusionHeadConfig& cfg, int64_t d_image, int64_t d_text, const std::string& prefix,
             const Options& opt = {});
  /// The config's fusion ("concat_linear", "concat_mlp", "late") and output count.
  const std::string& fusion() const noexcept { return fusion_; }
  int64_t n_out() const noexcept { return n_out_; }
  int64_t image_dim() const noexcept { return d_image_; }
  int64_t text_dim() const noexcept { return d_text_; }
  /// logits (N, n_out) for N (image, text) feature pairs on the host; probabilities as
  /// tailor::FusionHead::probabilities (sigmoid for one output, softmax otherwise).
  std::vector<float> forward(const float* image_features, const float* text_features, int64_t n) const;

  struct Impl;

 private:
  std::string fusion_;
  int64_t n_out_ = 0, d_image_ = 0, d_text_ = 0;
  std::shared_ptr<const Impl> impl_;
};

#if !defined(TAILOR_HAVE_CUDA)
// CPU-only build: every constructor says why there is no GPU; nothing else is reachable.
struct Bert::Impl {};
struct BertSession::Impl {};
struct ResNet50::Impl {};
struct ResNetSession::Impl {};
struct FusionHead::Impl {};
inline Bert::Bert(const Bundle&, const Options&) { require_device(); }
inline Bert::Bert(const Bundle&, const json&, const std::string&, const Options&) { require_device(); }
inline BertSession Bert::session(const SessionOptions&) const { require_device(); }
inline BertSession::BertSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
inline BertSession::BertSession(BertSession&&) noexcept = default;
inline BertSession& BertSession::operator=(BertSession&&) noexcept = default;
inline BertSession::~BertSession() = default;
inline double BertSession::last_gpu_ms() const noexcept { return 0; }
inline BertOutput BertSession::forward(const int64_t*, const int64_t*, const int64_t*, int64_t, int64_t,
                                       const BertRequest&) {
  require_device();
}
inline BertOutput BertSession::forward(const std::vector<std::vector<int64_t>>&, const BertRequest&) {
  require_device();
}
inline BertOutput BertSession::forward(const std::vector<TokenSequence>&, const BertRequest&) { require_device(); }
inline ResNet50::ResNet50(const Bundle&, const Options&) { require_device(); }
inline ResNet50::ResNet50(const Bundle&, const json&, const std::string&, const Options&) { require_device(); }
inline ResNetSession ResNet50::session(const SessionOptions&) const { require_device(); }
inline ResNetSession::ResNetSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
inline ResNetSession::ResNetSession(ResNetSession&&) noexcept = default;
inline ResNetSession& ResNetSession::operator=(ResNetSession&&) noexcept = default;
inline ResNetSession::~ResNetSession() = default;
inline double ResNetSession::last_gpu_ms() const noexcept { return 0; }
inline ResNetOutput ResNetSession::forward(const float*, int64_t, int64_t, int64_t, bool, bool) { require_device(); }
inline FusionHead::FusionHead(const Bundle&, const FusionHeadConfig&, int64_t, int64_t, const std::string&,
                              const Options&) {
  require_device();
}
inline std::vector<float> FusionHead::forward(const float*, const float*, int64_t) const { require_device(); }
#endif

}  // namespace tailor::cuda
