// tailor tokenize: WordPiece-tokenize stdin, one JSON line per input line (DESIGN.md).
//
//   tailor tokenize (--vocab vocab.txt | --weights B) [--no-lower-case] [--max-length N] [--pairs]
//
// Each input line (split on "\n" only; the bytes of a line are the text, "\r" included,
// where it is whitespace like any other) gives
//   {"input_ids":[...],"token_type_ids":[...],"attention_mask":[...],"offsets":[[s,e],...]}
// with [CLS]/[SEP], truncation to N tokens (longest_first, default 512), offsets in code
// points of the line as HF's return_offsets_mapping ([0,0] for special tokens). Empty lines
// give [CLS] [SEP]. With --pairs a line is A<TAB>B (split at the first TAB; a line with no
// TAB is A with an empty B, which BertTokenizerFast encodes as A alone).
#include <cstdio>
#include <string>
#include <vector>

#include "cli.hpp"
#include "tailor/io/bundle.hpp"
#include "tailor/text/tokenizer.hpp"

namespace {

void append_int(std::string& o, int64_t v) {
  char buf[24];
  char* e = buf + sizeof buf;
  char* p = e;
  const bool neg = v < 0;
  uint64_t u = neg ? uint64_t(0) - uint64_t(v) : uint64_t(v);
  do {
    *--p = char('0' + u % 10);
    u /= 10;
  } while (u);
  if (neg) *--p = '-';
  o.append(p, size_t(e - p));
}

template <class V>
void append_array(std::string& o, const char* key, const V& v) {
  o += key;
  o += '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) o += ',';
    append_int(o, v[i]);
  }
  o += ']';
}

void append_json(std::string& o, const tailor::Encoding& e) {
  append_array(o, "{\"input_ids\":", e.ids);
  append_array(o, ",\"token_type_ids\":", e.type_ids);
  append_array(o, ",\"attention_mask\":", e.attention_mask);
  o += ",\"offsets\":[";
  for (size_t i = 0; i < e.offsets.size(); ++i) {
    if (i) o += ',';
    o += '[';
    append_int(o, e.offsets[i].first);
    o += ',';
    append_int(o, e.offsets[i].second);
    o += ']';
  }
  o += "]}\n";
}

int run_tokenize(int argc, char** argv) {
  tailor::cli::Args args(
      argc, argv, "tokenize (--vocab vocab.txt | --weights B) [--no-lower-case] [--max-length N] [--pairs]",
      "Tokenizes stdin, one text per line, exactly as HF BertTokenizerFast does, and prints one JSON\n"
      "line per input line (empty lines included, in order):\n"
      "  {\"input_ids\":[...],\"token_type_ids\":[...],\"attention_mask\":[...],\"offsets\":[[s,e],...]}\n"
      "with [CLS]/[SEP] added, truncation (longest_first) to --max-length tokens, and offsets in\n"
      "code points of the line ([0,0] for special tokens). Lines are split on \\n only. Invalid\n"
      "UTF-8 is replaced as Python's bytes.decode(errors=\"replace\") does; a line over 1 MiB is\n"
      "cut there. With --pairs each line is A<TAB>B, split at the first TAB (no TAB: B is empty,\n"
      "and an empty B encodes as A alone, as in BertTokenizerFast).");
  const auto vocab = args.option("--vocab", "FILE", "a WordPiece vocab.txt (lowercasing on unless --no-lower-case)");
  const auto weights = args.option("--weights", "B", "a bert or tryon bundle: its vocab and tokenizer flags");
  const bool no_lower = args.flag("--no-lower-case", "keep case (and accents, unless the bundle says to strip them)");
  const long long max_length =
      args.integer("--max-length", "truncate to N tokens, special tokens included", 512, 1, 1LL << 30);
  const bool pairs = args.flag("--pairs", "each line is A<TAB>B: encode a pair (token type ids 0, then 1)");
  args.finish(0, 0);
  if (bool(vocab) == bool(weights)) throw tailor::cli::UsageError("give exactly one of --vocab and --weights");

  tailor::BertTokenizer tok = [&] {
    if (vocab) {
      tailor::BertTokenizerConfig cfg;
      cfg.do_lower_case = !no_lower;
      return tailor::BertTokenizer::from_vocab_file(*vocab, cfg);
    }
    const tailor::Bundle b = tailor::Bundle::open(*weights);
    tailor::BertTokenizerConfig cfg = tailor::BertTokenizer::config_from_bundle(b);
    if (no_lower) cfg.do_lower_case = false;
    return tailor::BertTokenizer::from_vocab(b.vocab(), cfg, {}, b.path() + ": tailor.vocab");
  }();

  tailor::EncodeOptions opt;
  opt.max_length = max_length;
  std::string out, pending;
  auto emit_line = [&](std::string_view line) {
    if (pairs) {
      const size_t tab = line.find('\t');
      if (tab == std::string_view::npos) append_json(out, tok.encode(line, opt));
      else append_json(out, tok.encode_pair(line.substr(0, tab), line.substr(tab + 1), opt));
    } else {
      append_json(out, tok.encode(line, opt));
    }
    if (out.size() > (1u << 16)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  };
  std::vector<char> buf(1 << 16);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), stdin)) > 0) {
    size_t start = 0;
    for (size_t i = 0; i < n; ++i) {
      if (buf[i] != '\n') continue;
      if (pending.empty()) {
        emit_line(std::string_view(buf.data() + start, i - start));
      } else {
        pending.append(buf.data() + start, i - start);
        emit_line(pending);
        pending.clear();
      }
      start = i + 1;
    }
    pending.append(buf.data() + start, n - start);
  }
  if (std::ferror(stdin)) throw tailor::Error(tailor::ErrorCode::io, "reading stdin failed", "");
  if (!pending.empty()) emit_line(pending);  // a last line without "\n"
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (std::fflush(stdout) != 0) throw tailor::Error(tailor::ErrorCode::io, "writing stdout failed", "");
  return 0;
}

}  // namespace

TAILOR_CLI_COMMAND("tokenize", "WordPiece-tokenize stdin lines to JSON (exactly as BertTokenizerFast)", run_tokenize);
