// benchmarks/gpu/gpu_features.cpp: runs a bundle on the GPU over .npy inputs and writes the
// outputs as .npy, so side_by_side_torch.py can compare tailor's GPU numbers with PyTorch's
// on the very same weights and inputs (the parity column of its table).
//
//   gpu_features bert   BUNDLE IDS.npy   OUT_PREFIX [--precision fp32|tf32|fp16|bf16]
//       IDS (B, T) float32 token ids (exact below 2^24), every token attended;
//       writes OUT_PREFIX.hidden.npy (B, T, H) and, with a pooler, OUT_PREFIX.pooled.npy (B, H)
//   gpu_features resnet BUNDLE IMAGES.npy OUT_PREFIX [--precision ...]
//       IMAGES (N, 3, H, W) float32, normalized; writes OUT_PREFIX.pooled.npy (N, 2048) and,
//       with fc, OUT_PREFIX.logits.npy (N, classes)
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tailor/cuda.hpp"
#include "tailor/io/npy.hpp"

int main(int argc, char** argv) {
  using namespace tailor;
  if (argc < 5) {
    std::fprintf(stderr, "usage: gpu_features bert|resnet BUNDLE INPUT.npy OUT_PREFIX [--precision P]\n");
    return 2;
  }
  const std::string kind = argv[1], bundle_path = argv[2], input = argv[3], out = argv[4];
  Options opt;
  opt.device = Device::cuda;
  if (argc >= 7 && std::strcmp(argv[5], "--precision") == 0) {
    const std::string p = argv[6];
    opt.precision = p == "tf32" ? Precision::tf32 : p == "fp16" ? Precision::fp16 : p == "bf16" ? Precision::bf16
                                                                                                : Precision::fp32;
  }
  try {
    const Bundle b = Bundle::open(bundle_path);
    const NpyArray a = read_npy(input);
    const std::vector<float> x = a.to_f32();
    if (kind == "bert") {
      if (a.shape.size() != 2) throw Error(ErrorCode::shape, input + ": ids must be (B, T)");
      const int64_t B = a.shape[0], T = a.shape[1];
      std::vector<int64_t> ids(x.size());
      for (size_t i = 0; i < x.size(); ++i) ids[i] = int64_t(x[i]);
      cuda::Bert m(b, opt);
      cuda::BertRequest req;
      req.last_hidden_state = true;
      req.pooled = m.config().has_pooler;
      req.sentence = cuda::Pooling::none;
      const cuda::BertOutput o = m.session().forward(ids.data(), nullptr, nullptr, B, T, req);
      write_npy(out + ".hidden.npy", o.last_hidden_state.data(), {B, T, o.hidden});
      if (req.pooled) write_npy(out + ".pooled.npy", o.pooled.data(), {B, o.hidden});
    } else if (kind == "resnet") {
      if (a.shape.size() != 4 || a.shape[1] != 3) throw Error(ErrorCode::shape, input + ": images must be (N, 3, H, W)");
      cuda::ResNet50 m(b, opt);
      const cuda::ResNetOutput o = m.session().forward(x.data(), a.shape[0], a.shape[2], a.shape[3]);
      write_npy(out + ".pooled.npy", o.pooled.data(), {o.batch, o.features});
      if (!o.logits.empty()) write_npy(out + ".logits.npy", o.logits.data(), {o.batch, o.num_classes});
    } else {
      std::fprintf(stderr, "gpu_features: unknown kind '%s' (bert or resnet)\n", kind.c_str());
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpu_features: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
