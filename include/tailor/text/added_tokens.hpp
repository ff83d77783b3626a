// tailor/text/added_tokens.hpp: special tokens written literally in the text.
//
// Follows HF tokenizers' AddedVocabulary (tokenizers/src/tokenizer/added_vocabulary.rs,
// `extract_and_normalize` / `find_matches`): before normalising, the raw text is split on
// the added tokens that are not normalised (BERT's [PAD] [UNK] [CLS] [SEP] [MASK], with
// lstrip, rstrip and single_word off), matched case-sensitively, leftmost first and longest
// at a position (aho-corasick MatchKind::LeftmostLongest). A match becomes that token's id
// with the offsets of its text; the text between matches is normalised and pre-tokenised
// on its own (no word, and no reordering of marks, crosses a match).
//
// Matching runs on the raw bytes. Tokens are valid UTF-8 and invalid bytes never absorb an
// ASCII or lead byte when replaced (utf8.hpp), so this finds exactly the matches the
// reference finds in the replacement-decoded text.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "tailor/text/utf8.hpp"

namespace tailor::text {

class AddedTokens {
 public:
  struct Entry {
    std::string content;
    int32_t id;
    uint32_t n_chars;  ///< code points of content
  };

  /// Adds a token matched in raw text (empty strings are ignored).
  void add(std::string content, int32_t id) {
    if (content.empty()) return;
    for (Entry& e : entries_)
      if (e.content == content) { e.id = id; rebuild(); return; }
    const uint32_t n = uint32_t(count_code_points(content));
    entries_.push_back({std::move(content), id, n});
    rebuild();
  }
  const std::vector<Entry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }

  /// Splits `s`: on_text(begin, end) for each run of ordinary text (byte offsets; never
  /// empty), on_token(entry, begin) for each match, in order.
  template <class OnText, class OnToken>
  void split(std::string_view s, OnText&& on_text, OnToken&& on_token) const {
    size_t done = 0;
    if (!entries_.empty()) {
      size_t i = 0;
      while (i < s.size()) {
        // Next position whose byte can start a token.
        if (single_first_ >= 0) {
          const void* f = std::memchr(s.data() + i, single_first_, s.size() - i);
          if (!f) break;
          i = size_t(static_cast<const char*>(f) - s.data());
        } else {
          while (i < s.size() && by_first_[static_cast<unsigned char>(s[i])].empty()) ++i;
          if (i >= s.size()) break;
        }
        const Entry* hit = nullptr;
        for (uint16_t k : by_first_[static_cast<unsigned char>(s[i])]) {  // longest first
          const Entry& e = entries_[k];
          if (e.content.size() <= s.size() - i && std::memcmp(s.data() + i, e.content.data(), e.content.size()) == 0) {
            hit = &e;
            break;
          }
        }
        if (!hit) { ++i; continue; }
        if (done < i) on_text(done, i);
        on_token(*hit, i);
        i += hit->content.size();
        done = i;
      }
    }
    if (done < s.size()) on_text(done, s.size());
  }

 private:
  void rebuild() {
    for (auto& v : by_first_) v.clear();
    for (size_t k = 0; k < entries_.size(); ++k)
      by_first_[static_cast<unsigned char>(entries_[k].content[0])].push_back(uint16_t(k));
    int distinct = 0;
    single_first_ = -1;
    for (int b = 0; b < 256; ++b) {
      auto& v = by_first_[size_t(b)];
      if (v.empty()) continue;
      ++distinct;
      single_first_ = b;
      std::stable_sort(v.begin(), v.end(), [&](uint16_t x, uint16_t y) {
        return entries_[x].content.size() > entries_[y].content.size();
      });
    }
    if (distinct != 1) single_first_ = -1;
  }

  std::vector<Entry> entries_;
  std::array<std::vector<uint16_t>, 256> by_first_{};
  int single_first_ = -1;  ///< when every token starts with the same byte: memchr for it
};

}  // namespace tailor::text
