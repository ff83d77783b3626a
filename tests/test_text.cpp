// tests/test_text.cpp: the tokenizer's stages one at a time, then put together (label unit;
// also run under ASan+UBSan). Expected values were read off HF tokenizers 0.23.3 with the
// same tiny vocab (tokenizers.Tokenizer(WordPiece) + BertNormalizer + BertPreTokenizer +
// TemplateProcessing) or off Python's bytes.decode(errors="replace"); the full comparison
// with BertTokenizerFast is test_text_parity (label python).
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "tailor/text/tokenizer.hpp"

using namespace tailor;
using namespace tailor::text;

namespace {

// A tiny vocab: ids 0..21 in this order.
const char* kVocab =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nun\n##aff\n##able\na\n##b\nb\nhello\nworld\n,\n!\n.\n\xe6\x97\xa5\n##a\n\xc3\xa9\n"
    "e\n##\xc3\xa9\nx\n";

BertTokenizer tiny(bool lower = true, int strip = -1) {
  BertTokenizerConfig c;
  c.do_lower_case = lower;
  c.strip_accents = strip;
  return BertTokenizer::from_vocab(kVocab, c);
}

using Offsets = std::vector<std::pair<int32_t, int32_t>>;

std::u32string cps(std::initializer_list<char32_t> l) { return std::u32string(l); }

}  // namespace

TEST_CASE("utf8: invalid bytes become U+FFFD as Python's errors='replace' does") {
  struct Case {
    std::string in;
    std::u32string want;
  };
  const char32_t R = kReplacementChar;
  const Case cases[] = {
      {"\x80", cps({R})},
      {"\xc2", cps({R})},
      {"\xc2" "A", cps({R, U'A'})},
      {"\xe0\x80\x80", cps({R, R, R})},  // overlong
      {"\xe2\x82", cps({R})},             // truncated: one U+FFFD for the prefix
      {"\xed\xa0\x80", cps({R, R, R})},  // a surrogate
      {"\xf0\x9f\x98", cps({R})},
      {"\xf0\x9f\x98" "A", cps({R, U'A'})},
      {"\xf4\x90\x80\x80", cps({R, R, R, R})},  // past U+10FFFF
      {"\xf5", cps({R})},
      {"\xc0\xaf", cps({R, R})},
      {"\xe1\x80\xe1\x80\x80", cps({R, 0x1000})},
      {"a\xff" "b", cps({U'a', R, U'b'})},
      {"\xef\xbf\xbd", cps({R})},
      {"\xc3\xa9\xf0\x9f\x98\x80", cps({0xE9, 0x1F600})},
      {std::string("a\0b", 3), cps({U'a', 0, U'b'})},  // NUL does not end the text
  };
  for (const Case& c : cases) {
    CHECK(decode_utf8(c.in) == c.want);
    CHECK(count_code_points(c.in) == c.want.size());
  }
  CHECK(is_valid_utf8("\xc3\xa9\xef\xbf\xbd"));
  CHECK_FALSE(is_valid_utf8("\xc3"));
  CHECK(encode_utf8(U"\u00e9\U0001F600") == "\xc3\xa9\xf0\x9f\x98\x80");
  // The byte cap moves back to the start of the sequence it would split.
  CHECK(utf8_cut("ab\xc3\xa9", 3) == 2);
  CHECK(utf8_cut("ab\xe6\x97\xa5x", 4) == 2);
  CHECK(utf8_cut("ab\xe6\x97\xa5x", 5) == 5);
  CHECK(utf8_cut("abc", 10) == 3);
}

TEST_CASE("normalizer: clean_text, CJK spacing, strip_accents, lowercase, with alignments") {
  const Normalizer bert;  // uncased BERT: all four steps
  {
    const NormalizedText n = bert.normalize(std::string("A\0b\tC\x01\xe3\x80\x80", 10));
    CHECK(n.text == U"ab c ");
    CHECK(n.source == std::vector<uint32_t>{0, 2, 3, 4, 6});
  }
  {
    const NormalizedText n = bert.normalize("x\xe6\x97\xa5y");  // x日y
    CHECK(n.text == U"x \u65e5 y");
    CHECK(n.source == std::vector<uint32_t>{0, 1, 1, 1, 2});
  }
  {
    const NormalizedText n = bert.normalize("\xc3\x80\xc3\xa9");  // Àé -> ae
    CHECK(n.text == U"ae");
    CHECK(n.source == std::vector<uint32_t>{0, 1});
  }
  {
    NormalizerOptions o;
    o.strip_accents = false;  // lowercase alone: İ -> i + U+0307, both from the İ
    const NormalizedText n = Normalizer(o).normalize("\xc4\xb0x");
    CHECK(n.text == U"i\u0307x");
    CHECK(n.source == std::vector<uint32_t>{0, 0, 1});
  }
  {
    // Canonical reordering moves characters but not alignments (positional, as the
    // reference's NormalizedString::transform does): a U+0301 (230) U+0316 (220).
    NormalizerOptions o{false, false, false, false, true};
    const NormalizedText n = Normalizer(o).normalize("a\xcc\x81\xcc\x96");
    CHECK(n.text == U"a\u0316\u0301");
    CHECK(n.source == std::vector<uint32_t>{0, 1, 2});
  }
  {
    // A run of marks longer than the insertion-sort limit takes the counting sort: stable.
    NormalizerOptions o{false, false, false, false, true};
    std::string in = "a";
    std::u32string want = U"a";
    for (int i = 0; i < 40; ++i) in += "\xcc\x81\xcc\x96";  // 230, 220 alternating
    for (int i = 0; i < 40; ++i) want += U'\u0316';
    for (int i = 0; i < 40; ++i) want += U'\u0301';
    CHECK(Normalizer(o).normalize(in).text == want);
  }
  {
    NormalizerOptions cased;
    cased.lowercase = false;
    cased.strip_accents = false;
    CHECK(Normalizer(cased).normalize("\xc3\x80" "B").text == U"\u00c0B");
  }
}

TEST_CASE("pre-tokenizer: whitespace splits, punctuation is isolated") {
  const PreTokenizer pre;
  const std::u32string t = U"hello,  world!x\u3000y\u00bfz";
  const auto w = pre.split(t);
  std::vector<std::u32string> words;
  for (const auto& p : w) words.push_back(t.substr(p.begin, p.end - p.begin));
  CHECK(words == std::vector<std::u32string>{U"hello", U",", U"world", U"!", U"x", U"y", U"\u00bf", U"z"});
  CHECK(pre.classify(U'$') == PreTokenizer::Action::isolate);  // ASCII punctuation includes symbols
  CHECK(pre.classify(U'\u00a0') == PreTokenizer::Action::split);
  CHECK(pre.classify(U'a') == PreTokenizer::Action::append);
}

TEST_CASE("wordpiece: greedy longest match, ## pieces, unk words") {
  const WordPiece wp(Vocab::from_text(kVocab), WordPieceOptions{});
  auto ids = [&](const std::string& w) {
    std::vector<int32_t> out;
    for (const auto& t : wp.tokenize(w)) out.push_back(t.id);
    return out;
  };
  CHECK(ids("unaffable") == std::vector<int32_t>{5, 6, 7});
  CHECK(ids("unaffablex") == std::vector<int32_t>{1});  // one unmatched piece: the whole word is [UNK]
  CHECK(ids("abab") == std::vector<int32_t>{8, 9, 17, 9});
  CHECK(ids(std::string(100, 'a')).size() == 100);
  CHECK(ids(std::string(101, 'a')) == std::vector<int32_t>{1});  // over max_input_chars_per_word
  const auto pieces = wp.tokenize("unaffable");
  CHECK(pieces[1].begin == 2);
  CHECK(pieces[1].end == 5);
  CHECK(wp.vocab().id("##aff") == 6);
  CHECK(wp.vocab().id("##af") == -1);
  CHECK(wp.vocab().token(7) == "##able");
}

TEST_CASE("vocab: lines, trailing whitespace, duplicates, bad input") {
  const Vocab v = Vocab::from_text("a\r\nb \n\nc\xe3\x80\x80\na\n");
  CHECK(v.size() == 5);
  CHECK(v.id("a") == 4);  // the later line wins, as in the reference's HashMap
  CHECK(v.id("b") == 1);
  CHECK(v.id("c") == 3);  // U+3000 is trimmed like Rust's trim_end
  CHECK(v.token(0) == "a");
  CHECK_THROWS_AS(Vocab::from_text("ok\n\xff\n"), Error);
  CHECK_THROWS_AS(Vocab::from_text(""), Error);
  CHECK_THROWS_AS(v.token(5), Error);
  CHECK_THROWS_AS(BertTokenizer::from_vocab("[CLS]\n[SEP]\nx\n"), Error);  // no [UNK]
  CHECK_THROWS_AS(BertTokenizer::from_vocab("[UNK]\n[SEP]\nx\n"), Error);  // no [CLS]
}

TEST_CASE("post-processor: truncation strategies as the reference does them") {
  const PostProcessor pp = PostProcessor::bert(101, 102);
  auto seq = [](int n, int id) {
    std::vector<Token> v;
    for (int i = 0; i < n; ++i) v.push_back({id, i, i + 1});
    return v;
  };
  struct Case {
    int na, nb;  // nb < 0: single
    int64_t max_length;
    TruncationStrategy s;
    int want_a, want_b;  // -1: error
  };
  using T = TruncationStrategy;
  const Case cases[] = {
      {5, 2, 1, T::longest_first, 5, 2},  // max_length under the 3 special tokens: untouched
      {5, 2, 3, T::longest_first, 0, 0},  {5, 2, 4, T::longest_first, 1, 0},
      {5, 2, 5, T::longest_first, 1, 1},  {5, 2, 6, T::longest_first, 2, 1},
      {5, 2, 8, T::longest_first, 3, 2},  {5, 2, 3, T::only_first, 0, 0},
      {5, 2, 4, T::only_first, -1, -1},   {5, 2, 6, T::only_first, 1, 2},
      {5, 2, 6, T::only_second, -1, -1},  {3, -1, 1, T::longest_first, 3, -1},
      {3, -1, 2, T::longest_first, 0, -1}, {3, -1, 3, T::longest_first, 1, -1},
      {3, -1, 3, T::only_second, -1, -1},
  };
  for (const Case& c : cases) {
    auto a = seq(c.na, 1);
    auto b = seq(std::max(c.nb, 0), 2);
    std::vector<Token>* pb = c.nb >= 0 ? &b : nullptr;
    if (c.want_a < 0) {
      CHECK_THROWS_AS(pp.truncate(a, pb, c.max_length, c.s, true), Error);
      continue;
    }
    pp.truncate(a, pb, c.max_length, c.s, true);
    CHECK(int(a.size()) == c.want_a);
    if (pb) CHECK(int(b.size()) == c.want_b);
  }
  Encoding e;
  auto a = seq(2, 7);
  auto b = seq(1, 8);
  pp.assemble(a, &b, true, e);
  CHECK(e.ids == std::vector<int32_t>{101, 7, 7, 102, 8, 102});
  CHECK(e.type_ids == std::vector<int32_t>{0, 0, 0, 0, 1, 1});
  CHECK(e.offsets == Offsets{{0, 0}, {0, 1}, {1, 2}, {0, 0}, {0, 1}, {0, 0}});
  pp.assemble(a, &b, false, e);
  CHECK(e.ids == std::vector<int32_t>{7, 7, 8});
  CHECK(e.type_ids == std::vector<int32_t>{0, 0, 1});
  PostProcessor::pad(e, 5, 0);
  CHECK(e.ids == std::vector<int32_t>{7, 7, 8, 0, 0});
  CHECK(e.attention_mask == std::vector<int32_t>{1, 1, 1, 0, 0});
  CHECK(e.offsets.back() == std::pair<int32_t, int32_t>{0, 0});
}

TEST_CASE("BertTokenizer: the stages together, special tokens in text, offsets") {
  const BertTokenizer tok = tiny();
  Encoding e = tok.encode("Hello, World!");
  CHECK(e.ids == std::vector<int32_t>{2, 11, 13, 12, 14, 3});
  CHECK(e.offsets == Offsets{{0, 0}, {0, 5}, {5, 6}, {7, 12}, {12, 13}, {0, 0}});
  CHECK(e.attention_mask == std::vector<int32_t>(6, 1));
  e = tok.encode("hello[MASK]world");  // literal special tokens: matched before normalising
  CHECK(e.ids == std::vector<int32_t>{2, 11, 4, 12, 3});
  CHECK(e.offsets == Offsets{{0, 0}, {0, 5}, {5, 11}, {11, 16}, {0, 0}});
  e = tok.encode("xa\xe6\x97\xa5" "b");
  CHECK(e.ids == std::vector<int32_t>{2, 21, 17, 16, 10, 3});
  CHECK(e.offsets == Offsets{{0, 0}, {0, 1}, {1, 2}, {2, 3}, {3, 4}, {0, 0}});
  CHECK(tok.encode("\xc3\x89").ids == std::vector<int32_t>{2, 19, 3});  // É -> e
  CHECK(tok.encode("\xc3\x89", {}).offsets[1] == std::pair<int32_t, int32_t>{0, 1});
  // Empty, whitespace only, control characters only: [CLS] [SEP].
  for (const std::string& s : {std::string(), std::string(" \t\n"), std::string("\x00\x01 \xe3\x80\x80 ", 8)})
    CHECK(tok.encode(s).ids == std::vector<int32_t>{2, 3});
  // Invalid UTF-8: U+FFFD is dropped, but counted in offsets.
  e = tok.encode("\xff" "a \xc3");
  CHECK(e.ids == std::vector<int32_t>{2, 8, 3});
  CHECK(e.offsets[1] == std::pair<int32_t, int32_t>{1, 2});
  // Cased: accents kept, case kept.
  const BertTokenizer cased = tiny(false);
  CHECK(cased.encode("\xc3\xa9 A").ids == std::vector<int32_t>{2, 18, 1, 3});
  // Lowercase without stripping: İ -> i̇ (2 characters, one input character).
  const BertTokenizer keep = tiny(true, 0);
  e = keep.encode("\xc4\xb0x");
  CHECK(e.ids == std::vector<int32_t>{2, 1, 3});
  CHECK(e.offsets[1] == std::pair<int32_t, int32_t>{0, 2});
  // Pairs; an empty second text is no second text (BertTokenizerFast.__call__).
  e = tok.encode_pair("un", "a b");
  CHECK(e.ids == std::vector<int32_t>{2, 5, 3, 8, 10, 3});
  CHECK(e.type_ids == std::vector<int32_t>{0, 0, 0, 1, 1, 1});
  CHECK(e.offsets[4] == std::pair<int32_t, int32_t>{2, 3});
  CHECK(tok.encode_pair("un", "") == tok.encode("un"));
  CHECK(tok.token_to_id("hello") == 11);
  CHECK(tok.token_to_id("nope") == -1);
  CHECK(tok.id_to_token(4) == "[MASK]");
  CHECK(tok.tokenize("unaffable!") == std::vector<std::string>{"un", "##aff", "##able", "!"});
}

TEST_CASE("BertTokenizer: truncation, padding, batches") {
  const BertTokenizer tok = tiny();
  EncodeOptions o;
  o.max_length = 4;
  CHECK(tok.encode("a b a b a", o).ids == std::vector<int32_t>{2, 8, 10, 3});
  o.truncation = false;
  CHECK(tok.encode("a b a b a", o).size() == 7);
  o = EncodeOptions{};
  o.max_length = 6;
  o.padding = PaddingStrategy::max_length;
  const Encoding e = tok.encode("a", o);
  CHECK(e.ids == std::vector<int32_t>{2, 8, 3, 0, 0, 0});
  CHECK(e.attention_mask == std::vector<int32_t>{1, 1, 1, 0, 0, 0});
  o = EncodeOptions{};
  o.padding = PaddingStrategy::longest;
  o.pad_to_multiple_of = 4;
  const auto batch = tok.encode_batch(std::vector<std::string>{"a", "a b a b a", ""}, o);
  REQUIRE(batch.size() == 3);
  for (const auto& b : batch) CHECK(b.size() == 8);
  CHECK(batch[2].ids == std::vector<int32_t>{2, 3, 0, 0, 0, 0, 0, 0});
  const auto pairs = tok.encode_batch(std::vector<std::pair<std::string, std::string>>{{"a", ""}, {"a", "b"}});
  CHECK(pairs[0].ids == std::vector<int32_t>{2, 8, 3, 3});  // in a batch an empty pair text stays
  o = EncodeOptions{};
  o.truncation_strategy = TruncationStrategy::only_second;
  o.max_length = 3;
  CHECK_THROWS_AS(tok.encode("a b", o), Error);
  // A pool gives the same results.
  ThreadPool pool(2);
  std::vector<std::string> many;
  for (int i = 0; i < 100; ++i) many.push_back(std::string(size_t(i % 7), 'a') + " hello, " + std::to_string(i));
  CHECK(tok.encode_batch(many, {}, &pool) == tok.encode_batch(many));
}

TEST_CASE("BertTokenizer: bounded cost on hostile text") {
  const BertTokenizer tok = tiny();
  // A 1 MB word: one [UNK] spanning it.
  const std::string word(1 << 20, 'a');
  Encoding e = tok.encode(word);
  CHECK(e.ids == std::vector<int32_t>{2, 1, 3});
  CHECK(e.offsets[1] == std::pair<int32_t, int32_t>{0, 1 << 20});
  // 1 MB of combining marks after one letter (NFD reordering of one run): one [UNK].
  std::string marks = "a";
  while (marks.size() + 4 <= (1u << 20)) marks += "\xcc\x81\xcc\x96";
  e = tok.encode(marks);
  CHECK(e.ids == std::vector<int32_t>{2, 8, 3});  // every mark is stripped: just "a"
  const BertTokenizer cased = tiny(false);
  CHECK(cased.encode(marks).ids == std::vector<int32_t>{2, 1, 3});
  // Text over the byte cap is cut (at a sequence start) before anything else.
  Limits lim;
  lim.max_text_bytes = 8;
  const BertTokenizer capped = BertTokenizer::from_vocab(kVocab, {}, lim);
  CHECK(capped.encode("a b a b a b").ids == std::vector<int32_t>{2, 8, 10, 8, 10, 3});
  CHECK(capped.encode("a b a \xe6\x97\xa5").ids == std::vector<int32_t>{2, 8, 10, 8, 3});
}

TEST_CASE("BertTokenizer: shared by threads, identical results") {
  const BertTokenizer tok = tiny();
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i)
    texts.push_back("Hello, [MASK] world! unaffable \xc3\x89" + std::string(size_t(i % 13), 'b') + "\xcc\x81\xcc\x96");
  std::vector<Encoding> want;
  for (const auto& t : texts) want.push_back(tok.encode(t));
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&] {
      for (int rep = 0; rep < 5; ++rep)
        for (size_t i = 0; i < texts.size(); ++i)
          if (tok.encode(texts[i]) != want[i]) ++bad;
    });
  for (auto& t : threads) t.join();
  CHECK(bad == 0);
}

TEST_CASE("BertTokenizer: from tokenizer.json text") {
  const std::string json = R"({
    "added_tokens": [{"id": 4, "content": "[MASK]", "single_word": false, "lstrip": false, "rstrip": false,
                      "normalized": false, "special": true}],
    "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                   "strip_accents": null, "lowercase": true},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100,
              "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "un": 5, "##aff": 6, "##able": 7}}})";
  const BertTokenizer t = BertTokenizer::from_tokenizer_json_text(json);
  CHECK(t.encode("UNAFFABLE [MASK] [CLS]").ids == std::vector<int32_t>{2, 5, 6, 7, 4, 1, 1, 1, 3});
  CHECK_THROWS_AS(BertTokenizer::from_tokenizer_json_text("{\"model\": {\"type\": \"BPE\"}}"), Error);
  CHECK_THROWS_AS(BertTokenizer::from_tokenizer_json_text("not json"), Error);
  CHECK_THROWS_AS(BertTokenizer::from_tokenizer_json_text(std::string(200, '[')), Error);
}
