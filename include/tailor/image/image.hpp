// tailor/image/image.hpp: a decoded RGB8 image, and the hardened PNG/JPEG decoder behind it.
//
// Image::load / Image::decode turn a PNG or JPEG into RGB8 (row-major, 3 bytes a pixel) the
// way PIL's `Image.open(f).convert("RGB")` does, which is what a torchvision pipeline sees:
//   gray                -> replicated to R, G, B
//   gray + alpha, RGBA  -> alpha dropped (not composited)
//   palette (+ tRNS)    -> palette colours, transparency dropped
//   1/2/4-bit gray      -> scaled to 0..255 (x255, x85, x17), as PIL's "L;1/2/4" unpackers
//   16-bit RGB(A), GA   -> the high byte (PIL's "RGB;16B" / "RGBA;16B" unpackers)
//   16-bit gray         -> min(v, 255): PIL opens it as mode "I;16" and its I;16 -> L
//                          conversion clips (so most 16-bit gray photos come out white;
//                          tailor reproduces that instead of guessing what was meant)
//   JPEG gray / YCbCr / CMYK / YCCK -> RGB (Adobe-inverted CMYK: R = C'K'/255, as PIL)
// EXIF orientation is ignored, as it is by `Image.open(...).convert("RGB")`.
// JPEG pixels come from stb_image's IDCT and upsampling, not libjpeg-turbo's, so they differ
// from PIL's by a level or two here and there (measured by the parity tests); PNG pixels are
// identical.
//
// Hostile input (HARDENING.md, images): only PNG and JPEG are accepted, recognised by their
// signatures (GIF, BMP, WebP, TIFF, ... are named and refused); the file size, and the side
// lengths, pixel count (64-bit) and aspect ratio *declared in the header* are checked against
// tailor::Limits before anything is decoded; stb's allocations are capped per decode and
// freed if it fails (image/stb_image.hpp); every failure is a tailor::Error naming the file
// and the problem. Decoding is thread-safe.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tailor/core/checked.hpp"
#include "tailor/core/error.hpp"
#include "tailor/core/limits.hpp"
#include "tailor/image/stb_image.hpp"

namespace tailor {

/// What an encoded image file was.
enum class ImageFormat { raw, png, jpeg };

inline const char* to_string(ImageFormat f) noexcept {
  switch (f) {
    case ImageFormat::png: return "PNG";
    case ImageFormat::jpeg: return "JPEG";
    case ImageFormat::raw: return "raw RGB";
  }
  return "?";
}

namespace detail {

/// Names a file format from its first bytes, for "X is not supported" messages; empty when
/// unknown.
inline std::string sniff_image_format(const uint8_t* p, size_t n) {
  auto starts = [&](const char* sig, size_t len, size_t at = 0) {
    return n >= at + len && std::memcmp(p + at, sig, len) == 0;
  };
  if (starts("\x89PNG\r\n\x1a\n", 8)) return "PNG";
  if (starts("\xFF\xD8\xFF", 3)) return "JPEG";
  if (starts("GIF87a", 6) || starts("GIF89a", 6)) return "GIF";
  if (starts("BM", 2)) return "BMP";
  if (starts("RIFF", 4) && starts("WEBP", 4, 8)) return "WebP";
  if (starts("II*\0", 4) || starts("MM\0*", 4)) return "TIFF";
  if (starts("ftypheic", 8, 4) || starts("ftypheix", 8, 4) || starts("ftypmif1", 8, 4)) return "HEIF/HEIC";
  if (starts("ftypavif", 8, 4)) return "AVIF";
  if (starts("\0\0\0\x0cjP  ", 8) || starts("\xFF\x4F\xFF\x51", 4)) return "JPEG 2000";
  if (starts("8BPS", 4)) return "PSD";
  if (starts("qoif", 4)) return "QOI";
  if (starts("\0\0\1\0", 4)) return "ICO";
  if (starts("#?RADIANCE", 10) || starts("#?RGBE", 6)) return "Radiance HDR";
  if (starts("\x76\x2f\x31\x01", 4)) return "OpenEXR";
  if (starts("%PDF", 4)) return "PDF";
  if (starts("version https://git-lfs", 23)) return "a Git LFS pointer (the image itself was never downloaded)";
  if (n >= 2 && p[0] == 'P' && p[1] >= '1' && p[1] <= '7') return "PNM";
  // Text formats: skip leading whitespace / BOM.
  size_t i = 0;
  if (starts("\xEF\xBB\xBF", 3)) i = 3;
  while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n')) ++i;
  auto text_starts = [&](const char* s) {
    const size_t len = std::strlen(s);
    if (n < i + len) return false;
    for (size_t k = 0; k < len; ++k) {
      char c = char(p[i + k]);
      if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
      if (c != s[k]) return false;
    }
    return true;
  };
  if (text_starts("<svg") || (text_starts("<?xml") && n < (1u << 20) &&
                              std::string(reinterpret_cast<const char*>(p), n).find("<svg") != std::string::npos))
    return "SVG";
  if (text_starts("<!doctype html") || text_starts("<html")) return "an HTML page (a download saved the web page, not the image)";
  return {};
}

/// PNG IHDR fields tailor needs before decoding (stb does not expose the bit depth).
struct PngHeader {
  uint32_t width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
};

inline uint32_t read_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

/// A progressive JPEG's decode time grows with scans x pixels (each scan walks every block of
/// its components, even with no data left), so a few-KB file declaring 40 MP and thousands
/// of scans would take minutes. These caps bound it: real encoders write about 10 scans.
inline constexpr int64_t kMaxJpegScans = 128;
inline constexpr uint64_t kMaxJpegScanPixels = uint64_t(1) << 31;  // scans x pixels

/// Walks a JPEG's marker segments and refuses what stb_image v2.27 mishandles: a DHT table
/// whose 16 code counts sum past 256 (the JPEG limit; v2.27 writes that many symbols into
/// 256-entry arrays). Returns the number of scans (SOS markers). Truncation and other damage
/// are left to the decoder's own checks. Linear in the file size.
inline int64_t jpeg_prescan(const uint8_t* p, size_t n, const std::string& name) {
  int64_t scans = 0;
  size_t pos = 2;  // after SOI
  while (pos + 1 < n) {
    if (p[pos] != 0xFF) { ++pos; continue; }
    size_t m = pos + 1;
    while (m < n && p[m] == 0xFF) ++m;  // fill bytes
    if (m >= n) return scans;
    const uint8_t marker = p[m];
    pos = m + 1;
    if (marker == 0xD9) return scans;                                             // EOI
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;  // no length
    if (pos + 2 > n) return scans;
    const size_t len = (size_t(p[pos]) << 8) | p[pos + 1];
    if (len < 2) return scans;
    if (marker == 0xC4) {  // DHT: tables read exactly as stb does (past the segment, 0 past the file)
      auto byte_at = [&](size_t i) -> size_t { return i < n ? p[i] : 0; };
      int64_t left = int64_t(len) - 2;
      size_t q = pos + 2;
      while (left > 0 && q < n) {
        size_t total = 0;
        for (size_t i = 1; i <= 16; ++i) total += byte_at(q + i);
        if (total > 256)
          fail(ErrorCode::format,
               name + ": is not a valid JPEG: a Huffman table (DHT at byte " + std::to_string(q) + ") defines " +
                   std::to_string(total) + " codes, more than the 256 allowed",
               "the file is damaged or crafted; re-encode it");
        q += 17 + total;
        left -= int64_t(17 + total);
      }
    }
    pos += len;
    if (marker == 0xDA) {  // SOS: skip the entropy-coded data up to the next real marker
      ++scans;
      while (pos + 1 < n && !(p[pos] == 0xFF && p[pos + 1] != 0x00 && !(p[pos + 1] >= 0xD0 && p[pos + 1] <= 0xD7) &&
                              p[pos + 1] != 0xFF))
        ++pos;
    }
  }
  return scans;
}

/// Walks a PNG's chunks; true when it holds an empty IDAT chunk before the first non-empty
/// one, which stb_image v2.27 answers with memcpy(NULL, ..., 0) (undefined behaviour).
/// png_without_empty_idat() then drops every zero-length IDAT, which changes no pixel.
inline bool png_has_empty_idat(const uint8_t* p, size_t n) {
  size_t pos = 8;
  while (pos + 8 <= n) {
    const uint32_t len = read_be32(p + pos);
    if (std::memcmp(p + pos + 4, "IDAT", 4) == 0) {
      if (len == 0) return true;
      return false;  // stb has allocated its buffer by now
    }
    if (std::memcmp(p + pos + 4, "IEND", 4) == 0) return false;
    if (uint64_t(len) + 12 > uint64_t(n - pos)) return false;
    pos += size_t(len) + 12;
  }
  return false;
}
inline std::vector<uint8_t> png_without_empty_idat(const uint8_t* p, size_t n) {
  std::vector<uint8_t> out(p, p + 8);
  size_t pos = 8;
  while (pos < n) {
    if (pos + 8 > n) { out.insert(out.end(), p + pos, p + n); break; }
    const uint32_t len = read_be32(p + pos);
    const size_t chunk = uint64_t(len) + 12 > uint64_t(n - pos) ? n - pos : size_t(len) + 12;
    if (!(len == 0 && std::memcmp(p + pos + 4, "IDAT", 4) == 0)) out.insert(out.end(), p + pos, p + pos + chunk);
    pos += chunk;
  }
  return out;
}

/// Reads a whole file of at most `max_bytes`; errors name the file.
inline std::vector<uint8_t> read_file_capped(const std::string& path, uint64_t max_bytes, const char* what) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st))
    fail(ErrorCode::io, path + ": no such file", "check the path");
  if (!std::filesystem::is_regular_file(st))
    fail(ErrorCode::io, path + ": not a regular file", std::string("pass the path of ") + what);
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) fail(ErrorCode::io, path + ": cannot read its size: " + ec.message(), "");
  if (size > max_bytes)
    fail(ErrorCode::limit,
         path + ": file is " + std::to_string(size) + " bytes, over the limit of " + std::to_string(max_bytes),
         "raise Limits::max_image_file_bytes if such files are expected");
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorCode::io, path + ": cannot open: " + std::strerror(errno), "check the file's permissions");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size && !f.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(size)))
    fail(ErrorCode::io, path + ": read failed after " + std::to_string(f.gcount()) + " of " + std::to_string(size) + " bytes",
         "the file may be changing while it is read");
  return bytes;
}

}  // namespace detail

/// An RGB8 image: width x height pixels, row-major, 3 bytes (R, G, B) a pixel, no padding.
/// Immutable once made; cheap to move.
class Image {
 public:
  Image() = default;

  /// Decodes the PNG or JPEG file at `path` (limits checked from its header first).
  static Image load(const std::string& path, const Limits& limits = {}) {
    const std::vector<uint8_t> bytes = detail::read_file_capped(path, limits.max_image_file_bytes, "a PNG or JPEG image");
    return decode(bytes.data(), bytes.size(), limits, path);
  }

  /// Decodes a PNG or JPEG held in memory; `name` appears in error messages.
  static Image decode(const void* data, size_t size, const Limits& limits = {}, const std::string& name = "<memory>") {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    if (size == 0 || !p) fail_(name, ErrorCode::format, "is empty (0 bytes)", "pass a PNG or JPEG file");
    if (uint64_t(size) > limits.max_image_file_bytes)
      fail_(name, ErrorCode::limit,
            "is " + std::to_string(size) + " bytes, over the limit of " + std::to_string(limits.max_image_file_bytes),
            "raise Limits::max_image_file_bytes if such files are expected");
    const std::string kind = detail::sniff_image_format(p, size);
    ImageFormat fmt;
    if (kind == "PNG") fmt = ImageFormat::png;
    else if (kind == "JPEG") fmt = ImageFormat::jpeg;
    else if (kind.empty())
      fail_(name, ErrorCode::format,
            size < 8 ? "is " + std::to_string(size) + " byte" + (size == 1 ? "" : "s") + ", too short to be an image"
                     : std::string("is not a PNG or JPEG image (unrecognised signature)"),
            "tailor reads PNG and JPEG; convert the image to one of them");
    else
      fail_(name, ErrorCode::unsupported, "is " + kind + ", which tailor does not decode",
            "tailor reads PNG and JPEG only; convert the image to one of them");
    if (size > size_t(INT32_MAX))
      fail_(name, ErrorCode::limit, "is over 2 GiB, more than the decoder can address", "");

    // The header first: dimensions checked before a single pixel is decoded.
    detail::PngHeader ihdr;
    if (fmt == ImageFormat::png) {
      if (size < 33 || std::memcmp(p + 12, "IHDR", 4) != 0) {
        if (size >= 16 && std::memcmp(p + 12, "CgBI", 4) == 0)
          fail_(name, ErrorCode::unsupported, "is an Apple CgBI PNG (Xcode-optimised, byte-swapped and premultiplied)",
                "PIL cannot read it either; re-save it as a standard PNG");
        fail_(name, ErrorCode::format, "is not a valid PNG: no IHDR header chunk", "the file is truncated or damaged");
      }
      ihdr.width = detail::read_be32(p + 16);
      ihdr.height = detail::read_be32(p + 20);
      ihdr.bit_depth = p[24];
      ihdr.color_type = p[25];
      ihdr.interlace = p[28];
    }
    const int64_t jpeg_scans = fmt == ImageFormat::jpeg ? detail::jpeg_prescan(p, size, name) : 0;
    std::vector<uint8_t> rewritten;
    if (fmt == ImageFormat::png && detail::png_has_empty_idat(p, size)) {
      rewritten = detail::png_without_empty_idat(p, size);
      p = rewritten.data();
      size = rewritten.size();
    }
    int w = 0, h = 0, comp = 0;
    {
      detail::stb_alloc::AllocScope scope(1u << 20);
      if (!detail::stb::tailor_stbi_info_from_memory(p, int(size), &w, &h, &comp)) {
        std::string why = stb_reason();
        if (fmt == ImageFormat::png && (ihdr.width == 0 || ihdr.height == 0))
          fail_(name, ErrorCode::format,
                "declares a size of " + std::to_string(ihdr.width) + "x" + std::to_string(ihdr.height) + " pixels",
                "an image needs at least one pixel; the file is damaged");
        if (fmt == ImageFormat::png && (ihdr.width > (1u << 20) || ihdr.height > (1u << 20)))
          check_dims_(name, int64_t(ihdr.width), int64_t(ihdr.height), limits);
        fail_(name, ErrorCode::format, std::string("is not a valid ") + to_string(fmt) + ": " + why,
              "the file is truncated, damaged or uses a variant the decoder does not support "
              "(e.g. arithmetic-coded or 12-bit JPEG); re-encode it");
      }
    }
    check_dims_(name, w, h, limits);
    if (jpeg_scans > detail::kMaxJpegScans || uint64_t(jpeg_scans) * uint64_t(w) * uint64_t(h) > detail::kMaxJpegScanPixels)
      fail_(name, ErrorCode::limit,
            "is a " + std::to_string(w) + "x" + std::to_string(h) + " JPEG with " + std::to_string(jpeg_scans) +
                " scans; decoding it would take too long (at most " + std::to_string(detail::kMaxJpegScans) +
                " scans, and scans x pixels <= 2^31)",
            "the file is crafted or unusual; re-encode it (encoders write about 10 scans)");

    // Allocation budget for this decode: generous for any real file of these dimensions,
    // far below what a decompression bomb would ask for.
    const uint64_t padded = (uint64_t(w) + 16) * (uint64_t(h) + 16);
    const uint64_t budget = 2 * uint64_t(size) + 40 * padded + (16u << 20);

    Image img;
    img.w_ = w;
    img.h_ = h;
    img.format_ = fmt;
    img.rgb_.resize(size_t(w) * size_t(h) * 3);
    detail::stb_alloc::AllocScope scope(budget);
    int ow = 0, oh = 0, on = 0;
    if (fmt == ImageFormat::png && ihdr.bit_depth == 16 && ihdr.color_type == 0) {
      // 16-bit gray: PIL's I;16 -> L conversion clips at 255.
      uint16_t* d = detail::stb::tailor_stbi_load_16_from_memory(p, int(size), &ow, &oh, &on, 0);
      if (!d) decode_failed_(name, fmt, scope.scope());
      check_same_(name, w, h, ow, oh, on, 1, 2);
      const size_t npx = size_t(w) * size_t(h);
      for (size_t i = 0; i < npx; ++i) {
        const uint16_t v = d[i * size_t(on)];
        const uint8_t g = v > 255 ? 255 : uint8_t(v);
        img.rgb_[3 * i] = img.rgb_[3 * i + 1] = img.rgb_[3 * i + 2] = g;
      }
      detail::stb::tailor_stbi_image_free(d);
    } else {
      // JPEG: stb converts gray/YCbCr/CMYK/YCCK to RGB itself. PNG: native channels, then PIL's rules.
      const int req = fmt == ImageFormat::jpeg ? 3 : 0;
      uint8_t* d = detail::stb::tailor_stbi_load_from_memory(p, int(size), &ow, &oh, &on, req);
      if (!d) decode_failed_(name, fmt, scope.scope());
      if (req) on = req;
      check_same_(name, w, h, ow, oh, on, 1, 4);
      const size_t npx = size_t(w) * size_t(h);
      uint8_t* o = img.rgb_.data();
      switch (on) {
        case 1:  // gray
          for (size_t i = 0; i < npx; ++i) o[3 * i] = o[3 * i + 1] = o[3 * i + 2] = d[i];
          break;
        case 2:  // gray + alpha: alpha dropped
          for (size_t i = 0; i < npx; ++i) o[3 * i] = o[3 * i + 1] = o[3 * i + 2] = d[2 * i];
          break;
        case 3:
          std::memcpy(o, d, npx * 3);
          break;
        default:  // RGBA (also palette + tRNS, RGB + tRNS): alpha dropped
          for (size_t i = 0; i < npx; ++i) {
            o[3 * i] = d[4 * i];
            o[3 * i + 1] = d[4 * i + 1];
            o[3 * i + 2] = d[4 * i + 2];
          }
      }
      detail::stb::tailor_stbi_image_free(d);
    }
    return img;
  }

  /// Wraps RGB8 pixels already in memory (copied): `row_stride` bytes between rows, 0 for
  /// tightly packed (width * 3).
  static Image from_rgb(const uint8_t* rgb, int width, int height, size_t row_stride = 0) {
    TAILOR_CHECK(width >= 1 && height >= 1, ErrorCode::invalid_argument,
                 "image size " + std::to_string(width) + "x" + std::to_string(height) + " is empty",
                 "an image needs at least one pixel");
    TAILOR_CHECK(rgb != nullptr, ErrorCode::invalid_argument, "Image::from_rgb: null pixel pointer", "");
    uint64_t bytes = 0;
    if (!detail::checked_product({uint64_t(width), uint64_t(height), 3}, &bytes) || bytes > (uint64_t(1) << 40))
      detail::fail(ErrorCode::limit, "image of " + std::to_string(width) + "x" + std::to_string(height) + " is too large", "");
    const size_t row = size_t(width) * 3;
    if (row_stride == 0) row_stride = row;
    TAILOR_CHECK(row_stride >= row, ErrorCode::invalid_argument,
                 "Image::from_rgb: row stride " + std::to_string(row_stride) + " is less than width * 3 = " + std::to_string(row), "");
    Image img;
    img.w_ = width;
    img.h_ = height;
    img.format_ = ImageFormat::raw;
    img.rgb_.resize(size_t(bytes));
    for (int y = 0; y < height; ++y) std::memcpy(img.rgb_.data() + size_t(y) * row, rgb + size_t(y) * row_stride, row);
    return img;
  }

  int width() const noexcept { return w_; }
  int height() const noexcept { return h_; }
  /// RGB8 pixels, row-major (height, width, 3).
  const uint8_t* rgb() const noexcept { return rgb_.data(); }
  size_t size_bytes() const noexcept { return rgb_.size(); }
  bool empty() const noexcept { return rgb_.empty(); }
  /// The encoding it was decoded from (raw for from_rgb).
  ImageFormat format() const noexcept { return format_; }

 private:
  [[noreturn]] static void fail_(const std::string& name, ErrorCode code, const std::string& what, const std::string& hint) {
    detail::fail(code, name + ": " + what, hint);
  }
  static std::string stb_reason() {
    const char* r = detail::stb::tailor_stbi_failure_reason();
    return r ? std::string("decoder says '") + r + "'" : std::string("decoder failed");
  }
  static void check_dims_(const std::string& name, int64_t w, int64_t h, const Limits& lim) {
    if (w < 1 || h < 1)
      fail_(name, ErrorCode::format, "declares a size of " + std::to_string(w) + "x" + std::to_string(h) + " pixels",
            "an image needs at least one pixel; the file is damaged");
    if (uint64_t(w) > lim.max_image_side || uint64_t(h) > lim.max_image_side)
      fail_(name, ErrorCode::limit,
            "is " + std::to_string(w) + "x" + std::to_string(h) + " pixels; a side is over the limit of " +
                std::to_string(lim.max_image_side),
            "downscale the image, or raise Limits::max_image_side");
    const uint64_t px = uint64_t(w) * uint64_t(h);  // both < 2^31: no overflow
    if (px > lim.max_image_pixels)
      fail_(name, ErrorCode::limit,
            "is " + std::to_string(w) + "x" + std::to_string(h) + " = " + std::to_string(px) +
                " pixels, over the limit of " + std::to_string(lim.max_image_pixels),
            "downscale the image, or raise Limits::max_image_pixels");
    const double aspect = double(std::max(w, h)) / double(std::min(w, h));
    if (aspect > lim.max_image_aspect)
      fail_(name, ErrorCode::limit,
            "is " + std::to_string(w) + "x" + std::to_string(h) + " pixels, an aspect ratio of " +
                std::to_string(int64_t(aspect)) + ":1, over the limit of " + std::to_string(lim.max_image_aspect).substr(0, 6) + ":1",
            "crop the image, or raise Limits::max_image_aspect (resizing its short side to 256 would make the long "
            "side huge)");
  }
  static void check_same_(const std::string& name, int w, int h, int ow, int oh, int on, int cmin, int cmax) {
    if (ow != w || oh != h || on < cmin || on > cmax)
      fail_(name, ErrorCode::format,
            "decoded to " + std::to_string(ow) + "x" + std::to_string(oh) + "x" + std::to_string(on) +
                " but its header says " + std::to_string(w) + "x" + std::to_string(h),
            "the file is damaged");
  }
  [[noreturn]] static void decode_failed_(const std::string& name, ImageFormat fmt, const detail::stb_alloc::Scope& s) {
    if (s.over_budget)
      fail_(name, ErrorCode::limit,
            std::string("decoding this ") + to_string(fmt) + " would need more than " + std::to_string(s.budget >> 20) +
                " MiB, far more than its dimensions imply",
            "the file is damaged or a decompression bomb");
    fail_(name, ErrorCode::format, std::string("is not a valid ") + to_string(fmt) + ": " + stb_reason(),
          "the file is truncated or damaged; re-encode it");
  }

  int w_ = 0, h_ = 0;
  ImageFormat format_ = ImageFormat::raw;
  std::vector<uint8_t> rgb_;
};

}  // namespace tailor
