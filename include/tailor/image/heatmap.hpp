// tailor/image/heatmap.hpp: explanation heatmaps over a photo, written as PNG.
//
// A class-activation map (or an occlusion map) is a small grid (gh, gw) of signed
// contributions to the logit over the centre-crop region the network saw. overlay_heatmap()
// upsamples it bilinearly onto that region of the photo (scaled down so the long side is at
// most max_side) with a diverging colour map: red where a region raises the score, blue where
// it lowers it, opacity growing with |contribution| / max |contribution|; outside the crop the
// photo is dimmed, since the network never saw it.
//
// encode_png() is a self-contained PNG encoder (RGB8, zlib "stored" blocks, CRC-32 and
// Adler-32): no compression, no dependency, no global state, so a host that embeds its own
// stb_image_write or libpng has nothing to clash with.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "tailor/core/error.hpp"

namespace tailor {

namespace detail {
inline uint32_t crc32_update(uint32_t crc, const uint8_t* p, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}
inline void put_be32(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s += char((v >> (8 * i)) & 0xff);
}
inline void png_chunk(std::string& out, const char* type, const std::string& data) {
  put_be32(out, uint32_t(data.size()));
  const size_t start = out.size();
  out.append(type, 4);
  out += data;
  put_be32(out, crc32_update(0, reinterpret_cast<const uint8_t*>(out.data() + start), out.size() - start));
}
}  // namespace detail

/// PNG bytes of an RGB8 image (row-major, w * h * 3 bytes).
inline std::string encode_png(const uint8_t* rgb, int w, int h) {
  TAILOR_CHECK(w > 0 && h > 0 && w <= 65535 && h <= 65535, ErrorCode::invalid_argument,
               "PNG size " + std::to_string(w) + "x" + std::to_string(h) + " out of range", "");
  // Raw scanlines, each prefixed with filter type 0 (None).
  const size_t row = size_t(w) * 3 + 1;
  std::string raw(row * size_t(h), '\0');
  for (int y = 0; y < h; ++y)
    std::copy(rgb + size_t(y) * size_t(w) * 3, rgb + size_t(y + 1) * size_t(w) * 3, raw.begin() + long(row * size_t(y) + 1));
  // zlib stream of stored deflate blocks (at most 65535 bytes each).
  std::string z = "\x78\x01";
  for (size_t off = 0; off < raw.size() || off == 0; off += 65535) {
    const size_t n = std::min<size_t>(65535, raw.size() - off);
    const bool last = off + n >= raw.size();
    z += char(last ? 1 : 0);
    z += char(n & 0xff);
    z += char(n >> 8);
    z += char(~n & 0xff);
    z += char((~n >> 8) & 0xff);
    z.append(raw, off, n);
    if (last) break;
  }
  uint32_t a = 1, b = 0;  // Adler-32
  for (unsigned char c : raw) { a = (a + c) % 65521u; b = (b + a) % 65521u; }
  detail::put_be32(z, (b << 16) | a);
  std::string png = "\x89PNG\r\n\x1a\n";
  std::string ihdr;
  detail::put_be32(ihdr, uint32_t(w));
  detail::put_be32(ihdr, uint32_t(h));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit, RGB, deflate, no filter, no interlace
  detail::png_chunk(png, "IHDR", ihdr);
  detail::png_chunk(png, "IDAT", z);
  detail::png_chunk(png, "IEND", "");
  return png;
}

/// Writes encode_png() to `path`.
inline void write_png(const std::string& path, const uint8_t* rgb, int w, int h) {
  const std::string png = encode_png(rgb, w, h);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) detail::fail(ErrorCode::io, path + ": cannot write", "check that the folder exists and is writable");
  const bool ok = std::fwrite(png.data(), 1, png.size(), f) == png.size();
  if (std::fclose(f) != 0 || !ok) detail::fail(ErrorCode::io, path + ": write failed", "check free disk space");
}

/// Where the network's input came from in the photo: the centre crop, in photo pixels.
struct CropBox {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

struct Overlay {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // (height, width, 3)
};

/// Blends a signed map (gh, gw), row-major over `box`, onto the photo (w, h, RGB8).
inline Overlay overlay_heatmap(const uint8_t* photo, int w, int h, const float* map, int gh, int gw, const CropBox& box,
                               int max_side = 1024) {
  TAILOR_CHECK(w > 0 && h > 0 && gh > 0 && gw > 0, ErrorCode::invalid_argument, "empty heatmap or photo", "");
  const double scale = std::min(1.0, double(max_side) / double(std::max(w, h)));
  Overlay o;
  o.width = std::max(1, int(std::lround(w * scale)));
  o.height = std::max(1, int(std::lround(h * scale)));
  o.rgb.resize(size_t(o.width) * size_t(o.height) * 3);
  float vmax = 0.f;
  for (int i = 0; i < gh * gw; ++i) vmax = std::max(vmax, std::abs(map[i]));
  if (!(vmax > 0.f)) vmax = 1.f;
  for (int y = 0; y < o.height; ++y) {
    for (int x = 0; x < o.width; ++x) {
      // Photo pixel (nearest sample of the downscaled photo).
      const double px = (x + 0.5) / scale, py = (y + 0.5) / scale;
      const int sx = std::min(w - 1, int(px)), sy = std::min(h - 1, int(py));
      const uint8_t* s = photo + (size_t(sy) * size_t(w) + size_t(sx)) * 3;
      double r = s[0], g = s[1], b = s[2];
      if (px < box.x0 || px >= box.x1 || py < box.y0 || py >= box.y1) {
        r *= 0.35; g *= 0.35; b *= 0.35;  // outside what the network saw
      } else {
        // Bilinear sample of the grid, cell centres at ((i + 0.5) / g) of the box.
        const double gx = (px - box.x0) / (box.x1 - box.x0) * gw - 0.5, gy = (py - box.y0) / (box.y1 - box.y0) * gh - 0.5;
        const int ix = std::clamp(int(std::floor(gx)), 0, gw - 1), iy = std::clamp(int(std::floor(gy)), 0, gh - 1);
        const int jx = std::min(ix + 1, gw - 1), jy = std::min(iy + 1, gh - 1);
        const double fx = std::clamp(gx - ix, 0.0, 1.0), fy = std::clamp(gy - iy, 0.0, 1.0);
        const double v = (1 - fy) * ((1 - fx) * map[iy * gw + ix] + fx * map[iy * gw + jx]) +
                         fy * ((1 - fx) * map[jy * gw + ix] + fx * map[jy * gw + jx]);
        const double t = std::clamp(v / vmax, -1.0, 1.0);
        const double alpha = 0.75 * std::abs(t);
        const double cr = t > 0 ? 255 : 0, cg = 40, cb = t > 0 ? 0 : 255;
        r = (1 - alpha) * r + alpha * cr;
        g = (1 - alpha) * g + alpha * cg;
        b = (1 - alpha) * b + alpha * cb;
      }
      uint8_t* d = o.rgb.data() + (size_t(y) * size_t(o.width) + size_t(x)) * 3;
      d[0] = uint8_t(std::lround(std::clamp(r, 0.0, 255.0)));
      d[1] = uint8_t(std::lround(std::clamp(g, 0.0, 255.0)));
      d[2] = uint8_t(std::lround(std::clamp(b, 0.0, 255.0)));
    }
  }
  return o;
}

}  // namespace tailor
