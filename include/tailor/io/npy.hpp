// tailor/io/npy.hpp: a small, hardened reader and writer for NumPy .npy files.
//
// Follows numpy/lib/format.py (format versions 1.0, 2.0 and 3.0): the magic "\x93NUMPY", a
// version, a little-endian header length (2 bytes in 1.0, 4 in 2.0/3.0), then a Python dict
// literal {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), } padded with
// spaces to a multiple of 64 and ended by '\n', then the raw C-order data.
// Used by `tailor preprocess --out x.npy` and `tailor image-features --tensor x.npy`, so users
// can compare tensors with their own PyTorch pipeline.
//
// The reader trusts nothing: header length capped (64 KiB), the dict parsed by a strict
// little parser (only the three keys, each once; only the literals numpy writes), rank <= 8,
// every dimension and the byte size computed with overflow checks and required to match
// the file exactly (no short or trailing data), a caller-given size cap checked before any
// allocation. Supported dtypes: float32 ('<f4'), float64 ('<f8'), uint8 ('|u1').
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tailor/core/checked.hpp"
#include "tailor/core/error.hpp"
#include <cerrno>
#include <filesystem>
#include <fstream>

namespace tailor {

enum class NpyType { f32, f64, u8 };

/// A loaded .npy array: its shape and its data as raw little-endian bytes.
struct NpyArray {
  NpyType type = NpyType::f32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  uint64_t numel() const {
    uint64_t n = 1;
    for (int64_t d : shape) n *= uint64_t(d);  // checked when read
    return n;
  }
  /// The data as float32 (float64 rounded, uint8 widened).
  std::vector<float> to_f32() const {
    const size_t n = size_t(numel());
    std::vector<float> out(n);
    switch (type) {
      case NpyType::f32: if (n) std::memcpy(out.data(), bytes.data(), n * 4); break;
      case NpyType::f64:
        for (size_t i = 0; i < n; ++i) { double v; std::memcpy(&v, bytes.data() + 8 * i, 8); out[i] = float(v); }
        break;
      case NpyType::u8: for (size_t i = 0; i < n; ++i) out[i] = float(bytes[i]); break;
    }
    return out;
  }
};

namespace detail {

/// A strict reader for the header dict numpy writes.
class NpyHeaderParser {
 public:
  NpyHeaderParser(const std::string& s, const std::string& name) : s_(s), name_(name) {}

  void parse(std::string* descr, bool* fortran, std::vector<int64_t>* shape) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    ws();
    expect('{');
    for (;;) {
      ws();
      if (peek() == '}') { ++i_; break; }
      const std::string key = str();
      ws();
      expect(':');
      ws();
      if (key == "descr") {
        if (have_descr) bad("duplicate key 'descr'");
        *descr = str();
        have_descr = true;
      } else if (key == "fortran_order") {
        if (have_fortran) bad("duplicate key 'fortran_order'");
        if (s_.compare(i_, 4, "True") == 0) { *fortran = true; i_ += 4; }
        else if (s_.compare(i_, 5, "False") == 0) { *fortran = false; i_ += 5; }
        else bad("fortran_order is not True or False");
        have_fortran = true;
      } else if (key == "shape") {
        if (have_shape) bad("duplicate key 'shape'");
        *shape = tuple();
        have_shape = true;
      } else {
        bad("unknown key '" + key + "'");
      }
      ws();
      if (peek() == ',') { ++i_; continue; }
      ws();
      expect('}');
      break;
    }
    ws();
    if (i_ != s_.size()) bad("unexpected text after the header dict");
    if (!have_descr || !have_fortran || !have_shape) bad("the header lacks descr, fortran_order or shape");
  }

 private:
  [[noreturn]] void bad(const std::string& what) const {
    fail(ErrorCode::format, name_ + ": not a valid .npy header: " + what, "write the file with numpy.save");
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t')) ++i_;
  }
  void expect(char c) {
    if (peek() != c) bad(std::string("expected '") + c + "' at byte " + std::to_string(i_));
    ++i_;
  }
  std::string str() {
    const char q = peek();
    if (q != '\'' && q != '"') bad("expected a quoted string at byte " + std::to_string(i_));
    ++i_;
    const size_t start = i_;
    while (i_ < s_.size() && s_[i_] != q) {
      if (s_[i_] == '\\' || i_ - start > 64) bad("unexpected string contents");
      ++i_;
    }
    if (i_ >= s_.size()) bad("unterminated string");
    return s_.substr(start, i_++ - start);
  }
  std::vector<int64_t> tuple() {
    std::vector<int64_t> dims;
    expect('(');
    for (;;) {
      ws();
      if (peek() == ')') { ++i_; break; }
      if (peek() < '0' || peek() > '9') bad("shape holds a non-integer");
      uint64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (!checked_mul(v, 10, &v) || !checked_add(v, uint64_t(peek() - '0'), &v) || v > (uint64_t(1) << 62))
          bad("a dimension is too large");
        ++i_;
      }
      if (peek() == 'L') ++i_;  // Python 2 longs
      dims.push_back(int64_t(v));
      if (dims.size() > 8) bad("rank over 8");
      ws();
      if (peek() == ',') { ++i_; continue; }
      ws();
      expect(')');
      break;
    }
    return dims;
  }

  const std::string& s_;
  std::string name_;
  size_t i_ = 0;
};

}  // namespace detail

/// Parses .npy bytes; `max_data_bytes` caps the array before it is copied.
inline NpyArray parse_npy(const void* data, size_t size, const std::string& name = "<memory>",
                          uint64_t max_data_bytes = uint64_t(1) << 32) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  auto bad = [&](const std::string& what, const std::string& hint = "write the file with numpy.save") {
    detail::fail(ErrorCode::format, name + ": " + what, hint);
  };
  if (size < 10 || std::memcmp(p, "\x93NUMPY", 6) != 0) bad("not a .npy file (no \\x93NUMPY magic)");
  const int major = p[6];
  size_t hlen = 0, pre = 0;  // set by every branch that does not throw
  if (major == 1) { hlen = size_t(p[8]) | size_t(p[9]) << 8; pre = 10; }
  else if (major == 2 || major == 3) {
    if (size < 12) bad("truncated header");
    hlen = size_t(p[8]) | size_t(p[9]) << 8 | size_t(p[10]) << 16 | size_t(p[11]) << 24;
    pre = 12;
  } else {
    bad("unsupported .npy format version " + std::to_string(major) + "." + std::to_string(p[7]));
  }
  if (hlen > 65536) bad("header of " + std::to_string(hlen) + " bytes is over the 64 KiB limit");
  if (pre + hlen > size) bad("header runs past the end of the file (truncated?)");
  const std::string header(reinterpret_cast<const char*>(p + pre), hlen);
  std::string descr;
  bool fortran = false;
  NpyArray a;
  detail::NpyHeaderParser(header, name).parse(&descr, &fortran, &a.shape);
  if (fortran) bad("is in Fortran order", "save a C-contiguous array (numpy.ascontiguousarray)");
  size_t item;
  if (descr == "<f4") { a.type = NpyType::f32; item = 4; }
  else if (descr == "<f8") { a.type = NpyType::f64; item = 8; }
  else if (descr == "|u1" || descr == "<u1") { a.type = NpyType::u8; item = 1; }
  else {
    bad("has dtype '" + descr + "'; tailor reads float32 ('<f4'), float64 ('<f8') and uint8 ('|u1')",
        "convert the array with .astype(numpy.float32)");
  }
  uint64_t n = 0, bytes = 0;
  if (!detail::checked_product(a.shape.begin(), a.shape.end(), &n) || !detail::checked_mul(n, item, &bytes))
    bad("shape's size overflows");
  if (bytes > max_data_bytes)
    detail::fail(ErrorCode::limit, name + ": array of " + std::to_string(bytes) + " bytes is over the limit of " +
                                       std::to_string(max_data_bytes), "");
  const uint64_t have = uint64_t(size - pre - hlen);
  if (have != bytes)
    bad("holds " + std::to_string(have) + " data bytes but its shape needs " + std::to_string(bytes),
        have < bytes ? "the file is truncated" : "the file has trailing bytes; write it with numpy.save");
  a.bytes.assign(p + pre + hlen, p + size);
  return a;
}

/// Reads a .npy file (capped at max_data_bytes of array data).
inline NpyArray read_npy(const std::string& path, uint64_t max_data_bytes = uint64_t(1) << 32) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) detail::fail(ErrorCode::io, path + ": no such file", "check the path");
  if (!std::filesystem::is_regular_file(st)) detail::fail(ErrorCode::io, path + ": not a regular file", "pass a .npy file");
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) detail::fail(ErrorCode::io, path + ": cannot read its size: " + ec.message(), "");
  if (size > max_data_bytes + 65536 + 16)
    detail::fail(ErrorCode::limit, path + ": file of " + std::to_string(size) + " bytes is over the limit", "");
  std::ifstream f(path, std::ios::binary);
  if (!f) detail::fail(ErrorCode::io, path + ": cannot open: " + std::strerror(errno), "check the file's permissions");
  std::vector<uint8_t> b(size_t(size) + 1);
  f.read(reinterpret_cast<char*>(b.data()), std::streamsize(size) + 1);
  if (uint64_t(f.gcount()) != size) detail::fail(ErrorCode::io, path + ": the file changed while it was read", "");
  b.resize(size_t(size));
  return parse_npy(b.data(), b.size(), path, max_data_bytes);
}

namespace detail {
inline void write_npy_raw(const std::string& path, const char* descr, const void* data, size_t item,
                          const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  std::string dims = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    TAILOR_CHECK(shape[i] >= 0, ErrorCode::invalid_argument, "write_npy: negative dimension", "");
    dims += (i ? ", " : "") + std::to_string(shape[i]);
    n *= uint64_t(shape[i]);
  }
  dims += shape.size() == 1 ? ",)" : ")";  // Python's 1-tuple
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + dims + ", }";
  size_t total = 10 + dict.size() + 1;
  const size_t pad = (64 - total % 64) % 64;
  dict.append(pad, ' ');
  dict += '\n';
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail(ErrorCode::io, path + ": cannot create: " + std::strerror(errno), "check the directory exists and is writable");
  const uint16_t hl = uint16_t(dict.size());
  const unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, uint8_t(hl & 0xff), uint8_t(hl >> 8)};
  bool ok = std::fwrite(pre, 1, 10, f) == 10 && std::fwrite(dict.data(), 1, dict.size(), f) == dict.size() &&
            (n == 0 || std::fwrite(data, item, size_t(n), f) == size_t(n));
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail(ErrorCode::io, path + ": write failed: " + std::strerror(errno), "check free disk space");
  }
}
}  // namespace detail

/// Writes a float32 array of `shape` (C order) as a .npy file (version 1.0, as numpy.save).
inline void write_npy(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  detail::write_npy_raw(path, "<f4", data, 4, shape);
}
/// Writes a uint8 array of `shape` as a .npy file.
inline void write_npy(const std::string& path, const uint8_t* data, const std::vector<int64_t>& shape) {
  detail::write_npy_raw(path, "|u1", data, 1, shape);
}

}  // namespace tailor
