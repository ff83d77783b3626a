// tailor/image/preprocess.hpp: the torchvision ImageNet eval transform, reproduced exactly.
//
//   transforms.Compose([Resize(S), CenterCrop(C), ToTensor(), Normalize(mean, std)])
//   (and torchvision.models.ResNet50_Weights.*.transforms(), i.e. _presets.ImageClassification,
//   which computes the same thing)
// applied to the RGB8 image PIL's convert("RGB") gives:
//   Resize(S)      torchvision _compute_resized_output_size: the short side becomes S, the
//                  long side int(S * long / short) (truncated, Python float division); then
//                  PIL's antialiased resize (image/resample.hpp, identical uint8 result).
//   CenterCrop(C)  top = int(round((h - C) / 2.0)), left likewise, with Python's round (half to
//                  even); when C exceeds a side, zero padding first as torchvision's
//                  center_crop does ((C - w) // 2 left, (C - w + 1) // 2 right).
//   ToTensor       float32(v) / 255, (3, C, C) planar
//   Normalize      (x - mean[c]) / std[c] in float32
// Only the cropped window of the resize is computed (same values, a fraction of the work).
// Sizes, mean, std and interpolation come from a bundle's `tailor.preprocess`
// ({"resize": 256, "crop": 224, "mean": [...], "std": [...], "interpolation": "bilinear"}):
// 256/224 for torchvision's V1 ResNet50 weights, 232/224 for V2.
#pragma once

#include <algorithm>
#include <array>
#include <cstring>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tailor/core/error.hpp"
#include "tailor/image/image.hpp"
#include "tailor/image/resample.hpp"
#include "tailor/io/config.hpp"

namespace tailor {

struct Preprocess {
  /// Short side after Resize.
  int resize = 256;
  /// Side of the center crop (the network's input is crop x crop).
  int crop = 224;
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> stddev{0.229f, 0.224f, 0.225f};
  Interpolation interpolation = Interpolation::bilinear;

  static constexpr int kMaxSide = 4096;

  /// The standard ImageNet transform (ImageNet mean/std, bilinear).
  static Preprocess imagenet(int resize = 256, int crop = 224) {
    Preprocess p;
    p.resize = resize;
    p.crop = crop;
    p.validate("Preprocess::imagenet");
    return p;
  }

  /// From a bundle's tailor.preprocess object; missing keys take the ImageNet defaults.
  static Preprocess from_json(const nlohmann::json& j, const std::string& where = "tailor.preprocess") {
    Preprocess p;
    if (j.is_null()) return p;
    const detail::ConfigReader r{j, where};
    if (!j.is_object()) r.bad("(preprocess)", "is not a JSON object");
    p.resize = side(r, j, "resize", p.resize);
    p.crop = side(r, j, "crop", p.crop);
    p.mean = triple(r, j, "mean", p.mean, false);
    p.stddev = triple(r, j, "std", p.stddev, true);
    if (r.has("interpolation")) {
      const auto& v = j.at("interpolation");
      if (!v.is_string()) r.bad("interpolation", "is not a string");
      try {
        p.interpolation = interpolation_from_name(v.get<std::string>());
      } catch (const Error& e) {
        r.bad("interpolation", e.message());
      }
    }
    p.validate(where);
    return p;
  }

  nlohmann::json to_json() const {
    return {{"resize", resize},
            {"crop", crop},
            {"mean", {mean[0], mean[1], mean[2]}},
            {"std", {stddev[0], stddev[1], stddev[2]}},
            {"interpolation", to_string(interpolation)}};
  }

  /// torchvision's Resize(resize) output size (width, height) for a w x h image.
  std::pair<int, int> resized_size(int w, int h) const {
    const int64_t shorter = std::min(w, h), longer = std::max(w, h);
    // int(S * long / short): exact integer product, one correctly rounded double division
    // (as Python's true division), truncated.
    const int64_t new_long = int64_t(double(int64_t(resize) * longer) / double(shorter));
    const int64_t nl = std::max<int64_t>(new_long, 1);
    TAILOR_CHECK(nl <= (int64_t(1) << 24), ErrorCode::limit,
                 "resizing a " + std::to_string(w) + "x" + std::to_string(h) + " image to short side " +
                     std::to_string(resize) + " would make the long side " + std::to_string(nl),
                 "the image's aspect ratio is extreme; crop it first");
    return w <= h ? std::pair<int, int>{resize, int(nl)} : std::pair<int, int>{int(nl), resize};
  }

  /// The resized image (the Resize stage alone), for parity checks.
  Image resized(const Image& img) const {
    const auto [nw, nh] = resized_size(img.width(), img.height());
    if (nw == img.width() && nh == img.height()) return img;
    return tailor::resize(img, nw, nh, interpolation);
  }

  /// Resize + CenterCrop as uint8 (crop, crop, 3).
  Image cropped(const Image& img) const {
    std::vector<uint8_t> buf(size_t(crop) * size_t(crop) * 3);
    resize_crop(img, buf.data());
    return Image::from_rgb(buf.data(), crop, crop);
  }

  /// The whole transform: out_chw (3, crop, crop) float32, normalized.
  void run(const Image& img, float* out_chw) const {
    TAILOR_CHECK(out_chw != nullptr, ErrorCode::invalid_argument, "Preprocess::run: null output", "");
    std::vector<uint8_t> buf(size_t(crop) * size_t(crop) * 3);
    resize_crop(img, buf.data());
    normalize(buf.data(), out_chw);
  }
  std::vector<float> run(const Image& img) const {
    std::vector<float> out(size_t(3) * size_t(crop) * size_t(crop));
    run(img, out.data());
    return out;
  }
  /// Floats run() writes: 3 * crop * crop.
  size_t output_size() const { return size_t(3) * size_t(crop) * size_t(crop); }

  /// ToTensor + Normalize of an RGB8 (crop, crop, 3) buffer into (3, crop, crop).
  void normalize(const uint8_t* hwc, float* chw) const {
    const size_t plane = size_t(crop) * size_t(crop);
    for (int c = 0; c < 3; ++c) {
      const float m = mean[size_t(c)], s = stddev[size_t(c)];
      float* o = chw + size_t(c) * plane;
      // Two float32 roundings, as torch: img.float().div(255), then .sub_(mean).div_(std).
      for (size_t i = 0; i < plane; ++i) o[i] = (float(hwc[3 * i + size_t(c)]) / 255.0f - m) / s;
    }
  }

 private:
  static int side(const detail::ConfigReader& r, const nlohmann::json& j, const char* key, int fallback) {
    if (!r.has(key)) return fallback;
    const auto& v = j.at(key);
    if (v.is_array()) {
      if (v.size() != 1 && !(v.size() == 2 && v[0] == v[1]))
        r.bad(key, "must be one size (a square crop / the short side), not " + v.dump());
      const auto& e = v[0];
      if (!e.is_number_integer() || e.get<int64_t>() < 1 || e.get<int64_t>() > kMaxSide)
        r.bad(key, "must be an integer in 1.." + std::to_string(kMaxSide));
      return int(e.get<int64_t>());
    }
    return int(r.integer(key, 1, kMaxSide));
  }
  static std::array<float, 3> triple(const detail::ConfigReader& r, const nlohmann::json& j, const char* key,
                                     std::array<float, 3> fallback, bool positive) {
    if (!r.has(key)) return fallback;
    const auto& v = j.at(key);
    if (!v.is_array() || v.size() != 3) r.bad(key, "must be a list of 3 numbers (R, G, B)");
    std::array<float, 3> out{};
    for (size_t i = 0; i < 3; ++i) {
      if (!v[i].is_number()) r.bad(key, "must hold numbers");
      const double x = v[i].get<double>();
      if (!std::isfinite(x) || std::fabs(x) > 1e6 || (positive && !(x > 0)))
        r.bad(key, positive ? "must hold finite positive numbers" : "must hold finite numbers");
      out[i] = float(x);  // torch.tensor(mean) is float32
    }
    return out;
  }
  void validate(const std::string& where) const {
    TAILOR_CHECK(resize >= 1 && resize <= kMaxSide && crop >= 1 && crop <= kMaxSide, ErrorCode::invalid_argument,
                 where + ": resize " + std::to_string(resize) + " / crop " + std::to_string(crop) + " out of range 1.." +
                     std::to_string(kMaxSide),
                 "");
    for (float s : stddev)
      TAILOR_CHECK(s > 0 && std::isfinite(s), ErrorCode::invalid_argument, where + ": std must be positive", "");
  }

  static int round_half_even_half(int64_t d) {
    // int(round(d / 2.0)) with Python's banker's rounding; d >= 0 here.
    if (d % 2 == 0) return int(d / 2);
    const int64_t lo = (d - 1) / 2, hi = (d + 1) / 2;
    return int(lo % 2 == 0 ? lo : hi);
  }

  /// Resize + CenterCrop into out (crop, crop, 3).
  void resize_crop(const Image& img, uint8_t* out) const {
    TAILOR_CHECK(!img.empty(), ErrorCode::invalid_argument, "preprocess of an empty image", "");
    const auto [nw, nh] = resized_size(img.width(), img.height());
    // torchvision center_crop: zero-pad a side shorter than the crop, then crop.
    const int pad_l = crop > nw ? (crop - nw) / 2 : 0, pad_r = crop > nw ? (crop - nw + 1) / 2 : 0;
    const int pad_t = crop > nh ? (crop - nh) / 2 : 0, pad_b = crop > nh ? (crop - nh + 1) / 2 : 0;
    const int pw = nw + pad_l + pad_r, ph = nh + pad_t + pad_b;
    const int left = round_half_even_half(pw - crop), top = round_half_even_half(ph - crop);
    // The crop window in resized-image coordinates, clipped to the image.
    const int x0 = std::max(left - pad_l, 0), x1 = std::min(left - pad_l + crop, nw);
    const int y0 = std::max(top - pad_t, 0), y1 = std::min(top - pad_t + crop, nh);
    if (x0 == left - pad_l && y0 == top - pad_t && x1 - x0 == crop && y1 - y0 == crop) {
      resample_rgb_window(img.rgb(), img.width(), img.height(), nw, nh, x0, y0, crop, crop, interpolation, out);
      return;
    }
    std::fill(out, out + size_t(crop) * size_t(crop) * 3, uint8_t(0));
    if (x1 <= x0 || y1 <= y0) return;
    std::vector<uint8_t> win(size_t(x1 - x0) * size_t(y1 - y0) * 3);
    resample_rgb_window(img.rgb(), img.width(), img.height(), nw, nh, x0, y0, x1 - x0, y1 - y0, interpolation, win.data());
    const int ox = x0 - (left - pad_l), oy = y0 - (top - pad_t);
    for (int y = y0; y < y1; ++y)
      std::memcpy(out + (size_t(y - y0 + oy) * size_t(crop) + size_t(ox)) * 3, win.data() + size_t(y - y0) * size_t(x1 - x0) * 3,
                  size_t(x1 - x0) * 3);
  }
};

}  // namespace tailor
