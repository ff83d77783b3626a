// tests/fuzz/fuzz_tokenizer.cpp: libFuzzer target for the text path: arbitrary bytes through
// BertTokenizer (single texts and pairs, every truncation strategy, padding, three
// normaliser configurations), and through the vocab.txt and tokenizer.json parsers.
// Anything but a tailor::Error is a bug, and so is a broken invariant:
//   - the four vectors of an Encoding have one length; ids are inside the vocab;
//   - before post-processing, every token's offsets satisfy 0 <= begin < end <= the text's
//     code points (after the byte cap), and begins never decrease;
//   - truncation never leaves more than max_length tokens (when max_length >= 3).
// Input layout: byte 0 picks the mode and options, byte 1 where a pair splits, the rest is
// the text (or the vocab / JSON to parse).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tailor/text/tokenizer.hpp"

namespace {

const char* kVocab =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n##s\nun\n##aff\n##able\na\n##a\nb\n##b\n,\n.\n!\n\xe6\x97\xa5\n"
    "\xe6\x9c\xac\n\xc3\xa9\ne\n##\xc3\xa9\n##\xcc\x81\ni\n##\xcc\x87\n\xd0\xb0\n##\xd0\xb1\n[\n]\n##[\n";

void check(bool ok) {
  if (!ok) std::abort();
}

void check_encoding(const tailor::Encoding& e, const tailor::BertTokenizer& t) {
  check(e.type_ids.size() == e.ids.size() && e.attention_mask.size() == e.ids.size() && e.offsets.size() == e.ids.size());
  for (int32_t id : e.ids) check(id >= 0 && size_t(id) < t.vocab_size());
}

void check_tokens(const tailor::BertTokenizer& t, std::string_view text) {
  std::vector<tailor::text::Token> toks;
  t.tokens_of(text, toks);
  const size_t cut = tailor::text::utf8_cut(text, size_t(t.limits().max_text_bytes));
  const int32_t n = int32_t(tailor::text::count_code_points(text.substr(0, cut)));
  int32_t prev = 0;
  for (const auto& k : toks) {
    check(k.begin >= 0 && k.begin < k.end && k.end <= n);
    check(k.begin >= prev);
    prev = k.begin;
    check(k.id >= 0 && size_t(k.id) < t.vocab_size());
  }
}

struct Tokenizers {
  tailor::BertTokenizer uncased, cased, strip_only, json;
  static tailor::BertTokenizer make(bool lower, int strip) {
    tailor::BertTokenizerConfig c;
    c.do_lower_case = lower;
    c.strip_accents = strip;
    tailor::Limits lim;
    lim.max_text_bytes = 2048;  // exercise the byte cap on longer inputs
    return tailor::BertTokenizer::from_vocab(kVocab, c, lim);
  }
};

const Tokenizers& tokenizers() {
  static const Tokenizers t{
      Tokenizers::make(true, -1), Tokenizers::make(false, -1), Tokenizers::make(false, 1),
      tailor::BertTokenizer::from_tokenizer_json_text(
          R"({"added_tokens":[{"id":4,"content":"[MASK]","normalized":false},{"id":2,"content":"[CLS]"}],
              "normalizer":{"type":"BertNormalizer","clean_text":false,"handle_chinese_chars":false,
                            "strip_accents":true,"lowercase":false},
              "pre_tokenizer":{"type":"BertPreTokenizer"},
              "post_processor":{"type":"TemplateProcessing",
                "single":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
                "pair":[{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}},
                        {"Sequence":{"id":"B","type_id":1}}],
                "special_tokens":{"[CLS]":{"id":"[CLS]","ids":[2],"tokens":["[CLS]"]}}},
              "model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##",
                       "max_input_chars_per_word":7,
                       "vocab":{"[PAD]":0,"[UNK]":1,"[CLS]":2,"[SEP]":3,"[MASK]":4,"ab":5,"##c":6,"\u00e9":7}}})")};
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t mode = data[0], split = data[1];
  const std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);

  if (mode >= 0xF0) {  // parsers
    try {
      const auto t = (mode & 1) ? tailor::BertTokenizer::from_tokenizer_json_text(rest)
                                : tailor::BertTokenizer::from_vocab(rest);
      const tailor::Encoding e = t.encode("[CLS] Hello, w\xc3\xb6rld! \xe6\x97\xa5 unaffable");
      check_encoding(e, t);
      check_tokens(t, "x [MASK] y \xcc\x81");
    } catch (const tailor::Error&) {
    }
    return 0;
  }

  const Tokenizers& ts = tokenizers();
  const tailor::BertTokenizer& t = (mode & 3) == 0 ? ts.uncased : (mode & 3) == 1 ? ts.cased
                                   : (mode & 3) == 2 ? ts.strip_only : ts.json;
  check_tokens(t, rest);

  tailor::EncodeOptions opt;
  opt.max_length = int64_t(split % 40);  // 0: the model_max_length
  opt.truncation = (mode & 4) == 0;
  opt.truncation_strategy = static_cast<tailor::TruncationStrategy>((mode >> 3) % 3);
  opt.add_special_tokens = (mode & 0x20) == 0;
  opt.padding = (mode & 0x40) ? tailor::PaddingStrategy::max_length : tailor::PaddingStrategy::none;
  try {
    tailor::Encoding e;
    if (mode & 0x80) {
      const size_t cut = rest.empty() ? 0 : split % rest.size();
      e = t.encode_pair(rest.substr(0, cut), rest.substr(cut), opt);
    } else {
      e = t.encode(rest, opt);
    }
    check_encoding(e, t);
    if (opt.truncation && opt.max_length >= 3 && opt.padding == tailor::PaddingStrategy::none)
      check(e.size() <= size_t(opt.max_length));
  } catch (const tailor::Error&) {
    // only_first / only_second that cannot fit, padding without [PAD]: documented errors
  }
  return 0;
}
