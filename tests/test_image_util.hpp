// tests/test_image_util.hpp: a tiny PNG writer for the image tests (stored deflate blocks,
// so any pixel layout can be built without a compression library), and file helpers.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace tailor::test {

inline uint32_t crc32(const uint8_t* p, size_t n, uint32_t c = 0) {
  c = ~c;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

inline void put_be32(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s += char((v >> (8 * i)) & 0xff);
}

inline std::string png_chunk(const std::string& type, const std::string& data) {
  std::string out;
  put_be32(out, uint32_t(data.size()));
  const std::string td = type + data;
  out += td;
  put_be32(out, crc32(reinterpret_cast<const uint8_t*>(td.data()), td.size()));
  return out;
}

/// zlib stream of `raw` in stored (uncompressed) deflate blocks.
inline std::string zlib_stored(const std::string& raw) {
  std::string z = "\x78\x01";
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(65535, raw.size() - pos);
    const bool last = pos + n == raw.size();
    z += char(last ? 1 : 0);
    z += char(n & 0xff);
    z += char(n >> 8);
    z += char(~n & 0xff);
    z += char((~n >> 8) & 0xff);
    z += raw.substr(pos, n);
    pos += n;
  } while (pos < raw.size());
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  put_be32(z, (b << 16) | a);
  return z;
}

/// A PNG: IHDR with these fields, optional PLTE/tRNS, one IDAT of `raw` (already filtered
/// scanlines) in stored blocks.
inline std::string png_file(uint32_t w, uint32_t h, int bit_depth, int color_type, const std::string& raw,
                            const std::string& plte = "", const std::string& trns = "", int interlace = 0) {
  std::string ihdr;
  put_be32(ihdr, w);
  put_be32(ihdr, h);
  ihdr += char(bit_depth);
  ihdr += char(color_type);
  ihdr += '\0';
  ihdr += '\0';
  ihdr += char(interlace);
  std::string out = "\x89PNG\r\n\x1a\n";
  out += png_chunk("IHDR", ihdr);
  if (!plte.empty()) out += png_chunk("PLTE", plte);
  if (!trns.empty()) out += png_chunk("tRNS", trns);
  out += png_chunk("IDAT", zlib_stored(raw));
  out += png_chunk("IEND", "");
  return out;
}

/// Filter-0 scanlines of packed samples: rows of `row_bytes` bytes taken from `packed`.
inline std::string scanlines(const std::vector<uint8_t>& packed, size_t rows, size_t row_bytes) {
  std::string raw;
  for (size_t r = 0; r < rows; ++r) {
    raw += '\0';
    raw.append(reinterpret_cast<const char*>(packed.data()) + r * row_bytes, row_bytes);
  }
  return raw;
}

inline std::string source_dir() {
  const char* s = std::getenv("TAILOR_SOURCE_DIR");
  return s ? s : ".";
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace tailor::test
