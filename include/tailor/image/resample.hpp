// tailor/image/resample.hpp: PIL's antialiased resize, ported bit for bit.
//
// Follows Pillow's src/libImaging/Resample.c (ImagingResample -> ImagingResampleInner,
// precompute_coeffs, normalize_coeffs_8bpc, ImagingResampleHorizontal_8bpc /
// ImagingResampleVertical_8bpc), which `PIL.Image.resize(size, filter)` runs for RGB images
// and torchvision's Resize uses on PIL images:
//   - separable filter (bilinear = triangle, bicubic a = -0.5, lanczos 3, box, hamming),
//     stretched by the scale when downscaling (support = filter support * scale): that is the
//     antialiasing;
//   - per output pixel, taps [xmin, xmin + xmax) with xmin = (int)(center - support + 0.5),
//     weights filter((x + xmin - center + 0.5) / filterscale) normalised to sum 1 (double),
//     then rounded to 22-bit fixed point: (int)(0.5 + w * 2^22) (-0.5 for negative w);
//   - two passes, horizontal first (over the source rows the vertical pass needs), each
//     accumulating uint8 x int32 from 2^21 (rounding) and clipping `acc >> 22` to 0..255, so
//     the intermediate image is uint8 exactly as in Pillow; a pass whose size does not change
//     is skipped.
// The result is identical to Pillow's for every input (tested against PIL). Every output
// pixel depends only on its own coefficients, so resample_rgb_window() can produce just a
// window of the full result (the center crop) with the same values and a fraction of the work.
//
// Numerics note: the coefficient arithmetic is double precision, as in Pillow. A compiler
// that fuses a multiply and an add into one FMA (GCC's default -ffp-contract=fast with
// -march=native, clang's "on") rounds differently from Pillow's build and can flip a weight's
// last bit, so every product that could be fused goes through detail::rounded_mul().
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tailor/core/error.hpp"
#include "tailor/image/image.hpp"

namespace tailor {

/// PIL resampling filters (torchvision InterpolationMode names). NEAREST is not offered:
/// PIL implements it with a different code path (an affine transform).
enum class Interpolation { bilinear, bicubic, lanczos, box, hamming };

inline const char* to_string(Interpolation f) noexcept {
  switch (f) {
    case Interpolation::bilinear: return "bilinear";
    case Interpolation::bicubic: return "bicubic";
    case Interpolation::lanczos: return "lanczos";
    case Interpolation::box: return "box";
    case Interpolation::hamming: return "hamming";
  }
  return "?";
}

/// Parses a torchvision interpolation name ("bilinear", "InterpolationMode.BILINEAR", any case).
inline Interpolation interpolation_from_name(std::string s) {
  for (auto& c : s) c = char(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (s.rfind("interpolationmode.", 0) == 0) s = s.substr(18);
  if (s == "bilinear" || s == "linear") return Interpolation::bilinear;
  if (s == "bicubic" || s == "cubic") return Interpolation::bicubic;
  if (s == "lanczos") return Interpolation::lanczos;
  if (s == "box") return Interpolation::box;
  if (s == "hamming") return Interpolation::hamming;
  detail::fail(ErrorCode::unsupported, "interpolation '" + s + "' is not supported",
               "use bilinear (torchvision's default), bicubic, lanczos, box or hamming");
}

namespace detail {

/// a * b rounded to double on its own, never fused with a neighbouring add (see file top).
inline double rounded_mul(double a, double b) {
  volatile double p = a * b;
  return p;
}

constexpr int kResamplePrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS

inline double resample_filter(Interpolation f, double x) {
  constexpr double kPi = 3.14159265358979323846;  // M_PI
  switch (f) {
    case Interpolation::box:
      return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
    case Interpolation::bilinear:
      if (x < 0.0) x = -x;
      return x < 1.0 ? 1.0 - x : 0.0;
    case Interpolation::hamming: {
      if (x < 0.0) x = -x;
      if (x == 0.0) return 1.0;
      if (x >= 1.0) return 0.0;
      x = x * kPi;
      return std::sin(x) / x * (double(0.54f) + rounded_mul(double(0.46f), std::cos(x)));
    }
    case Interpolation::bicubic: {
      constexpr double a = -0.5;
      if (x < 0.0) x = -x;
      if (x < 1.0) return rounded_mul(rounded_mul(rounded_mul(a + 2.0, x) - (a + 3.0), x), x) + 1;
      if (x < 2.0) return rounded_mul(rounded_mul(rounded_mul(x - 5, x) + 8, x) - 4, a);
      return 0.0;
    }
    case Interpolation::lanczos: {
      auto sinc = [&](double v) {
        if (v == 0.0) return 1.0;
        v = v * kPi;
        return std::sin(v) / v;
      };
      if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
      return 0.0;
    }
  }
  return 0.0;
}

inline double resample_support(Interpolation f) {
  switch (f) {
    case Interpolation::box: return 0.5;
    case Interpolation::bilinear: return 1.0;
    case Interpolation::hamming: return 1.0;
    case Interpolation::bicubic: return 2.0;
    case Interpolation::lanczos: return 3.0;
  }
  return 1.0;
}

/// Fixed-point coefficients of outputs [o0, o1) of a resize from in_size to out_size.
struct ResampleCoeffs {
  int ksize = 0;
  std::vector<int> xmin, count;  // per output: first tap, number of taps
  std::vector<int32_t> k;        // (o1 - o0, ksize)
};

/// Pillow's precompute_coeffs + normalize_coeffs_8bpc for outputs [o0, o1); box = (0, in_size).
inline ResampleCoeffs resample_coeffs(int in_size, int out_size, int o0, int o1, Interpolation f) {
  ResampleCoeffs c;
  const float in0 = 0.0f, in1 = float(in_size);
  double filterscale, scale;
  filterscale = scale = double(in1 - in0) / out_size;
  if (filterscale < 1.0) filterscale = 1.0;
  const double support = rounded_mul(resample_support(f), filterscale);
  c.ksize = int(std::ceil(support)) * 2 + 1;
  const int n = o1 - o0;
  c.xmin.resize(size_t(n));
  c.count.resize(size_t(n));
  c.k.assign(size_t(n) * size_t(c.ksize), 0);
  std::vector<double> kk(size_t(c.ksize));
  for (int xx = o0; xx < o1; ++xx) {
    const double center = in0 + rounded_mul(xx + 0.5, scale);
    double ww = 0.0;
    const double ss = 1.0 / filterscale;
    int xmin = int(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    for (int x = 0; x < xmax; ++x) {
      // Barrier: a lanczos/hamming weight is a product that `ww += w` could otherwise fuse.
      const double w = rounded_mul(resample_filter(f, rounded_mul(x + xmin - center + 0.5, ss)), 1.0);
      kk[size_t(x)] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x)
      if (ww != 0.0) kk[size_t(x)] /= ww;
    int32_t* k = &c.k[size_t(xx - o0) * size_t(c.ksize)];
    for (int x = 0; x < xmax; ++x) {
      // Exact: the product with 2^22 is a power-of-two scaling.
      const double v = kk[size_t(x)];
      k[x] = v < 0 ? int32_t(-0.5 + v * (1 << kResamplePrecisionBits)) : int32_t(0.5 + v * (1 << kResamplePrecisionBits));
    }
    c.xmin[size_t(xx - o0)] = xmin;
    c.count[size_t(xx - o0)] = xmax;
  }
  return c;
}

inline uint8_t resample_clip8(int32_t in) {
  const int32_t v = in >> kResamplePrecisionBits;  // arithmetic shift, as Pillow's lookup index
  return v < 0 ? 0 : v > 255 ? 255 : uint8_t(v);
}

}  // namespace detail

/// The window [x0, x0 + ow) x [y0, y0 + oh) of PIL's `img.resize((out_w, out_h), filter)` of the
/// RGB8 image `src` (w x h, tightly packed), written to dst (oh, ow, 3). Identical to cropping
/// Pillow's full result.
inline void resample_rgb_window(const uint8_t* src, int w, int h, int out_w, int out_h, int x0, int y0, int ow, int oh,
                                Interpolation filter, uint8_t* dst) {
  TAILOR_CHECK(w >= 1 && h >= 1 && out_w >= 1 && out_h >= 1, ErrorCode::invalid_argument,
               "resize from " + std::to_string(w) + "x" + std::to_string(h) + " to " + std::to_string(out_w) + "x" +
                   std::to_string(out_h) + ": sizes must be at least 1",
               "");
  TAILOR_CHECK(x0 >= 0 && y0 >= 0 && ow >= 1 && oh >= 1 && x0 + ow <= out_w && y0 + oh <= out_h,
               ErrorCode::invalid_argument, "resize window outside the output image", "");
  const bool need_h = out_w != w, need_v = out_h != h;
  using detail::ResampleCoeffs;
  constexpr int32_t kHalf = 1 << (detail::kResamplePrecisionBits - 1);

  // Source rows the output rows need.
  ResampleCoeffs cv;
  int row_first = y0, row_last = y0 + oh;  // [first, last) of source rows used
  if (need_v) {
    cv = detail::resample_coeffs(h, out_h, y0, y0 + oh, filter);
    row_first = cv.xmin[0];
    row_last = cv.xmin[size_t(oh - 1)] + cv.count[size_t(oh - 1)];
    for (int i = 0; i < oh; ++i) {
      row_first = std::min(row_first, cv.xmin[size_t(i)]);
      row_last = std::max(row_last, cv.xmin[size_t(i)] + cv.count[size_t(i)]);
    }
  }
  const int rows = row_last - row_first;

  // Horizontal pass over those rows: tmp (rows, ow, 3).
  std::vector<uint8_t> tmp;
  const uint8_t* hsrc;  // (rows, ow, 3) with row stride hstride
  size_t hstride;
  if (need_h) {
    const ResampleCoeffs ch = detail::resample_coeffs(w, out_w, x0, x0 + ow, filter);
    tmp.resize(size_t(rows) * size_t(ow) * 3);
    for (int y = 0; y < rows; ++y) {
      const uint8_t* in = src + size_t(row_first + y) * size_t(w) * 3;
      uint8_t* out = tmp.data() + size_t(y) * size_t(ow) * 3;
      for (int xx = 0; xx < ow; ++xx) {
        const int32_t* k = &ch.k[size_t(xx) * size_t(ch.ksize)];
        const uint8_t* p = in + size_t(ch.xmin[size_t(xx)]) * 3;
        int32_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
        for (int x = 0, n = ch.count[size_t(xx)]; x < n; ++x) {
          s0 += int32_t(p[3 * x]) * k[x];
          s1 += int32_t(p[3 * x + 1]) * k[x];
          s2 += int32_t(p[3 * x + 2]) * k[x];
        }
        out[3 * xx] = detail::resample_clip8(s0);
        out[3 * xx + 1] = detail::resample_clip8(s1);
        out[3 * xx + 2] = detail::resample_clip8(s2);
      }
    }
    hsrc = tmp.data();
    hstride = size_t(ow) * 3;
  } else {
    hsrc = src + size_t(row_first) * size_t(w) * 3 + size_t(x0) * 3;
    hstride = size_t(w) * 3;
  }

  // Vertical pass.
  const size_t orow = size_t(ow) * 3;
  if (!need_v) {
    for (int y = 0; y < oh; ++y) std::memcpy(dst + size_t(y) * orow, hsrc + size_t(y) * hstride, orow);
    return;
  }
  std::vector<int32_t> acc(orow);
  for (int yy = 0; yy < oh; ++yy) {
    const int32_t* k = &cv.k[size_t(yy) * size_t(cv.ksize)];
    const int ymin = cv.xmin[size_t(yy)] - row_first;
    std::fill(acc.begin(), acc.end(), kHalf);
    for (int y = 0, n = cv.count[size_t(yy)]; y < n; ++y) {
      const uint8_t* in = hsrc + size_t(ymin + y) * hstride;
      const int32_t ky = k[y];
      for (size_t i = 0; i < orow; ++i) acc[i] += int32_t(in[i]) * ky;
    }
    uint8_t* out = dst + size_t(yy) * orow;
    for (size_t i = 0; i < orow; ++i) out[i] = detail::resample_clip8(acc[i]);
  }
}

/// PIL's `img.resize((out_w, out_h), filter)` of an RGB image, in full.
inline Image resize(const Image& img, int out_w, int out_h, Interpolation filter = Interpolation::bilinear) {
  TAILOR_CHECK(!img.empty(), ErrorCode::invalid_argument, "resize of an empty image", "");
  TAILOR_CHECK(out_w >= 1 && out_h >= 1 && int64_t(out_w) * out_h <= (int64_t(1) << 31), ErrorCode::invalid_argument,
               "resize to " + std::to_string(out_w) + "x" + std::to_string(out_h) + " is out of range", "");
  std::vector<uint8_t> out(size_t(out_w) * size_t(out_h) * 3);
  resample_rgb_window(img.rgb(), img.width(), img.height(), out_w, out_h, 0, 0, out_w, out_h, filter, out.data());
  return Image::from_rgb(out.data(), out_w, out_h);
}

}  // namespace tailor
