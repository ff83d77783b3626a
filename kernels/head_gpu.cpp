// kernels/head_gpu.cpp: tailor::cuda::ConcatLinearHead (include/tailor/cuda.hpp).
//
// The reference ImageTextModel's `concat_linear` fusion (fc over torch.cat((image, text), 1)),
// computed by fusion_concat_linear without materialising the concatenation. The head is
// tiny (N x (Di + Dt) x O), so each call uses its own stream and buffers: the object stays
// immutable and callable from any thread.
#include <string>
#include <vector>

#include "device.hpp"
#include "launchers.hpp"
#include "tailor/cuda.hpp"

namespace tailor::cuda {

struct ConcatLinearHead::Impl {
  int device = 0;
  detail::DeviceBuffer w, b;
};

ConcatLinearHead::ConcatLinearHead(const std::vector<float>& weight, const std::vector<float>& bias, int64_t d_image,
                                   int64_t d_text, int64_t n_out, const Options& opt)
    : d_image_(d_image), d_text_(d_text), n_out_(n_out) {
  if (d_image < 0 || d_text < 0 || d_image + d_text < 1 || n_out < 1)
    ::tailor::detail::fail(ErrorCode::invalid_argument, "ConcatLinearHead: bad dimensions", "");
  if (weight.size() != size_t(n_out * (d_image + d_text)) || (!bias.empty() && bias.size() != size_t(n_out)))
    ::tailor::detail::fail(ErrorCode::shape,
                           "ConcatLinearHead: weight has " + std::to_string(weight.size()) + " values, bias " +
                               std::to_string(bias.size()) + "; (" + std::to_string(n_out) + ", " +
                               std::to_string(d_image + d_text) + ") and (" + std::to_string(n_out) + ") expected",
                           "");
  require_device(opt.cuda_device);
  detail::DeviceGuard g(opt.cuda_device);
  auto impl = std::make_shared<Impl>();
  impl->device = opt.cuda_device;
  impl->w = detail::upload(weight.data(), weight.size() * sizeof(float));
  const std::vector<float> b = bias.empty() ? std::vector<float>(size_t(n_out), 0.f) : bias;
  impl->b = detail::upload(b.data(), b.size() * sizeof(float));
  impl_ = std::move(impl);
}

namespace {
std::vector<float> load_head_tensor(const Bundle& b, const std::string& name, int64_t cols, int64_t* rows) {
  const TensorInfo& t = b.file().get(name);
  if (t.shape.rank != (cols ? 2 : 1) || (cols && t.shape[1] != cols))
    ::tailor::detail::fail(ErrorCode::shape,
                           b.path() + ": tensor '" + name + "' has shape " + t.shape.str() + "; the head needs " +
                               (cols ? "(n_out, " + std::to_string(cols) + ")" : std::string("(n_out)")),
                           "the image/text feature sizes do not match the head");
  if (rows) *rows = t.shape[0];
  return b.file().to_f32(t);
}
}  // namespace

ConcatLinearHead::ConcatLinearHead(const Bundle& b, const std::string& prefix, int64_t d_image, int64_t d_text,
                                   const Options& opt)
    : ConcatLinearHead(
          [&] {
            int64_t rows = 0;
            return load_head_tensor(b, prefix + "weight", d_image + d_text, &rows);
          }(),
          b.has(prefix + "bias") ? load_head_tensor(b, prefix + "bias", 0, nullptr) : std::vector<float>{}, d_image,
          d_text, b.file().get(prefix + "weight").shape[0], opt) {}

std::vector<float> ConcatLinearHead::forward(const float* image_features, const float* text_features,
                                             int64_t n) const {
  if (n < 0) ::tailor::detail::fail(ErrorCode::invalid_argument, "ConcatLinearHead::forward: negative batch", "");
  std::vector<float> out(size_t(n * n_out_));
  if (n == 0) return out;
  detail::DeviceGuard g(impl_->device);
  detail::Stream s;
  detail::DeviceBuffer img = detail::upload(image_features, size_t(n * d_image_) * sizeof(float));
  detail::DeviceBuffer txt = detail::upload(text_features, size_t(n * d_text_) * sizeof(float));
  detail::DeviceBuffer y(out.size() * sizeof(float));
  kernels::fusion_concat_linear(img.as<float>(), txt.as<float>(), impl_->w.as<float>(), impl_->b.as<float>(),
                                y.as<float>(), n, d_image_, d_text_, n_out_, kernels::Act::none, s.get());
  TAILOR_CUDA_CHECK(cudaMemcpyAsync(out.data(), y.get(), out.size() * sizeof(float), cudaMemcpyDeviceToHost, s.get()));
  s.sync();
  return out;
}

}  // namespace tailor::cuda
