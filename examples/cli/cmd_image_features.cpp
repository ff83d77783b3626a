// tailor image-features --weights B [--output pooled|logits] (IMAGE... | --tensor x.npy):
// ResNet50 features of images (or of an already-normalized input tensor), one JSON line each.
#include <cstdio>
#include <string>
#include <vector>

#include "cli.hpp"
#include "cli_device.hpp"
#include "tailor/image/image.hpp"
#include "tailor/io/bundle.hpp"
#include "tailor/io/npy.hpp"
#include "tailor/models/resnet50.hpp"

namespace {

int run_image_features(int argc, char** argv) {
  tailor::cli::Args args(argc, argv,
                         "image-features --weights B [--output pooled|logits] (IMAGE... | --tensor x.npy)",
                         "Runs the ResNet50 image tower and prints one JSON line per image:\n"
                         "  {\"image\":\"...\",\"features\":[...]}\n"
                         "pooled: the 2048 average-pooled features; logits: the fc output (num_classes).\n"
                         "Images (PNG/JPEG) go through the bundle's torchvision transform (tailor.preprocess).\n"
                         "--tensor takes a float32 .npy of shape [N, 3, H, W], already normalized (as\n"
                         "`tailor preprocess` or torchvision writes it); its lines name \"x.npy[i]\".");
  args.positional("IMAGE", "PNG or JPEG files");
  const auto weights = args.option("--weights", "B", "a resnet50 bundle (required)");
  const std::string output = args.option("--output", "WHAT", "pooled | logits", "pooled");
  const auto tensor = args.option("--tensor", "x.npy", "run this [N, 3, H, W] float32 tensor instead of images");
  const long long threads = args.integer("--threads", "threads (0: all cores, or $TAILOR_NUM_THREADS)", 0, 0, 1024);
  const long long batch = args.integer("--batch-size", "images run together", 8, 1, 1024);
  tailor::Options opt;
  tailor::cli::device_options(args, opt);
  const auto images = args.finish(0);
  if (!weights) throw tailor::cli::UsageError("--weights B is required");
  if (output != "pooled" && output != "logits")
    throw tailor::cli::UsageError("--output must be pooled or logits, not '" + output + "'");
  if (tensor && !images.empty()) throw tailor::cli::UsageError("give images or --tensor, not both");
  if (!tensor && images.empty()) throw tailor::cli::UsageError("no images (or --tensor x.npy) given");

  opt.threads = int(threads);
  const tailor::Bundle bundle = tailor::Bundle::open(*weights);
  tailor::cli::ImageTower model(bundle, opt);  // CPU or GPU (--device)
  if (output == "logits" && model.num_classes() == 0)
    throw tailor::Error(tailor::ErrorCode::invalid_argument, *weights + ": the model has no fc layer (features only)",
                        "use --output pooled");
  if (model.untrained())
    std::fprintf(stderr, "tailor: warning: %s: the image tower is untrained (random weights)\n", weights->c_str());
  tailor::cli::ImageTower& session = model;

  auto print = [&](const std::string& name, const tailor::ResNetOutput& r, int64_t i) {
    const bool logits = output == "logits";
    const int64_t d = logits ? r.num_classes : r.feature_dim;
    const float* p = (logits ? r.logits.data() : r.pooled.data()) + i * d;
    std::printf("{\"image\":%s,\"features\":%s}\n", tailor::cli::json_string(name).c_str(),
                tailor::cli::json_float_array(p, size_t(d)).c_str());
  };

  if (tensor) {
    const tailor::NpyArray arr = tailor::read_npy(*tensor);
    if (arr.shape.size() != 4 || arr.shape[1] != 3)
      throw tailor::Error(tailor::ErrorCode::shape,
                          *tensor + ": has shape (" + [&] {
                            std::string s;
                            for (size_t i = 0; i < arr.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(arr.shape[i]);
                            return s;
                          }() + "), not [N, 3, H, W]",
                          "write the normalized input batch, e.g. with `tailor preprocess`");
    if (arr.type == tailor::NpyType::u8)
      throw tailor::Error(tailor::ErrorCode::invalid_argument, *tensor + ": holds uint8 pixels, not a normalized float tensor",
                          "pass float32 values after ToTensor + Normalize");
    const std::vector<float> x = arr.to_f32();
    const int64_t n = arr.shape[0], h = arr.shape[2], w = arr.shape[3];
    if (n == 0) throw tailor::Error(tailor::ErrorCode::invalid_argument, *tensor + ": holds no images (N = 0)", "");
    for (int64_t b0 = 0; b0 < n; b0 += batch) {
      const int64_t nb = std::min<int64_t>(batch, n - b0);
      const tailor::ResNetOutput r = session.forward(x.data() + size_t(b0 * 3 * h * w), nb, h, w);
      for (int64_t i = 0; i < nb; ++i) print(*tensor + "[" + std::to_string(b0 + i) + "]", r, i);
    }
    return 0;
  }
  for (size_t b0 = 0; b0 < images.size(); b0 += size_t(batch)) {
    const size_t nb = std::min(size_t(batch), images.size() - b0);
    std::vector<tailor::Image> imgs;
    for (size_t i = 0; i < nb; ++i) imgs.push_back(tailor::Image::load(images[b0 + i], opt.limits));
    const tailor::ResNetOutput r = session.forward(imgs);
    for (size_t i = 0; i < nb; ++i) print(images[b0 + i], r, int64_t(i));
  }
  return 0;
}

}  // namespace

TAILOR_CLI_COMMAND("image-features", "ResNet50 pooled features or logits of images (JSON lines)", run_image_features);
