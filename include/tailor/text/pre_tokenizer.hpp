// tailor/text/pre_tokenizer.hpp: stage 2 of the tokenizer, BERT's pre-tokenizer.
//
// Follows HF tokenizers' BertPreTokenizer (tokenizers/src/pre_tokenizers/bert.rs,
// `pre_tokenize`): split the normalised text on whitespace (Rust char::is_whitespace),
// dropping it, then isolate every punctuation character (char::is_ascii_punctuation, or a
// Unicode P* category as the unicode_categories crate sees it) as a word of its own. Offsets
// are carried: a word is a range of normalised characters, each aligned to an input
// character by the normaliser.
//
// The tokenizer streams characters through WordSplitter; split() is the same rule over a
// whole NormalizedText, for tests and callers that want the words.
#pragma once

#include <cstdint>
#include <vector>

#include "tailor/text/normalizer.hpp"
#include "tailor/text/unicode.hpp"

namespace tailor::text {

/// A word: normalised characters [begin, end).
struct PreToken {
  uint32_t begin = 0, end = 0;
};

class PreTokenizer {
 public:
  enum class Action : uint8_t {
    append,   ///< part of the current word
    split,    ///< whitespace: ends the word and is dropped
    isolate,  ///< punctuation: ends the word and is a word of its own
  };

  PreTokenizer() : table_(&CodepointTable::get()) {}

  Action classify(char32_t c) const { return classify_info(table_->info(c)); }
  static Action classify_info(uint32_t info) {
    if (info & kCpWhitespace) return Action::split;
    if (info & kCpPunctuation) return Action::isolate;
    return Action::append;
  }

  /// The words of a normalised text, in order.
  std::vector<PreToken> split(const std::u32string& text) const {
    std::vector<PreToken> out;
    uint32_t start = 0;
    for (uint32_t i = 0; i < text.size(); ++i) {
      const Action a = classify(text[i]);
      if (a == Action::append) continue;
      if (start < i) out.push_back({start, i});
      if (a == Action::isolate) out.push_back({i, i + 1});
      start = i + 1;
    }
    if (start < text.size()) out.push_back({start, uint32_t(text.size())});
    return out;
  }

 private:
  const CodepointTable* table_;
};

}  // namespace tailor::text
