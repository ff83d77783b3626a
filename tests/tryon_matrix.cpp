// tests/tryon_matrix.cpp: a test tool for converters/tests/test_tryon.py. Scores every
// (image, text) pair of a try-on bundle in one process through the public C++ API (one
// batch through each tower, then TryOnSession::score_features) and prints
//   {"logits": [[[..n_out..] per text] per image], "probabilities": same}
// Usage: tryon_matrix BUNDLE TEXTS_FILE IMAGE...
#include <cstdio>
#include <string>
#include <vector>

#include "tailor/models/tryon.hpp"

static std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: tryon_matrix BUNDLE TEXTS_FILE IMAGE...\n");
    return 2;
  }
  try {
    const tailor::Bundle b = tailor::Bundle::open(argv[1]);
    tailor::Options opt;
    opt.threads = 2;
    const tailor::TryOn model(b, opt);
    tailor::TryOnSession s = model.session();
    std::vector<std::string> texts;
    const std::string all = tailor::read_text_file(argv[2]);
    for (size_t p = 0; p < all.size();) {
      size_t nl = all.find('\n', p);
      if (nl == std::string::npos) nl = all.size();
      texts.push_back(all.substr(p, nl - p));
      p = nl + 1;
    }
    std::vector<tailor::Image> images;
    for (int i = 3; i < argc; ++i) images.push_back(tailor::Image::load(argv[i]));
    const auto ie = s.encode_images(images);
    const auto te = s.encode_texts(texts);
    const int64_t n_out = model.head().n_out();
    std::string lo = "[", po = "[";
    for (size_t i = 0; i < ie.size(); ++i) {
      const std::vector<float> l = s.score_features(ie[i], te);
      lo += i ? ",[" : "[";
      po += i ? ",[" : "[";
      for (size_t t = 0; t < te.size(); ++t) {
        std::vector<float> p(static_cast<size_t>(n_out));
        tailor::FusionHead::probabilities(l.data() + t * size_t(n_out), n_out, p.data());
        lo += t ? ",[" : "[";
        po += t ? ",[" : "[";
        for (int64_t o = 0; o < n_out; ++o) {
          lo += (o ? "," : "") + num(l[t * size_t(n_out) + size_t(o)]);
          po += (o ? "," : "") + num(p[size_t(o)]);
        }
        lo += "]";
        po += "]";
      }
      lo += "]";
      po += "]";
    }
    std::printf("{\"logits\":%s],\"probabilities\":%s]}\n", lo.c_str(), po.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tryon_matrix: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
