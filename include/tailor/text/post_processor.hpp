// tailor/text/post_processor.hpp: stage 4 of the tokenizer: truncation, special tokens,
// type ids, attention mask, padding.
//
// Follows HF tokenizers:
//   - truncation: utils/truncation.rs `truncate_encodings`, called by
//     TokenizerImpl::post_process with max_length minus the special tokens the template adds
//     (direction right, stride 0): longest_first, only_first, only_second;
//   - special tokens: processors/template.rs TemplateProcessing (BertTokenizerFast's
//     "[CLS]:0 $A:0 [SEP]:0" / "[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1"; BertProcessing is the
//     same), special tokens get offsets (0, 0);
//   - padding: utils/padding.rs `pad_encodings` (right side, pad id, pad type id 0, mask 0,
//     offsets (0, 0)), to the longest of a batch or to a fixed length, optionally rounded up
//     to a multiple.
// Two behaviours of the reference kept on purpose:
//   - max_length smaller than the number of special tokens (2 single, 3 pair) means no
//     truncation at all (the reference's unsigned subtraction wraps around);
//   - only_first / only_second fail ("sequence to truncate too short") when removing enough
//     tokens from that sequence alone is impossible; only_second fails without a pair.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tailor/core/error.hpp"

namespace tailor {

/// One encoded input (one row of a (B, T) batch): all four vectors have the same length T.
struct Encoding {
  std::vector<int32_t> ids;             ///< (T) vocab ids, special tokens included
  std::vector<int32_t> type_ids;        ///< (T) 0 for the first text, 1 for the second
  std::vector<int32_t> attention_mask;  ///< (T) 1 for tokens, 0 for padding
  /// (T) [begin, end) in code points of the input text (of its own text for the second of
  /// a pair), as HF's return_offsets_mapping; (0, 0) for special tokens and padding.
  std::vector<std::pair<int32_t, int32_t>> offsets;

  size_t size() const { return ids.size(); }
  bool operator==(const Encoding& o) const {
    return ids == o.ids && type_ids == o.type_ids && attention_mask == o.attention_mask && offsets == o.offsets;
  }
  bool operator!=(const Encoding& o) const { return !(*this == o); }
};

enum class TruncationStrategy { longest_first, only_first, only_second };
enum class PaddingStrategy {
  none,        ///< no padding
  longest,     ///< to the longest encoding of the batch (a single encode: no-op)
  max_length,  ///< to EncodeOptions::max_length (longer encodings are left as they are)
};

/// How to encode; the defaults equal `tokenizer(text, truncation=True)` in transformers.
struct EncodeOptions {
  /// [CLS] ... [SEP] (and the second text's [SEP]) around the tokens.
  bool add_special_tokens = true;
  /// Truncate to max_length tokens (special tokens included).
  bool truncation = true;
  /// 0: the tokenizer's model_max_length (BertTokenizerConfig, usually 512).
  int64_t max_length = 0;
  TruncationStrategy truncation_strategy = TruncationStrategy::longest_first;
  PaddingStrategy padding = PaddingStrategy::none;
  /// With padding: round the padded length up to a multiple of this (0: no rounding).
  int64_t pad_to_multiple_of = 0;
};

namespace text {

/// A token before post-processing: a vocab id and [begin, end) in code points.
struct Token {
  int32_t id;
  int32_t begin, end;
};

/// One item of a TemplateProcessing template: a special token (ids, type id) or a sequence.
struct TemplateItem {
  enum Kind : uint8_t { special, sequence_a, sequence_b } kind = special;
  std::vector<int32_t> ids;  ///< for special: the ids it adds (usually one)
  int32_t type_id = 0;
};

class PostProcessor {
 public:
  PostProcessor() = default;
  PostProcessor(std::vector<TemplateItem> single, std::vector<TemplateItem> pair)
      : single_(std::move(single)), pair_(std::move(pair)) {}

  /// BERT's template: [CLS] A [SEP] and [CLS] A [SEP] B [SEP] with type ids 0 / 1.
  static PostProcessor bert(int32_t cls_id, int32_t sep_id) {
    using K = TemplateItem;
    return PostProcessor({{K::special, {cls_id}, 0}, {K::sequence_a, {}, 0}, {K::special, {sep_id}, 0}},
                         {{K::special, {cls_id}, 0}, {K::sequence_a, {}, 0}, {K::special, {sep_id}, 0},
                          {K::sequence_b, {}, 1}, {K::special, {sep_id}, 1}});
  }

  /// Special tokens the template adds (TemplateProcessing::added_tokens).
  size_t added_tokens(bool pair) const {
    size_t n = 0;
    for (const auto& it : pair ? pair_ : single_)
      if (it.kind == TemplateItem::special) n += it.ids.size();
    return n;
  }

  /// Truncates a (and b, for a pair) in place to fit max_length once the special tokens are
  /// added; throws tailor::Error where the reference fails.
  void truncate(std::vector<Token>& a, std::vector<Token>* b, int64_t max_length, TruncationStrategy strategy,
                bool add_special_tokens) const {
    const size_t added = add_special_tokens ? added_tokens(b != nullptr) : 0;
    if (max_length < 0) return;
    if (size_t(max_length) < added) return;  // the reference's usize subtraction wraps: no truncation
    const size_t m = size_t(max_length) - added;
    if (m == 0) {  // truncate_encodings' special case, whatever the strategy
      a.clear();
      if (b) b->clear();
      return;
    }
    const size_t total = a.size() + (b ? b->size() : 0);
    if (total <= m) return;
    const size_t to_remove = total - m;
    switch (strategy) {
      case TruncationStrategy::longest_first: {
        if (!b) {
          a.resize(m);
          return;
        }
        size_t n1 = a.size(), n2 = b->size();
        const bool swap = n1 > n2;
        if (swap) std::swap(n1, n2);
        n2 = n1 > m ? n1 : std::max(n1, m - n1);
        if (n1 + n2 > m) {
          n1 = m / 2;
          n2 = n1 + m % 2;
        }
        if (swap) std::swap(n1, n2);
        if (a.size() > n1) a.resize(n1);
        if (b->size() > n2) b->resize(n2);
        return;
      }
      case TruncationStrategy::only_first:
      case TruncationStrategy::only_second: {
        std::vector<Token>* target = strategy == TruncationStrategy::only_first ? &a : b;
        TAILOR_CHECK(target != nullptr, ErrorCode::invalid_argument,
                     "truncation only_second needs a second text", "use longest_first or only_first for one text");
        TAILOR_CHECK(target->size() > to_remove, ErrorCode::invalid_argument,
                     std::string("cannot truncate to ") + std::to_string(max_length) + " tokens by cutting only the " +
                         (strategy == TruncationStrategy::only_first ? "first" : "second") + " text (it has " +
                         std::to_string(target->size()) + " tokens, " + std::to_string(to_remove) + " must go)",
                     "raise max_length or use truncation longest_first");
        target->resize(target->size() - to_remove);
        return;
      }
    }
  }

  /// Builds the encoding: the template (or just the tokens without special tokens).
  void assemble(const std::vector<Token>& a, const std::vector<Token>* b, bool add_special_tokens,
                Encoding& out) const {
    out.ids.clear();
    out.type_ids.clear();
    out.attention_mask.clear();
    out.offsets.clear();
    const size_t n = a.size() + (b ? b->size() : 0) + (add_special_tokens ? added_tokens(b != nullptr) : 0);
    out.ids.reserve(n);
    out.type_ids.reserve(n);
    out.attention_mask.reserve(n);
    out.offsets.reserve(n);
    auto seq = [&](const std::vector<Token>& s, int32_t type_id) {
      for (const Token& t : s) {
        out.ids.push_back(t.id);
        out.type_ids.push_back(type_id);
        out.offsets.push_back({t.begin, t.end});
      }
    };
    // The template's type ids apply with or without special tokens (TemplateProcessing).
    for (const auto& it : b ? pair_ : single_) {
      if (it.kind == TemplateItem::sequence_a) {
        seq(a, it.type_id);
      } else if (it.kind == TemplateItem::sequence_b) {
        if (b) seq(*b, it.type_id);
      } else if (add_special_tokens) {
        for (int32_t id : it.ids) {
          out.ids.push_back(id);
          out.type_ids.push_back(it.type_id);
          out.offsets.push_back({0, 0});
        }
      }
    }
    out.attention_mask.assign(out.ids.size(), 1);
  }

  /// Pads e on the right to `length` tokens (no-op when it is not shorter).
  static void pad(Encoding& e, size_t length, int32_t pad_id, int32_t pad_type_id = 0) {
    if (e.ids.size() >= length) return;
    e.ids.resize(length, pad_id);
    e.type_ids.resize(length, pad_type_id);
    e.attention_mask.resize(length, 0);
    e.offsets.resize(length, {0, 0});
  }

  const std::vector<TemplateItem>& single() const { return single_; }
  const std::vector<TemplateItem>& pair() const { return pair_; }

 private:
  std::vector<TemplateItem> single_, pair_;
};

}  // namespace text
}  // namespace tailor
