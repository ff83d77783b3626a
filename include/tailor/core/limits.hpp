// tailor/core/limits.hpp: every input limit in one place, with its documented default.
//
// Inputs from strangers (files, images, texts) are checked against these *before* any
// allocation sized by them. Hosts that need more raise a field explicitly.
#pragma once

#include <cstdint>

namespace tailor {

struct Limits {
  // Weight files.
  /// Largest safetensors JSON header; the reference implementation's cap (100 MB).
  uint64_t max_header_bytes = 100'000'000;
  /// Most tensors in one file.
  uint64_t max_tensors = 1'000'000;
  /// Longest tensor name, in bytes.
  uint64_t max_tensor_name_bytes = 4096;

  // Images (checked from the header, before decoding).
  /// Longest side of a decoded image, in pixels.
  uint32_t max_image_side = 16384;
  /// Most pixels in a decoded image: 40 MP is 120 MB as RGB8.
  uint64_t max_image_pixels = 40'000'000;
  /// Largest long-side / short-side ratio; a 1x100000 strip would otherwise ask the resize
  /// for a 256 x 25.6M image.
  double max_image_aspect = 64.0;
  /// Largest encoded image file, in bytes.
  uint64_t max_image_file_bytes = 256ull << 20;

  // Text.
  /// Bytes of one text the tokenizer keeps: a longer text is cut here (moved back to the
  /// start of a UTF-8 sequence) before anything else, the rest is dropped (README
  /// "Tokenizer"). The tokenizer is linear in what it keeps (marks are reordered with a
  /// counting sort, not utf8proc's quadratic one), so this bounds time and memory per text.
  uint64_t max_text_bytes = 1ull << 20;

  // Batches.
  /// Most items in one batch call.
  uint64_t max_batch = 65536;
};

}  // namespace tailor
