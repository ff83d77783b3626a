// tailor classify --weights B [--top K] [--labels F] IMAGE...: ImageNet-style classification
// with the ResNet50 tower: the top K classes of each image with their softmax probabilities.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "cli.hpp"
#include "cli_device.hpp"
#include "tailor/image/image.hpp"
#include "tailor/io/bundle.hpp"
#include "tailor/models/resnet50.hpp"

namespace {

int run_classify(int argc, char** argv) {
  tailor::cli::Args args(argc, argv, "classify --weights B [--top K] [--labels F] [--json] IMAGE...",
                         "Classifies images with a ResNet50 bundle: prints the top K classes of each image\n"
                         "with softmax probabilities. Class names come from --labels (one a line), else from\n"
                         "the bundle's tailor.labels (torchvision's ImageNet names for 1000-class models,\n"
                         "also in examples/data/imagenet_classes.txt), else \"class N\".");
  args.positional("IMAGE", "PNG or JPEG files");
  const auto weights = args.option("--weights", "B", "a resnet50 bundle with an fc layer (required)");
  const long long top = args.integer("--top", "classes to print per image", 5, 1, 1000000);
  const auto labels_file = args.option("--labels", "F", "class names, one a line");
  const bool as_json = args.flag("--json", "print one JSON line per image");
  const long long threads = args.integer("--threads", "threads (0: all cores, or $TAILOR_NUM_THREADS)", 0, 0, 1024);
  const long long batch = args.integer("--batch-size", "images run together", 8, 1, 1024);
  tailor::Options opt;
  tailor::cli::device_options(args, opt);
  const auto images = args.finish(1);
  if (!weights) throw tailor::cli::UsageError("--weights B is required");

  opt.threads = int(threads);
  const tailor::Bundle bundle = tailor::Bundle::open(*weights);
  tailor::cli::ImageTower model(bundle, opt);  // CPU or GPU (--device)
  const int64_t nc = model.num_classes();
  if (nc == 0)
    throw tailor::Error(tailor::ErrorCode::invalid_argument, *weights + ": the model has no fc layer (features only)",
                        "classify needs a model with its classifier; use image-features for features");
  std::vector<std::string> labels;
  if (labels_file) {
    std::ifstream f(*labels_file, std::ios::binary);
    if (!f) throw tailor::Error(tailor::ErrorCode::io, *labels_file + ": cannot open", "check the path");
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    labels = tailor::cli::split_lines(text);
    while (!labels.empty() && labels.back().empty()) labels.pop_back();
    if (int64_t(labels.size()) != nc)
      throw tailor::Error(tailor::ErrorCode::shape,
                          *labels_file + ": has " + std::to_string(labels.size()) + " labels but the model has " +
                              std::to_string(nc) + " classes",
                          "pass the label file that belongs to these weights");
  } else if (auto meta = bundle.file().meta("tailor.labels")) {
    labels = tailor::cli::split_lines(*meta);
    if (int64_t(labels.size()) != nc) labels.clear();  // damaged metadata: fall back to numbers
  }
  if (model.untrained())
    std::fprintf(stderr, "tailor: warning: %s: the image tower is untrained (random weights): the classes are noise\n",
                 weights->c_str());
  tailor::cli::ImageTower& session = model;
  const int64_t k = std::min<int64_t>(top, nc);

  for (size_t b0 = 0; b0 < images.size(); b0 += size_t(batch)) {
    const size_t nb = std::min(size_t(batch), images.size() - b0);
    std::vector<tailor::Image> imgs;
    for (size_t i = 0; i < nb; ++i) imgs.push_back(tailor::Image::load(images[b0 + i], opt.limits));
    const tailor::ResNetOutput r = session.forward(imgs);
    for (size_t i = 0; i < nb; ++i) {
      const float* z = r.logits.data() + i * size_t(nc);
      // Softmax in double: stable (max subtracted) and exact enough for printing.
      const double zmax = *std::max_element(z, z + nc);
      double sum = 0;
      for (int64_t c = 0; c < nc; ++c) sum += std::exp(double(z[c]) - zmax);
      std::vector<int64_t> idx(static_cast<size_t>(nc));
      std::iota(idx.begin(), idx.end(), 0);
      std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int64_t a, int64_t b) {
        return z[a] > z[b] || (z[a] == z[b] && a < b);
      });
      auto name = [&](int64_t c) { return labels.empty() ? "class " + std::to_string(c) : labels[size_t(c)]; };
      if (as_json) {
        std::string o = "{\"image\":" + tailor::cli::json_string(images[b0 + i]) + ",\"top\":[";
        for (int64_t j = 0; j < k; ++j) {
          const int64_t c = idx[size_t(j)];
          o += std::string(j ? "," : "") + "{\"class\":" + std::to_string(c) + ",\"label\":" +
               tailor::cli::json_string(name(c)) + ",\"probability\":" +
               tailor::cli::json_float(std::exp(double(z[c]) - zmax) / sum) + ",\"logit\":" +
               tailor::cli::json_float(z[c]) + "}";
        }
        std::printf("%s]}\n", o.c_str());
      } else {
        std::printf("%s\n", images[b0 + i].c_str());
        for (int64_t j = 0; j < k; ++j) {
          const int64_t c = idx[size_t(j)];
          std::printf("  %2lld. %-40s %6.2f%%  (class %lld)\n", static_cast<long long>(j + 1), name(c).c_str(),
                      100.0 * std::exp(double(z[c]) - zmax) / sum, static_cast<long long>(c));
        }
      }
    }
  }
  return 0;
}

}  // namespace

TAILOR_CLI_COMMAND("classify", "top-K ImageNet classes of images with a ResNet50 bundle", run_classify);
