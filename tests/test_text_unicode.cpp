// tests/test_text_unicode.cpp: every code point through each tokenizer stage, against what
// the installed HF tokenizers does to it (converters/tokenizer_unicode.py `reference`, run by
// the tokenizer_fixtures test into $TAILOR_FIXTURES/tokenizer/unicode_reference.txt).
//
// For each of the 1,112,064 code points (surrogates excluded): BertNormalizer with only
// clean_text, only lowercase, only strip_accents, only handle_chinese_chars; the
// pre-tokenizer's whitespace / punctuation classes; NFD on its own (every decomposition,
// every character next to U+0301 and U+0316, random runs of marks: canonical reordering).
// This is what keeps the generated tables (text/unicode_tables.hpp) honest when tokenizers
// is upgraded: a difference names the code point and both answers.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tailor/text/normalizer.hpp"
#include "tailor/text/pre_tokenizer.hpp"
#include "tailor/text/unicode_tables.hpp"

using namespace tailor::text;

namespace {

std::u32string parse_cps(const std::string& s) {
  std::u32string out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(char32_t(std::stoul(item, nullptr, 16)));
  return out;
}

std::string hex(const std::u32string& s) {
  std::ostringstream o;
  o << std::hex << std::uppercase;
  for (size_t i = 0; i < s.size(); ++i) o << (i ? "," : "") << uint32_t(s[i]);
  return "[" + o.str() + "]";
}

std::u32string run(const Normalizer& n, const std::u32string& in) { return n.normalize(encode_utf8(in)).text; }

NormalizerOptions only(bool clean, bool chinese, bool strip, bool lower, bool nfd = false) {
  NormalizerOptions o;
  o.clean_text = clean;
  o.handle_chinese_chars = chinese;
  o.strip_accents = strip;
  o.lowercase = lower;
  o.nfd_only = nfd;
  return o;
}

}  // namespace

TEST_CASE("every code point: normaliser and pre-tokenizer tables match the reference") {
  const char* fx = std::getenv("TAILOR_FIXTURES");
  const std::string path = std::string(fx ? fx : "fixtures") + "/tokenizer/unicode_reference.txt";
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "no " << path << ": run the tokenizer_fixtures test first");

  std::map<char32_t, int> clean;  // 1 remove, 2 space
  std::vector<uint8_t> ws(0x110000, 0), punct(0x110000, 0), chinese(0x110000, 0);
  std::map<char32_t, std::u32string> lower, strip;
  std::vector<std::pair<std::u32string, std::u32string>> nfd;
  std::string line, version;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string kind, a, b, c;
    ls >> kind >> a >> b >> c;
    auto range = [&](auto&& f) {
      for (char32_t x = char32_t(std::stoul(a, nullptr, 16)); x <= char32_t(std::stoul(b, nullptr, 16)); ++x) f(x);
    };
    if (kind == "version") version = a;
    else if (kind == "clean") range([&](char32_t x) { clean[x] = c == "remove" ? 1 : 2; });
    else if (kind == "whitespace") range([&](char32_t x) { ws[x] = 1; });
    else if (kind == "punctuation") range([&](char32_t x) { punct[x] = 1; });
    else if (kind == "chinese") range([&](char32_t x) { chinese[x] = 1; });
    else if (kind == "lower") lower[char32_t(std::stoul(a, nullptr, 16))] = parse_cps(b);
    else if (kind == "strip") strip[char32_t(std::stoul(a, nullptr, 16))] = parse_cps(b);
    else if (kind == "nfd") nfd.push_back({parse_cps(a), parse_cps(b)});
  }
  REQUIRE(!version.empty());
  MESSAGE("reference: tokenizers " << version << "; tables generated from tokenizers "
                                   << std::string(detail::tables::kReferenceVersion));

  const Normalizer n_clean(only(true, false, false, false)), n_lower(only(false, false, false, true)),
      n_strip(only(false, false, true, false)), n_chinese(only(false, true, false, false)),
      n_nfd(only(false, false, false, false, true));
  const PreTokenizer pre;
  size_t checked = 0, bad = 0;
  auto report = [&](const char* stage, char32_t c, const std::u32string& got, const std::u32string& want) {
    if (++bad > 30) return;
    std::ostringstream m;
    m << stage << " U+" << std::hex << std::uppercase << uint32_t(c) << ": tailor " << hex(got) << ", reference "
      << hex(want);
    MESSAGE(m.str());
  };
  for (char32_t c = 0; c < 0x110000; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    ++checked;
    const std::u32string s(1, c);
    {
      auto it = clean.find(c);
      const std::u32string want = it == clean.end() ? s : it->second == 1 ? U"" : U" ";
      const std::u32string got = run(n_clean, s);
      if (got != want) report("clean_text", c, got, want);
    }
    {
      auto it = lower.find(c);
      const std::u32string want = it == lower.end() ? s : it->second;
      const std::u32string got = run(n_lower, s);
      if (got != want) report("lowercase", c, got, want);
    }
    {
      auto it = strip.find(c);
      const std::u32string want = it == strip.end() ? s : it->second;
      const std::u32string got = run(n_strip, s);
      if (got != want) report("strip_accents", c, got, want);
    }
    {
      const std::u32string want = chinese[c] ? std::u32string(U" ") + s + U" " : s;
      const std::u32string got = run(n_chinese, s);
      if (got != want) report("handle_chinese_chars", c, got, want);
    }
    const PreTokenizer::Action want_pre = ws[c] ? PreTokenizer::Action::split
                                          : punct[c] ? PreTokenizer::Action::isolate
                                                     : PreTokenizer::Action::append;
    if (pre.classify(c) != want_pre) report("pre-tokenizer class", c, U"?", U"?");
  }
  size_t nfd_bad = 0;
  for (const auto& [input, want] : nfd) {
    const std::u32string got = run(n_nfd, input);
    if (got != want && ++nfd_bad <= 30) MESSAGE("NFD " << hex(input) << ": tailor " << hex(got) << ", reference " << hex(want));
  }
  MESSAGE("checked " << checked << " code points x 5 stages and " << nfd.size() << " NFD strings: " << bad
                     << " + " << nfd_bad << " differences");
  CHECK(checked == 0x110000 - 0x800);
  CHECK(nfd.size() > 10000);
  CHECK(bad == 0);
  CHECK(nfd_bad == 0);
}
