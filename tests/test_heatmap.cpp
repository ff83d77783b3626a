// tests/test_heatmap.cpp: the PNG encoder (decoded back with stb_image) and the heatmap
// overlay (signs and the dimmed outside of the crop).
#include <doctest/doctest.h>

#include <random>
#include <vector>

#include "tailor/image/heatmap.hpp"

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#include <stb_image.h>

using namespace tailor;

TEST_CASE("encode_png round-trips through a PNG decoder, several stored blocks") {
  for (auto [w, h] : {std::pair{1, 1}, std::pair{7, 5}, std::pair{300, 200}}) {
    std::vector<uint8_t> rgb(size_t(w * h * 3));
    std::mt19937 g(uint32_t(w * 31 + h));
    for (auto& v : rgb) v = uint8_t(g());
    const std::string png = encode_png(rgb.data(), w, h);
    int dw = 0, dh = 0, dc = 0;
    unsigned char* dec = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(png.data()), int(png.size()), &dw, &dh, &dc, 3);
    REQUIRE(dec != nullptr);
    CHECK(dw == w);
    CHECK(dh == h);
    CHECK(std::equal(rgb.begin(), rgb.end(), dec));
    stbi_image_free(dec);
  }
  CHECK_THROWS_AS(encode_png(nullptr, 0, 5), Error);
}

TEST_CASE("overlay: red where the map is positive, blue where negative, dim outside the crop") {
  const int w = 100, h = 60;
  std::vector<uint8_t> photo(size_t(w * h * 3), 128);
  const float map[4] = {1.f, -1.f, 1.f, -1.f};  // (2, 2): left column positive, right negative
  CropBox box{20, 0, 80, 60};
  const Overlay o = overlay_heatmap(photo.data(), w, h, map, 2, 2, box);
  REQUIRE(o.width == w);
  REQUIRE(o.height == h);
  auto px = [&](int x, int y) { return o.rgb.data() + (size_t(y) * size_t(w) + size_t(x)) * 3; };
  CHECK(px(25, 30)[0] > 200);  // positive: red
  CHECK(px(25, 30)[2] < 60);
  CHECK(px(75, 30)[2] > 200);  // negative: blue
  CHECK(px(75, 30)[0] < 60);
  CHECK(px(5, 30)[0] < 50);    // outside the crop: dimmed gray
  CHECK(px(5, 30)[0] == px(5, 30)[2]);
  const Overlay small = overlay_heatmap(photo.data(), w, h, map, 2, 2, box, 50);
  CHECK(small.width == 50);
  CHECK(small.height == 30);
}
