// tailor preprocess IMAGE --out x.npy [--weights B]: the torchvision eval transform of one
// image, written as a NumPy file, for users checking their own parity.
#include <cstdio>
#include <string>

#include "cli.hpp"
#include "tailor/image/image.hpp"
#include "tailor/image/preprocess.hpp"
#include "tailor/io/bundle.hpp"
#include "tailor/io/npy.hpp"

namespace {

int run_preprocess(int argc, char** argv) {
  tailor::cli::Args args(argc, argv, "preprocess IMAGE --out x.npy [--weights B] [--stage STAGE]",
                         "Decodes IMAGE (PNG or JPEG) to RGB as PIL's convert(\"RGB\") does and applies the\n"
                         "torchvision eval transform: Resize(short side, PIL antialiased bilinear),\n"
                         "CenterCrop, ToTensor, Normalize. Writes the float32 (1, 3, crop, crop) tensor as a\n"
                         ".npy file. Sizes, mean and std come from the bundle's tailor.preprocess with\n"
                         "--weights (256/224 for torchvision's V1 weights, 232/224 for V2); without it, the\n"
                         "standard ImageNet transform (resize 256, crop 224).\n"
                         "--stage writes an earlier stage instead, as uint8 (H, W, 3): rgb (the decoded image),\n"
                         "resized (after Resize), cropped (after CenterCrop); --stages-dir writes all of them.");
  args.positional("IMAGE", "a PNG or JPEG file");
  const auto out = args.option("--out", "FILE", "the .npy file to write (required)");
  const auto weights = args.option("--weights", "B", "take the transform from this bundle's tailor.preprocess");
  const long long resize = args.integer("--resize", "short side after Resize (overrides the bundle)", 0, 0, 4096);
  const long long crop = args.integer("--crop", "center crop size (overrides the bundle)", 0, 0, 4096);
  const std::string stage = args.option("--stage", "STAGE", "rgb | resized | cropped | tensor", "tensor");
  const auto stages_dir = args.option("--stages-dir", "DIR",
                                      "also write every stage there: rgb.npy, resized.npy, cropped.npy (uint8)");
  const auto pos = args.finish(1, 1);
  if (!out) throw tailor::cli::UsageError("--out FILE is required");
  if (stage != "rgb" && stage != "resized" && stage != "cropped" && stage != "tensor")
    throw tailor::cli::UsageError("--stage must be rgb, resized, cropped or tensor, not '" + stage + "'");

  tailor::Preprocess pre = tailor::Preprocess::imagenet();
  if (weights) {
    tailor::BundleOptions bo;
    bo.check_finite = false;  // only the metadata is read
    const tailor::Bundle b = tailor::Bundle::open(*weights, bo);
    pre = tailor::Preprocess::from_json(b.preprocess(), b.path() + ": tailor.preprocess");
  }
  if (resize) pre.resize = int(resize);
  if (crop) pre.crop = int(crop);

  const tailor::Image img = tailor::Image::load(pos[0]);
  if (stages_dir) {
    const tailor::Image resized = pre.resized(img), cropped = pre.cropped(img);
    for (const auto& [name, im] : {std::pair<const char*, const tailor::Image*>{"rgb", &img}, {"resized", &resized},
                                   {"cropped", &cropped}})
      tailor::write_npy(*stages_dir + "/" + name + ".npy", im->rgb(), {im->height(), im->width(), 3});
  }
  std::vector<int64_t> shape;
  if (stage == "tensor") {
    const std::vector<float> x = pre.run(img);
    shape = {1, 3, pre.crop, pre.crop};
    tailor::write_npy(*out, x.data(), shape);
  } else {
    const tailor::Image s = stage == "rgb" ? img : stage == "resized" ? pre.resized(img) : pre.cropped(img);
    shape = {s.height(), s.width(), 3};
    tailor::write_npy(*out, s.rgb(), shape);
  }
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? "," : "") + std::to_string(shape[i]);
  std::printf("{\"image\":%s,\"out\":%s,\"stage\":\"%s\",\"shape\":[%s],\"resize\":%d,\"crop\":%d,\"interpolation\":\"%s\"}\n",
              tailor::cli::json_string(pos[0]).c_str(), tailor::cli::json_string(*out).c_str(), stage.c_str(), dims.c_str(),
              pre.resize, pre.crop, tailor::to_string(pre.interpolation));
  return 0;
}

}  // namespace

TAILOR_CLI_COMMAND("preprocess", "write an image's normalized input tensor (torchvision transform) as .npy", run_preprocess);
