// tailor score / tailor rank: the try-on model (models/tryon.hpp) from the command line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "cli_device.hpp"
#include "tailor/image/heatmap.hpp"
#include "tailor/models/tryon.hpp"

namespace {

using tailor::cli::json_float;
using tailor::cli::json_string;

std::string json_list(const std::vector<std::string>& v) {
  std::string o = "[";
  for (size_t i = 0; i < v.size(); ++i) o += (i ? "," : "") + json_string(v[i]);
  return o + "]";
}

/// The note every output made with a partly untrained bundle carries.
void warn_untrained(const tailor::TryOn& m) {
  if (m.untrained().empty()) return;
  std::string parts;
  for (const auto& p : m.untrained()) parts += (parts.empty() ? "" : ", ") + p;
  std::fprintf(stderr,
               "tailor: note: this bundle's %s %s untrained (random weights): the scores exercise the whole "
               "pipeline but do not mean anything\n",
               parts.c_str(), m.untrained().size() == 1 ? "part is" : "parts are");
}

struct Common {
  std::string weights;
  tailor::Options opt;
};

Common common_options(tailor::cli::Args& a) {
  Common c;
  const auto w = a.option("--weights", "BUNDLE", "a tryon bundle (converters/convert.py tryon)");
  c.opt.threads = int(a.integer("--threads", "CPU threads (0: all cores, or $TAILOR_NUM_THREADS)", 0, 0, 1024));
  tailor::cli::device_options(a, c.opt);
  c.weights = w ? *w : std::string();  // required: checked after finish(), so --help works alone
  return c;
}

/// The bundle opened and checked and the model built (weights packed), timed: what a process
/// pays once before any work, outside the work's `total`.
struct Loaded {
  Loaded(const std::string& path, const tailor::Options& opt)
      : start(std::chrono::steady_clock::now()),
        bundle(tailor::Bundle::open(path, {opt.limits})),
        model(bundle, opt),
        ms(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count()) {}
  std::chrono::steady_clock::time_point start;  // (declared first: initialised first)
  tailor::Bundle bundle;
  tailor::TryOn model;
  double ms;
};

std::string timings_json(const tailor::TryOnTimings& t, double load_ms) {
  return std::string("{\"decode\":") + json_float(t.decode) + ",\"preprocess\":" + json_float(t.preprocess) +
         ",\"image_tower\":" + json_float(t.image_tower) + ",\"tokenize\":" + json_float(t.tokenize) +
         ",\"text_tower\":" + json_float(t.text_tower) + ",\"head\":" + json_float(t.head) +
         ",\"total\":" + json_float(t.total) + ",\"load\":" + json_float(load_ms) + "}";
}

/// The per-stage line: t.total is the whole work, decoding included (see TryOnTimings);
/// the load comes after it, outside it.
std::string timings_line(const tailor::TryOnTimings& t, double load_ms) {
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "timings (ms) decode %.2f  preprocess %.2f  image_tower %.2f  tokenize %.3f  text_tower %.2f  head %.3f"
                "  total %.2f%s; load %.1f (once a process, not in total)",
                t.decode, t.preprocess, t.image_tower, t.tokenize, t.text_tower, t.head, t.total,
                t.overlapped ? " (image tower on one thread beside the text tower)" : "", load_ms);
  return buf;
}

std::string what_tokens_mean(const tailor::Explanation& ex) {
  return ex.token_method == "exact"
             ? "each token's share of the text part of the logit (mean pooling under a linear head: w . h_t / T); "
               "they sum to the text part"
             : "how much the logit drops when the token is left out of the text";
}

int run_score(int argc, char** argv) {
  tailor::cli::Args a(argc, argv,
                      "score --weights B --image IMG --text TEXT [--json] [--explain heat.png] [--device cpu|cuda] [--threads N]",
                      "Scores how well a garment described by TEXT suits the photo IMG with a try-on bundle:\n"
                      "the logit, the probability (sigmoid; softmax for several outputs) and per-stage timings.\n"
                      "--explain writes a heatmap over the photo (red raises the score, blue lowers it) and\n"
                      "prints each token's contribution.");
  const Common c = common_options(a);
  const auto image = a.option("--image", "IMG", "the photo (PNG or JPEG)");
  const auto text = a.option("--text", "TEXT", "the garment description");
  const bool as_json = a.flag("--json", "print one JSON object");
  const auto explain = a.option("--explain", "PNG", "write an explanation heatmap over the photo to PNG");
  a.finish(0, 0);
  if (c.weights.empty()) throw tailor::cli::UsageError("--weights BUNDLE is required");
  if (!image) throw tailor::cli::UsageError("--image IMG is required");
  if (!text) throw tailor::cli::UsageError("--text TEXT is required");

  const Loaded loaded(c.weights, c.opt);
  const tailor::TryOn& model = loaded.model;
  tailor::TryOnSession s = model.session();
  const tailor::Image img = s.load_image(*image);
  const double decode_ms = s.timings().decode;
  const tailor::Score r = s.score(img, *text);
  tailor::TryOnTimings t = s.timings();
  t.decode = decode_ms;
  t.total += decode_ms;

  tailor::Explanation ex;
  if (explain) {
    ex = s.explain(img, *text);
    const tailor::Overlay o =
        tailor::overlay_heatmap(img.rgb(), img.width(), img.height(), ex.map.data(), int(ex.grid_h), int(ex.grid_w), ex.crop);
    tailor::write_png(*explain, o.rgb.data(), o.width, o.height);
  }

  if (as_json) {
    std::string out = "{\"logit\":" + json_float(r.logit()) + ",\"probability\":" + json_float(r.probability());
    if (r.logits.size() > 1)
      out += ",\"logits\":" + tailor::cli::json_float_array(r.logits.data(), r.logits.size()) +
             ",\"probabilities\":" + tailor::cli::json_float_array(r.probabilities.data(), r.probabilities.size());
    out += ",\"untrained\":" + json_list(model.untrained()) + ",\"timings_ms\":" + timings_json(t, loaded.ms);
    if (explain) {
      out += ",\"explain\":{\"heatmap\":" + json_string(*explain) + ",\"output\":" + std::to_string(ex.output) +
             ",\"logit\":" + json_float(ex.logit) + ",\"image_method\":" + json_string(ex.image_method) +
             ",\"grid\":[" + std::to_string(ex.grid_h) + "," + std::to_string(ex.grid_w) + "],\"map\":" +
             tailor::cli::json_float_array(ex.map.data(), ex.map.size());
      if (ex.image_method == "cam") out += ",\"image_part\":" + json_float(ex.image_part);
      out += ",\"token_method\":" + json_string(ex.token_method) + ",\"tokens\":[";
      for (size_t i = 0; i < ex.tokens.size(); ++i)
        out += std::string(i ? "," : "") + "{\"token\":" + json_string(ex.tokens[i]) + ",\"offsets\":[" +
               std::to_string(ex.offsets[i].first) + "," + std::to_string(ex.offsets[i].second) +
               "],\"contribution\":" + json_float(ex.token_contributions[i]) + "}";
      out += "]";
      if (ex.token_method == "exact") out += ",\"text_part\":" + json_float(ex.text_part);
      out += "}";
    }
    std::printf("%s}\n", out.c_str());
    warn_untrained(model);
    return 0;
  }
  warn_untrained(model);
  std::printf("logit        %s\n", json_float(r.logit()).c_str());
  std::printf("probability  %s\n", json_float(r.probability()).c_str());
  for (size_t i = 1; i < r.logits.size(); ++i)
    std::printf("output %zu     logit %s  probability %s\n", i, json_float(r.logits[i]).c_str(),
                json_float(r.probabilities[i]).c_str());
  if (!model.untrained().empty()) {
    std::string parts;
    for (const auto& p : model.untrained()) parts += (parts.empty() ? "" : ", ") + p;
    std::printf("untrained    %s (random weights: the score means nothing yet)\n", parts.c_str());
  }
  std::printf("%s\n", timings_line(t, loaded.ms).c_str());
  if (explain) {
    std::printf("heatmap      %s (%s, %lldx%lld grid over the centre crop the network saw)\n", explain->c_str(),
                ex.image_method == "cam" ? "exact class-activation map: each cell's share of the image part of the logit"
                                         : "occlusion: logit drop when the cell's patch is hidden",
                static_cast<long long>(ex.grid_h), static_cast<long long>(ex.grid_w));
    if (r.logits.size() > 1)
      std::printf("explained    output %lld (the highest logit, %s): the parts below are of its logit\n",
                  static_cast<long long>(ex.output), json_float(ex.logit).c_str());
    if (ex.image_method == "cam") std::printf("image part   %s (the cells sum to it)\n", json_float(ex.image_part).c_str());
    std::printf("tokens       %s:\n", what_tokens_mean(ex).c_str());
    for (size_t i = 0; i < ex.tokens.size(); ++i)
      std::printf("  %-18s %+.6f\n", ex.tokens[i].c_str(), double(ex.token_contributions[i]));
    if (ex.token_method == "exact") std::printf("text part    %s\n", json_float(ex.text_part).c_str());
  }
  return 0;
}

std::vector<std::string> read_catalog(const std::string& path) {
  std::vector<std::string> items;
  for (std::string& line : tailor::cli::split_lines(tailor::read_text_file(path, size_t(64) << 20)))
    if (line.find_first_not_of(" \t") != std::string::npos) items.push_back(std::move(line));  // blank lines skipped
  if (items.empty()) throw tailor::Error(tailor::ErrorCode::invalid_argument, path + ": no items", "one text per line");
  return items;
}

int run_rank(int argc, char** argv) {
  tailor::cli::Args a(argc, argv,
                      "rank --weights B (--image IMG --catalog texts.txt | --text TEXT --images DIR) [--top K] [--json]",
                      "Ranks a catalog of garment descriptions for one photo (the image tower runs once, the\n"
                      "texts in batches), or the photos of a folder for one description (the text tower runs\n"
                      "once). Best first by the first output's logit.");
  const Common c = common_options(a);
  const auto image = a.option("--image", "IMG", "the photo to rank texts for");
  const auto catalog = a.option("--catalog", "FILE", "texts to rank, one per line (blank lines skipped)");
  const auto text = a.option("--text", "TEXT", "the description to rank images for");
  const auto images = a.option("--images", "DIR", "a folder of PNG/JPEG photos to rank");
  const long long top = a.integer("--top", "how many to print (0: all)", 10, 0, 1'000'000'000);
  const long long batch = a.integer("--batch-size", "texts (or images) per tower batch, at most", 32, 1, 4096);
  const bool as_json = a.flag("--json", "one JSON object a line");
  a.finish(0, 0);
  if (c.weights.empty()) throw tailor::cli::UsageError("--weights BUNDLE is required");
  const bool by_image = image || catalog;
  if (by_image == (text || images))
    throw tailor::cli::UsageError("give --image IMG --catalog FILE, or --text TEXT --images DIR");
  if (by_image && !(image && catalog)) throw tailor::cli::UsageError("--image and --catalog go together");
  if (!by_image && !(text && images)) throw tailor::cli::UsageError("--text and --images go together");

  const Loaded loaded(c.weights, c.opt);
  const tailor::TryOn& model = loaded.model;
  tailor::TryOnSession s = model.session();
  s.set_text_batch_size(size_t(batch));
  tailor::cli::ProgressLine progress(by_image ? "texts" : "photos");
  s.set_progress([&](size_t done, size_t total) { progress(done, total); });
  std::vector<std::string> names;
  std::vector<tailor::RankedItem> ranked;
  double decode_ms = 0;
  size_t skipped = 0;  // photos that did not decode
  if (by_image) {
    names = read_catalog(*catalog);
    const tailor::Image img = s.load_image(*image);
    decode_ms = s.timings().decode;
    ranked = s.rank(img, names, size_t(top));
  } else {
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(*images, ec)) {
      std::string ext = e.path().extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
      if (e.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg")) files.push_back(e.path());
    }
    if (ec) throw tailor::Error(tailor::ErrorCode::io, *images + ": cannot list: " + ec.message(), "pass a folder of photos");
    std::sort(files.begin(), files.end());
    if (files.empty())
      throw tailor::Error(tailor::ErrorCode::invalid_argument, *images + ": no PNG or JPEG photos", "");
    for (const auto& f : files) names.push_back(f.string());
    // Decoded a batch at a time (a folder of any size in bounded memory); unreadable photos
    // are skipped with a warning.
    const tailor::Limits limits = c.opt.limits;
    ranked = s.rank_images(
        names.size(),
        [&](size_t i) -> std::optional<tailor::Image> {
          try {
            return tailor::Image::load(names[i], limits);
          } catch (const tailor::Error& e) {
            progress.clear();
            std::fprintf(stderr, "tailor: warning: skipping %s\n", e.what());
            ++skipped;
            return std::nullopt;
          }
        },
        *text, size_t(top), size_t(batch));
    if (skipped == names.size())
      throw tailor::Error(tailor::ErrorCode::invalid_argument, *images + ": no readable PNG or JPEG photos", "");
    decode_ms = s.timings().decode;
  }
  progress.clear();
  tailor::TryOnTimings t = s.timings();
  t.decode = decode_ms;
  if (by_image) t.total += decode_ms;  // (a folder's photos are decoded inside rank_images)
  warn_untrained(model);
  if (as_json) {
    for (size_t i = 0; i < ranked.size(); ++i) {
      const tailor::Score& sc = ranked[i].score;
      std::string extra;
      if (sc.logits.size() > 1)
        extra = ",\"logits\":" + tailor::cli::json_float_array(sc.logits.data(), sc.logits.size()) +
                ",\"probabilities\":" + tailor::cli::json_float_array(sc.probabilities.data(), sc.probabilities.size());
      std::printf("{\"rank\":%zu,\"item\":%s,\"logit\":%s,\"probability\":%s%s,\"untrained\":%s}\n", i + 1,
                  json_string(names[ranked[i].index]).c_str(), json_float(ranked[i].logit).c_str(),
                  json_float(ranked[i].probability).c_str(), extra.c_str(), json_list(model.untrained()).c_str());
    }
    return 0;
  }
  std::printf("%-5s %-13s %-12s %s\n", "rank", "logit", "probability", by_image ? "text" : "image");
  for (size_t i = 0; i < ranked.size(); ++i)
    std::printf("%-5zu %-13s %-12s %s\n", i + 1, json_float(ranked[i].logit).c_str(),
                json_float(ranked[i].probability).c_str(), names[ranked[i].index].c_str());
  std::printf("%zu %s ranked; %s\n", names.size() - skipped, by_image ? "texts" : "images", timings_line(t, loaded.ms).c_str());
  return 0;
}

}  // namespace

TAILOR_CLI_COMMAND("score", "score an (image, garment text) pair with a try-on bundle; --explain heatmaps", run_score);
TAILOR_CLI_COMMAND("rank", "rank garment texts for a photo, or photos for a text", run_rank);
