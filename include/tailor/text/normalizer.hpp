// tailor/text/normalizer.hpp: stage 1 of the tokenizer, BERT's normaliser.
//
// Follows HF tokenizers' BertNormalizer (tokenizers/src/normalizers/bert.rs, `normalize`),
// in its order:
//   1. clean_text: drop NUL, U+FFFD and control characters; map whitespace to U+0020
//      (do_clean_text)
//   2. handle_chinese_chars: CJK ideograph c -> ' ' c ' ' (do_handle_chinese_chars)
//   3. strip_accents (when unset it follows lowercase): NFD, then drop nonspacing marks
//      (do_strip_accents; NormalizedString::nfd + filter)
//   4. lowercase: Rust char::to_lowercase, which can give several characters (do_lowercase)
// Character properties come from unicode.hpp (read off the reference, code point by code
// point).
//
// Offsets: every output character is aligned to one input character, the way
// NormalizedString::transform aligns them: a character that replaces ("change 0") takes the
// alignment of the next input character not yet consumed, one that is inserted ("change 1":
// the 2nd.. characters of a decomposition or a lowercase expansion, the spaces around CJK)
// takes the alignment of the last one consumed. NFD's canonical reordering moves characters,
// but alignments stay in place, exactly as in the reference (unicode-normalization-
// alignments' Decompositions tags each piece 0/1 and sorts pieces by combining class).
//
// The stage streams: push() takes one input code point and its position and calls
// sink(c, position) for each output character; flush() ends the text. Reordering needs a
// buffer only for a run of combining marks; it is sorted with a counting sort (stable, by
// combining class), so a megabyte of marks costs linear time.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tailor/text/unicode.hpp"
#include "tailor/text/utf8.hpp"

namespace tailor::text {

/// BertNormalizer's flags (tokenizer.json "normalizer", or derived from BertTokenizerConfig).
struct NormalizerOptions {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  bool strip_accents = true;  ///< already resolved: HF's None means "= lowercase"
  bool lowercase = true;
  /// NFD without dropping marks (HF normalizers.NFD) where strip_accents is off; not part of
  /// BertNormalizer, for testing the decomposition and reordering on their own.
  bool nfd_only = false;
};

/// Per-call state of a Normalizer (the reordering buffer). One per thread.
struct NormalizerScratch {
  struct Piece {
    char32_t c;
    uint8_t ccc;
    bool inserted;  ///< change 1 in the reference: not the first piece of its decomposition
  };
  std::vector<Piece> run;          ///< pending combining marks (nonzero class), input order
  std::vector<Piece> sorted;       ///< counting-sort output
  std::vector<uint32_t> sources;   ///< positions of input characters not yet consumed
  size_t sources_head = 0;
  uint32_t last_consumed = 0;
  void reset() {
    run.clear();
    sources.clear();
    sources_head = 0;
    last_consumed = 0;
  }
};

/// Output of Normalizer::normalize: the normalised code points, each with the position (in
/// code points of the input) of the input character it is aligned to.
struct NormalizedText {
  std::u32string text;
  std::vector<uint32_t> source;  ///< source[i]: text[i] comes from input code point source[i]
};

class Normalizer {
 public:
  Normalizer() : Normalizer(NormalizerOptions{}) {}
  explicit Normalizer(const NormalizerOptions& o) : opt_(o), table_(&CodepointTable::get()) {}

  const NormalizerOptions& options() const { return opt_; }
  const CodepointTable& table() const { return *table_; }

  /// Feeds input code point c at position pos; calls sink(out, source_pos) for each output.
  template <class Sink>
  void push(char32_t c, uint32_t pos, NormalizerScratch& s, Sink& sink) const {
    uint32_t info = table_->info(c);
    if (opt_.clean_text) {
      if (info & kCpCleanRemove) return;
      if (info & kCpCleanSpace) {
        c = U' ';
        info = table_->info(c);
      }
    }
    if (opt_.handle_chinese_chars && (info & kCpChinese)) {
      // ' ' replaces c (change 0), then c and ' ' are inserted (change 1): all three are
      // aligned to c, so later stages see three input characters at the same position.
      stage_strip(U' ', table_->info(U' '), pos, s, sink);
      stage_strip(c, info, pos, s, sink);
      stage_strip(U' ', table_->info(U' '), pos, s, sink);
      return;
    }
    stage_strip(c, info, pos, s, sink);
  }

  /// Ends the text: emits the pending run of marks.
  template <class Sink>
  void flush(NormalizerScratch& s, Sink& sink) const {
    if (!s.run.empty()) emit_run(s, sink);
    s.reset();
  }

  /// True when the stage-3 buffer is empty (the caller may then take a shortcut for ASCII).
  static bool idle(const NormalizerScratch& s) { return s.run.empty(); }

  /// Normalises UTF-8 text (invalid bytes replaced as in utf8.hpp) in one call.
  NormalizedText normalize(std::string_view utf8) const {
    NormalizedText out;
    NormalizerScratch s;
    auto sink = [&](char32_t c, uint32_t src) {
      out.text.push_back(c);
      out.source.push_back(src);
    };
    const auto* p = reinterpret_cast<const unsigned char*>(utf8.data());
    const auto* end = p + utf8.size();
    uint32_t pos = 0;
    while (p < end) push(decode_utf8(p, end), pos++, s, sink);
    flush(s, sink);
    return out;
  }

 private:
  // Stage 3 (NFD + drop marks) when strip_accents, else straight to stage 4.
  template <class Sink>
  void stage_strip(char32_t c, uint32_t info, uint32_t pos, NormalizerScratch& s, Sink& sink) const {
    if (!opt_.strip_accents && !opt_.nfd_only) {
      stage_lower(c, info, pos, sink);
      return;
    }
    char32_t pieces[4];
    const int n = (info & (kCpHangul | kCpSide)) ? table_->decompose(c, info, pieces) : (pieces[0] = c, 1);
    if (n == 1 && s.run.empty() && s.sources.empty()) {
      const uint32_t pinfo = pieces[0] == c ? info : table_->info(pieces[0]);
      if (CodepointTable::combining_class(pinfo) == 0) {
        s.last_consumed = pos;  // the common case: a starter with nothing pending
        if (!(pinfo & kCpMark) || !opt_.strip_accents) stage_lower(pieces[0], pinfo, pos, sink);
        return;
      }
    }
    s.sources.push_back(pos);
    for (int i = 0; i < n; ++i) {
      const uint32_t pinfo = pieces[i] == c ? info : table_->info(pieces[i]);
      const int ccc = CodepointTable::combining_class(pinfo);
      if (ccc == 0) {
        // A starter: the run before it is complete; it is never reordered itself.
        if (!s.run.empty()) emit_run(s, sink);
        emit_stripped(pieces[i], pinfo, i > 0, s, sink);
      } else {
        s.run.push_back({pieces[i], uint8_t(ccc), i > 0});
      }
    }
  }

  // The alignment of the next output piece, positionally (see the file comment).
  static uint32_t align_next(bool inserted, NormalizerScratch& s) {
    if (!inserted && s.sources_head < s.sources.size()) s.last_consumed = s.sources[s.sources_head++];
    if (s.sources_head == s.sources.size()) {
      s.sources.clear();
      s.sources_head = 0;
    }
    return s.last_consumed;
  }

  template <class Sink>
  void emit_stripped(char32_t c, uint32_t info, bool inserted, NormalizerScratch& s, Sink& sink) const {
    const uint32_t src = align_next(inserted, s);
    if ((info & kCpMark) && opt_.strip_accents) return;
    stage_lower(c, info, src, sink);
  }

  // Sorts the pending run by combining class (stable) and emits it.
  template <class Sink>
  void emit_run(NormalizerScratch& s, Sink& sink) const {
    auto& run = s.run;
    if (run.size() <= 32) {
      for (size_t i = 1; i < run.size(); ++i) {  // stable insertion sort: runs are short
        const auto x = run[i];
        size_t j = i;
        for (; j > 0 && run[j - 1].ccc > x.ccc; --j) run[j] = run[j - 1];
        run[j] = x;
      }
      for (const auto& p : run) emit_stripped(p.c, table_->info(p.c), p.inserted, s, sink);
    } else {
      std::array<uint32_t, 257> start{};  // counting sort: linear for any run length
      for (const auto& p : run) ++start[size_t(p.ccc) + 1];
      for (size_t k = 1; k < start.size(); ++k) start[k] += start[k - 1];
      s.sorted.resize(run.size());
      for (const auto& p : run) s.sorted[start[p.ccc]++] = p;
      for (const auto& p : s.sorted) emit_stripped(p.c, table_->info(p.c), p.inserted, s, sink);
    }
    run.clear();
  }

  template <class Sink>
  void stage_lower(char32_t c, uint32_t info, uint32_t src, Sink& sink) const {
    if (opt_.lowercase && (info & kCpSide)) {
      char32_t out[3];
      const int n = table_->lowercase(c, info, out);
      for (int i = 0; i < n; ++i) sink(out[i], src);
      return;
    }
    sink(c, src);
  }

  NormalizerOptions opt_;
  const CodepointTable* table_;
};

}  // namespace tailor::text
