// tests/fuzz/fuzz_image.cpp: libFuzzer target for the image path: decode (PNG/JPEG through
// the hardened stb_image) and, when that succeeds, the full torchvision transform
// (Resize + CenterCrop + Normalize). Anything but a tailor::Error is a bug. Limits are
// lowered so that each input stays cheap (a 2 MP image, 4 MB file).
#include <cstddef>
#include <cstdint>

#include "tailor/image/image.hpp"
#include "tailor/image/preprocess.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tailor::Limits lim;
  lim.max_image_pixels = 2'000'000;
  lim.max_image_side = 8192;
  lim.max_image_file_bytes = 4u << 20;
  try {
    const tailor::Image img = tailor::Image::decode(data, size, lim, "fuzz");
    // Small sizes keep each run fast; the first byte varies the crop and filter.
    tailor::Preprocess p = tailor::Preprocess::imagenet(32 + int(size % 40), 24 + int(size % 13));
    if (size > 0) p.interpolation = tailor::Interpolation(data[size - 1] % 5);
    (void)p.run(img);
  } catch (const tailor::Error&) {
  }
  return 0;
}
