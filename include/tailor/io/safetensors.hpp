// tailor/io/safetensors.hpp: a hardened safetensors reader.
//
// Follows the reference implementation (huggingface/safetensors, `SafeTensors::deserialize`
// and `Metadata::validate`) rule by rule, and is stricter where the reference is lenient:
//   - 8-byte little-endian header length N; N <= Limits::max_header_bytes; 8 + N <= file size.
//   - the header is a JSON object (it must start with '{'), parsed by nlohmann/json's SAX
//     interface with no DOM: nesting depth, tensor count and name length are bounded as the
//     bytes arrive, so a hostile header cannot make us allocate without bound.
//   - `__metadata__` maps strings to strings; every other key is a tensor with exactly
//     `dtype` (a known name), `shape` (non-negative integers, rank <= 8) and `data_offsets`
//     ([begin, end], begin <= end). Duplicate keys anywhere are refused (the reference keeps
//     the last silently).
//   - element count and byte size are computed with overflow checks; end - begin must equal
//     the byte size; sorted by offset, tensors are contiguous from 0 with no gap or overlap,
//     and the last ends exactly at the end of the file (nothing trailing).
// Files that are not safetensors at all (a Git LFS pointer, an HTML page saved by a
// browser, a PyTorch zip or pickle, GGUF) are recognised by their first bytes and named.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "tailor/core/checked.hpp"
#include "tailor/core/error.hpp"
#include "tailor/core/limits.hpp"
#include "tailor/core/tensor.hpp"
#include "tailor/io/file.hpp"

namespace tailor {

/// One tensor's entry in the header. Offsets are relative to the start of the data section.
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0, end = 0;
  uint64_t nbytes() const noexcept { return end - begin; }
  uint64_t numel() const noexcept { return nbytes() / dtype_size(dtype); }
};

namespace detail {

/// A printable excerpt of untrusted bytes for error messages.
inline std::string printable(std::string_view s, size_t max = 48) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) out += char(c);
    else { char b[8]; std::snprintf(b, sizeof b, "\\x%02x", c); out += b; }
  }
  if (s.size() > max) out += "...";
  return out;
}

/// Names well-known non-safetensors files from their first bytes; empty if none matches.
inline std::pair<std::string, std::string> sniff_foreign_format(const uint8_t* p, size_t n) {
  std::string_view s(reinterpret_cast<const char*>(p), std::min<size_t>(n, 512));
  auto starts = [&](std::string_view pre) { return s.substr(0, pre.size()) == pre; };
  if (starts("version https://git-lfs.github.com/spec"))
    return {"is a Git LFS pointer file, not the weights",
            "the repository was cloned without Git LFS: run `git lfs pull`, or download the real file"};
  // Skip a UTF-8 BOM and whitespace, then look for markup, case-insensitively.
  size_t i = 0;
  if (starts("\xEF\xBB\xBF")) i = 3;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
  std::string head;
  for (size_t j = i; j < s.size() && j < i + 16; ++j) head += char(std::tolower(static_cast<unsigned char>(s[j])));
  for (const char* tag : {"<!doctype html", "<html", "<head", "<body", "<?xml", "<!--"})
    if (head.compare(0, std::strlen(tag), tag) == 0)
      return {"is an HTML/XML page, not a safetensors file",
              "a browser or proxy saved an error or login page: download the raw file again"};
  if (starts("PK\x03\x04"))
    return {"is a zip archive (a PyTorch .pth/.bin checkpoint?), not a safetensors file",
            "convert it first: python converters/convert.py --help"};
  if (n >= 2 && p[0] == 0x80 && p[1] >= 2 && p[1] <= 5)
    return {"is a Python pickle (a legacy PyTorch checkpoint?), not a safetensors file",
            "convert it first: python converters/convert.py --help"};
  if (starts("GGUF")) return {"is a GGUF file, not a safetensors file", "tailor reads safetensors bundles"};
  if (starts("\x89HDF")) return {"is an HDF5 file (Keras?), not a safetensors file", "tailor reads safetensors bundles"};
  return {};
}

/// SAX handler that builds the tensor table while enforcing structure and bounds.
class SafetensorsHeaderSax {
 public:
  using json = nlohmann::json;
  explicit SafetensorsHeaderSax(const Limits& lim) : lim_(lim) {}

  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  std::string error;  // set when a callback returns false

  bool null() { return bad_value("null"); }
  bool boolean(bool) { return bad_value("a boolean"); }
  bool number_float(double, const std::string& s) {
    if (state_ == State::shape || state_ == State::offsets)
      return fail(where() + " has " + printable(s) + ", which is not a non-negative integer below 2^64");
    return bad_value("a number");
  }
  bool number_integer(int64_t v) {
    if (v < 0 && (state_ == State::shape || state_ == State::offsets))
      return fail(where() + " has the negative value " + std::to_string(v));
    return number_unsigned(uint64_t(v));
  }
  bool number_unsigned(uint64_t v) {
    if (state_ == State::shape) {
      if (cur_.shape.rank >= Shape::kMaxRank) return fail("tensor '" + cur_.name + "' has more than 8 dimensions");
      if (v > uint64_t(INT64_MAX)) return fail(where() + " has the dimension " + std::to_string(v) + ", over 2^63");
      cur_.shape[cur_.shape.rank++] = int64_t(v);
      return true;
    }
    if (state_ == State::offsets) {
      if (noffsets_ >= 2) return fail("tensor '" + cur_.name + "': data_offsets has more than 2 entries");
      (noffsets_++ == 0 ? cur_.begin : cur_.end) = v;
      return true;
    }
    return bad_value("a number");
  }
  bool string(std::string& s) {
    if (state_ == State::metadata) { metadata.emplace(key_, s); return true; }
    if (state_ == State::tensor && field_ == "dtype") {
      if (!parse_dtype(s, &cur_.dtype))
        return fail("tensor '" + cur_.name + "' has the unknown dtype '" + printable(s) + "'");
      have_ |= 1;
      return true;
    }
    return bad_value("a string");
  }
  bool binary(json::binary_t&) { return bad_value("binary data"); }

  bool start_object(std::size_t) {
    switch (state_) {
      case State::start: state_ = State::root; return true;
      case State::root:
        if (key_ == "__metadata__") { state_ = State::metadata; keys_.clear(); return true; }
        state_ = State::tensor;
        cur_ = TensorInfo{};
        cur_.name = key_;
        have_ = 0;
        keys_.clear();
        return true;
      default: return bad_value("an object");
    }
  }
  bool key(std::string& k) {
    if (state_ == State::root) {
      if (k.size() > lim_.max_tensor_name_bytes)
        return fail("a tensor name is " + std::to_string(k.size()) + " bytes long (limit " +
                    std::to_string(lim_.max_tensor_name_bytes) + ")");
      if (!root_keys_.insert(k).second) return fail("the header names '" + printable(k, 200) + "' twice");
      if (k != "__metadata__" && ++ntensors_ > lim_.max_tensors)
        return fail("the header lists more than " + std::to_string(lim_.max_tensors) + " tensors");
      key_ = k;
      return true;
    }
    if (!keys_.insert(k).second)
      return fail((state_ == State::metadata ? std::string("__metadata__") : "tensor '" + cur_.name + "'") +
                  " has the key '" + printable(k) + "' twice");
    if (state_ == State::metadata) { key_ = k; return true; }
    if (k != "dtype" && k != "shape" && k != "data_offsets")
      return fail("tensor '" + cur_.name + "' has the unexpected key '" + printable(k) + "'");
    field_ = k;
    return true;
  }
  bool end_object() {
    if (state_ == State::metadata) { state_ = State::root; return true; }
    if (state_ == State::tensor) {
      if (!(have_ & 1)) return fail("tensor '" + cur_.name + "' has no dtype");
      if (!(have_ & 2)) return fail("tensor '" + cur_.name + "' has no shape");
      if (!(have_ & 4)) return fail("tensor '" + cur_.name + "' has no data_offsets");
      tensors.push_back(std::move(cur_));
      state_ = State::root;
      return true;
    }
    if (state_ == State::root) { state_ = State::done; return true; }
    return fail("unbalanced JSON");
  }
  bool start_array(std::size_t) {
    if (state_ == State::tensor && field_ == "shape") { state_ = State::shape; have_ |= 2; return true; }
    if (state_ == State::tensor && field_ == "data_offsets") {
      state_ = State::offsets;
      noffsets_ = 0;
      have_ |= 4;
      return true;
    }
    return bad_value("an array");
  }
  bool end_array() {
    if (state_ == State::shape) { state_ = State::tensor; return true; }
    if (state_ == State::offsets) {
      if (noffsets_ != 2) return fail("tensor '" + cur_.name + "': data_offsets needs exactly 2 entries");
      state_ = State::tensor;
      return true;
    }
    return fail("unbalanced JSON");
  }
  bool parse_error(std::size_t pos, const std::string& token, const nlohmann::detail::exception& ex) {
    if (error.empty())
      error = "the header is not valid JSON at byte " + std::to_string(pos) + " near '" + printable(token) +
              "': " + ex.what();
    return false;
  }

 private:
  enum class State { start, root, metadata, tensor, shape, offsets, done };
  bool fail(std::string msg) {
    if (error.empty()) error = std::move(msg);
    return false;
  }
  std::string where() const {
    return "tensor '" + cur_.name + "': " + (state_ == State::shape ? "shape" : "data_offsets");
  }
  bool bad_value(const char* what) {
    switch (state_) {
      case State::start: return fail(std::string("the header is ") + what + ", not a JSON object");
      case State::root: return fail("the header entry '" + printable(key_) + "' is " + what + ", not an object");
      case State::metadata: return fail("__metadata__['" + printable(key_) + "'] is " + what + ", not a string");
      case State::tensor: return fail("tensor '" + cur_.name + "': '" + field_ + "' has the wrong type (" + what + ")");
      case State::shape: case State::offsets: return fail(where() + " contains " + what);
      case State::done: return fail("data after the header object");
    }
    return fail("unexpected JSON");
  }

  const Limits& lim_;
  State state_ = State::start;
  std::string key_, field_;
  std::set<std::string> root_keys_, keys_;
  TensorInfo cur_;
  unsigned have_ = 0;
  int noffsets_ = 0;
  uint64_t ntensors_ = 0;
};

}  // namespace detail

/// A validated safetensors file. Immutable and cheap to copy (the bytes are shared).
class SafetensorsFile {
 public:
  /// Opens and validates `path`. Throws Error(format) naming the first rule broken.
  static SafetensorsFile open(const std::string& path, const Limits& lim = {}, bool use_mmap = true) {
    return SafetensorsFile(MappedFile::open(path, use_mmap), lim);
  }
  /// Validates bytes already in memory (copied).
  static SafetensorsFile from_memory(const void* data, size_t size, std::string name = "<memory>",
                                     const Limits& lim = {}) {
    return SafetensorsFile(MappedFile::from_memory(data, size, std::move(name)), lim);
  }

  const std::string& path() const noexcept { return file_->path(); }
  uint64_t file_size() const noexcept { return file_->size(); }
  /// MappedFile::populate(): fault the whole file in now (before reading all of it).
  void populate() const noexcept { file_->populate(); }
  /// Length of the JSON header, and where the data section begins (8 + header).
  uint64_t header_bytes() const noexcept { return header_bytes_; }
  uint64_t data_offset() const noexcept { return 8 + header_bytes_; }
  /// Tensors in file order (sorted by offset).
  const std::vector<TensorInfo>& tensors() const noexcept { return tensors_; }
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  /// A metadata value, or nullopt.
  std::optional<std::string> meta(const std::string& key) const {
    auto it = metadata_.find(key);
    if (it == metadata_.end()) return std::nullopt;
    return it->second;
  }

  const TensorInfo* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }
  const TensorInfo& get(const std::string& name) const {
    if (const TensorInfo* t = find(name)) return *t;
    detail::fail(ErrorCode::shape, path() + ": tensor '" + name + "' is missing",
                 "the file was converted from a different model, or by another tool");
  }
  /// The raw bytes of a tensor (not necessarily aligned).
  const uint8_t* bytes(const TensorInfo& t) const noexcept { return file_->data() + data_offset() + t.begin; }
  /// A view of the raw data in its stored dtype (the pointer may be unaligned).
  TensorView view(const TensorInfo& t) const { return TensorView(bytes(t), t.dtype, t.shape); }

  /// Converts a F32/F16/BF16 tensor to float32 into dst (exactly t.numel() floats).
  void to_f32(const TensorInfo& t, float* dst) const {
    const uint8_t* src = bytes(t);
    const uint64_t n = t.numel();
    switch (t.dtype) {
      case DType::F32: if (n) std::memcpy(dst, src, size_t(n) * 4); return;
      case DType::F16:
        for (uint64_t i = 0; i < n; ++i) { uint16_t h; std::memcpy(&h, src + 2 * i, 2); dst[i] = f16_to_f32(h); }
        return;
      case DType::BF16:
        for (uint64_t i = 0; i < n; ++i) { uint16_t h; std::memcpy(&h, src + 2 * i, 2); dst[i] = bf16_to_f32(h); }
        return;
      default:
        detail::fail(ErrorCode::unsupported,
                     path() + ": tensor '" + t.name + "' has dtype " + std::string(dtype_name(t.dtype)),
                     "tailor loads F32, F16 and BF16 weights; convert the checkpoint with converters/convert.py");
    }
  }
  std::vector<float> to_f32(const TensorInfo& t) const {
    std::vector<float> out(size_t(t.numel()));
    to_f32(t, out.data());
    return out;
  }
  /// Index of the first NaN or Inf in a float tensor, or nullopt. Other dtypes: nullopt.
  std::optional<uint64_t> find_non_finite(const TensorInfo& t) const {
    if (!dtype_is_loadable_float(t.dtype)) return std::nullopt;
    const uint8_t* src = bytes(t);
    const uint64_t n = t.numel();
    // Blocks of 4096 elements scanned without an early exit (so the compiler vectorises the
    // scan: a bundle's every weight is checked at load), then the first bad element of a
    // block that has one. An element is NaN or Inf when its exponent bits are all set.
    auto scan = [&](auto word, auto exponent) -> std::optional<uint64_t> {
      using W = decltype(word);
      const W mask = W(exponent);
      auto nonfinite = [&](uint64_t i) {
        W b;
        std::memcpy(&b, src + sizeof(W) * i, sizeof(W));
        return (b & mask) == mask;
      };
      constexpr uint64_t kBlock = 4096;
      for (uint64_t b0 = 0; b0 < n; b0 += kBlock) {
        const uint64_t b1 = std::min(n, b0 + kBlock);
        uint32_t any = 0;
        for (uint64_t i = b0; i < b1; ++i) any |= uint32_t(nonfinite(i));
        if (any)
          for (uint64_t i = b0; i < b1; ++i)
            if (nonfinite(i)) return i;
      }
      return std::nullopt;
    };
    if (t.dtype == DType::F32) return scan(uint32_t{}, 0x7f800000u);
    return scan(uint16_t{}, t.dtype == DType::F16 ? 0x7c00u : 0x7f80u);
  }

 private:
  SafetensorsFile(std::shared_ptr<const MappedFile> f, const Limits& lim) : file_(std::move(f)) { parse(lim); }

  [[noreturn]] void bad(const std::string& what, const std::string& hint = {}) const {
    detail::fail(ErrorCode::format, path() + ": " + what,
                 hint.empty() ? "the file is corrupt or truncated: convert or download it again" : hint);
  }

  void parse(const Limits& lim) {
    static_assert(sizeof(uint64_t) == 8);
    const uint8_t* p = file_->data();
    const uint64_t size = file_->size();
    if (auto [what, hint] = detail::sniff_foreign_format(p, size_t(size)); !what.empty()) bad(what, hint);
    if (size < 8)
      bad("is " + std::to_string(size) + " bytes long; a safetensors file starts with an 8-byte header length");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | p[i];  // little-endian u64
    if (n > lim.max_header_bytes)
      bad("header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(lim.max_header_bytes) +
          " bytes");
    uint64_t stop = 0;
    if (!detail::checked_add(n, 8, &stop) || stop > size)
      bad("header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) +
          " bytes)");
    if (n == 0 || p[8] != '{') bad("the header does not start with '{'");
    header_bytes_ = n;

    detail::SafetensorsHeaderSax sax(lim);
    const char* h = reinterpret_cast<const char*>(p + 8);
    const bool ok = nlohmann::json::sax_parse(h, h + n, &sax, nlohmann::json::input_format_t::json, true);
    if (!ok || !sax.error.empty()) bad(sax.error.empty() ? "the header is not valid JSON" : sax.error);
    metadata_ = std::move(sax.metadata);
    tensors_ = std::move(sax.tensors);

    const uint64_t data_size = size - stop;
    for (const TensorInfo& t : tensors_) {
      if (t.begin > t.end)
        bad("tensor '" + t.name + "': data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
            "] are reversed");
      if (t.end > data_size)
        bad("tensor '" + t.name + "' ends at data byte " + std::to_string(t.end) + " (file byte " +
            std::to_string(stop + t.end) + "), past the end of the file (" + std::to_string(data_size) +
            " data bytes)");
      uint64_t numel = 0, nbytes = 0;
      if (!detail::checked_product(t.shape.dims.begin(), t.shape.dims.begin() + t.shape.rank, &numel) ||
          !detail::checked_mul(numel, dtype_size(t.dtype), &nbytes))
        bad("tensor '" + t.name + "': shape " + t.shape.str() + " overflows 64-bit sizes");
      if (nbytes != t.end - t.begin)
        bad("tensor '" + t.name + "': shape " + t.shape.str() + " of " + std::string(dtype_name(t.dtype)) +
            " needs " + std::to_string(nbytes) + " bytes but data_offsets span " +
            std::to_string(t.end - t.begin));
    }
    std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t expect = 0;
    const TensorInfo* prev = nullptr;
    for (const TensorInfo& t : tensors_) {
      if (t.begin < expect)
        bad("tensor '" + t.name + "' (data bytes " + std::to_string(t.begin) + ".." + std::to_string(t.end) +
            ") overlaps tensor '" + prev->name + "'");
      if (t.begin > expect)
        bad("there are " + std::to_string(t.begin - expect) + " unused bytes before tensor '" + t.name +
            "' (data byte " + std::to_string(expect) + ")");
      expect = t.end;
      prev = &t;
    }
    if (expect != data_size)
      bad(std::to_string(data_size - expect) + " trailing bytes after the last tensor (file byte " +
          std::to_string(stop + expect) + ")");
    index_.reserve(tensors_.size());
    for (size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
  }

  std::shared_ptr<const MappedFile> file_;
  uint64_t header_bytes_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace tailor
