// tests/test_image_hardening.cpp: every image row of HARDENING.md, as a test. Each hostile
// input must give a tailor::Error (with a message naming the problem) or a valid image, never
// a crash, abort, hang or unbounded allocation (the sanitizer build runs this file too;
// ctest's timeout bounds the time).
//   empty, 1-byte, random bytes; every seed truncated at every offset and with bytes flipped;
//   0xN sizes; huge declared sizes; 1 x 100000 strips; a zlib bomb (a 16x16 PNG whose IDAT
//   inflates to 64 MiB); every PNG colour type incl. 16-bit and interlaced; progressive and
//   CMYK JPEG; GIF, BMP, WebP, TIFF, SVG, HTML and Git LFS pointers refused by name.
// Every image that decodes also goes through the full Preprocess (decode + preprocess is also
// the libFuzzer target tests/fuzz/fuzz_image.cpp).
#include <doctest/doctest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "tailor/image/image.hpp"
#include "tailor/image/preprocess.hpp"
#include "test_image_util.hpp"

using namespace tailor;
using tailor::test::png_file;
using tailor::test::scanlines;

namespace {

/// Decodes (and preprocesses what decodes); returns "" on success or the error's code name.
/// Anything but a tailor::Error propagates and fails the test.
std::string outcome(const std::string& bytes, const Limits& lim = {}) {
  try {
    const Image im = Image::decode(bytes.data(), bytes.size(), lim, "hostile");
    Preprocess::imagenet(64, 56).run(im);
    return "";
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("hostile") != std::string::npos);  // the message names the input
    return to_string(e.code());
  }
}

std::vector<std::pair<std::string, std::string>> seeds() {
  std::vector<std::pair<std::string, std::string>> out;
  const std::string dir = test::source_dir() + "/tests/fuzz/corpus/image";
  for (const auto& e : std::filesystem::directory_iterator(dir))
    out.emplace_back(e.path().filename().string(), test::read_file(e.path().string()));
  std::sort(out.begin(), out.end());
  return out;
}

/// A deflate stream (fixed Huffman) of `n` zero bytes: one literal 0, then (258, distance 1)
/// back-references at 13 bits each, so 64 MiB fit in ~420 KB.
std::string zlib_zero_bomb(uint64_t n) {
  std::string out = "\x78\x01";
  uint64_t acc = 0;
  int bits = 0;
  auto put = [&](uint32_t v, int len) {  // LSB-first
    acc |= uint64_t(v) << bits;
    bits += len;
    while (bits >= 8) { out += char(acc & 0xff); acc >>= 8; bits -= 8; }
  };
  auto put_code = [&](uint32_t code, int len) {  // Huffman codes are MSB-first
    uint32_t r = 0;
    for (int i = 0; i < len; ++i) r |= ((code >> i) & 1u) << (len - 1 - i);
    put(r, len);
  };
  put(1, 1);                 // BFINAL
  put(1, 2);                 // BTYPE = 01 (fixed Huffman)
  put_code(0x30 + 0, 8);     // literal 0: codes 0-143 are 0x30 + v, 8 bits
  for (uint64_t done = 1; done + 258 <= n; done += 258) {
    put_code(0xC5, 8);       // length 258: symbol 285 = 11000101
    put_code(0, 5);          // distance 1: code 0
  }
  put_code(0, 7);            // end of block: symbol 256 = 0000000
  if (bits) put(0, 8 - bits);
  out += std::string(4, '\0');  // Adler-32 (never reached)
  return out;
}

}  // namespace

TEST_CASE("empty, 1-byte and short files are clean format errors") {
  CHECK(outcome("") == "format error");
  for (int b = 0; b < 256; ++b) CHECK(outcome(std::string(1, char(b))) != "");
  CHECK(outcome("\x89PNG") != "");
  CHECK(outcome("\xFF\xD8\xFF") != "");
  CHECK(outcome("\x89PNG\r\n\x1a\n") != "");
}

TEST_CASE("random bytes, with and without a valid signature, never crash") {
  std::mt19937 g(1234);
  for (int i = 0; i < 600; ++i) {
    std::string s(size_t(g() % 2048), '\0');
    for (auto& c : s) c = char(g());
    if (i % 3 == 1 && s.size() >= 8) s.replace(0, 8, "\x89PNG\r\n\x1a\n");
    if (i % 3 == 2 && s.size() >= 3) s.replace(0, 3, "\xFF\xD8\xFF");
    (void)outcome(s);
  }
}

TEST_CASE("every seed image decodes; truncated at every offset it fails cleanly") {
  const auto all = seeds();
  REQUIRE(all.size() >= 20);
  for (const auto& seed : all) {
    const std::string& name = seed.first;
    const std::string& bytes = seed.second;
    CAPTURE(name);
    CHECK(outcome(bytes) == "");  // every colour type, 16-bit, interlaced, progressive, CMYK
    for (size_t cut = 0; cut < bytes.size(); ++cut) (void)outcome(bytes.substr(0, cut));
  }
}

TEST_CASE("seed images with flipped bytes never crash") {
  std::mt19937 g(99);
  for (const auto& seed : seeds()) {
    const std::string& name = seed.first;
    const std::string& bytes = seed.second;
    CAPTURE(name);
    for (int rep = 0; rep < 60; ++rep) {
      std::string s = bytes;
      const int flips = 1 + int(g() % 4);
      for (int k = 0; k < flips; ++k) s[g() % s.size()] ^= char(1u << (g() % 8));
      (void)outcome(s);
    }
  }
}

TEST_CASE("0 x N sizes are refused") {
  for (auto [w, h] : {std::pair<uint32_t, uint32_t>{0, 5}, {5, 0}, {0, 0}}) {
    const std::string png = png_file(w, h, 8, 0, scanlines(std::vector<uint8_t>(25, 1), 5, 5));
    CHECK(outcome(png) == "format error");
  }
  // A JPEG whose SOF0 says height 0 (patched into a valid seed).
  std::string jpg = test::read_file(test::source_dir() + "/tests/fuzz/corpus/image/baseline_420.jpg");
  const size_t sof = jpg.find("\xFF\xC0");
  REQUIRE(sof != std::string::npos);
  jpg[sof + 5] = 0;
  jpg[sof + 6] = 0;
  CHECK(outcome(jpg) != "");
}

TEST_CASE("huge declared sizes are refused from the header, before any allocation") {
  const std::string tiny_idat = scanlines(std::vector<uint8_t>(3, 0), 1, 3);
  for (const auto& wh : {std::pair<uint32_t, uint32_t>{0x7fffffff, 0x7fffffff}, {0xffffffff, 1}, {100000, 100000},
                         {16384, 16384}, {16385, 2}, {8000, 8000}}) {
    const uint32_t w = wh.first, h = wh.second;
    CAPTURE(w);
    CAPTURE(h);
    const std::string o = outcome(png_file(w, h, 8, 2, tiny_idat));
    CHECK((o == "limit exceeded" || o == "format error"));
  }
  // 8000 x 8000 (64 MP, 256 MB as RGBA) is refused by the pixel budget, not the side limit.
  CHECK(outcome(png_file(8000, 8000, 8, 6, tiny_idat)) == "limit exceeded");
  // A JPEG declaring 65535 x 65535.
  std::string jpg = test::read_file(test::source_dir() + "/tests/fuzz/corpus/image/baseline_444.jpg");
  const size_t sof = jpg.find("\xFF\xC0");
  REQUIRE(sof != std::string::npos);
  jpg[sof + 5] = jpg[sof + 6] = jpg[sof + 7] = jpg[sof + 8] = char(0xff);
  CHECK(outcome(jpg) == "limit exceeded");
}

TEST_CASE("1 x 100000 strips are refused; with raised limits the resize still is") {
  const std::string strip = png_file(1, 100000, 8, 0, scanlines(std::vector<uint8_t>(100000, 7), 100000, 1));
  CHECK(outcome(strip) == "limit exceeded");                                            // side 100000 > 16384
  CHECK(outcome(png_file(1, 10000, 8, 0, scanlines(std::vector<uint8_t>(10000, 7), 10000, 1))) == "limit exceeded");  // aspect
  Limits lim;
  lim.max_image_side = 200000;
  lim.max_image_aspect = 1e9;
  const Image im = Image::decode(strip.data(), strip.size(), lim, "strip");
  CHECK(im.height() == 100000);
  // Resize(256) would make it 256 x 25,600,000: refused, not allocated.
  CHECK_THROWS_WITH_AS(Preprocess::imagenet().run(im), doctest::Contains("long side"), Error);
  // The largest aspect allowed by default (64:1) works.
  const std::string ok = png_file(1, 64, 8, 0, scanlines(std::vector<uint8_t>(64, 9), 64, 1));
  CHECK(outcome(ok) == "");
}

TEST_CASE("a zlib bomb in a small PNG stops at the decode's memory budget") {
  const std::string bomb_idat = zlib_zero_bomb(64ull << 20);
  // 16 x 16 gray needs 16 * 17 bytes of scanlines; the stream inflates to 64 MiB.
  std::string png = "\x89PNG\r\n\x1a\n";
  std::string ihdr;
  test::put_be32(ihdr, 16);
  test::put_be32(ihdr, 16);
  ihdr += std::string("\x08\x00\x00\x00\x00", 5);
  png += test::png_chunk("IHDR", ihdr) + test::png_chunk("IDAT", bomb_idat) + test::png_chunk("IEND", "");
  CHECK(png.size() < (1u << 20));
  const std::string o = outcome(png);
  CHECK((o == "limit exceeded" || o == "format error"));
}

TEST_CASE("a JPEG with thousands of scans is refused before decoding (time bomb)") {
  // The progressive seed with its last scan repeated: a valid structure that would make the
  // decoder walk every block once per scan.
  const std::string jpg = test::read_file(test::source_dir() + "/tests/fuzz/corpus/image/progressive.jpg");
  const size_t last_sos = jpg.rfind("\xFF\xDA");
  const size_t eoi = jpg.rfind("\xFF\xD9");
  REQUIRE((last_sos != std::string::npos && eoi != std::string::npos && eoi > last_sos));
  std::string bomb = jpg.substr(0, eoi);
  for (int i = 0; i < 200; ++i) bomb += jpg.substr(last_sos, eoi - last_sos);
  bomb += "\xFF\xD9";
  try {
    Image::decode(bomb.data(), bomb.size(), {}, "scans");
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::limit);
    CHECK(std::string(e.what()).find("scans") != std::string::npos);
  }
  CHECK(outcome(jpg) == "");  // the seed itself (10 scans) decodes
}

TEST_CASE("other formats are refused by name") {
  const std::pair<std::string, std::string> files[] = {
      {"GIF89a\x01\x00\x01\x00\x80\x00\x00", "GIF"},
      {std::string("BM\x3a\0\0\0\0\0\0\0\x36\0\0\0", 14), "BMP"},
      {std::string("RIFF\x24\0\0\0WEBPVP8 ", 16), "WebP"},
      {std::string("II*\0\x08\0\0\0", 8), "TIFF"},
      {"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"></svg>", "SVG"},
      {"<!DOCTYPE html><html><body>404</body></html>", "HTML"},
      {"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n", "Git LFS"},
      {"P6\n2 2\n255\n............", "PNM"},
      {std::string("\0\0\0\x1c" "ftypavif", 12), "AVIF"},
  };
  for (const auto& file : files) {
    const std::string& bytes = file.first;
    const std::string& name = file.second;
    CAPTURE(name);
    try {
      Image::decode(bytes.data(), bytes.size(), {}, "f");
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find(name) != std::string::npos);
      CHECK(e.code() == ErrorCode::unsupported);
    }
  }
}
