// tailor embed: sentence embeddings (or last hidden states) of stdin's lines (DESIGN.md).
//
//   tailor embed --weights B [--pooling cls|mean|pooler|none] [--normalize | --no-normalize]
//                [--max-length N] [--batch-size N] [--threads N]
//
// One text per input line (split on "\n" only, as `tailor tokenize`; empty lines included),
// tokenized by the bundle's tokenizer, run through its BERT (a "bert" bundle, or the text
// tower of a "tryon" bundle) in batches of --batch-size, and printed in input order, one JSON
// line each: {"embedding":[...]} or, with --pooling none, {"last_hidden_state":[[...],...]}
// (one row per token, [CLS] and [SEP] included). Floats have 9 significant digits. Pooling
// and normalisation default to what the bundle records (sentence-transformers' Pooling and
// Normalize modules, else cls without normalisation).
#include <cstdio>
#include <string>
#include <vector>

#include "cli.hpp"
#include "cli_device.hpp"
#include "tailor/io/bundle.hpp"
#include "tailor/models/bert.hpp"

namespace {

int run_embed(int argc, char** argv) {
  tailor::cli::Args args(
      argc, argv,
      "embed --weights B [--pooling cls|mean|pooler|none] [--normalize] [--max-length N] [--batch-size N]",
      "Embeds stdin, one text per line (split on \\n; empty lines included), with the bundle's BERT\n"
      "and tokenizer, and prints one JSON line per input line, in order:\n"
      "  {\"embedding\":[...]}                      pooling cls, mean or pooler\n"
      "  {\"last_hidden_state\":[[...],...]}        pooling none: one row per token\n"
      "The defaults come from the bundle (a sentence-transformers model records its pooling and\n"
      "whether it normalises); texts longer than --max-length tokens are truncated.");
  const auto weights = args.option("--weights", "B", "a bert bundle, or a tryon bundle (its text tower)");
  const auto pooling = args.option("--pooling", "P", "cls, mean, pooler or none (default: the bundle's)");
  const bool normalize = args.flag("--normalize", "L2-normalise the embeddings");
  const bool no_normalize = args.flag("--no-normalize", "do not L2-normalise, even if the bundle says to");
  const long long max_length =
      args.integer("--max-length", "truncate texts to N tokens, [CLS]/[SEP] included (0: the bundle's)", 0, 0, 1 << 20);
  const long long batch_size = args.integer("--batch-size", "texts per forward pass", 32, 1, 1 << 16);
  const long long threads = args.integer("--threads", "threads (0: $TAILOR_NUM_THREADS or all cores)", 0, 0, 1024);
  tailor::Options opt;
  tailor::cli::device_options(args, opt);
  args.finish(0, 0);
  if (!weights) throw tailor::cli::UsageError("--weights is required");
  if (normalize && no_normalize) throw tailor::cli::UsageError("--normalize and --no-normalize contradict each other");

  const tailor::Bundle b = tailor::Bundle::open(*weights);
  opt.threads = int(threads);
  tailor::cli::TextTower model(b, opt);  // CPU or GPU (--device); a bert bundle or a tryon's text tower
  const tailor::BertConfig& cfg = model.config();
  const tailor::Pooling pool = tailor::pooling_from_name(pooling ? *pooling : cfg.pooling);
  if (pool == tailor::Pooling::pooler && !cfg.has_pooler)
    throw tailor::cli::UsageError("--pooling pooler: this model has no pooler (use cls or mean)");
  const bool norm = normalize || (cfg.normalize && !no_normalize);
  if (max_length > cfg.max_position_embeddings)
    throw tailor::cli::UsageError("--max-length " + std::to_string(max_length) + " is over the model's " +
                                  std::to_string(cfg.max_position_embeddings) + " positions");
  if (pool == tailor::Pooling::none && norm && normalize)
    throw tailor::cli::UsageError("--normalize applies to pooled embeddings, not to --pooling none");
  tailor::cli::TextTower& session = model;

  std::string out;
  auto flush = [&] {
    std::fwrite(out.data(), 1, out.size(), stdout);
    out.clear();
  };
  std::vector<std::string> batch;
  auto run_batch = [&] {
    if (batch.empty()) return;
    const int64_t H = cfg.hidden_size;
    if (pool == tailor::Pooling::none) {
      const tailor::BertOutput o = session.forward(batch, max_length);
      for (size_t i = 0; i < o.size(); ++i) {
        out += "{\"last_hidden_state\":[";
        for (int64_t t = 0; t < o.length(i); ++t) {
          if (t) out += ',';
          out += tailor::cli::json_float_array(o.hidden(i) + t * H, size_t(H));
        }
        out += "]}\n";
        if (out.size() > (1u << 20)) flush();
      }
    } else {
      const auto emb = session.embed(batch, pool, norm, max_length);
      for (const auto& e : emb) {
        out += "{\"embedding\":" + tailor::cli::json_float_array(e.data(), e.size()) + "}\n";
        if (out.size() > (1u << 20)) flush();
      }
    }
    flush();
    batch.clear();
  };

  std::string line;
  std::vector<char> buf(1 << 16);
  bool pending = false;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), stdin)) > 0) {
    for (size_t i = 0; i < n; ++i) {
      if (buf[i] != '\n') {
        line += buf[i];
        pending = true;
        continue;
      }
      batch.push_back(std::move(line));
      line.clear();
      pending = false;
      if (int64_t(batch.size()) >= batch_size) run_batch();
    }
  }
  if (pending) batch.push_back(std::move(line));  // a last line without "\n"
  run_batch();
  std::fflush(stdout);
  return 0;
}

}  // namespace

TAILOR_CLI_COMMAND("embed", "sentence embeddings (or last hidden states) of stdin's lines with a BERT bundle", run_embed);
