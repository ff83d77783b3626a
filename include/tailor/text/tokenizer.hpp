// tailor/text/tokenizer.hpp: BertTokenizer, the four stages put together.
//
// Gives what HF transformers' BertTokenizerFast (the tokenizers library) gives: input ids,
// token type ids, attention mask and offsets (in code points), for any input. The pipeline
// is tokenizers' TokenizerImpl::encode_single_sequence + post_process:
//   bytes --(byte cap, Limits::max_text_bytes)--> added-token split (added_tokens.hpp)
//     --> per segment: UTF-8 decode with replacement (utf8.hpp) -> BertNormalizer
//         (normalizer.hpp) -> BertPreTokenizer (pre_tokenizer.hpp) -> WordPiece
//         (wordpiece.hpp)
//     --> truncation, [CLS]/[SEP], type ids, mask, padding (post_processor.hpp).
// The stages stream into each other: characters flow from the decoder through the
// normaliser into the current word, and a word goes to WordPiece when it ends, so nothing
// but the output is sized by the text. ASCII takes a shortcut through a 128-entry table
// built at construction from the same stages (so it cannot disagree with them).
//
// Behaviour beyond the reference (documented in README "Tokenizer"):
//   - invalid UTF-8 is replaced as Python's bytes.decode("utf-8", errors="replace") does;
//   - text longer than Limits::max_text_bytes (1 MiB) is cut there (moved back to the start
//     of a UTF-8 sequence) before anything else, which bounds time and memory;
//   - encode_pair(a, "") is encode(a), as BertTokenizerFast.__call__ treats an empty
//     text_pair as absent; encode_batch of pairs keeps an empty second text (as the batch
//     call does).
//
// A BertTokenizer is immutable after construction and may be shared by any number of
// threads; per-call scratch is thread_local.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tailor/core/error.hpp"
#include "tailor/core/limits.hpp"
#include "tailor/core/thread_pool.hpp"
#include "tailor/io/bundle.hpp"
#include "tailor/io/config.hpp"
#include "tailor/io/file.hpp"
#include "tailor/models/bert_config.hpp"
#include "tailor/text/added_tokens.hpp"
#include "tailor/text/normalizer.hpp"
#include "tailor/text/post_processor.hpp"
#include "tailor/text/pre_tokenizer.hpp"
#include "tailor/text/unicode.hpp"
#include "tailor/text/utf8.hpp"
#include "tailor/text/wordpiece.hpp"

namespace tailor {

class BertTokenizer {
 public:
  /// From a vocab.txt file and BERT's tokenizer flags.
  static BertTokenizer from_vocab_file(const std::string& path, const BertTokenizerConfig& cfg = {},
                                       const Limits& limits = {}) {
    return from_vocab(read_text_file(path, size_t(256) << 20), cfg, limits, path);
  }
  /// From vocab.txt text (one token a line) and BERT's tokenizer flags; `where` names it in
  /// errors. For a tryon bundle's text tower, parse the flags from config()["text"].
  static BertTokenizer from_vocab(std::string_view vocab_text, const BertTokenizerConfig& cfg = {},
                                  const Limits& limits = {}, const std::string& where = "vocab") {
    text::Vocab vocab = text::Vocab::from_text(vocab_text, where);
    text::NormalizerOptions n;
    n.clean_text = true;
    n.handle_chinese_chars = cfg.tokenize_chinese_chars;
    n.lowercase = cfg.do_lower_case;
    n.strip_accents = cfg.strip_accents < 0 ? cfg.do_lower_case : cfg.strip_accents > 0;
    BertTokenizer t;
    t.config_ = cfg;
    t.limits_ = limits;
    t.normalizer_ = text::Normalizer(n);
    t.wordpiece_ = text::WordPiece(std::move(vocab), text::WordPieceOptions{}, where);
    const text::Vocab& v = t.wordpiece_.vocab();
    t.cls_id_ = t.require(v, "[CLS]", where);
    t.sep_id_ = t.require(v, "[SEP]", where);
    t.unk_id_ = t.wordpiece_.unk_id();
    t.pad_id_ = v.id("[PAD]");
    t.mask_id_ = v.id("[MASK]");
    // BertTokenizerFast's added tokens: the five special tokens, matched in raw text.
    for (const char* s : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"})
      if (v.id(s) >= 0) t.added_.add(s, v.id(s));
    t.post_ = text::PostProcessor::bert(t.cls_id_, t.sep_id_);
    t.finish();
    return t;
  }

  /// From a bundle: tailor.vocab and the config's "tokenizer" flags ("bert" bundles; for
  /// "tryon" bundles the text tower's, config()["text"]).
  static BertTokenizer from_bundle(const Bundle& b, const Limits& limits = {}) {
    return from_vocab(b.vocab(), config_from_bundle(b), limits, b.path() + ": tailor.vocab");
  }
  /// The tokenizer flags a bundle records (BertConfig "tokenizer"; the text tower's for tryon).
  static BertTokenizerConfig config_from_bundle(const Bundle& b) {
    TAILOR_CHECK(!b.vocab().empty(), ErrorCode::format, b.path() + " has no tailor.vocab",
                 b.arch() == "resnet50" ? "a resnet50 bundle has no text tower" : "convert the checkpoint again");
    const json* cfg = &b.config();
    std::string where = b.path() + ": tailor.config";
    if (b.arch() == "tryon") {
      TAILOR_CHECK(cfg->contains("text") && (*cfg)["text"].is_object(), ErrorCode::format,
                   where + " has no \"text\" object", "convert the checkpoint again");
      cfg = &(*cfg)["text"];
      where += ".text";
    }
    return BertConfig::from_json(*cfg, where).tokenizer;
  }

  /// From an HF tokenizer.json (a WordPiece model with BertNormalizer and BertPreTokenizer).
  /// model_max_length comes from a tokenizer_config.json next to it, else 512. Its
  /// "truncation" and "padding" are ignored, as BertTokenizerFast ignores them.
  static BertTokenizer from_tokenizer_json(const std::string& path, const Limits& limits = {}) {
    BertTokenizerConfig cfg;
    const size_t slash = path.find_last_of('/');
    const std::string cfg_path = (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) +
                                 "tokenizer_config.json";
    if (std::FILE* f = std::fopen(cfg_path.c_str(), "rb")) {
      std::fclose(f);
      const json j = json::parse(read_text_file(cfg_path, size_t(16) << 20), nullptr, false);
      if (j.is_object() && j.contains("model_max_length") && j["model_max_length"].is_number_integer()) {
        const int64_t m = j["model_max_length"].get<int64_t>();
        if (m >= 1 && m <= (int64_t(1) << 31)) cfg.model_max_length = m;  // HF writes 1e30 for "none"
      }
    }
    return from_tokenizer_json_text(read_text_file(path, size_t(256) << 20), path, cfg.model_max_length, limits);
  }
  /// From tokenizer.json text; `where` names it in errors.
  static BertTokenizer from_tokenizer_json_text(std::string_view text, const std::string& where = "tokenizer.json",
                                                int64_t model_max_length = 512, const Limits& limits = {}) {
    TAILOR_CHECK(detail::json_nesting_within(text, 64), ErrorCode::format, where + " nests too deeply", "");
    const json j = json::parse(text.begin(), text.end(), nullptr, false);
    TAILOR_CHECK(j.is_object(), ErrorCode::format, where + " is not a JSON object", "is it a tokenizer.json?");
    auto bad = [&](const std::string& what) -> void {
      detail::fail(ErrorCode::unsupported, where + ": " + what,
                   "tailor reads BERT WordPiece tokenizers (BertNormalizer, BertPreTokenizer, WordPiece)");
    };
    auto str = [&](const json& o, const char* key, const std::string& dflt) -> std::string {
      if (!o.contains(key) || o[key].is_null()) return dflt;
      if (!o[key].is_string()) bad(std::string("'") + key + "' is not a string");
      return o[key].get<std::string>();
    };
    auto flag = [&](const json& o, const char* key, bool dflt) -> bool {
      if (!o.contains(key) || o[key].is_null()) return dflt;
      if (!o[key].is_boolean()) bad(std::string("'") + key + "' is not true/false");
      return o[key].get<bool>();
    };

    // model
    if (!j.contains("model") || !j["model"].is_object()) bad("no \"model\" object");
    const json& m = j["model"];
    if (str(m, "type", "WordPiece") != "WordPiece") bad("model type '" + str(m, "type", "") + "' is not WordPiece");
    if (!m.contains("vocab") || !m["vocab"].is_object()) bad("model.vocab is not an object");
    std::vector<std::pair<std::string, int64_t>> pairs;
    pairs.reserve(m["vocab"].size());
    for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) {
      if (!it.value().is_number_integer()) bad("model.vocab['" + it.key() + "'] is not an integer");
      pairs.push_back({it.key(), it.value().get<int64_t>()});
    }
    text::WordPieceOptions wo;
    wo.unk_token = str(m, "unk_token", "[UNK]");
    wo.continuing_subword_prefix = str(m, "continuing_subword_prefix", "##");
    if (m.contains("max_input_chars_per_word") && !m["max_input_chars_per_word"].is_null()) {
      if (!m["max_input_chars_per_word"].is_number_integer() || m["max_input_chars_per_word"].get<int64_t>() < 0 ||
          m["max_input_chars_per_word"].get<int64_t>() > 1'000'000)
        bad("model.max_input_chars_per_word is not an integer in 0..1000000");
      wo.max_input_chars_per_word = size_t(m["max_input_chars_per_word"].get<int64_t>());
    }

    // normalizer
    text::NormalizerOptions n{false, false, false, false};
    BertTokenizerConfig cfg;
    cfg.model_max_length = model_max_length;
    if (j.contains("normalizer") && !j["normalizer"].is_null()) {
      const json& nj = j["normalizer"];
      if (!nj.is_object() || str(nj, "type", "") != "BertNormalizer")
        bad("normalizer '" + (nj.is_object() ? str(nj, "type", "?") : std::string("?")) + "' is not BertNormalizer");
      n.clean_text = flag(nj, "clean_text", true);
      n.handle_chinese_chars = flag(nj, "handle_chinese_chars", true);
      n.lowercase = flag(nj, "lowercase", true);
      n.strip_accents = flag(nj, "strip_accents", n.lowercase);
      cfg.do_lower_case = n.lowercase;
      cfg.tokenize_chinese_chars = n.handle_chinese_chars;
      cfg.strip_accents = nj.contains("strip_accents") && !nj["strip_accents"].is_null() ? int(n.strip_accents) : -1;
    } else {
      cfg.do_lower_case = false;
      cfg.tokenize_chinese_chars = false;
      cfg.strip_accents = 0;
    }
    // pre_tokenizer
    if (!j.contains("pre_tokenizer") || !j["pre_tokenizer"].is_object() ||
        str(j["pre_tokenizer"], "type", "") != "BertPreTokenizer")
      bad("pre_tokenizer is not BertPreTokenizer");

    BertTokenizer t;
    t.config_ = cfg;
    t.limits_ = limits;
    t.normalizer_ = text::Normalizer(n);
    t.wordpiece_ = text::WordPiece(text::Vocab::from_pairs(pairs, where + ": model.vocab"), wo, where);
    const text::Vocab& v = t.wordpiece_.vocab();
    t.unk_id_ = t.wordpiece_.unk_id();

    // added tokens
    auto id_of = [&](const std::string& tok) -> int32_t {
      const int32_t id = v.id(tok);
      if (id < 0) bad("special token '" + tok + "' is not in the vocab");
      return id;
    };
    if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
      if (!j["added_tokens"].is_array()) bad("added_tokens is not a list");
      TAILOR_CHECK(j["added_tokens"].size() <= 60000, ErrorCode::limit, where + ": too many added tokens", "");
      for (const json& a : j["added_tokens"]) {
        if (!a.is_object() || !a.contains("content") || !a["content"].is_string() || !a.contains("id") ||
            !a["id"].is_number_integer())
          bad("an added token has no content or id");
        const std::string content = a["content"].get<std::string>();
        if (flag(a, "lstrip", false) || flag(a, "rstrip", false) || flag(a, "single_word", false) ||
            flag(a, "normalized", false))
          bad("added token '" + content + "' has lstrip/rstrip/single_word/normalized set");
        const int64_t id = a["id"].get<int64_t>();
        if (id < 0 || size_t(id) >= v.size() || v.token(int32_t(id)) != content)
          bad("added token '" + content + "' is not the vocab's token " + std::to_string(id));
        t.added_.add(content, int32_t(id));
      }
    }
    t.pad_id_ = v.id("[PAD]");
    t.mask_id_ = v.id("[MASK]");
    t.cls_id_ = v.id("[CLS]");
    t.sep_id_ = v.id("[SEP]");

    // post_processor
    if (!j.contains("post_processor") || j["post_processor"].is_null()) {
      t.post_ = text::PostProcessor({{text::TemplateItem::sequence_a, {}, 0}},
                                    {{text::TemplateItem::sequence_a, {}, 0}, {text::TemplateItem::sequence_b, {}, 1}});
    } else {
      const json& pj = j["post_processor"];
      const std::string type = pj.is_object() ? str(pj, "type", "") : "";
      if (type == "BertProcessing") {
        auto pair_id = [&](const char* key) -> int32_t {
          if (!pj.contains(key) || !pj[key].is_array() || pj[key].size() != 2 || !pj[key][1].is_number_integer())
            bad(std::string("BertProcessing.") + key + " is not [token, id]");
          return int32_t(pj[key][1].get<int64_t>());
        };
        t.cls_id_ = pair_id("cls");
        t.sep_id_ = pair_id("sep");
        t.post_ = text::PostProcessor::bert(t.cls_id_, t.sep_id_);
      } else if (type == "TemplateProcessing") {
        auto type_id = [&](const json& o) -> int32_t {
          if (!o.contains("type_id")) return 0;
          if (!o["type_id"].is_number_integer() || o["type_id"].get<int64_t>() < 0 ||
              o["type_id"].get<int64_t>() > INT32_MAX)
            bad("a template type_id is not an integer in 0..2^31");
          return int32_t(o["type_id"].get<int64_t>());
        };
        auto items = [&](const char* key) {
          std::vector<text::TemplateItem> out;
          if (!pj.contains(key) || !pj[key].is_array()) bad(std::string("TemplateProcessing.") + key + " is not a list");
          for (const json& it : pj[key]) {
            text::TemplateItem ti;
            if (it.contains("Sequence") && it["Sequence"].is_object()) {
              const std::string sid = str(it["Sequence"], "id", "A");
              if (sid != "A" && sid != "B") bad("template sequence id '" + sid + "'");
              ti.kind = sid == "A" ? text::TemplateItem::sequence_a : text::TemplateItem::sequence_b;
              ti.type_id = type_id(it["Sequence"]);
            } else if (it.contains("SpecialToken") && it["SpecialToken"].is_object()) {
              const std::string sid = str(it["SpecialToken"], "id", "");
              ti.kind = text::TemplateItem::special;
              ti.type_id = type_id(it["SpecialToken"]);
              const json& st = pj.contains("special_tokens") ? pj["special_tokens"] : json();
              if (st.is_object() && st.contains(sid) && st[sid].contains("ids") && st[sid]["ids"].is_array()) {
                for (const json& x : st[sid]["ids"]) {
                  if (!x.is_number_integer()) bad("special token '" + sid + "' has a non-integer id");
                  ti.ids.push_back(int32_t(x.get<int64_t>()));
                }
              } else {
                ti.ids.push_back(id_of(sid));
              }
            } else {
              bad(std::string("TemplateProcessing.") + key + " has an item that is neither Sequence nor SpecialToken");
            }
            out.push_back(std::move(ti));
          }
          return out;
        };
        t.post_ = text::PostProcessor(items("single"), items("pair"));
      } else {
        bad("post_processor '" + type + "' is not TemplateProcessing or BertProcessing");
      }
    }
    for (const auto* items : {&t.post_.single(), &t.post_.pair()})
      for (const auto& it : *items)
        for (int32_t id : it.ids)
          if (id < 0 || size_t(id) >= v.size()) bad("template token id " + std::to_string(id) + " is outside the vocab");
    t.finish();
    return t;
  }

  // ---- encoding -----------------------------------------------------------------------------

  /// Encodes one text (UTF-8; invalid bytes replaced, see utf8.hpp).
  Encoding encode(std::string_view text, const EncodeOptions& opt = {}) const {
    Encoding e;
    encode_into(text, nullptr, opt, e);
    if (opt.padding == PaddingStrategy::max_length) pad_to(e, padded_length(effective_max_length(opt), opt));
    else if (opt.padding == PaddingStrategy::longest) pad_to(e, padded_length(e.size(), opt));
    return e;
  }
  /// Encodes a pair: [CLS] a [SEP] b [SEP], type ids 0 then 1, offsets of b in b's code
  /// points. An empty b gives encode(a), as BertTokenizerFast does.
  Encoding encode_pair(std::string_view a, std::string_view b, const EncodeOptions& opt = {}) const {
    if (b.empty()) return encode(a, opt);
    Encoding e;
    encode_into(a, &b, opt, e);
    if (opt.padding == PaddingStrategy::max_length) pad_to(e, padded_length(effective_max_length(opt), opt));
    else if (opt.padding == PaddingStrategy::longest) pad_to(e, padded_length(e.size(), opt));
    return e;
  }
  /// Encodes many texts, padded as opt.padding says (longest: to the longest of the batch),
  /// on `pool` when given (results do not depend on it).
  std::vector<Encoding> encode_batch(const std::vector<std::string>& texts, const EncodeOptions& opt = {},
                                     ThreadPool* pool = nullptr) const {
    return batch(texts.size(), opt, pool, [&](size_t i, Encoding& e) { encode_into(texts[i], nullptr, opt, e); });
  }
  std::vector<Encoding> encode_batch(const std::vector<std::string_view>& texts, const EncodeOptions& opt = {},
                                     ThreadPool* pool = nullptr) const {
    return batch(texts.size(), opt, pool, [&](size_t i, Encoding& e) { encode_into(texts[i], nullptr, opt, e); });
  }
  /// Encodes many pairs (an empty second text stays a pair here, as in a batch call).
  std::vector<Encoding> encode_batch(const std::vector<std::pair<std::string, std::string>>& pairs,
                                     const EncodeOptions& opt = {}, ThreadPool* pool = nullptr) const {
    return batch(pairs.size(), opt, pool, [&](size_t i, Encoding& e) {
      const std::string_view b = pairs[i].second;
      encode_into(pairs[i].first, &b, opt, e);
    });
  }

  /// The tokens of a text as vocab strings, without special tokens or truncation (HF's
  /// tokenizer.tokenize); for inspection.
  std::vector<std::string> tokenize(std::string_view text) const {
    Scratch& s = scratch();
    std::vector<text::Token> toks;
    tokens_of(text, toks, s);
    std::vector<std::string> out;
    out.reserve(toks.size());
    for (const auto& t : toks) out.push_back(wordpiece_.vocab().token(t.id));
    return out;
  }

  // ---- vocab ----------------------------------------------------------------------------------

  /// The id of a token, or -1 when the vocab has no such token.
  int32_t token_to_id(std::string_view token) const { return wordpiece_.vocab().id(token); }
  /// The token of an id; throws tailor::Error for an id outside the vocab.
  const std::string& id_to_token(int32_t id) const { return wordpiece_.vocab().token(id); }
  size_t vocab_size() const { return wordpiece_.vocab().size(); }
  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t unk_id() const { return unk_id_; }
  /// -1 when the vocab has no [PAD] (padding then fails with an error).
  int32_t pad_id() const { return pad_id_; }
  int32_t mask_id() const { return mask_id_; }
  const BertTokenizerConfig& config() const { return config_; }
  const Limits& limits() const { return limits_; }

  // The stages, for tests and for callers that want one of them.
  const text::Normalizer& normalizer() const { return normalizer_; }
  const text::WordPiece& wordpiece() const { return wordpiece_; }
  const text::PostProcessor& post_processor() const { return post_; }
  const text::AddedTokens& added_tokens() const { return added_; }

  /// Tokens of one text (ids and code-point offsets), before post-processing.
  void tokens_of(std::string_view text, std::vector<text::Token>& out) const { tokens_of(text, out, scratch()); }

 private:
  BertTokenizer() = default;

  struct AsciiAction {
    enum Kind : uint8_t { drop, split, isolate, append, general } kind = general;
    char c = 0;  // the normalised character (lowercased)
  };

  // Per-thread scratch: the current word and the normaliser's buffer.
  struct Scratch {
    text::NormalizerScratch ns;
    std::vector<unsigned char> wbytes;  // the word's normalised UTF-8, up to the cap
    std::vector<uint32_t> wsrc;         // per character: input position it is aligned to
    size_t wn = 0;                      // bytes used in wbytes
    size_t wchars = 0;                  // characters in the word (may pass the cap)
    uint32_t wlast = 0;                 // source of the last character
    bool wascii = true;
    std::vector<text::WordPieceToken> pieces;
    std::vector<text::Token> a, b;
  };
  static Scratch& scratch() {
    static thread_local Scratch s;
    return s;
  }

  static int32_t require(const text::Vocab& v, const char* tok, const std::string& where) {
    const int32_t id = v.id(tok);
    TAILOR_CHECK(id >= 0, ErrorCode::format, where + " has no " + tok + " token",
                 "BERT vocabs have [UNK], [CLS] and [SEP]; is this a WordPiece vocab.txt?");
    return id;
  }

  // Precomputes the ASCII shortcut by running each ASCII character through the stages.
  void finish() {
    const text::PreTokenizer pre;
    for (int b = 0; b < 128; ++b) {
      std::vector<char32_t> out;
      text::NormalizerScratch ns;
      auto sink = [&](char32_t c, uint32_t) { out.push_back(c); };
      normalizer_.push(char32_t(b), 0, ns, sink);
      normalizer_.flush(ns, sink);
      pre_ascii_[b] = pre.classify(char32_t(b));
      AsciiAction& a = ascii_[b];
      if (out.empty()) { a.kind = AsciiAction::drop; continue; }
      if (out.size() != 1 || out[0] >= 0x80) { a.kind = AsciiAction::general; continue; }  // no shortcut
      a.c = char(out[0]);
      switch (pre.classify(out[0])) {
        case text::PreTokenizer::Action::split: a.kind = AsciiAction::split; break;
        case text::PreTokenizer::Action::isolate: a.kind = AsciiAction::isolate; break;
        default: a.kind = AsciiAction::append;
      }
    }
    max_chars_ = wordpiece_.options().max_input_chars_per_word;
  }

  int64_t effective_max_length(const EncodeOptions& opt) const {
    return opt.max_length > 0 ? opt.max_length : config_.model_max_length;
  }
  static size_t padded_length(size_t n, const EncodeOptions& opt) {
    if (opt.pad_to_multiple_of > 0) {
      const size_t m = size_t(opt.pad_to_multiple_of);
      n = (n + m - 1) / m * m;
    }
    return n;
  }
  void pad_to(Encoding& e, size_t length) const {
    if (e.size() >= length) return;
    TAILOR_CHECK(pad_id_ >= 0, ErrorCode::invalid_argument, "padding needs a [PAD] token and the vocab has none",
                 "encode without padding");
    text::PostProcessor::pad(e, length, pad_id_, 0);
  }

  template <class F>
  std::vector<Encoding> batch(size_t n, const EncodeOptions& opt, ThreadPool* pool, F&& one) const {
    TAILOR_CHECK(n <= limits_.max_batch, ErrorCode::limit,
                 "batch of " + std::to_string(n) + " texts is over the limit of " + std::to_string(limits_.max_batch),
                 "split the batch or raise Limits::max_batch");
    std::vector<Encoding> out(n);
    if (pool && pool->size() > 1 && n > 1) {
      const int tasks = int(std::min<size_t>(n, size_t(pool->size()) * 8));
      pool->run(tasks, [&](int t) {
        for (size_t i = size_t(t) * n / size_t(tasks); i < size_t(t + 1) * n / size_t(tasks); ++i) one(i, out[i]);
      });
    } else {
      for (size_t i = 0; i < n; ++i) one(i, out[i]);
    }
    size_t target = 0;
    if (opt.padding == PaddingStrategy::longest)
      for (const auto& e : out) target = std::max(target, e.size());
    else if (opt.padding == PaddingStrategy::max_length)
      target = size_t(effective_max_length(opt));
    if (opt.padding != PaddingStrategy::none) {
      target = padded_length(target, opt);
      for (auto& e : out) pad_to(e, target);
    }
    return out;
  }

  void encode_into(std::string_view a, const std::string_view* b, const EncodeOptions& opt, Encoding& out) const {
    Scratch& s = scratch();
    tokens_of(a, s.a, s);
    if (b) tokens_of(*b, s.b, s);
    if (opt.truncation)
      post_.truncate(s.a, b ? &s.b : nullptr, effective_max_length(opt), opt.truncation_strategy, opt.add_special_tokens);
    post_.assemble(s.a, b ? &s.b : nullptr, opt.add_special_tokens, out);
  }

  // ---- the streaming pipeline ---------------------------------------------------------------

  void tokens_of(std::string_view text, std::vector<text::Token>& out, Scratch& s) const {
    out.clear();
    s.ns.reset();  // a call that threw (bad_alloc) may have left a word or marks behind
    s.wn = s.wchars = 0;
    s.wascii = true;
    text = text.substr(0, utf8_cut(text, limits_.max_text_bytes));
    if (s.wbytes.size() < 4 * (max_chars_ + 1)) {
      s.wbytes.resize(4 * (max_chars_ + 1));
      s.wsrc.resize(max_chars_ + 1);
    }
    uint32_t pos = 0;  // code points so far
    added_.split(
        text, [&](size_t b, size_t e) { segment(text.data() + b, text.data() + e, pos, out, s); },
        [&](const text::AddedTokens::Entry& t, size_t) {
          out.push_back({t.id, int32_t(pos), int32_t(pos + t.n_chars)});
          pos += t.n_chars;
        });
  }

  static size_t utf8_cut(std::string_view text, uint64_t cap) {
    return text::utf8_cut(text, cap > uint64_t(SIZE_MAX) ? SIZE_MAX : size_t(cap));
  }

  // One run of text between added tokens: decode -> normalise -> pre-tokenise -> WordPiece.
  void segment(const char* begin, const char* end, uint32_t& pos, std::vector<text::Token>& out, Scratch& s) const {
    const text::CodepointTable& table = normalizer_.table();
    auto sink = [&](char32_t c, uint32_t src) {  // a normalised character: pre-tokenise it
      switch (c < 0x80 ? pre_ascii_[c] : text::PreTokenizer::classify_info(table.info(c))) {
        case text::PreTokenizer::Action::split: end_word(out, s); break;
        case text::PreTokenizer::Action::isolate: end_word(out, s); add_char(c, src, s); end_word(out, s); break;
        default: add_char(c, src, s);
      }
    };
    const auto* p = reinterpret_cast<const unsigned char*>(begin);
    const auto* e = reinterpret_cast<const unsigned char*>(end);
    while (p < e) {
      const unsigned char b = *p;
      if (b < 0x80 && text::Normalizer::idle(s.ns) && ascii_[b].kind != AsciiAction::general) {
        const AsciiAction a = ascii_[b];
        switch (a.kind) {
          case AsciiAction::general:
          case AsciiAction::drop: break;
          case AsciiAction::split: end_word(out, s); break;
          case AsciiAction::isolate:
            end_word(out, s);
            add_ascii(a.c, pos, s);
            end_word(out, s);
            break;
          case AsciiAction::append: add_ascii(a.c, pos, s); break;
        }
        ++p;
        ++pos;
        continue;
      }
      const char32_t c = b < 0x80 ? (++p, char32_t(b)) : text::decode_utf8(p, e);
      normalizer_.push(c, pos++, s.ns, sink);
    }
    normalizer_.flush(s.ns, sink);
    end_word(out, s);
  }

  void add_ascii(char c, uint32_t src, Scratch& s) const {
    if (s.wchars <= max_chars_) {
      s.wbytes[s.wn++] = static_cast<unsigned char>(c);
      s.wsrc[s.wchars] = src;
    }
    ++s.wchars;
    s.wlast = src;
  }
  void add_char(char32_t c, uint32_t src, Scratch& s) const {
    if (c < 0x80) { add_ascii(char(c), src, s); return; }
    if (s.wchars <= max_chars_) {
      unsigned char* w = s.wbytes.data() + s.wn;
      if (c < 0x800) {
        w[0] = static_cast<unsigned char>(0xC0 | (c >> 6));
        w[1] = static_cast<unsigned char>(0x80 | (c & 0x3F));
        s.wn += 2;
      } else if (c < 0x10000) {
        w[0] = static_cast<unsigned char>(0xE0 | (c >> 12));
        w[1] = static_cast<unsigned char>(0x80 | ((c >> 6) & 0x3F));
        w[2] = static_cast<unsigned char>(0x80 | (c & 0x3F));
        s.wn += 3;
      } else {
        w[0] = static_cast<unsigned char>(0xF0 | (c >> 18));
        w[1] = static_cast<unsigned char>(0x80 | ((c >> 12) & 0x3F));
        w[2] = static_cast<unsigned char>(0x80 | ((c >> 6) & 0x3F));
        w[3] = static_cast<unsigned char>(0x80 | (c & 0x3F));
        s.wn += 4;
      }
      s.wsrc[s.wchars] = src;
    }
    s.wascii = false;
    ++s.wchars;
    s.wlast = src;
  }

  // The word ends: WordPiece it, map each piece's bytes to characters to input positions.
  void end_word(std::vector<text::Token>& out, Scratch& s) const {
    if (s.wchars == 0) return;
    if (!wordpiece_.tokenize(s.wbytes.data(), s.wn, s.wchars, s.pieces)) {
      out.push_back({unk_id_, int32_t(s.wsrc[0]), int32_t(s.wlast + 1)});
    } else if (s.wascii) {
      for (const auto& p : s.pieces) out.push_back({p.id, int32_t(s.wsrc[p.begin]), int32_t(s.wsrc[p.end - 1] + 1)});
    } else {
      size_t byte = 0, ch = 0;  // walk characters alongside the pieces
      for (const auto& p : s.pieces) {
        while (byte < p.begin) byte += utf8_lead_length(s.wbytes[byte]), ++ch;
        const size_t first = ch;
        while (byte < p.end) byte += utf8_lead_length(s.wbytes[byte]), ++ch;
        out.push_back({p.id, int32_t(s.wsrc[first]), int32_t(s.wsrc[ch - 1] + 1)});
      }
    }
    s.wn = 0;
    s.wchars = 0;
    s.wascii = true;
  }
  static size_t utf8_lead_length(unsigned char b) { return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4; }

  BertTokenizerConfig config_;
  Limits limits_;
  text::Normalizer normalizer_;
  text::WordPiece wordpiece_;
  text::AddedTokens added_;
  text::PostProcessor post_;
  int32_t cls_id_ = -1, sep_id_ = -1, unk_id_ = -1, pad_id_ = -1, mask_id_ = -1;
  size_t max_chars_ = 100;
  AsciiAction ascii_[128];                   // an ASCII input character, all stages at once
  text::PreTokenizer::Action pre_ascii_[128];  // an ASCII normalised character, pre-tokeniser only
};

}  // namespace tailor
