// kernels/head_gpu.cpp: tailor::cuda::FusionHead (include/tailor/cuda.hpp).
//
// The try-on fusion head of models/fusion_head.hpp (converters/reference_model.py's
// ImageTextModel.fuse) on the GPU:
//   concat_linear   logits = fusion_concat_linear(img, txt; fc)
//   concat_mlp      h = relu(fusion_concat_linear(img, txt; fc.0)); logits = linear(h; fc.2)
//   late            folded at load into one concat_linear, as the CPU head does:
//                   w0 (Wi img + bi) + w1 (Wt txt + bt) = [w0 Wi | w1 Wt] [img | txt] + (w0 bi + w1 bt)
// float32 throughout (the head is tiny); each forward uses its own stream and buffers.
#include <string>
#include <vector>

#include "device.hpp"
#include "launchers.hpp"
#include "tailor/cuda.hpp"
#include "tailor/models/fusion_head_config.hpp"

namespace tailor::cuda {

struct FusionHead::Impl {
  int device = 0;
  int64_t width1 = 0;  // first layer's outputs: n_out, or mlp_hidden
  detail::DeviceBuffer w1, b1, w2, b2;
  bool mlp = false;
};

FusionHead::FusionHead(const Bundle& b, const FusionHeadConfig& cfg, int64_t d_image, int64_t d_text,
                       const std::string& prefix, const Options& opt)
    : fusion_(cfg.fusion), n_out_(cfg.n_out), d_image_(d_image), d_text_(d_text) {
  require_device(opt.cuda_device);
  b.check_tensors(cfg.tensor_specs(d_image, d_text), prefix, false);
  const int64_t d = d_image + d_text, O = cfg.n_out;
  std::vector<float> w1, b1;
  auto impl = std::make_shared<Impl>();
  impl->device = opt.cuda_device;
  if (cfg.fusion == "late") {
    const auto wi = b.load_f32(prefix + "fc_image.weight", {O, d_image});
    const auto wt = b.load_f32(prefix + "fc_text.weight", {O, d_text});
    const auto bi = b.load_f32(prefix + "fc_image.bias", {O});
    const auto bt = b.load_f32(prefix + "fc_text.bias", {O});
    const auto lw = b.load_f32(prefix + "late_weight", {2});
    w1.resize(size_t(O * d));
    b1.resize(size_t(O));
    for (int64_t o = 0; o < O; ++o) {
      for (int64_t k = 0; k < d_image; ++k) w1[size_t(o * d + k)] = lw[0] * wi[size_t(o * d_image + k)];
      for (int64_t k = 0; k < d_text; ++k) w1[size_t(o * d + d_image + k)] = lw[1] * wt[size_t(o * d_text + k)];
      b1[size_t(o)] = lw[0] * bi[size_t(o)] + lw[1] * bt[size_t(o)];
    }
    impl->width1 = O;
  } else {
    impl->mlp = cfg.fusion == "concat_mlp";
    const std::string l1 = impl->mlp ? "fc.0." : "fc.";
    impl->width1 = impl->mlp ? cfg.mlp_hidden : O;
    w1 = b.load_f32(prefix + l1 + "weight", {impl->width1, d});
    b1 = b.load_f32(prefix + l1 + "bias", {impl->width1});
    if (impl->mlp) {
      const auto w2 = b.load_f32(prefix + "fc.2.weight", {O, cfg.mlp_hidden});
      const auto b2 = b.load_f32(prefix + "fc.2.bias", {O});
      detail::DeviceGuard g(opt.cuda_device);
      impl->w2 = detail::upload(w2.data(), w2.size() * sizeof(float));
      impl->b2 = detail::upload(b2.data(), b2.size() * sizeof(float));
    }
  }
  detail::DeviceGuard g(opt.cuda_device);
  impl->w1 = detail::upload(w1.data(), w1.size() * sizeof(float));
  impl->b1 = detail::upload(b1.data(), b1.size() * sizeof(float));
  impl_ = std::move(impl);
}

std::vector<float> FusionHead::forward(const float* image_features, const float* text_features, int64_t n) const {
  if (n < 0) ::tailor::detail::fail(ErrorCode::invalid_argument, "FusionHead::forward: negative batch", "");
  const int64_t O = n_out_;
  std::vector<float> out(size_t(n * O));
  if (n == 0) return out;
  TAILOR_CHECK(image_features && text_features, ErrorCode::invalid_argument,
               "FusionHead::forward: null feature pointer", "");
  const Impl& m = *impl_;
  detail::DeviceGuard g(m.device);
  detail::Stream s;
  detail::DeviceBuffer img = detail::upload(image_features, size_t(n * d_image_) * sizeof(float));
  detail::DeviceBuffer txt = detail::upload(text_features, size_t(n * d_text_) * sizeof(float));
  detail::DeviceBuffer h(size_t(n * m.width1) * sizeof(float));
  kernels::fusion_concat_linear(img.as<float>(), txt.as<float>(), m.w1.as<float>(), m.b1.as<float>(), h.as<float>(),
                                n, d_image_, d_text_, m.width1, m.mlp ? kernels::Act::relu : kernels::Act::none,
                                s.get());
  const detail::DeviceBuffer* result = &h;
  detail::DeviceBuffer y;
  if (m.mlp) {
    y.resize(out.size() * sizeof(float));
    kernels::fusion_concat_linear(h.as<float>(), nullptr, m.w2.as<float>(), m.b2.as<float>(), y.as<float>(), n,
                                  m.width1, 0, O, kernels::Act::none, s.get());
    result = &y;
  }
  TAILOR_CUDA_CHECK(
      cudaMemcpyAsync(out.data(), result->get(), out.size() * sizeof(float), cudaMemcpyDeviceToHost, s.get()));
  s.sync();
  return out;
}

}  // namespace tailor::cuda
