// examples/tryon_embed/main.cpp: tailor embedded in a program, with the C++ API.
// Scores a photo against garment descriptions and prints the best matches.
//   usage: tryon_embed BUNDLE PHOTO "text 1" ["text 2" ...]
#include <tailor/tailor.hpp>

#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s BUNDLE PHOTO TEXT...\n", argv[0]);
    return 2;
  }
  try {
    const tailor::Bundle bundle = tailor::Bundle::open(argv[1]);  // validated before use
    tailor::Options options;
    options.threads = 2;
    const tailor::TryOn model(bundle, options);  // immutable: share it between threads
    tailor::TryOnSession session = model.session();  // one per thread: scratch + thread pool

    const tailor::Image photo = tailor::Image::load(argv[2]);  // PNG/JPEG, limits enforced
    const std::vector<std::string> texts(argv + 3, argv + argc);

    // The image tower runs once; the texts go through BERT in batches.
    for (const tailor::RankedItem& r : session.rank(photo, texts, /*top_k=*/3))
      std::printf("%.4f  %s\n", double(r.probability), texts[r.index].c_str());

    const tailor::Score s = session.score(photo, texts[0]);
    std::printf("first text: logit %.4f, probability %.4f, image tower %.1f ms\n", double(s.logit()),
                double(s.probability()), session.timings().image_tower);
    for (const std::string& part : model.untrained())
      std::printf("note: the %s part of this bundle is untrained\n", part.c_str());
  } catch (const tailor::Error& e) {  // bad file, bad image, bad input: a message, never a crash
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
