// tailor/text/utf8.hpp: UTF-8 decoding with Python's replacement policy, and encoding.
//
// Text reaches the tokenizer as bytes. Bytes that are not valid UTF-8 are decoded exactly as
// Python's `bytes.decode("utf-8", errors="replace")` does (CPython Objects/stringlib/codecs.h,
// utf8_decode, which follows Unicode's "maximal subpart" practice, Unicode 15 section 3.9,
// U+FFFD substitution): every maximal prefix of a valid sequence that cannot be completed is
// one U+FFFD, and so is every byte that cannot start a sequence (0x80..0xC1, 0xF5..0xFF).
// Overlong forms, surrogates (ED A0..BF ..) and code points past U+10FFFF are caught on the
// second byte, so e.g. ED A0 80 gives three U+FFFD. The tokenizer then drops U+FFFD like
// the reference drops it (clean_text), but counts it in offsets, which are in code points of
// the decoded text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tailor::text {

/// U+FFFD REPLACEMENT CHARACTER.
inline constexpr char32_t kReplacementChar = 0xFFFD;

namespace detail {

/// Second-byte range for a lead byte of a 3- or 4-byte sequence (tightened for E0, ED, F0, F4).
inline bool utf8_second_ok(unsigned char lead, unsigned char b) {
  switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return b >= 0x80 && b <= 0xBF;
  }
}

}  // namespace detail

/// Decodes one code point at `p` (p < end), advancing p past it; invalid input gives
/// U+FFFD and advances past the maximal subpart, as Python's errors="replace" does.
inline char32_t decode_utf8(const unsigned char*& p, const unsigned char* end) {
  const unsigned char b0 = *p;
  if (b0 < 0x80) {
    ++p;
    return b0;
  }
  if (b0 < 0xC2 || b0 > 0xF4) {  // a continuation byte, an overlong 2-byte lead, or past U+10FFFF
    ++p;
    return kReplacementChar;
  }
  const int need = b0 < 0xE0 ? 1 : b0 < 0xF0 ? 2 : 3;
  char32_t c = b0 & (need == 1 ? 0x1F : need == 2 ? 0x0F : 0x07);
  const unsigned char* q = p + 1;
  for (int i = 0; i < need; ++i, ++q) {
    if (q >= end) { p = q; return kReplacementChar; }  // truncated: the prefix is one U+FFFD
    const unsigned char b = *q;
    const bool ok = i == 0 && need > 1 ? detail::utf8_second_ok(b0, b) : (b & 0xC0) == 0x80;
    if (!ok) { p = q; return kReplacementChar; }  // the valid prefix is one U+FFFD; b starts afresh
    c = (c << 6) | (b & 0x3F);
  }
  p = q;
  return c;
}

/// Number of bytes of c in UTF-8 (c <= U+10FFFF).
inline int utf8_length(char32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }

/// Appends c as UTF-8.
inline void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(char(c));
  } else if (c < 0x800) {
    out.push_back(char(0xC0 | (c >> 6)));
    out.push_back(char(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(char(0xE0 | (c >> 12)));
    out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(char(0x80 | (c & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (c >> 18)));
    out.push_back(char(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(char(0x80 | (c & 0x3F)));
  }
}

/// Decodes all of `bytes` with replacement (see decode_utf8).
inline std::u32string decode_utf8(std::string_view bytes) {
  std::u32string out;
  out.reserve(bytes.size());
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  while (p < end) out.push_back(decode_utf8(p, end));
  return out;
}

/// Encodes code points as UTF-8.
inline std::string encode_utf8(std::u32string_view cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t c : cps) append_utf8(out, c);
  return out;
}

/// True when `bytes` is valid UTF-8 (decoding it would replace nothing).
inline bool is_valid_utf8(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  while (p < end) {
    if (*p < 0x80) { ++p; continue; }
    const unsigned char* before = p;
    if (decode_utf8(p, end) == kReplacementChar) {
      // U+FFFD itself (EF BF BD) is valid; anything else that decodes to it is not.
      if (p - before != 3 || before[0] != 0xEF || before[1] != 0xBF || before[2] != 0xBD) return false;
    }
  }
  return true;
}

/// Number of code points `bytes` decodes to (with replacement).
inline size_t count_code_points(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  size_t n = 0;
  while (p < end) {
    if (*p < 0x80) ++p;
    else decode_utf8(p, end);
    ++n;
  }
  return n;
}

/// Length of the longest prefix of `bytes` no longer than `cap` that does not end inside a
/// UTF-8 sequence: the cut moves back (at most 3 bytes) to the start of the sequence it
/// would split. Used for the byte cap (Limits::max_text_bytes) applied before normalising.
inline size_t utf8_cut(std::string_view bytes, size_t cap) {
  if (bytes.size() <= cap) return bytes.size();
  size_t cut = cap;
  for (int back = 0; back < 3 && cut > 0 && (static_cast<unsigned char>(bytes[cut]) & 0xC0) == 0x80; ++back) --cut;
  // If no lead byte was found within 3 bytes the bytes there are invalid anyway: cut at cap.
  if ((static_cast<unsigned char>(bytes[cut]) & 0xC0) == 0x80) cut = cap;
  return cut;
}

}  // namespace tailor::text
