// tests/test_image.cpp: image decode to RGB8 (PIL's convert("RGB") rules for every PNG colour
// type and bit depth, built here with a stored-deflate PNG writer), PIL's resample (goldens
// produced by Pillow 13 for every filter, committed below), torchvision's Resize/CenterCrop
// size rounding, normalisation, the .npy reader/writer, limits from the header, and decoding
// on many threads at once. The full parity suite against PIL + torchvision on real and
// generated images is converters/parity/image_parity_test.py.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <thread>
#include <vector>

#include "tailor/image/image.hpp"
#include "tailor/image/preprocess.hpp"
#include "tailor/image/resample.hpp"
#include "tailor/io/npy.hpp"
#include "test_image_util.hpp"

using namespace tailor;
using tailor::test::png_file;
using tailor::test::scanlines;

namespace {

Image decode(const std::string& bytes, const Limits& lim = {}) { return Image::decode(bytes.data(), bytes.size(), lim, "test.png"); }

std::vector<uint8_t> rgb_of(const Image& im) { return std::vector<uint8_t>(im.rgb(), im.rgb() + im.size_bytes()); }

std::vector<uint8_t> gray_to_rgb(const std::vector<uint8_t>& g) {
  std::vector<uint8_t> o;
  for (uint8_t v : g) o.insert(o.end(), {v, v, v});
  return o;
}

/// The 7x5 RGB source of the resample goldens.
Image golden_source() {
  std::vector<uint8_t> px(7 * 5 * 3);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 7; ++x)
      for (int c = 0; c < 3; ++c) px[size_t((y * 7 + x) * 3 + c)] = uint8_t((x * 37 + y * 91 + c * 53 + x * y * 13) % 256);
  return Image::from_rgb(px.data(), 7, 5);
}

struct Golden {
  int w, h;
  Interpolation f;
  std::vector<uint8_t> rgb;
};

// PIL.Image.fromarray(golden_source).resize((w, h), filter), Pillow 13.0.0.
const std::vector<Golden> kGoldens = {
    {3, 4, Interpolation::bilinear, {58, 111, 150, 125, 151, 178, 166, 150, 121, 154, 161, 144, 151, 130, 123, 120, 127, 157, 123, 130, 113, 153, 132, 125, 155, 108, 138, 117, 170, 128, 132, 113, 140, 120, 109, 162}},
    {3, 4, Interpolation::bicubic, {45, 104, 149, 124, 158, 188, 172, 151, 118, 163, 166, 147, 151, 129, 114, 114, 126, 163, 121, 124, 109, 153, 140, 124, 161, 103, 136, 113, 179, 132, 131, 104, 134, 119, 109, 168}},
    {3, 4, Interpolation::lanczos, {41, 103, 151, 126, 162, 187, 170, 150, 124, 171, 172, 149, 151, 126, 109, 109, 125, 164, 119, 116, 101, 153, 147, 130, 166, 101, 131, 107, 185, 138, 133, 101, 126, 118, 107, 175}},
    {3, 4, Interpolation::box, {19, 72, 125, 111, 164, 217, 204, 129, 54, 165, 154, 143, 136, 146, 114, 128, 117, 170, 55, 108, 161, 160, 127, 95, 179, 104, 157, 153, 206, 131, 119, 87, 140, 86, 139, 192}},
    {3, 4, Interpolation::hamming, {37, 90, 140, 117, 158, 203, 185, 149, 89, 150, 162, 161, 158, 122, 115, 118, 130, 172, 114, 126, 125, 161, 125, 118, 160, 106, 148, 136, 189, 124, 125, 111, 156, 102, 117, 170}},
    {11, 9, Interpolation::bilinear, {0, 53, 106, 17, 70, 123, 40, 93, 146, 64, 117, 170, 87, 140, 193, 111, 164, 217, 135, 188, 241, 158, 211, 194, 182, 235, 55, 205, 119, 55, 222, 19, 72, 30, 83, 136, 49, 102, 155, 75, 128, 173, 102, 155, 146, 128, 150, 148, 154, 122, 175, 127, 149, 202, 122, 175, 181, 148, 201, 99, 174, 134, 109, 193, 75, 128, 81, 134, 187, 103, 156, 209, 134, 187, 219, 164, 217, 105, 195, 166, 74, 227, 52, 105, 113, 83, 136, 61, 114, 159, 91, 144, 171, 122, 160, 200, 145, 169, 222, 131, 184, 124, 157, 158, 149, 182, 132, 172, 145, 167, 117, 149, 151, 113, 185, 96, 149, 130, 131, 112, 114, 136, 106, 149, 99, 141, 123, 124, 177, 96, 149, 202, 182, 235, 32, 211, 147, 61, 227, 48, 101, 105, 88, 141, 75, 128, 181, 115, 168, 221, 155, 208, 98, 195, 178, 45, 235, 56, 85, 136, 72, 125, 48, 101, 154, 90, 143, 83, 123, 124, 115, 156, 106, 147, 129, 151, 100, 143, 144, 107, 187, 98, 151, 141, 142, 123, 134, 156, 127, 179, 129, 171, 162, 85, 138, 142, 53, 106, 27, 80, 133, 63, 116, 156, 109, 162, 169, 140, 193, 73, 182, 152, 60, 231, 56, 109, 135, 87, 140, 94, 127, 180, 125, 176, 229, 172, 101, 154, 207, 33, 86, 78, 131, 184, 116, 169, 145, 155, 208, 98, 100, 153, 97, 107, 129, 128, 161, 129, 182, 161, 74, 127, 137, 66, 119, 82, 120, 173, 121, 127, 180, 159, 127, 180, 108, 161, 214, 148, 201, 138, 182, 235, 55, 76, 129, 112, 62, 115, 168, 119, 172, 225, 176, 66, 119, 162, 29, 82, 56, 86, 139, 90, 143, 196, 130, 183, 236}},
    {11, 9, Interpolation::bicubic, {0, 43, 96, 5, 58, 110, 31, 84, 139, 55, 106, 177, 76, 137, 205, 100, 174, 227, 138, 199, 255, 168, 227, 210, 190, 253, 35, 216, 107, 31, 232, 0, 61, 21, 71, 134, 36, 93, 155, 66, 128, 176, 98, 159, 145, 129, 152, 146, 151, 125, 178, 124, 147, 220, 117, 183, 196, 148, 216, 88, 183, 132, 97, 205, 59, 125, 76, 128, 193, 97, 155, 228, 134, 199, 236, 172, 246, 90, 217, 176, 45, 236, 42, 95, 102, 62, 135, 32, 107, 165, 80, 145, 180, 124, 170, 213, 150, 181, 236, 141, 203, 123, 172, 167, 156, 199, 131, 180, 146, 178, 109, 150, 156, 104, 189, 92, 145, 124, 131, 97, 103, 134, 87, 150, 80, 143, 114, 127, 195, 78, 173, 225, 178, 249, 28, 218, 152, 55, 236, 38, 101, 93, 81, 141, 56, 128, 192, 115, 168, 221, 155, 227, 90, 202, 190, 27, 245, 47, 84, 131, 65, 131, 34, 105, 158, 82, 144, 63, 118, 113, 109, 157, 89, 155, 125, 158, 93, 144, 150, 97, 191, 94, 147, 134, 154, 121, 127, 179, 127, 196, 135, 181, 172, 71, 131, 141, 28, 81, 12, 64, 130, 46, 104, 167, 101, 166, 184, 144, 218, 57, 201, 162, 33, 241, 47, 100, 126, 72, 143, 69, 134, 196, 122, 195, 249, 183, 99, 151, 224, 11, 64, 71, 124, 199, 118, 175, 150, 160, 222, 88, 89, 150, 89, 94, 124, 132, 158, 132, 185, 173, 59, 122, 140, 47, 107, 68, 121, 175, 115, 136, 189, 166, 134, 187, 109, 162, 235, 163, 216, 138, 197, 250, 33, 57, 109, 109, 31, 102, 191, 109, 183, 236, 200, 56, 108, 183, 0, 53, 41, 76, 129, 75, 156, 209, 129, 204, 255}},
    {11, 9, Interpolation::lanczos, {0, 43, 88, 5, 54, 97, 32, 75, 132, 51, 96, 184, 63, 134, 214, 91, 183, 236, 140, 202, 255, 179, 246, 205, 200, 255, 28, 220, 97, 11, 231, 0, 60, 16, 64, 138, 27, 89, 165, 61, 138, 182, 101, 171, 145, 141, 153, 131, 157, 119, 172, 123, 128, 224, 103, 190, 202, 138, 227, 95, 187, 135, 93, 212, 56, 131, 71, 122, 188, 87, 145, 238, 128, 206, 236, 166, 254, 93, 230, 174, 31, 237, 41, 94, 104, 47, 143, 19, 115, 169, 73, 153, 180, 134, 173, 211, 157, 174, 230, 156, 227, 122, 197, 177, 159, 217, 133, 177, 147, 174, 106, 147, 156, 106, 188, 93, 146, 125, 132, 87, 104, 124, 59, 148, 59, 137, 104, 127, 216, 53, 201, 246, 170, 255, 28, 227, 153, 52, 235, 32, 102, 96, 71, 136, 44, 131, 203, 115, 168, 221, 152, 239, 92, 212, 187, 15, 251, 48, 79, 130, 56, 139, 27, 113, 158, 77, 148, 37, 117, 98, 101, 155, 70, 158, 124, 156, 97, 146, 151, 94, 190, 95, 148, 130, 163, 122, 131, 209, 132, 215, 146, 181, 187, 52, 119, 137, 10, 55, 10, 60, 130, 41, 99, 179, 101, 179, 183, 140, 232, 58, 212, 159, 21, 242, 46, 99, 131, 48, 141, 54, 143, 205, 109, 201, 254, 188, 102, 153, 227, 14, 62, 59, 110, 208, 114, 176, 160, 155, 232, 89, 93, 159, 74, 93, 125, 133, 164, 126, 179, 185, 48, 124, 125, 41, 109, 58, 125, 179, 114, 144, 195, 181, 131, 182, 109, 163, 245, 182, 231, 133, 205, 248, 19, 57, 93, 94, 0, 99, 225, 100, 192, 245, 222, 71, 108, 189, 0, 26, 43, 59, 111, 60, 166, 220, 128, 215, 255}},
    {11, 9, Interpolation::box, {0, 53, 106, 0, 53, 106, 37, 90, 143, 74, 127, 180, 74, 127, 180, 111, 164, 217, 148, 201, 254, 148, 201, 254, 185, 238, 35, 222, 19, 72, 222, 19, 72, 0, 53, 106, 0, 53, 106, 37, 90, 143, 74, 127, 180, 74, 127, 180, 111, 164, 217, 148, 201, 254, 148, 201, 254, 185, 238, 35, 222, 19, 72, 222, 19, 72, 91, 144, 197, 91, 144, 197, 141, 194, 247, 191, 244, 41, 191, 244, 41, 241, 38, 91, 35, 88, 141, 35, 88, 141, 85, 138, 191, 135, 188, 241, 135, 188, 241, 91, 144, 197, 91, 144, 197, 141, 194, 247, 191, 244, 41, 191, 244, 41, 241, 38, 91, 35, 88, 141, 35, 88, 141, 85, 138, 191, 135, 188, 241, 135, 188, 241, 182, 235, 32, 182, 235, 32, 245, 42, 95, 52, 105, 158, 52, 105, 158, 115, 168, 221, 178, 231, 28, 178, 231, 28, 241, 38, 91, 48, 101, 154, 48, 101, 154, 17, 70, 123, 17, 70, 123, 93, 146, 199, 169, 222, 19, 169, 222, 19, 245, 42, 95, 65, 118, 171, 65, 118, 171, 141, 194, 247, 217, 14, 67, 217, 14, 67, 17, 70, 123, 17, 70, 123, 93, 146, 199, 169, 222, 19, 169, 222, 19, 245, 42, 95, 65, 118, 171, 65, 118, 171, 141, 194, 247, 217, 14, 67, 217, 14, 67, 108, 161, 214, 108, 161, 214, 197, 250, 47, 30, 83, 136, 30, 83, 136, 119, 172, 225, 208, 5, 58, 208, 5, 58, 41, 94, 147, 130, 183, 236, 130, 183, 236, 108, 161, 214, 108, 161, 214, 197, 250, 47, 30, 83, 136, 30, 83, 136, 119, 172, 225, 208, 5, 58, 208, 5, 58, 41, 94, 147, 130, 183, 236, 130, 183, 236}},
    {11, 9, Interpolation::hamming, {0, 53, 106, 15, 68, 121, 37, 90, 143, 70, 123, 176, 82, 135, 188, 111, 164, 217, 140, 193, 246, 152, 205, 233, 185, 238, 37, 207, 106, 57, 222, 19, 72, 15, 68, 121, 31, 84, 137, 54, 107, 160, 89, 142, 157, 102, 146, 165, 133, 143, 196, 130, 174, 227, 133, 186, 218, 168, 221, 63, 192, 116, 84, 207, 47, 100, 90, 143, 196, 110, 163, 216, 140, 193, 244, 184, 237, 63, 200, 199, 54, 239, 40, 93, 80, 79, 132, 42, 95, 147, 86, 139, 189, 116, 167, 219, 136, 186, 239, 125, 178, 136, 147, 162, 157, 179, 138, 189, 143, 187, 95, 151, 169, 96, 194, 86, 139, 111, 130, 107, 94, 137, 104, 143, 101, 153, 118, 134, 187, 103, 156, 209, 182, 235, 32, 207, 159, 57, 243, 43, 96, 71, 99, 152, 65, 118, 171, 115, 168, 221, 165, 218, 69, 184, 212, 34, 240, 40, 90, 124, 76, 129, 48, 101, 154, 78, 131, 89, 107, 122, 117, 150, 108, 159, 128, 172, 79, 140, 159, 86, 197, 89, 142, 127, 145, 123, 114, 157, 124, 177, 136, 188, 164, 82, 135, 154, 46, 99, 18, 71, 124, 48, 101, 153, 95, 148, 195, 160, 213, 37, 183, 182, 37, 243, 44, 97, 105, 101, 154, 74, 123, 176, 139, 192, 245, 186, 86, 139, 216, 16, 69, 93, 146, 199, 127, 180, 149, 178, 231, 73, 65, 118, 112, 72, 116, 135, 140, 150, 203, 175, 51, 104, 172, 33, 86, 59, 110, 163, 110, 137, 190, 145, 155, 208, 108, 161, 214, 143, 196, 148, 195, 248, 48, 46, 99, 127, 49, 102, 155, 119, 172, 225, 189, 41, 94, 192, 14, 67, 43, 93, 146, 95, 148, 201, 130, 183, 236}},
    {7, 2, Interpolation::bilinear, {79, 132, 127, 129, 124, 177, 121, 174, 111, 171, 108, 161, 105, 158, 153, 155, 150, 121, 147, 107, 160, 87, 140, 135, 163, 158, 129, 99, 152, 89, 175, 112, 165, 135, 106, 101, 129, 124, 177, 147, 95, 148}},
    {7, 2, Interpolation::bicubic, {79, 132, 123, 127, 118, 179, 122, 175, 114, 170, 109, 162, 104, 165, 157, 160, 152, 116, 147, 104, 157, 91, 144, 135, 169, 160, 124, 96, 149, 88, 174, 113, 166, 138, 102, 94, 127, 119, 180, 144, 98, 151}},
    {7, 2, Interpolation::lanczos, {78, 131, 119, 125, 113, 182, 123, 176, 113, 170, 108, 161, 102, 171, 158, 165, 153, 115, 147, 99, 152, 95, 148, 136, 174, 162, 124, 97, 150, 87, 175, 113, 166, 138, 101, 88, 126, 114, 182, 140, 103, 156}},
    {7, 2, Interpolation::box, {91, 144, 112, 141, 109, 162, 106, 159, 126, 156, 123, 176, 120, 173, 141, 170, 138, 106, 135, 103, 156, 63, 116, 169, 145, 198, 123, 100, 153, 78, 182, 107, 160, 137, 62, 115, 91, 144, 197, 174, 99, 152}},
    {7, 2, Interpolation::hamming, {75, 128, 137, 123, 132, 185, 127, 180, 109, 175, 104, 157, 99, 152, 161, 147, 156, 120, 151, 114, 167, 77, 130, 139, 155, 164, 129, 101, 154, 83, 179, 108, 161, 134, 98, 107, 123, 132, 185, 158, 88, 141}},
    {2, 5, Interpolation::bilinear, {59, 112, 165, 163, 163, 139, 152, 164, 151, 115, 127, 162, 157, 132, 114, 151, 126, 114, 119, 131, 118, 156, 114, 149, 124, 159, 134, 114, 102, 155}},
    {2, 5, Interpolation::bicubic, {52, 111, 166, 170, 164, 140, 155, 164, 147, 115, 124, 162, 156, 134, 114, 149, 127, 115, 118, 133, 115, 160, 111, 149, 121, 160, 136, 117, 100, 155}},
    {2, 5, Interpolation::lanczos, {49, 113, 170, 173, 166, 142, 155, 161, 144, 118, 124, 159, 157, 138, 113, 145, 126, 119, 116, 133, 116, 165, 111, 147, 122, 158, 134, 116, 98, 156}},
    {2, 5, Interpolation::box, {56, 109, 162, 185, 153, 120, 166, 155, 144, 85, 138, 191, 149, 138, 127, 156, 123, 91, 131, 120, 109, 141, 109, 162, 114, 167, 156, 126, 94, 147}},
    {2, 5, Interpolation::hamming, {51, 104, 157, 171, 170, 133, 156, 177, 154, 102, 123, 172, 157, 120, 115, 163, 126, 103, 118, 139, 116, 148, 115, 164, 119, 168, 131, 119, 96, 149}},
    {1, 1, Interpolation::bilinear, {134, 132, 138}},
    {1, 1, Interpolation::bicubic, {133, 132, 139}},
    {1, 1, Interpolation::lanczos, {132, 132, 139}},
    {1, 1, Interpolation::box, {130, 131, 141}},
    {1, 1, Interpolation::hamming, {136, 133, 137}},
};

}  // namespace

TEST_CASE("PNG colour types decode to RGB as PIL's convert(\"RGB\")") {
  SUBCASE("8-bit gray, gray+alpha, RGB, RGBA") {
    const std::vector<uint8_t> g = {0, 17, 128, 255, 3, 99};
    CHECK(rgb_of(decode(png_file(3, 2, 8, 0, scanlines(g, 2, 3)))) == gray_to_rgb(g));
    const std::vector<uint8_t> ga = {10, 255, 20, 0, 30, 128, 40, 7};
    CHECK(rgb_of(decode(png_file(2, 2, 8, 4, scanlines(ga, 2, 4)))) == gray_to_rgb({10, 20, 30, 40}));
    const std::vector<uint8_t> rgb = {1, 2, 3, 4, 5, 6, 7, 8, 9, 250, 251, 252};
    CHECK(rgb_of(decode(png_file(2, 2, 8, 2, scanlines(rgb, 2, 6)))) == rgb);
    const std::vector<uint8_t> rgba = {1, 2, 3, 0, 4, 5, 6, 255, 7, 8, 9, 17, 250, 251, 252, 128};
    CHECK(rgb_of(decode(png_file(2, 2, 8, 6, scanlines(rgba, 2, 8)))) == rgb);
  }
  SUBCASE("low bit depths scale as PIL's L;1 / L;2 / L;4 unpackers") {
    // One row of 8 pixels at 1 bit: 10110010.
    CHECK(rgb_of(decode(png_file(8, 1, 1, 0, scanlines({0xB2}, 1, 1)))) == gray_to_rgb({255, 0, 255, 255, 0, 0, 255, 0}));
    // 4 pixels at 2 bits: 00 01 10 11.
    CHECK(rgb_of(decode(png_file(4, 1, 2, 0, scanlines({0x1B}, 1, 1)))) == gray_to_rgb({0, 85, 170, 255}));
    // 2 pixels at 4 bits: 0x3, 0xF.
    CHECK(rgb_of(decode(png_file(2, 1, 4, 0, scanlines({0x3F}, 1, 1)))) == gray_to_rgb({51, 255}));
  }
  SUBCASE("16-bit: gray clips at 255 (PIL's I;16 -> L), colour keeps the high byte") {
    const std::vector<uint8_t> g16 = {0, 0, 0, 1, 0, 255, 1, 0, 1, 44, 128, 0, 255, 255};  // 0 1 255 256 300 32768 65535
    CHECK(rgb_of(decode(png_file(7, 1, 16, 0, scanlines(g16, 1, 14)))) == gray_to_rgb({0, 1, 255, 255, 255, 255, 255}));
    // ... also with tRNS (stb adds an alpha channel, which is dropped).
    CHECK(rgb_of(decode(png_file(7, 1, 16, 0, scanlines(g16, 1, 14), "", std::string("\x01\x2c", 2)))) ==
          gray_to_rgb({0, 1, 255, 255, 255, 255, 255}));
    const std::vector<uint8_t> ga16 = {0x12, 0x34, 0xff, 0xff, 0xab, 0xcd, 0, 0};
    CHECK(rgb_of(decode(png_file(2, 1, 16, 4, scanlines(ga16, 1, 8)))) == gray_to_rgb({0x12, 0xab}));
    const std::vector<uint8_t> rgb16 = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc};
    CHECK(rgb_of(decode(png_file(1, 1, 16, 2, scanlines(rgb16, 1, 6)))) == std::vector<uint8_t>{0x12, 0x56, 0x9a});
    const std::vector<uint8_t> rgba16 = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0, 1};
    CHECK(rgb_of(decode(png_file(1, 1, 16, 6, scanlines(rgba16, 1, 8)))) == std::vector<uint8_t>{0x12, 0x56, 0x9a});
  }
  SUBCASE("palette, with and without tRNS, at 1-8 bits") {
    const std::string plte("\x0a\x14\x1e\x28\x32\x3c\x46\x50\x5a\x64\x6e\x78", 12);
    const std::vector<uint8_t> want = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120};
    CHECK(rgb_of(decode(png_file(4, 1, 8, 3, scanlines({0, 1, 2, 3}, 1, 4), plte))) == want);
    CHECK(rgb_of(decode(png_file(4, 1, 8, 3, scanlines({0, 1, 2, 3}, 1, 4), plte, std::string("\x00\x80", 2)))) == want);
    CHECK(rgb_of(decode(png_file(4, 1, 2, 3, scanlines({0x1B}, 1, 1), plte))) == want);
  }
  SUBCASE("RGB and gray with tRNS colour keys: the key is ignored") {
    const std::vector<uint8_t> rgb = {1, 2, 3, 4, 5, 6};
    CHECK(rgb_of(decode(png_file(2, 1, 8, 2, scanlines(rgb, 1, 6), "", std::string("\0\1\0\2\0\3", 6)))) == rgb);
    CHECK(rgb_of(decode(png_file(2, 1, 8, 0, scanlines({7, 9}, 1, 2), "", std::string("\0\7", 2)))) == gray_to_rgb({7, 9}));
  }
}

TEST_CASE("the committed seed images decode and report their format") {
  const std::string dir = test::source_dir() + "/tests/fuzz/corpus/image/";
  for (const char* f : {"gray1.png", "gray16.png", "graya16.png", "rgba16.png", "palette8_trns.png", "interlaced_rgb8.png",
                        "interlaced_gray16.png", "baseline_420.jpg", "baseline_422.jpg", "progressive.jpg", "gray.jpg",
                        "cmyk.jpg", "restart.jpg"}) {
    CAPTURE(f);
    const Image im = Image::load(dir + f);
    CHECK(im.width() > 0);
    CHECK(im.size_bytes() == size_t(im.width()) * size_t(im.height()) * 3);
    CHECK(im.format() == (std::string(f).find(".png") != std::string::npos ? ImageFormat::png : ImageFormat::jpeg));
  }
}

TEST_CASE("resample is identical to Pillow for every filter, up and down") {
  const Image src = golden_source();
  for (const Golden& g : kGoldens) {
    CAPTURE(g.w);
    CAPTURE(g.h);
    CAPTURE(to_string(g.f));
    const Image r = resize(src, g.w, g.h, g.f);
    CHECK(rgb_of(r) == g.rgb);
    // Any window of it is the same pixels (the fused crop path).
    if (g.w >= 2 && g.h >= 2) {
      std::vector<uint8_t> win(size_t((g.w - 1) * (g.h - 1) * 3));
      resample_rgb_window(src.rgb(), 7, 5, g.w, g.h, 1, 1, g.w - 1, g.h - 1, g.f, win.data());
      for (int y = 0; y < g.h - 1; ++y)
        for (int x = 0; x < (g.w - 1) * 3; ++x)
          CHECK(win[size_t(y * (g.w - 1) * 3 + x)] == g.rgb[size_t((y + 1) * g.w * 3 + 3 + x)]);
    }
  }
  CHECK(rgb_of(resize(src, 7, 5)) == rgb_of(src));  // same size: untouched, as PIL
}

TEST_CASE("Resize/CenterCrop sizes follow torchvision's rounding") {
  // (w, h, S) -> torchvision's _compute_resized_output_size, as (w, h).
  const int cases[][5] = {{500, 375, 256, 341, 256}, {500, 375, 232, 309, 232}, {375, 500, 256, 256, 341},
                          {375, 500, 232, 232, 309}, {256, 256, 256, 256, 256}, {256, 256, 232, 232, 232},
                          {1, 64, 256, 256, 16384},  {1, 64, 232, 232, 14848}, {641, 480, 256, 341, 256},
                          {641, 480, 232, 309, 232}, {333, 251, 256, 339, 256}, {333, 251, 232, 307, 232},
                          {4000, 3000, 256, 341, 256}, {4000, 3000, 232, 309, 232}, {1000, 37, 256, 6918, 256},
                          {1000, 37, 232, 6270, 232}};
  for (const auto& c : cases) {
    const Preprocess p = Preprocess::imagenet(c[2], 224);
    CHECK(p.resized_size(c[0], c[1]) == std::pair<int, int>{c[3], c[4]});
  }
  // CenterCrop offsets: int(round((size - crop) / 2.0)), Python's round half to even:
  // 257 - 224 = 33 -> 16.5 -> 16; 259 - 224 = 35 -> 17.5 -> 18.
  std::vector<uint8_t> px(size_t(300 * 259 * 3));
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 2654435761u >> 24);
  for (auto [w, h, top, left] : {std::tuple<int, int, int, int>{257, 257, 16, 16}, {259, 259, 18, 18}, {258, 256, 16, 17}}) {
    const Image im = Image::from_rgb(px.data(), w, h);
    const Preprocess p = Preprocess::imagenet(std::min(w, h), 224);  // no resize: crop only
    const Image crop = p.cropped(im);
    REQUIRE(crop.width() == 224);
    bool same = true;
    for (int y = 0; y < 224 && same; ++y)
      same = std::memcmp(crop.rgb() + y * 224 * 3, im.rgb() + ((y + top) * w + left) * 3, 224 * 3) == 0;
    CHECK(same);
  }
}

TEST_CASE("a crop larger than the resized image is zero-padded as torchvision's center_crop") {
  std::vector<uint8_t> px(size_t(10 * 6 * 3), 200);
  const Image im = Image::from_rgb(px.data(), 10, 6);
  Preprocess p = Preprocess::imagenet(6, 9);  // resize is a no-op (short side 6); crop 9x9
  const Image c = p.cropped(im);
  // width: 10 >= 9 -> left = round(0.5) = 0; height 6 < 9: pad top (9-6)//2 = 1, bottom 2.
  for (int y = 0; y < 9; ++y)
    for (int x = 0; x < 9; ++x) CHECK(c.rgb()[(y * 9 + x) * 3] == ((y >= 1 && y < 7) ? 200 : 0));
  // Normalized padding is (0 - mean) / std.
  const auto t = p.run(im);
  CHECK(t[0] == doctest::Approx((0.f - 0.485f) / 0.229f));
}

TEST_CASE("ToTensor + Normalize in float32 as torchvision") {
  std::vector<uint8_t> px(size_t(224 * 224 * 3));
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i % 256);
  const Image im = Image::from_rgb(px.data(), 224, 224);
  const Preprocess p = Preprocess::imagenet(224, 224);  // no resize, no crop
  const auto t = p.run(im);
  for (int c = 0; c < 3; ++c)
    for (size_t i = 0; i < 224 * 224; i += 97) {
      const float want = (float(px[i * 3 + size_t(c)]) / 255.0f - p.mean[size_t(c)]) / p.stddev[size_t(c)];
      CHECK(t[size_t(c) * 224 * 224 + i] == want);
    }
}

TEST_CASE("Preprocess::from_json reads tailor.preprocess and refuses bad values") {
  const auto p = Preprocess::from_json(nlohmann::json::parse(
      R"({"resize": 232, "crop": 224, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.5, 1], "interpolation": "bicubic"})"));
  CHECK(p.resize == 232);
  CHECK(p.crop == 224);
  CHECK(p.mean[0] == 0.5f);
  CHECK(p.stddev[2] == 1.f);
  CHECK(p.interpolation == Interpolation::bicubic);
  CHECK(Preprocess::from_json(nlohmann::json()).resize == 256);  // absent: ImageNet defaults
  CHECK(Preprocess::from_json(nlohmann::json::parse(R"({"resize": [256], "interpolation": "InterpolationMode.BILINEAR"})")).resize == 256);
  for (const char* bad : {R"({"resize": 0})", R"({"resize": 100000})", R"({"crop": "224"})", R"({"std": [1, 0, 1]})",
                          R"({"mean": [1, 2]})", R"({"interpolation": "nearest"})", R"({"resize": [1, 2]})", R"([1])"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(Preprocess::from_json(nlohmann::json::parse(bad)), Error);
  }
}

TEST_CASE("limits are checked from the header, before decoding") {
  // The IHDR declares the size; the data is a few bytes.
  auto hdr_only = [](uint32_t w, uint32_t h) { return png_file(w, h, 8, 2, std::string(5, '\0')); };
  Limits lim;
  lim.max_image_side = 1000;
  lim.max_image_pixels = 500 * 500;
  lim.max_image_aspect = 8;
  CHECK_THROWS_WITH_AS(decode(hdr_only(1001, 10), lim), doctest::Contains("over the limit of 1000"), Error);
  CHECK_THROWS_WITH_AS(decode(hdr_only(600, 600), lim), doctest::Contains("360000 pixels"), Error);
  CHECK_THROWS_WITH_AS(decode(hdr_only(90, 10), lim), doctest::Contains("aspect ratio"), Error);
  try {
    decode(hdr_only(600, 600), lim);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::limit);
  }
  Limits small;
  small.max_image_file_bytes = 10;
  CHECK_THROWS_WITH_AS(decode(hdr_only(2, 2), small), doctest::Contains("bytes, over the limit"), Error);
}

TEST_CASE("Image::load names the file in errors") {
  CHECK_THROWS_WITH_AS(Image::load("/nonexistent/x.png"), doctest::Contains("/nonexistent/x.png"), Error);
  CHECK_THROWS_WITH_AS(Image::load("/"), doctest::Contains("not a regular file"), Error);
  const std::string path = "test_image_tmp.bin";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    std::fputs("GIF89a....", f);
    std::fclose(f);
  }
  try {
    Image::load(path);
    FAIL("GIF accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unsupported);
    CHECK(std::string(e.what()).find(path) != std::string::npos);
    CHECK(std::string(e.what()).find("GIF") != std::string::npos);
  }
  std::remove(path.c_str());
}

TEST_CASE("Image::from_rgb copies with a row stride and refuses empty images") {
  const uint8_t px[2 * 8] = {1, 2, 3, 4, 5, 6, 99, 99, 7, 8, 9, 10, 11, 12, 99, 99};
  const Image im = Image::from_rgb(px, 2, 2, 8);
  CHECK(rgb_of(im) == std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  CHECK_THROWS_AS(Image::from_rgb(px, 0, 2), Error);
  CHECK_THROWS_AS(Image::from_rgb(px, 2, 2, 4), Error);
  CHECK_THROWS_AS(Image::from_rgb(nullptr, 2, 2), Error);
}

TEST_CASE("decoding on many threads at once gives the same pixels") {
  const std::string dir = test::source_dir() + "/tests/fuzz/corpus/image/";
  std::vector<std::string> files = {"rgb8.png", "interlaced_rgb8.png", "baseline_420.jpg", "progressive.jpg", "cmyk.jpg"};
  std::vector<std::string> bytes;
  std::vector<std::vector<uint8_t>> want;
  for (const auto& f : files) {
    bytes.push_back(test::read_file(dir + f));
    want.push_back(rgb_of(Image::decode(bytes.back().data(), bytes.back().size())));
  }
  std::vector<int> ok(8, 0);
  std::vector<std::thread> th;
  for (int t = 0; t < 8; ++t)
    th.emplace_back([&, t] {
      int good = 0;
      for (int rep = 0; rep < 20; ++rep) {
        const size_t i = size_t(t + rep) % files.size();
        good += rgb_of(Image::decode(bytes[i].data(), bytes[i].size())) == want[i];
        // Failures on other threads must not leak into this one's results.
        try {
          Image::decode("\x89PNG\r\n\x1a\nxx", 10);
        } catch (const Error&) {
        }
      }
      ok[size_t(t)] = good;
    });
  for (auto& x : th) x.join();
  for (int v : ok) CHECK(v == 20);
}

TEST_CASE(".npy files round-trip and malformed ones are refused") {
  const std::string path = "test_image_tmp.npy";
  const std::vector<float> v = {1.5f, -2.f, 3.25f, 0.f, 7.f, 8.f};
  write_npy(path, v.data(), {1, 2, 3});
  const NpyArray a = read_npy(path);
  CHECK(a.shape == std::vector<int64_t>{1, 2, 3});
  CHECK(a.to_f32() == v);
  const std::vector<uint8_t> u = {1, 2, 3};
  write_npy(path, u.data(), {3});
  CHECK(read_npy(path).shape == std::vector<int64_t>{3});
  std::remove(path.c_str());
  auto npy = [](const std::string& dict, size_t data_bytes) {
    std::string h = dict;
    while ((10 + h.size() + 1) % 64) h += ' ';
    h += '\n';
    std::string s = "\x93NUMPY\x01";
    s += '\0';
    s += char(h.size() & 0xff);
    s += char(h.size() >> 8);
    return s + h + std::string(data_bytes, '\0');
  };
  const std::string good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  CHECK(parse_npy(npy(good, 24).data(), npy(good, 24).size()).numel() == 6);
  const std::pair<std::string, size_t> bad[] = {
      {good, 20},                                                                 // truncated data
      {good, 28},                                                                 // trailing bytes
      {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24},        // big-endian
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24},         // Fortran order
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", 24},       // negative
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", 0},  // overflow
      {"{'descr': '<f4', 'shape': (2, 3), }", 24},                                // missing key
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 24},  // duplicate
      {"{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", 24},          // dtype
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 4},  // rank 9
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", 24},  // unknown key
  };
  for (const auto& entry : bad) {
    const std::string& dict = entry.first;
    const size_t n = entry.second;
    CAPTURE(dict);
    const std::string f = npy(dict, n);
    CHECK_THROWS_AS(parse_npy(f.data(), f.size()), Error);
  }
  CHECK_THROWS_AS(parse_npy("\x93NUMPX\x01\x00\x00\x00", 10), Error);
  CHECK_THROWS_AS(parse_npy("", 0), Error);
  const std::string big = npy(good, 24);
  CHECK_THROWS_AS(parse_npy(big.data(), big.size(), "x", 16), Error);  // over the size cap
}
