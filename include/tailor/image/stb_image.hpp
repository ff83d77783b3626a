// tailor/image/stb_image.hpp: stb_image compiled into tailor, isolated and hardened (internal).
//
// tailor decodes PNG and JPEG with stb_image (the Debian libstb-dev header, v2.27 here). stb's
// README says it is not safe for hostile input on its own; this header is the fence around it
// (HARDENING.md, images):
//   - Only PNG and JPEG are compiled in (STBI_ONLY_PNG, STBI_ONLY_JPEG); no stdio, no HDR.
//   - STBI_MAX_DIMENSIONS caps any side stb will accept; tailor::Limits is checked first,
//     from the header, before any decode (image.hpp).
//   - STB_IMAGE_STATIC: every stb function has internal linkage in each translation unit, so
//     two TUs including tailor link, and a host that links its own stb_image never clashes.
//     The whole of stb sits in namespace tailor::detail::stb and its C-linkage API names are
//     renamed (tailor_stbi_*), so even a host that includes its own stb_image.h (header or
//     implementation) in the same TU, before or after tailor, compiles. The configuration
//     macros tailor sets are saved and restored around the include (push_macro/pop_macro).
//   - STBI_ASSERT never aborts: a failed internal assertion throws tailor::Error(format).
//   - Known stb v2.27 defects reachable from a hostile file are fenced off before stb sees
//     the bytes (image.hpp: detail::jpeg_prescan refuses a DHT segment defining more than
//     256 codes, which v2.27 writes past its tables on) or made harmless here (allocations
//     are zeroed, since v2.27 reads decoder state a corrupt JPEG never sets).
//   - STBI_MALLOC/REALLOC/FREE go to a per-thread allocation tracker (AllocScope): each
//     decode has a byte budget derived from the header's dimensions (a zlib bomb inside a
//     small PNG cannot grow stb's output buffer past it), and every block still live when a
//     decode throws is freed, so an exception out of stb leaks nothing.
//
// stb's global state, and why it is harmless here: with STB_IMAGE_STATIC each TU has its own
// copy of stb's globals. stbi__vertically_flip_on_load_global, stbi__unpremultiply_on_load_global
// and stbi__de_iphone_flag_global are only written by the stbi_set_* functions, which tailor
// never calls (and a host's own stb cannot reach tailor's copy). The failure reason
// (stbi__g_failure_reason) and the per-thread flip flags are thread_local in C++11
// (STBI_THREAD_LOCAL), and tailor reads the reason on the same thread right after the call
// that failed. So decoding on many threads at once is safe.
#pragma once

// Everything stb_image.h includes, included here first (outside the namespace) so that its
// own #includes below are no-ops.
#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#endif
#if defined(__ARM_NEON)
#include <arm_neon.h>
#endif

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "tailor/core/error.hpp"

namespace tailor::detail::stb_alloc {

/// Header before every block stb allocates: links it into the live list of its scope.
/// 32 bytes keeps malloc's 16-byte alignment for stb's SIMD code.
struct alignas(16) Block {
  Block* prev;
  Block* next;
  size_t size;
  size_t pad;
};

/// One decode's allocations: a budget and the list of live blocks. Not thread-shared: the
/// active scope is per thread (`current`).
struct Scope {
  Block head{&head, &head, 0, 0};
  uint64_t live = 0;
  uint64_t budget = 0;
  uint64_t peak = 0;
  bool over_budget = false;
};

inline thread_local Scope* current = nullptr;

inline void* malloc_(size_t n) {
  Scope* s = current;
  if (!s) return nullptr;  // stb called outside an AllocScope: refuse (stb reports "outofmem")
  if (n > s->budget - s->live || n > (size_t(1) << 40)) { s->over_budget = true; return nullptr; }
  // Zeroed: stb v2.27 reads some fields of its decoder state (e.g. Huffman tables a
  // corrupt JPEG never defines) before writing them.
  Block* b = static_cast<Block*>(std::calloc(1, sizeof(Block) + n));
  if (!b) return nullptr;
  b->size = n;
  b->prev = &s->head;
  b->next = s->head.next;
  s->head.next->prev = b;
  s->head.next = b;
  s->live += n;
  if (s->live > s->peak) s->peak = s->live;
  return b + 1;
}

inline void free_(void* p) {
  if (!p) return;
  Scope* s = current;
  Block* b = static_cast<Block*>(p) - 1;
  b->prev->next = b->next;
  b->next->prev = b->prev;
  if (s) s->live -= b->size;
  std::free(b);
}

inline void* realloc_(void* p, size_t n) {
  if (!p) return malloc_(n);
  Scope* s = current;
  if (!s) return nullptr;
  Block* old = static_cast<Block*>(p) - 1;
  const size_t old_size = old->size;
  if (n > old_size && n - old_size > s->budget - s->live) { s->over_budget = true; return nullptr; }
  Block* prev = old->prev;
  Block* next = old->next;
  Block* b = static_cast<Block*>(std::realloc(old, sizeof(Block) + n));
  if (!b) return nullptr;  // the old block is intact and still linked
  // The block may have moved: relink it in place.
  b->prev = prev;
  b->next = next;
  prev->next = b;
  next->prev = b;
  b->size = n;
  s->live = s->live - old_size + n;
  if (s->live > s->peak) s->peak = s->live;
  return b + 1;
}

/// Makes a Scope current on this thread for the lifetime of the object; frees every block
/// still live at the end (stb's result included, once the caller has copied it).
class AllocScope {
 public:
  explicit AllocScope(uint64_t budget) : saved_(current) {
    scope_.budget = budget;
    current = &scope_;
  }
  ~AllocScope() {
    Block* b = scope_.head.next;
    while (b != &scope_.head) {
      Block* next = b->next;
      std::free(b);
      b = next;
    }
    current = saved_;
  }
  AllocScope(const AllocScope&) = delete;
  AllocScope& operator=(const AllocScope&) = delete;
  const Scope& scope() const { return scope_; }

 private:
  Scope scope_;
  Scope* saved_;
};

[[noreturn]] inline void assert_failed(const char* expr) {
  fail(ErrorCode::format, std::string("corrupt image: the decoder's internal check '") + expr + "' failed",
       "the file is damaged or crafted; re-encode it as PNG or JPEG");
}

}  // namespace tailor::detail::stb_alloc

// ---- configuration, saved and restored around the include ---------------------------------
#pragma push_macro("STBI_INCLUDE_STB_IMAGE_H")
#pragma push_macro("STB_IMAGE_IMPLEMENTATION")
#pragma push_macro("STB_IMAGE_STATIC")
#pragma push_macro("STBIDEF")
#pragma push_macro("STBI_ASSERT")
#pragma push_macro("STBI_MALLOC")
#pragma push_macro("STBI_REALLOC")
#pragma push_macro("STBI_REALLOC_SIZED")
#pragma push_macro("STBI_FREE")
#pragma push_macro("STBI_MAX_DIMENSIONS")
#pragma push_macro("STBI_NO_STDIO")
#pragma push_macro("STBI_NO_LINEAR")
#pragma push_macro("STBI_NO_HDR")
#pragma push_macro("STBI_ONLY_PNG")
#pragma push_macro("STBI_ONLY_JPEG")
#pragma push_macro("STBI_NO_JPEG")
#pragma push_macro("STBI_NO_PNG")
#pragma push_macro("STBI_NO_BMP")
#pragma push_macro("STBI_NO_PSD")
#pragma push_macro("STBI_NO_TGA")
#pragma push_macro("STBI_NO_GIF")
#pragma push_macro("STBI_NO_PIC")
#pragma push_macro("STBI_NO_PNM")
#pragma push_macro("STBI_NO_ZLIB")
#pragma push_macro("STBI_NO_FAILURE_STRINGS")
#pragma push_macro("STBI_FAILURE_USERMSG")
#pragma push_macro("STBI_EXTERN")
#pragma push_macro("STBI_THREAD_LOCAL")
#pragma push_macro("stbi_inline")
#pragma push_macro("STBI_VERSION")
#pragma push_macro("STBI_NO_THREAD_LOCALS")
#pragma push_macro("STBI_SUPPORT_ZLIB")
#pragma push_macro("STBI_NO_SIMD")
#undef STBI_INCLUDE_STB_IMAGE_H
#undef STB_IMAGE_IMPLEMENTATION
#undef STB_IMAGE_STATIC
#undef STBIDEF
#undef STBI_ASSERT
#undef STBI_MALLOC
#undef STBI_REALLOC
#undef STBI_REALLOC_SIZED
#undef STBI_FREE
#undef STBI_MAX_DIMENSIONS
#undef STBI_NO_STDIO
#undef STBI_NO_LINEAR
#undef STBI_NO_HDR
#undef STBI_ONLY_PNG
#undef STBI_ONLY_JPEG
#undef STBI_NO_JPEG
#undef STBI_NO_PNG
#undef STBI_NO_BMP
#undef STBI_NO_PSD
#undef STBI_NO_TGA
#undef STBI_NO_GIF
#undef STBI_NO_PIC
#undef STBI_NO_PNM
#undef STBI_NO_ZLIB
#undef STBI_NO_FAILURE_STRINGS
#undef STBI_FAILURE_USERMSG
#undef STBI_EXTERN
#undef STBI_THREAD_LOCAL
#undef stbi_inline
#undef STBI_VERSION
#undef STBI_NO_SIMD

// A host's own stb implementation earlier in this TU leaves stb's internal macros defined.
#include "tailor/image/stb_internal_undef.inc"

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
/// stb's own hard cap on a side; tailor::Limits::max_image_side (checked first) is lower.
#define STBI_MAX_DIMENSIONS (1 << 20)
#define STBI_ASSERT(x) ((x) ? (void)0 : ::tailor::detail::stb_alloc::assert_failed(#x))
#define STBI_MALLOC(n) ::tailor::detail::stb_alloc::malloc_(n)
#define STBI_REALLOC(p, n) ::tailor::detail::stb_alloc::realloc_(p, n)
#define STBI_FREE(p) ::tailor::detail::stb_alloc::free_(p)

// C-linkage names are one entity across namespaces: rename stb's API so it never meets a
// host's own stbi_* declarations.
#define stbi_convert_iphone_png_to_rgb tailor_stbi_convert_iphone_png_to_rgb
#define stbi_convert_iphone_png_to_rgb_thread tailor_stbi_convert_iphone_png_to_rgb_thread
#define stbi_convert_wchar_to_utf8 tailor_stbi_convert_wchar_to_utf8
#define stbi_failure_reason tailor_stbi_failure_reason
#define stbi_hdr_to_ldr_gamma tailor_stbi_hdr_to_ldr_gamma
#define stbi_hdr_to_ldr_scale tailor_stbi_hdr_to_ldr_scale
#define stbi_image_free tailor_stbi_image_free
#define stbi_info tailor_stbi_info
#define stbi_info_from_callbacks tailor_stbi_info_from_callbacks
#define stbi_info_from_file tailor_stbi_info_from_file
#define stbi_info_from_memory tailor_stbi_info_from_memory
#define stbi_is_16_bit tailor_stbi_is_16_bit
#define stbi_is_16_bit_from_callbacks tailor_stbi_is_16_bit_from_callbacks
#define stbi_is_16_bit_from_file tailor_stbi_is_16_bit_from_file
#define stbi_is_16_bit_from_memory tailor_stbi_is_16_bit_from_memory
#define stbi_is_hdr tailor_stbi_is_hdr
#define stbi_is_hdr_from_callbacks tailor_stbi_is_hdr_from_callbacks
#define stbi_is_hdr_from_file tailor_stbi_is_hdr_from_file
#define stbi_is_hdr_from_memory tailor_stbi_is_hdr_from_memory
#define stbi_ldr_to_hdr_gamma tailor_stbi_ldr_to_hdr_gamma
#define stbi_ldr_to_hdr_scale tailor_stbi_ldr_to_hdr_scale
#define stbi_load tailor_stbi_load
#define stbi_load_16 tailor_stbi_load_16
#define stbi_load_16_from_callbacks tailor_stbi_load_16_from_callbacks
#define stbi_load_16_from_memory tailor_stbi_load_16_from_memory
#define stbi_load_from_callbacks tailor_stbi_load_from_callbacks
#define stbi_load_from_file tailor_stbi_load_from_file
#define stbi_load_from_file_16 tailor_stbi_load_from_file_16
#define stbi_load_from_memory tailor_stbi_load_from_memory
#define stbi_load_gif_from_memory tailor_stbi_load_gif_from_memory
#define stbi_loadf tailor_stbi_loadf
#define stbi_loadf_from_callbacks tailor_stbi_loadf_from_callbacks
#define stbi_loadf_from_file tailor_stbi_loadf_from_file
#define stbi_loadf_from_memory tailor_stbi_loadf_from_memory
#define stbi_set_flip_vertically_on_load tailor_stbi_set_flip_vertically_on_load
#define stbi_set_flip_vertically_on_load_thread tailor_stbi_set_flip_vertically_on_load_thread
#define stbi_set_unpremultiply_on_load tailor_stbi_set_unpremultiply_on_load
#define stbi_set_unpremultiply_on_load_thread tailor_stbi_set_unpremultiply_on_load_thread
#define stbi__unpremultiply_on_load_thread tailor_stbi__unpremultiply_on_load_thread
#define stbi_zlib_decode_buffer tailor_stbi_zlib_decode_buffer
#define stbi_zlib_decode_malloc tailor_stbi_zlib_decode_malloc
#define stbi_zlib_decode_malloc_guesssize tailor_stbi_zlib_decode_malloc_guesssize
#define stbi_zlib_decode_malloc_guesssize_headerflag tailor_stbi_zlib_decode_malloc_guesssize_headerflag
#define stbi_zlib_decode_noheader_buffer tailor_stbi_zlib_decode_noheader_buffer
#define stbi_zlib_decode_noheader_malloc tailor_stbi_zlib_decode_noheader_malloc

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#if defined(__clang__)
#pragma GCC diagnostic ignored "-Wunknown-warning-option"
#endif
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#if defined(__clang__)
#pragma GCC diagnostic ignored "-Wunknown-pragmas"
#pragma GCC diagnostic ignored "-Wcomma"
#pragma GCC diagnostic ignored "-Wcast-align"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wzero-as-null-pointer-constant"
#endif
#endif

// stb v2.27's JPEG Huffman decoder lets its bit count go negative on a corrupt stream (a code
// not found subtracts 16 bits it may not have) and then shifts by 32 or more when it refills:
// undefined behaviour by the letter, a count the x86 shift masks in practice, and the bits it
// yields are only ever used masked as table indices. Found by fuzz_image; upstream fixed the
// decrement later. UBSan's shift checks are switched off for stb's functions only (clang,
// the sanitizer builds' compiler), so they stay on for every line of tailor.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("shift"))), apply_to = function)
#endif
namespace tailor::detail::stb {
#include <stb_image.h>
}  // namespace tailor::detail::stb
#if defined(__clang__)
#pragma clang attribute pop
#endif

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

// Drop the renames (tailor calls the renamed names directly) and restore the host's macros.
#undef stbi_convert_iphone_png_to_rgb
#undef stbi_convert_iphone_png_to_rgb_thread
#undef stbi_convert_wchar_to_utf8
#undef stbi_failure_reason
#undef stbi_hdr_to_ldr_gamma
#undef stbi_hdr_to_ldr_scale
#undef stbi_image_free
#undef stbi_info
#undef stbi_info_from_callbacks
#undef stbi_info_from_file
#undef stbi_info_from_memory
#undef stbi_is_16_bit
#undef stbi_is_16_bit_from_callbacks
#undef stbi_is_16_bit_from_file
#undef stbi_is_16_bit_from_memory
#undef stbi_is_hdr
#undef stbi_is_hdr_from_callbacks
#undef stbi_is_hdr_from_file
#undef stbi_is_hdr_from_memory
#undef stbi_ldr_to_hdr_gamma
#undef stbi_ldr_to_hdr_scale
#undef stbi_load
#undef stbi_load_16
#undef stbi_load_16_from_callbacks
#undef stbi_load_16_from_memory
#undef stbi_load_from_callbacks
#undef stbi_load_from_file
#undef stbi_load_from_file_16
#undef stbi_load_from_memory
#undef stbi_load_gif_from_memory
#undef stbi_loadf
#undef stbi_loadf_from_callbacks
#undef stbi_loadf_from_file
#undef stbi_loadf_from_memory
#undef stbi_set_flip_vertically_on_load
#undef stbi_set_flip_vertically_on_load_thread
#undef stbi_set_unpremultiply_on_load
#undef stbi_set_unpremultiply_on_load_thread
#undef stbi__unpremultiply_on_load_thread
#undef stbi_zlib_decode_buffer
#undef stbi_zlib_decode_malloc
#undef stbi_zlib_decode_malloc_guesssize
#undef stbi_zlib_decode_malloc_guesssize_headerflag
#undef stbi_zlib_decode_noheader_buffer
#undef stbi_zlib_decode_noheader_malloc

// stb's internal macros (v2.27's list; stb #undefs some itself), so a host's own
// stb_image implementation later in the same TU starts clean.
#include "tailor/image/stb_internal_undef.inc"

#pragma pop_macro("STBI_INCLUDE_STB_IMAGE_H")
#pragma pop_macro("STB_IMAGE_IMPLEMENTATION")
#pragma pop_macro("STB_IMAGE_STATIC")
#pragma pop_macro("STBIDEF")
#pragma pop_macro("STBI_ASSERT")
#pragma pop_macro("STBI_MALLOC")
#pragma pop_macro("STBI_REALLOC")
#pragma pop_macro("STBI_REALLOC_SIZED")
#pragma pop_macro("STBI_FREE")
#pragma pop_macro("STBI_MAX_DIMENSIONS")
#pragma pop_macro("STBI_NO_STDIO")
#pragma pop_macro("STBI_NO_LINEAR")
#pragma pop_macro("STBI_NO_HDR")
#pragma pop_macro("STBI_ONLY_PNG")
#pragma pop_macro("STBI_ONLY_JPEG")
#pragma pop_macro("STBI_NO_JPEG")
#pragma pop_macro("STBI_NO_PNG")
#pragma pop_macro("STBI_NO_BMP")
#pragma pop_macro("STBI_NO_PSD")
#pragma pop_macro("STBI_NO_TGA")
#pragma pop_macro("STBI_NO_GIF")
#pragma pop_macro("STBI_NO_PIC")
#pragma pop_macro("STBI_NO_PNM")
#pragma pop_macro("STBI_NO_ZLIB")
#pragma pop_macro("STBI_NO_FAILURE_STRINGS")
#pragma pop_macro("STBI_FAILURE_USERMSG")
#pragma pop_macro("STBI_EXTERN")
#pragma pop_macro("STBI_THREAD_LOCAL")
#pragma pop_macro("stbi_inline")
#pragma pop_macro("STBI_VERSION")
#pragma pop_macro("STBI_NO_THREAD_LOCALS")
#pragma pop_macro("STBI_SUPPORT_ZLIB")
#pragma pop_macro("STBI_NO_SIMD")
