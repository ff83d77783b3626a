// tests/test_image_stb_host.cpp: a host program that includes tailor's image header *and*
// compiles its own stb_image implementation (extern linkage) in the same translation unit,
// after tailor, and links with test_image.cpp (a second TU with tailor's static copy).
// Both decoders work, and the host's global stb settings (the vertical-flip flag) do not
// reach tailor's copy.
#include <doctest/doctest.h>

#include "tailor/image/image.hpp"
#include "test_image_util.hpp"

#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>

TEST_CASE("a host's own stb_image coexists with tailor's, and its global flip flag does not leak in") {
  using tailor::test::png_file;
  using tailor::test::scanlines;
  // 1 x 2 gray: top row 10, bottom row 200.
  const std::string png = png_file(1, 2, 8, 0, scanlines({10, 200}, 2, 1));
  stbi_set_flip_vertically_on_load(1);
  int w = 0, h = 0, n = 0;
  unsigned char* host = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(png.data()), int(png.size()), &w, &h, &n, 1);
  REQUIRE(host != nullptr);
  CHECK(host[0] == 200);  // the host's decoder flipped
  stbi_image_free(host);
  const tailor::Image im = tailor::Image::decode(png.data(), png.size());
  CHECK(im.rgb()[0] == 10);  // tailor's did not
  CHECK(im.rgb()[3] == 200);
  stbi_set_flip_vertically_on_load(0);
}
