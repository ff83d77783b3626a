// tailor/text/unicode.hpp: per-code-point properties the tokenizer stages ask about.
//
// The data are unicode_tables.hpp, generated from what HF tokenizers itself does (see
// converters/tokenizer_unicode.py: Rust's char::is_whitespace and to_lowercase, the
// unicode_categories crate, unicode-normalization-alignments' NFD; each of a different
// Unicode version, which is why neither utf8proc nor one Unicode version would do). On first
// use they are expanded once into a two-stage lookup table (blocks of 128 code points,
// identical blocks shared: about 160 KB, built in ~15 ms), so a property lookup is two
// loads. The table is built by a function-local static (thread-safe initialisation) and
// never changes after.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "tailor/text/unicode_tables.hpp"

namespace tailor::text {

/// Property bits of one code point (CodepointTable::info).
enum CodepointFlag : uint32_t {
  kCpCleanRemove = 1u << 0,  ///< clean_text drops it (NUL, U+FFFD, control, format, private use)
  kCpCleanSpace = 1u << 1,   ///< clean_text maps it to U+0020
  kCpWhitespace = 1u << 2,   ///< the pre-tokenizer splits on it and drops it
  kCpPunctuation = 1u << 3,  ///< the pre-tokenizer isolates it
  kCpMark = 1u << 4,         ///< strip_accents drops it (after NFD)
  kCpChinese = 1u << 5,      ///< handle_chinese_chars puts spaces around it
  kCpHangul = 1u << 6,       ///< a precomposed Hangul syllable (algorithmic decomposition)
  kCpSide = 1u << 7,         ///< has a lowercase mapping and/or a decomposition (side table)
};

/// A code point's lowercase mapping and canonical decomposition (offsets into a pool).
struct CodepointSide {
  uint32_t lower_offset = 0;
  uint8_t lower_length = 0;   ///< 0: lowercases to itself
  uint8_t decomp_length = 0;  ///< 0: NFD leaves it alone
  uint32_t decomp_offset = 0;
};

/// The expanded property table. info(c): bits 0..7 CodepointFlag, bits 8..15 the canonical
/// combining class, bits 16..31 the index of c's CodepointSide (when kCpSide).
class CodepointTable {
 public:
  static constexpr char32_t kEnd = 0x110000;
  static constexpr int kBlockShift = 7;

  uint32_t info(char32_t c) const {
    if (c >= kEnd) return 0;
    return blocks_[(uint32_t(stage1_[c >> kBlockShift]) << kBlockShift) | (c & ((1u << kBlockShift) - 1))];
  }
  static uint32_t flags(uint32_t info) { return info & 0xFF; }
  static int combining_class(uint32_t info) { return int((info >> 8) & 0xFF); }
  const CodepointSide& side(uint32_t info) const { return sides_[info >> 16]; }
  const char32_t* pool() const { return pool_.data(); }

  /// Writes c's lowercase mapping (1..3 code points) to out; returns the count.
  int lowercase(char32_t c, uint32_t info, char32_t* out) const {
    if (info & kCpSide) {
      const CodepointSide& s = side(info);
      if (s.lower_length) {
        for (int i = 0; i < s.lower_length; ++i) out[i] = pool_[s.lower_offset + i];
        return s.lower_length;
      }
    }
    out[0] = c;
    return 1;
  }
  /// Writes c's full canonical decomposition (1..4 code points) to out; returns the count.
  int decompose(char32_t c, uint32_t info, char32_t* out) const {
    if (info & kCpHangul) {  // Unicode 3.12, Hangul syllable decomposition
      const uint32_t s = c - 0xAC00;
      out[0] = 0x1100 + s / 588;
      out[1] = 0x1161 + (s % 588) / 28;
      if (s % 28 == 0) return 2;
      out[2] = 0x11A7 + s % 28;
      return 3;
    }
    if (info & kCpSide) {
      const CodepointSide& sd = side(info);
      if (sd.decomp_length) {
        for (int i = 0; i < sd.decomp_length; ++i) out[i] = pool_[sd.decomp_offset + i];
        return sd.decomp_length;
      }
    }
    out[0] = c;
    return 1;
  }

  /// The process-wide table, built on first use.
  static const CodepointTable& get() {
    static const CodepointTable table;
    return table;
  }

 private:
  CodepointTable() { build(); }

  void build() {
    namespace T = detail::tables;
    std::vector<uint32_t> full(kEnd, 0);
    auto mark = [&](const uint32_t (*r)[2], size_t n, uint32_t bit) {
      for (size_t i = 0; i < n; ++i)
        for (uint32_t c = r[i][0]; c <= r[i][1]; ++c) full[c] |= bit;
    };
#define TAILOR_TEXT_MARK(arr, bit) mark(arr, sizeof(arr) / sizeof(arr[0]), bit)
    TAILOR_TEXT_MARK(T::kCleanRemove, kCpCleanRemove);
    TAILOR_TEXT_MARK(T::kCleanSpace, kCpCleanSpace);
    TAILOR_TEXT_MARK(T::kWhitespace, kCpWhitespace);
    TAILOR_TEXT_MARK(T::kPunctuation, kCpPunctuation);
    TAILOR_TEXT_MARK(T::kNonspacingMark, kCpMark);
    TAILOR_TEXT_MARK(T::kChinese, kCpChinese);
#undef TAILOR_TEXT_MARK
    for (uint32_t c = 0xAC00; c <= 0xD7A3; ++c) full[c] |= kCpHangul;
    for (const auto& r : T::kCombiningClass)
      for (uint32_t c = r[0]; c <= r[1]; ++c) full[c] |= (r[2] & 0xFF) << 8;

    // Side entries: lowercase mappings and decompositions.
    std::unordered_map<uint32_t, uint32_t> side_of;  // code point -> index in sides_
    sides_.assign(1, CodepointSide{});               // index 0: none
    pool_.clear();
    auto side_for = [&](uint32_t c) -> CodepointSide& {
      auto it = side_of.find(c);
      if (it == side_of.end()) {
        it = side_of.emplace(c, uint32_t(sides_.size())).first;
        sides_.emplace_back();
      }
      return sides_[it->second];
    };
    for (const auto& r : T::kLowerRuns) {
      for (int64_t c = r[0]; c <= r[1]; c += r[2]) {
        CodepointSide& s = side_for(uint32_t(c));
        s.lower_offset = uint32_t(pool_.size());
        s.lower_length = 1;
        pool_.push_back(char32_t(c + r[3]));
      }
    }
    for (const auto& r : T::kLowerMulti) {
      CodepointSide& s = side_for(r[0]);
      s.lower_offset = uint32_t(pool_.size());
      s.lower_length = 0;
      for (int i = 1; i < 4 && r[i]; ++i, ++s.lower_length) pool_.push_back(r[i]);
    }
    // Decompositions: expand the steps {c, a, b} (NFD(c) = NFD(a) b) recursively.
    std::unordered_map<uint32_t, std::u32string> decomp;
    for (const auto& r : T::kDecompositionFull) {
      std::u32string d;
      for (int i = 1; i < 5 && r[i]; ++i) d.push_back(r[i]);
      decomp[r[0]] = d;
    }
    std::unordered_map<uint32_t, std::pair<uint32_t, uint32_t>> steps;
    for (const auto& r : T::kDecompositionSteps) steps[r[0]] = {r[1], r[2]};
    struct Expander {
      std::unordered_map<uint32_t, std::u32string>& done;
      std::unordered_map<uint32_t, std::pair<uint32_t, uint32_t>>& steps;
      std::u32string get(uint32_t c, int depth) {
        auto it = done.find(c);
        if (it != done.end()) return it->second;
        auto st = steps.find(c);
        if (st == steps.end() || depth > 8) return std::u32string(1, char32_t(c));
        std::u32string d = get(st->second.first, depth + 1);
        d.push_back(st->second.second);
        done[c] = d;
        return d;
      }
    } ex{decomp, steps};
    for (const auto& r : T::kDecompositionSteps) ex.get(r[0], 0);
    for (const auto& [c, d] : decomp) {
      CodepointSide& s = side_for(c);
      s.decomp_offset = uint32_t(pool_.size());
      s.decomp_length = uint8_t(d.size());
      pool_.insert(pool_.end(), d.begin(), d.end());
    }
    for (const auto& [c, idx] : side_of) full[c] |= kCpSide | (idx << 16);

    // Two stages: identical 128-entry blocks are stored once.
    const size_t nblocks = kEnd >> kBlockShift, bsize = size_t(1) << kBlockShift;
    stage1_.assign(nblocks, 0);
    std::unordered_map<std::string, uint16_t> seen;
    for (size_t b = 0; b < nblocks; ++b) {
      std::string key(reinterpret_cast<const char*>(&full[b * bsize]), bsize * sizeof(uint32_t));
      auto it = seen.find(key);
      if (it == seen.end()) {
        it = seen.emplace(std::move(key), uint16_t(blocks_.size() / bsize)).first;
        blocks_.insert(blocks_.end(), full.begin() + long(b * bsize), full.begin() + long((b + 1) * bsize));
      }
      stage1_[b] = it->second;
    }
  }

  std::vector<uint16_t> stage1_;
  std::vector<uint32_t> blocks_;
  std::vector<CodepointSide> sides_;
  std::vector<char32_t> pool_;
};

}  // namespace tailor::text
