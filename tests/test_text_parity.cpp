// tests/test_text_parity.cpp: tailor's BertTokenizer against HF BertTokenizerFast on the
// parity corpus (>= 10,000 texts: translated man pages, message catalogs in many scripts,
// generated edge cases) that converters/tokenizer_parity.py builds at test time into
// $TAILOR_FIXTURES/tokenizer (the tokenizer_fixtures test). Every case must match exactly:
// input ids, token type ids, attention mask and offsets; where BertTokenizerFast raises,
// tailor must throw a tailor::Error. Configurations: the all-MiniLM-L6-v2 vocab uncased (as
// shipped) and cased (do_lower_case=False), plus strip_accents / tokenize_chinese_chars
// flipped; singles and pairs, every truncation strategy, with and without special tokens.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tailor/text/tokenizer.hpp"

using nlohmann::json;

namespace {

std::string fixtures_dir() {
  const char* f = std::getenv("TAILOR_FIXTURES");
  return std::string(f ? f : "fixtures") + "/tokenizer";
}

std::string unhex(const std::string& h) {
  std::string out(h.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) out[i] = char(std::stoi(h.substr(2 * i, 2), nullptr, 16));
  return out;
}

std::string printable(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) o += char(c);
    else { char b[8]; std::snprintf(b, sizeof b, "\\x%02x", c); o += b; }
  }
  return o.size() > 300 ? o.substr(0, 300) + "..." : o;
}

template <class T>
std::string str(const std::vector<T>& v) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < v.size(); ++i) o << (i ? "," : "") << v[i];
  return o.str() + "]";
}
std::string str(const std::vector<std::pair<int32_t, int32_t>>& v) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < v.size(); ++i) o << (i ? "," : "") << "[" << v[i].first << "," << v[i].second << "]";
  return o.str() + "]";
}

tailor::TruncationStrategy strategy(const std::string& s) {
  if (s == "only_first") return tailor::TruncationStrategy::only_first;
  if (s == "only_second") return tailor::TruncationStrategy::only_second;
  return tailor::TruncationStrategy::longest_first;
}

}  // namespace

TEST_CASE("BertTokenizer matches BertTokenizerFast on the parity corpus") {
  const std::string dir = fixtures_dir();
  std::ifstream cf(dir + "/configs.json");
  REQUIRE_MESSAGE(cf.good(), "no " << dir << "/configs.json: run the tokenizer_fixtures test first");
  const json configs = json::parse(cf);

  std::vector<std::string> texts;
  {
    std::ifstream tf(dir + "/texts.hex");
    std::string line;
    while (std::getline(tf, line)) texts.push_back(unhex(line));
  }
  REQUIRE(texts.size() >= 10000);

  std::map<std::string, tailor::BertTokenizer> toks;
  for (auto it = configs["configs"].begin(); it != configs["configs"].end(); ++it) {
    tailor::BertTokenizerConfig c;
    c.do_lower_case = it.value()["do_lower_case"].get<bool>();
    c.strip_accents = it.value()["strip_accents"].is_null() ? -1 : int(it.value()["strip_accents"].get<bool>());
    c.tokenize_chinese_chars = it.value()["tokenize_chinese_chars"].get<bool>();
    toks.emplace(it.key(), tailor::BertTokenizer::from_vocab_file(configs["vocab"].get<std::string>(), c));
  }
  // The same uncased tokenizer read from tokenizer.json must agree too.
  toks.emplace("uncased-json", tailor::BertTokenizer::from_tokenizer_json(configs["tokenizer_json"].get<std::string>()));

  std::ifstream in(dir + "/cases.jsonl");
  std::string line;
  std::map<std::string, std::pair<size_t, size_t>> tally;  // cfg -> (cases, mismatches)
  size_t total = 0, bad = 0, errors_expected = 0, tokens = 0;
  while (std::getline(in, line)) {
    const json c = json::parse(line);
    const std::string cfg = c["cfg"];
    const int ia = c["a"], ib = c["b"];
    tailor::EncodeOptions opt;
    opt.max_length = c["max_length"].get<int64_t>();
    opt.truncation_strategy = strategy(c["strategy"]);
    opt.add_special_tokens = c["add_special_tokens"];
    const bool want_error = c.contains("error");
    errors_expected += want_error;
    std::vector<std::string> names = {cfg};
    if (cfg == "uncased") names.push_back("uncased-json");
    for (const std::string& name : names) {
      const tailor::BertTokenizer& tok = toks.at(name);
      ++total;
      ++tally[name].first;
      std::string why;
      try {
        const tailor::Encoding e = ib < 0 ? tok.encode(texts[size_t(ia)], opt)
                                          : tok.encode_pair(texts[size_t(ia)], texts[size_t(ib)], opt);
        tokens += e.size();
        if (want_error) {
          why = "expected an error (" + c["error"].get<std::string>() + "), got " + str(e.ids);
        } else {
          const auto ids = c["ids"].get<std::vector<int32_t>>();
          const auto type_ids = c["type_ids"].get<std::vector<int32_t>>();
          const auto mask = c["mask"].get<std::vector<int32_t>>();
          std::vector<std::pair<int32_t, int32_t>> offsets;
          for (const auto& o : c["offsets"]) offsets.push_back({o[0].get<int32_t>(), o[1].get<int32_t>()});
          if (e.ids != ids) why += "ids " + str(e.ids) + " != " + str(ids) + "; ";
          if (e.type_ids != type_ids) why += "type_ids " + str(e.type_ids) + " != " + str(type_ids) + "; ";
          if (e.attention_mask != mask) why += "mask differs; ";
          if (e.offsets != offsets) why += "offsets " + str(e.offsets) + " != " + str(offsets) + "; ";
        }
      } catch (const tailor::Error& ex) {
        if (!want_error) why = std::string("threw: ") + ex.what();
      }
      if (!why.empty()) {
        ++bad;
        ++tally[name].second;
        if (bad <= 20)
          MESSAGE("mismatch [" << name << "] a=" << printable(texts[size_t(ia)])
                               << (ib >= 0 ? " b=" + printable(texts[size_t(ib)]) : std::string())
                               << " max_length=" << opt.max_length << " " << c["strategy"].get<std::string>()
                               << std::string(opt.add_special_tokens ? "" : " no-special") << ": " << why);
      }
    }
  }
  for (const auto& [name, t] : tally)
    MESSAGE("tokenizer parity [" << name << "]: " << t.first << " cases, " << t.second << " mismatches");
  MESSAGE("tokenizer parity: " << texts.size() << " texts, " << total << " cases (" << errors_expected
                               << " where BertTokenizerFast raises), " << tokens << " tokens, " << bad
                               << " mismatches");
  CHECK(total > 0);
  CHECK(bad == 0);
}
