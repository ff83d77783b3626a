// tailor/text/wordpiece.hpp: stage 3 of the tokenizer, the WordPiece model, and its vocab.
//
// Follows HF tokenizers' WordPiece (tokenizers/src/models/wordpiece/mod.rs, `tokenize`):
// greedy longest-match-first over each word; pieces after the first are looked up with the
// continuing-subword prefix ("##"); a word of more than max_input_chars_per_word (100)
// characters, or with any position where no piece matches, is one unk token covering the
// whole word.
//
// The reference tries every shorter substring in turn (a hash lookup and a string copy
// each). Here the vocab is a double-array trie over UTF-8 bytes (Aoe 1989; the layout of
// darts): one walk from each piece's start finds the longest match in as many steps as the
// match is long, with no allocation. A vocab token is valid UTF-8, so a byte match always
// ends on a character boundary, as the reference's character-by-character shortening does.
//
// Vocab files: one token a line, id = line number, as WordPiece::read_file reads them
// (lines split on "\n" or "\r\n", trailing whitespace trimmed (Rust str::trim_end); a token
// that appears twice gets the later id). Invalid UTF-8 is refused, as there.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tailor/core/error.hpp"
#include "tailor/text/unicode.hpp"
#include "tailor/text/utf8.hpp"

namespace tailor::text {

/// A double-array trie over bytes mapping keys to non-negative values.
class ByteTrie {
 public:
  static constexpr int32_t kNone = -1;

  /// Builds from (key, value) pairs with distinct keys; empty keys are ignored.
  void build(std::vector<std::pair<std::string_view, int32_t>> keys) {
    std::sort(keys.begin(), keys.end());
    nodes_.clear();
    used_.clear();
    next_free_.clear();
    prev_free_.clear();
    free_head_ = free_tail_ = -1;
    ensure(1024);
    take(0);  // the root
    nodes_[0] = Node{0, -2, kNone};  // -2: used, nobody's child
    struct Job {
      size_t lo, hi, depth;
      int32_t node;
    };
    std::vector<Job> stack;
    if (!keys.empty()) stack.push_back({0, keys.size(), 0, 0});
    std::vector<std::pair<unsigned char, std::pair<size_t, size_t>>> kids;
    while (!stack.empty()) {
      const Job j = stack.back();
      stack.pop_back();
      size_t lo = j.lo;
      if (keys[lo].first.size() == j.depth) {  // sorted: the key ending here comes first
        nodes_[size_t(j.node)].value = keys[lo].second;
        ++lo;
      }
      kids.clear();
      for (size_t i = lo; i < j.hi;) {
        const unsigned char b = static_cast<unsigned char>(keys[i].first[j.depth]);
        size_t k = i + 1;
        while (k < j.hi && static_cast<unsigned char>(keys[k].first[j.depth]) == b) ++k;
        kids.push_back({b, {i, k}});
        i = k;
      }
      if (kids.empty()) continue;
      const int32_t base = find_base(kids);
      nodes_[size_t(j.node)].base = base;
      for (const auto& [b, range] : kids) {
        const size_t t = size_t(base) + b;
        nodes_[t].check = j.node;
        take(t);
        stack.push_back({range.first, range.second, j.depth + 1, int32_t(t)});
      }
    }
    // Trim unused cells at the end (next() bounds-checks) and drop the build state.
    size_t last = 0;
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (nodes_[i].check != -1) last = i;
    nodes_.resize(last + 1);
    nodes_.shrink_to_fit();
    used_ = {};
    next_free_ = {};
    prev_free_ = {};
  }

  /// The state after byte b from state s, or kNone.
  int32_t next(int32_t s, unsigned char b) const {
    const uint32_t t = uint32_t(nodes_[size_t(s)].base) + b;
    return t < nodes_.size() && nodes_[t].check == s ? int32_t(t) : kNone;
  }
  /// The value stored at state s (a key ends there), or kNone.
  int32_t value(int32_t s) const { return nodes_[size_t(s)].value; }
  static constexpr int32_t root() { return 0; }

  /// The state after walking `bytes` from s, or kNone.
  int32_t walk(int32_t s, std::string_view bytes) const {
    for (char ch : bytes) {
      if (s == kNone) return kNone;
      s = next(s, static_cast<unsigned char>(ch));
    }
    return s;
  }
  /// The value of an exact key, or kNone.
  int32_t find(std::string_view key) const {
    const int32_t s = walk(root(), key);
    return s == kNone ? kNone : value(s);
  }
  size_t size_bytes() const { return nodes_.size() * sizeof(Node); }

 private:
  struct Node {
    int32_t base;   // children of this node are at base + byte
    int32_t check;  // the parent of this cell; -1: free
    int32_t value;  // the key's value when a key ends here, else kNone
  };

  // The smallest base at which every child's cell is free. Free cells form a doubly linked
  // list, so the search skips used cells; most nodes have one child and take the first.
  template <class Kids>
  int32_t find_base(const Kids& kids) {
    const size_t first = kids.front().first;
    int64_t pos = free_head_;
    while (true) {
      if (pos < 0) {  // past the last free cell: grow, continue with the new cells
        const size_t old = nodes_.size();
        ensure(old + 257);
        pos = int64_t(old);
        continue;
      }
      if (size_t(pos) > first) {
        const size_t base = size_t(pos) - first;
        ensure(base + 257);
        bool ok = true;
        for (const auto& k : kids)
          if (used_[base + k.first]) { ok = false; break; }
        if (ok) return int32_t(base);
      }
      pos = next_free_[size_t(pos)];
    }
  }
  void ensure(size_t n) {
    if (n <= nodes_.size()) return;
    const size_t old = nodes_.size(), cap = std::max(n, old + old / 2 + 256);
    nodes_.resize(cap, Node{0, -1, kNone});
    used_.resize(cap, 0);
    next_free_.resize(cap, -1);
    prev_free_.resize(cap, -1);
    for (size_t i = old; i < cap; ++i) {  // append the new cells to the free list
      prev_free_[i] = i == old ? free_tail_ : int64_t(i) - 1;
      next_free_[i] = i + 1 < cap ? int64_t(i) + 1 : -1;
    }
    if (free_tail_ >= 0) next_free_[size_t(free_tail_)] = int64_t(old);
    else free_head_ = int64_t(old);
    free_tail_ = int64_t(cap) - 1;
  }
  void take(size_t t) {
    used_[t] = 1;
    const int64_t p = prev_free_[t], n = next_free_[t];
    if (p >= 0) next_free_[size_t(p)] = n; else free_head_ = n;
    if (n >= 0) prev_free_[size_t(n)] = p; else free_tail_ = p;
  }

  std::vector<Node> nodes_;
  std::vector<uint8_t> used_;  // build only
  std::vector<int64_t> next_free_, prev_free_;
  int64_t free_head_ = -1, free_tail_ = -1;
};

/// A WordPiece vocab: token <-> id, with the trie the model walks.
class Vocab {
 public:
  /// Parses vocab.txt text; `where` names it in errors.
  static Vocab from_text(std::string_view text, const std::string& where = "vocab") {
    Vocab v;
    const CodepointTable& t = CodepointTable::get();
    size_t line_no = 0, pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string_view::npos) nl = text.size();
      std::string_view line = text.substr(pos, nl - pos);
      pos = nl + 1;
      ++line_no;
      if (!is_valid_utf8(line))
        ::tailor::detail::fail(ErrorCode::format, where + ": line " + std::to_string(line_no) + " is not valid UTF-8",
                     "a vocab is UTF-8 text, one token a line");
      v.tokens_.emplace_back(trim_end(line, t));
      TAILOR_CHECK(v.tokens_.size() <= kMaxTokens, ErrorCode::limit,
                   where + ": more than " + std::to_string(kMaxTokens) + " tokens", "is this a vocab file?");
    }
    TAILOR_CHECK(!v.tokens_.empty(), ErrorCode::format, where + " is empty", "a vocab has one token a line");
    v.build_index(where);
    return v;
  }

  /// From (token, id) pairs, e.g. tokenizer.json's model.vocab. Ids need not be contiguous.
  static Vocab from_pairs(const std::vector<std::pair<std::string, int64_t>>& pairs, const std::string& where) {
    Vocab v;
    int64_t max_id = -1;
    for (const auto& [tok, id] : pairs) {
      TAILOR_CHECK(id >= 0 && id < int64_t(kMaxTokens), ErrorCode::format,
                   where + ": token '" + tok + "' has id " + std::to_string(id), "ids are 0..10M");
      TAILOR_CHECK(is_valid_utf8(tok), ErrorCode::format, where + ": a token is not valid UTF-8", "");
      max_id = std::max(max_id, id);
    }
    TAILOR_CHECK(max_id >= 0, ErrorCode::format, where + " is empty", "");
    // Ids index a table: refuse a few tokens with huge ids rather than allocate for them.
    TAILOR_CHECK(size_t(max_id) < 2 * pairs.size() + 1024, ErrorCode::format,
                 where + ": ids go up to " + std::to_string(max_id) + " for " + std::to_string(pairs.size()) +
                     " tokens",
                 "a vocab's ids are 0..n-1");
    v.tokens_.assign(size_t(max_id + 1), std::string());
    std::vector<bool> seen(size_t(max_id + 1), false);
    for (const auto& [tok, id] : pairs) {
      TAILOR_CHECK(!seen[size_t(id)], ErrorCode::format,
                   where + ": id " + std::to_string(id) + " is given to two tokens", "");
      seen[size_t(id)] = true;
      v.tokens_[size_t(id)] = tok;
    }
    v.build_index(where, &seen);
    return v;
  }

  /// The id of a token, or -1.
  int32_t id(std::string_view token) const { return trie_.find(token); }
  /// The token of an id (an empty string for an id that names no token).
  const std::string& token(int32_t id) const {
    TAILOR_CHECK(id >= 0 && size_t(id) < tokens_.size(), ErrorCode::invalid_argument,
                 "token id " + std::to_string(id) + " is outside the vocab (0.." + std::to_string(tokens_.size()) + ")",
                 "");
    return tokens_[size_t(id)];
  }
  /// Number of ids (the largest id + 1).
  size_t size() const { return tokens_.size(); }
  const ByteTrie& trie() const { return trie_; }

  static constexpr size_t kMaxTokens = 10'000'000;

 private:
  static std::string_view trim_end(std::string_view line, const CodepointTable& t) {
    // Rust str::trim_end: drop trailing characters with char::is_whitespace.
    size_t end = line.size();
    while (end > 0) {
      size_t start = end - 1;
      while (start > 0 && (static_cast<unsigned char>(line[start]) & 0xC0) == 0x80) --start;
      const auto* p = reinterpret_cast<const unsigned char*>(line.data()) + start;
      const char32_t c = decode_utf8(p, reinterpret_cast<const unsigned char*>(line.data()) + end);
      if (!(t.info(c) & kCpWhitespace)) break;
      end = start;
    }
    return line.substr(0, end);
  }

  void build_index(const std::string& where, const std::vector<bool>* present = nullptr) {
    // Later duplicates win (HashMap::insert in the reference): keep the last id per token.
    std::vector<std::pair<std::string_view, int32_t>> keys;
    keys.reserve(tokens_.size());
    for (size_t i = 0; i < tokens_.size(); ++i)
      if (!present || (*present)[i]) keys.push_back({tokens_[i], int32_t(i)});
    std::stable_sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::pair<std::string_view, int32_t>> unique;
    unique.reserve(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i].first.empty()) continue;  // never looked up: a piece is never empty
      if (i + 1 < keys.size() && keys[i + 1].first == keys[i].first) continue;
      unique.push_back(keys[i]);
    }
    (void)where;
    trie_.build(std::move(unique));
  }

  std::vector<std::string> tokens_;
  ByteTrie trie_;
};

struct WordPieceOptions {
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  size_t max_input_chars_per_word = 100;
};

/// One piece of a word: a vocab id and its byte range in the word.
struct WordPieceToken {
  int32_t id;
  uint32_t begin, end;
};

class WordPiece {
 public:
  WordPiece() = default;
  WordPiece(Vocab vocab, WordPieceOptions opt, const std::string& where = "vocab")
      : vocab_(std::move(vocab)), opt_(std::move(opt)) {
    unk_id_ = vocab_.id(opt_.unk_token);
    TAILOR_CHECK(unk_id_ >= 0, ErrorCode::format, where + " has no unk token '" + opt_.unk_token + "'",
                 "a WordPiece vocab needs its unk token (BERT's is [UNK])");
    cont_root_ = vocab_.trie().walk(ByteTrie::root(), opt_.continuing_subword_prefix);
  }

  const Vocab& vocab() const { return vocab_; }
  const WordPieceOptions& options() const { return opt_; }
  int32_t unk_id() const { return unk_id_; }

  /// Greedy longest-match-first over one word (UTF-8 bytes, `n_chars` code points): fills
  /// `pieces` (ids and byte ranges) and returns true, or returns false when the word is one
  /// unk token: too long, or some position matches no piece.
  bool tokenize(const unsigned char* word, size_t n_bytes, size_t n_chars, std::vector<WordPieceToken>& pieces) const {
    pieces.clear();
    if (n_chars > opt_.max_input_chars_per_word) return false;
    const ByteTrie& trie = vocab_.trie();
    size_t start = 0;
    while (start < n_bytes) {
      int32_t s = start == 0 ? ByteTrie::root() : cont_root_;
      if (s == ByteTrie::kNone) return false;
      int32_t best = ByteTrie::kNone;
      size_t best_end = 0;
      for (size_t i = start; i < n_bytes; ++i) {
        s = trie.next(s, word[i]);
        if (s == ByteTrie::kNone) break;
        const int32_t v = trie.value(s);
        if (v != ByteTrie::kNone) {
          best = v;
          best_end = i + 1;
        }
      }
      if (best == ByteTrie::kNone) return false;
      pieces.push_back({best, uint32_t(start), uint32_t(best_end)});
      start = best_end;
    }
    return true;
  }

  /// The pieces of one word given as UTF-8 (a single unk token covering it, if it fails).
  std::vector<WordPieceToken> tokenize(std::string_view word) const {
    std::vector<WordPieceToken> out;
    const auto* p = reinterpret_cast<const unsigned char*>(word.data());
    if (!tokenize(p, word.size(), count_code_points(word), out)) out.assign(1, {unk_id_, 0, uint32_t(word.size())});
    return out;
  }

 private:
  Vocab vocab_;
  WordPieceOptions opt_;
  int32_t unk_id_ = -1;
  int32_t cont_root_ = ByteTrie::kNone;
};

}  // namespace tailor::text
