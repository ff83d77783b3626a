// tailor/io/bundle.hpp: a tailor weight bundle = a safetensors file + tailor.* metadata.
//
// The metadata keys (see README "Bundle format" and DESIGN.md):
//   tailor.format      "1"
//   tailor.arch        "resnet50" | "bert" | "tryon"
//   tailor.config      JSON object: the model config (HF config.json fields for BERT, ...)
//   tailor.vocab       the WordPiece vocab, one token a line (text models)
//   tailor.preprocess  JSON object: resize, crop, mean, std, interpolation (image models)
//   tailor.transforms  JSON array of what the converter changed, e.g. ["bn_folded"]
//   tailor.source      JSON object: what it was converted from, with a SHA-256
//   tailor.untrained   JSON array of the parts with random weights, e.g. ["image", "head"]
// Bundle::open checks the container (SafetensorsFile), these keys and that every float
// weight is finite. The per-architecture checks (config ranges, every tensor's shape against
// the config) are in models/registry.hpp: validate_bundle().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tailor/core/error.hpp"
#include "tailor/core/limits.hpp"
#include "tailor/core/tensor.hpp"
#include "tailor/io/safetensors.hpp"

namespace tailor {

using json = nlohmann::json;

namespace detail {
/// True if the brackets of JSON text `s` (outside strings) nest at most max_depth deep.
inline bool json_nesting_within(std::string_view s, int max_depth) {
  int depth = 0;
  bool in_string = false, escape = false;
  for (char c : s) {
    if (in_string) {
      if (escape) escape = false;
      else if (c == '\\') escape = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}
}  // namespace detail

/// One expected tensor: its name (without the part prefix) and shape.
struct TensorSpec {
  std::string name;
  Shape shape;
};

struct BundleOptions {
  Limits limits{};
  bool use_mmap = true;
  /// Scan every float tensor for NaN/Inf at open (a few ms per 100 MB).
  bool check_finite = true;
};

/// A tensor's float32 values for a loader (Bundle::view_f32): a pointer into the bundle or
/// a converted copy it owns. Move-only.
class F32View {
 public:
  F32View(const F32View&) = delete;
  F32View& operator=(const F32View&) = delete;
  F32View(F32View&&) noexcept = default;
  F32View& operator=(F32View&&) noexcept = default;
  const float* data() const noexcept { return ptr_; }
  size_t size() const noexcept { return n_; }

 private:
  friend class Bundle;
  F32View() = default;
  const float* ptr_ = nullptr;
  size_t n_ = 0;
  std::vector<float> owned_;  // the converted values when not F32 / not aligned (moves keep its buffer)
};

class Bundle {
 public:
  static constexpr const char* kFormatVersion = "1";

  /// Opens and validates a bundle file; throws tailor::Error naming the problem.
  static Bundle open(const std::string& path, const BundleOptions& opt = {}) {
    return Bundle(SafetensorsFile::open(path, opt.limits, opt.use_mmap), opt);
  }
  /// Same, over bytes in memory.
  static Bundle from_memory(const void* data, size_t size, std::string name = "<memory>",
                            const BundleOptions& opt = {}) {
    return Bundle(SafetensorsFile::from_memory(data, size, std::move(name), opt.limits), opt);
  }

  const SafetensorsFile& file() const noexcept { return file_; }
  const std::string& path() const noexcept { return file_.path(); }
  /// "resnet50", "bert" or "tryon".
  const std::string& arch() const noexcept { return arch_; }
  /// The model config (tailor.config).
  const json& config() const noexcept { return config_; }
  /// The WordPiece vocab text (tailor.vocab); empty for image-only bundles.
  const std::string& vocab() const noexcept { return vocab_; }
  /// Preprocessing parameters (tailor.preprocess); null when absent.
  const json& preprocess() const noexcept { return preprocess_; }
  /// Converter transforms (tailor.transforms), e.g. {"bn_folded"}.
  const std::vector<std::string>& transforms() const noexcept { return transforms_; }
  /// Parts with random, untrained weights (tailor.untrained), e.g. {"image", "head"}.
  const std::vector<std::string>& untrained() const noexcept { return untrained_; }
  /// Source description (tailor.source); null when absent.
  const json& source() const noexcept { return source_; }
  bool has_transform(const std::string& t) const {
    for (const auto& s : transforms_)
      if (s == t) return true;
    return false;
  }

  bool has(const std::string& name) const { return file_.find(name) != nullptr; }
  /// The tensor `name`, checked to have `shape`; the error names both shapes.
  const TensorInfo& tensor(const std::string& name, const Shape& shape) const {
    const TensorInfo& t = file_.get(name);
    if (t.shape != shape)
      detail::fail(ErrorCode::shape,
                   path() + ": tensor '" + name + "' has shape " + t.shape.str() + " but the config needs " +
                       shape.str(),
                   "the bundle's config and weights disagree: convert the checkpoint again");
    return t;
  }
  /// The tensor `name` as float32, checked to have `shape`.
  std::vector<float> load_f32(const std::string& name, const Shape& shape) const {
    return file_.to_f32(tensor(name, shape));
  }
  /// Copies the tensor `name` (checked to have `shape`) as float32 into dst.
  void load_f32(const std::string& name, const Shape& shape, float* dst) const {
    file_.to_f32(tensor(name, shape), dst);
  }
  /// The tensor `name` (checked to have `shape`) as float32 for reading once, e.g. to pack it:
  /// straight from the bundle's bytes when stored as F32 at a 4-byte-aligned offset (no copy:
  /// a model's ~100 MB of weights are not copied into temporaries on the way to being
  /// packed), else converted into a copy the view owns. Valid while this bundle lives.
  F32View view_f32(const std::string& name, const Shape& shape) const {
    const TensorInfo& t = tensor(name, shape);
    F32View v;
    v.n_ = size_t(t.numel());
    const uint8_t* src = file_.bytes(t);
    if (t.dtype == DType::F32 && reinterpret_cast<uintptr_t>(src) % alignof(float) == 0) {
      v.ptr_ = reinterpret_cast<const float*>(src);  // little-endian host, as to_f32's copy assumes
    } else {
      v.owned_ = file_.to_f32(t);
      v.ptr_ = v.owned_.data();
    }
    return v;
  }

  /// Checks that every spec (name prefixed by `prefix`) exists with its shape and a float
  /// dtype. With `exact`, tensors under `prefix` that no spec names are refused too.
  void check_tensors(const std::vector<TensorSpec>& specs, const std::string& prefix = "", bool exact = true) const {
    std::vector<std::string> missing;
    for (const TensorSpec& s : specs) {
      const TensorInfo* t = file_.find(prefix + s.name);
      if (!t) { missing.push_back(prefix + s.name); continue; }
      if (t->shape != s.shape)
        detail::fail(ErrorCode::shape,
                     path() + ": tensor '" + t->name + "' has shape " + t->shape.str() + " but the config needs " +
                         s.shape.str(),
                     "the bundle's config and weights disagree: convert the checkpoint again");
      if (!dtype_is_loadable_float(t->dtype))
        detail::fail(ErrorCode::unsupported,
                     path() + ": tensor '" + t->name + "' has dtype " + std::string(dtype_name(t->dtype)),
                     "weights must be F32, F16 or BF16");
    }
    if (!missing.empty()) {
      std::string list;
      for (size_t i = 0; i < missing.size() && i < 5; ++i) list += (i ? ", " : "") + missing[i];
      if (missing.size() > 5) list += ", ... (" + std::to_string(missing.size()) + " in all)";
      detail::fail(ErrorCode::shape, path() + ": missing tensors: " + list,
                   "the bundle does not match its tailor.config; convert the checkpoint again");
    }
    if (!exact) return;
    std::set<std::string> expected;
    for (const TensorSpec& s : specs) expected.insert(prefix + s.name);
    for (const TensorInfo& t : file_.tensors())
      if (t.name.compare(0, prefix.size(), prefix) == 0 && !expected.count(t.name))
        detail::fail(ErrorCode::shape, path() + ": unexpected tensor '" + t.name + "' for this config",
                     "the bundle was written for a different model shape; convert the checkpoint again");
  }

 private:
  Bundle(SafetensorsFile f, const BundleOptions& opt) : file_(std::move(f)) {
    const auto format = file_.meta("tailor.format");
    if (!format)
      fail_meta("has no tailor.format metadata: it is a plain safetensors file, not a tailor bundle",
                "convert the checkpoint with converters/convert.py");
    if (*format != kFormatVersion)
      fail_meta("has bundle format '" + detail::printable(*format) + "'; this tailor reads format " + kFormatVersion,
                "convert the checkpoint again with this version's converters/convert.py");
    arch_ = file_.meta("tailor.arch").value_or("");
    if (arch_ != "resnet50" && arch_ != "bert" && arch_ != "tryon")
      fail_meta(arch_.empty() ? std::string("has no tailor.arch metadata")
                              : "has the unknown architecture '" + detail::printable(arch_) + "'",
                "tailor serves resnet50, bert and tryon bundles");
    config_ = parse_json_meta("tailor.config", true);
    if (!config_.is_object()) fail_meta("tailor.config is not a JSON object", "");
    preprocess_ = parse_json_meta("tailor.preprocess", false);
    if (!preprocess_.is_null() && !preprocess_.is_object()) fail_meta("tailor.preprocess is not a JSON object", "");
    source_ = parse_json_meta("tailor.source", false);
    transforms_ = string_list("tailor.transforms");
    untrained_ = string_list("tailor.untrained");
    vocab_ = file_.meta("tailor.vocab").value_or("");
    file_.populate();  // the header checked out, and every weight is about to be read
    if (opt.check_finite) {
      for (const TensorInfo& t : file_.tensors())
        if (auto i = file_.find_non_finite(t))
          detail::fail(ErrorCode::format,
                       path() + ": tensor '" + t.name + "' holds a NaN or Inf at element " + std::to_string(*i),
                       "the checkpoint diverged during training or was corrupted; check it in PyTorch");
    }
  }

  static constexpr size_t kMaxJsonMetaBytes = 4u << 20;
  static constexpr int kMaxJsonDepth = 32;

  [[noreturn]] void fail_meta(const std::string& what, const std::string& hint) const {
    detail::fail(ErrorCode::format, path() + " " + what, hint);
  }
  json parse_json_meta(const std::string& key, bool required) const {
    const auto v = file_.meta(key);
    if (!v) {
      if (required) fail_meta("has no " + key + " metadata", "convert the checkpoint again");
      return json();
    }
    // Bounded before parsing: a DOM of 100 MB of '[' would take gigabytes.
    if (v->size() > kMaxJsonMetaBytes)
      fail_meta(key + " is " + std::to_string(v->size()) + " bytes, over the " + std::to_string(kMaxJsonMetaBytes) +
                    "-byte limit for JSON metadata", "");
    if (!detail::json_nesting_within(*v, kMaxJsonDepth))
      fail_meta(key + " nests deeper than " + std::to_string(kMaxJsonDepth) + " levels", "");
    json j = json::parse(*v, nullptr, false);
    if (j.is_discarded()) fail_meta(key + " is not valid JSON", "convert the checkpoint again");
    return j;
  }
  std::vector<std::string> string_list(const std::string& key) const {
    const json j = parse_json_meta(key, false);
    std::vector<std::string> out;
    if (j.is_null()) return out;
    if (!j.is_array()) fail_meta(key + " is not a JSON array", "");
    for (const json& e : j) {
      if (!e.is_string()) fail_meta(key + " holds a non-string entry", "");
      out.push_back(e.get<std::string>());
    }
    return out;
  }

  SafetensorsFile file_;
  std::string arch_;
  json config_, preprocess_, source_;
  std::vector<std::string> transforms_, untrained_;
  std::string vocab_;
};

}  // namespace tailor
