// kernels/resnet_gpu.cpp: tailor::cuda::ResNet50 / ResNetSession (include/tailor/cuda.hpp).
//
// torchvision resnet.py (ResNet._forward_impl, Bottleneck.forward; v1.5: the stride sits on
// the 3x3 conv), BN folded into each conv by the converter, activations NHWC in the storage
// type. Every convolution is one cuBLASLt GEMM with the folded-BN bias and ReLU fused in its
// epilogue, and Bottleneck's residual add fused too (the GEMM's C input, beta = 1):
//
//   1x1, stride 1   the NHWC activation is already the (N*H*W, C) GEMM operand
//   3x3, 7x7, and the stride-2 1x1 downsample   im2col_nhwc into (N*Ho*Wo, Kp), then the GEMM;
//                   Kp = kh*kw*C rounded up to 8 so 16-bit rows stay 16-byte aligned
//                   (tensor-core friendly; the padding columns are zero in both operands)
//
// Weights (O, C, kh, kw) are permuted at load to (O, kh, kw, C) to match im2col's patch order.
// The forward walks the network twice with the same code: a dry run that only records the
// largest activation and im2col sizes (so buffers are sized before any graph capture), then
// the real one, captured once per (N, H, W) as a CUDA graph.
#include <algorithm>
#include <string>
#include <vector>

#include "blas.hpp"
#include "device.hpp"
#include "launchers.hpp"
#include "model_common.hpp"
#include "tailor/cuda.hpp"
#include "tailor/models/registry.hpp"

namespace tailor::cuda {

struct ResNet50::Impl {
  virtual ~Impl() = default;
  virtual std::unique_ptr<ResNetSession::Impl> make_session(const std::shared_ptr<const Impl>& self,
                                                            const SessionOptions& so) const = 0;
};

struct ResNetSession::Impl {
  virtual ~Impl() = default;
  virtual ResNetOutput forward(const float* x, int64_t n, int64_t h, int64_t w, bool logits, bool fmap) = 0;
  virtual double last_gpu_ms() const noexcept = 0;
};

namespace detail {
namespace {
namespace k = ::tailor::cuda::kernels;

struct ConvGpu {
  DeviceBuffer w, b;  // (O, Kp) in (ky, kx, c) order, zero-padded; (O)
  int64_t O = 0, C = 0, kh = 1, kw = 1, stride = 1, pad = 0, Kp = 0;
  bool direct() const { return kh == 1 && kw == 1 && stride == 1 && pad == 0 && Kp == C; }
};

struct BottleneckGpu {
  ConvGpu conv1, conv2, conv3, downsample;
  bool has_downsample = false;
};

int64_t round_up8(int64_t v) { return (v + 7) / 8 * 8; }

template <class T>
struct ResNetGpu final : ResNet50::Impl {
  ResNetConfig cfg;
  Precision precision = Precision::fp32;
  int device = 0;
  Limits limits;
  ConvGpu stem;
  std::vector<BottleneckGpu> blocks;
  DeviceBuffer fc_w, fc_b;
  uint64_t bytes = 0;

  ResNetGpu(const Bundle& b, const ResNetConfig& c, const std::string& prefix, const Options& opt)
      : cfg(c), precision(opt.precision), device(opt.cuda_device), limits(opt.limits) {
    auto load_conv = [&](const std::string& name, int64_t O, int64_t C, int64_t ksize, int64_t stride, int64_t pad) {
      ConvGpu cv;
      cv.O = O;
      cv.C = C;
      cv.kh = cv.kw = ksize;
      cv.stride = stride;
      cv.pad = pad;
      cv.Kp = round_up8(ksize * ksize * C);
      const std::vector<float> w = b.load_f32(prefix + name + ".weight", {O, C, ksize, ksize});
      std::vector<float> packed(size_t(O * cv.Kp), 0.f);
      for (int64_t o = 0; o < O; ++o)
        for (int64_t ci = 0; ci < C; ++ci)
          for (int64_t ky = 0; ky < ksize; ++ky)
            for (int64_t kx = 0; kx < ksize; ++kx)
              packed[size_t(o * cv.Kp + (ky * ksize + kx) * C + ci)] = w[size_t(((o * C + ci) * ksize + ky) * ksize + kx)];
      const std::vector<float> bias = b.load_f32(prefix + name + ".bias", {O});
      cv.w = upload_as<T>(packed);
      cv.b = upload_as<T>(bias);
      bytes += (packed.size() + bias.size()) * sizeof(T);
      return cv;
    };
    stem = load_conv("conv1", ResNetConfig::kStem, 3, 7, 2, 3);
    int64_t in = ResNetConfig::kStem;
    for (int st = 0; st < 4; ++st) {
      const int64_t planes = ResNetConfig::kPlanes[size_t(st)], out = planes * ResNetConfig::kExpansion;
      for (int64_t i = 0; i < cfg.layers[size_t(st)]; ++i) {
        const std::string p = "layer" + std::to_string(st + 1) + "." + std::to_string(i) + ".";
        const int64_t bin = i == 0 ? in : out, stride = (i == 0 && st > 0) ? 2 : 1;
        BottleneckGpu blk;
        blk.conv1 = load_conv(p + "conv1", planes, bin, 1, 1, 0);
        blk.conv2 = load_conv(p + "conv2", planes, planes, 3, stride, 1);
        blk.conv3 = load_conv(p + "conv3", out, planes, 1, 1, 0);
        if (i == 0) {
          blk.has_downsample = true;
          blk.downsample = load_conv(p + "downsample.0", out, bin, 1, stride, 0);
        }
        blocks.push_back(std::move(blk));
      }
      in = out;
    }
    if (cfg.num_classes > 0) {
      const std::vector<float> w = b.load_f32(prefix + "fc.weight", {cfg.num_classes, cfg.feature_dim()});
      const std::vector<float> bias = b.load_f32(prefix + "fc.bias", {cfg.num_classes});
      fc_w = upload_as<T>(w);
      fc_b = upload_as<T>(bias);
      bytes += (w.size() + bias.size()) * sizeof(T);
    }
  }

  std::unique_ptr<ResNetSession::Impl> make_session(const std::shared_ptr<const ResNet50::Impl>& self,
                                                    const SessionOptions& so) const override;
};

template <class T>
class ResNetRunner final : public ResNetSession::Impl {
 public:
  ResNetRunner(std::shared_ptr<const ResNetGpu<T>> m, const SessionOptions& so) : m_(std::move(m)), graphs_(so.graphs) {
    DeviceGuard g(m_->device);
    stream_ = std::make_unique<Stream>();
    blas_ = std::make_unique<BlasLt>();
    if (so.timing) timer_ = std::make_unique<EventTimer>();
  }

  double last_gpu_ms() const noexcept override { return last_ms_; }

  ResNetOutput forward(const float* x, int64_t n, int64_t h, int64_t w, bool want_logits, bool fmap) override {
    const ResNetConfig& c = m_->cfg;
    ResNetOutput out;
    out.batch = n;
    out.features = c.feature_dim();
    out.num_classes = c.num_classes;
    if (n < 0 || uint64_t(n) > m_->limits.max_batch)
      ::tailor::detail::fail(ErrorCode::limit,
                             "batch of " + std::to_string(n) + " is outside 0.." + std::to_string(m_->limits.max_batch),
                             "split the batch");
    if (n == 0) return out;
    const int64_t side = int64_t(m_->limits.max_image_side);
    if (h < 32 || w < 32 || h > side || w > side)
      ::tailor::detail::fail(ErrorCode::invalid_argument,
                             "image tensor of " + std::to_string(h) + "x" + std::to_string(w) + " is outside 32.." +
                                 std::to_string(side) + " pixels a side",
                             "preprocess the image (resize + center crop) first");
    TAILOR_CHECK(x != nullptr, ErrorCode::invalid_argument, "ResNetSession::forward: x is null", "");
    const bool logits = want_logits && c.num_classes > 0;

    DeviceGuard g(m_->device);
    const cudaStream_t s = stream_->get();
    reserve(n, h, w);
    // Straight from the caller's memory: the driver stages pageable copies itself.
    TAILOR_CUDA_CHECK(
        cudaMemcpyAsync(d_in_.get(), x, size_t(n * 3 * h * w) * sizeof(float), cudaMemcpyHostToDevice, s));
    if (timer_) timer_->start(s);
    graphs_.run({n, h, w, logits, fmap}, s, [&] { walk(false, n, h, w, logits, fmap); });
    if (timer_) timer_->stop(s);

    const int64_t F = c.feature_dim();
    const float* pooled32 = std::is_same_v<T, float> ? pooled_.as<float>() : f32_pooled_.as<float>();
    const float* logits32 = std::is_same_v<T, float> ? logits_.as<float>() : f32_logits_.as<float>();
    out.pooled.resize(size_t(n * F));
    TAILOR_CUDA_CHECK(
        cudaMemcpyAsync(out.pooled.data(), pooled32, out.pooled.size() * sizeof(float), cudaMemcpyDeviceToHost, s));
    if (logits) {
      out.logits.resize(size_t(n * c.num_classes));
      TAILOR_CUDA_CHECK(cudaMemcpyAsync(out.logits.data(), logits32, out.logits.size() * sizeof(float),
                                        cudaMemcpyDeviceToHost, s));
    }
    if (fmap) {
      out.feature_h = final_h_;
      out.feature_w = final_w_;
      out.feature_map.resize(size_t(n * final_h_ * final_w_ * F));
      const float* src = std::is_same_v<T, float> ? act_[size_t(final_act_)].template as<float>() : f32_fmap_.as<float>();
      TAILOR_CUDA_CHECK(cudaMemcpyAsync(out.feature_map.data(), src, out.feature_map.size() * sizeof(float),
                                        cudaMemcpyDeviceToHost, s));
    }
    stream_->sync();
    if (timer_) last_ms_ = timer_->ms();
    return out;
  }

 private:
  /// One convolution (+ bias, ReLU, residual) over NHWC; updates H, W to the output's.
  void conv(bool dry, const ConvGpu& cv, const T* x, int64_t N, int64_t& H, int64_t& W, T* y, bool relu,
            const T* residual) {
    const k::ConvShape s{N, H, W, cv.C, cv.O, cv.kh, cv.kw, cv.stride, cv.pad};
    const int64_t Ho = s.out_h(), Wo = s.out_w(), M = N * Ho * Wo;
    if (dry) {
      max_act_ = std::max(max_act_, M * cv.O);
      if (!cv.direct()) max_cols_ = std::max(max_cols_, M * cv.Kp);
    } else {
      const T* A = x;
      if (!cv.direct()) {
        k::im2col_nhwc<T>(x, cols_.as<T>(), s, cv.Kp, stream_->get());
        A = cols_.as<T>();
      }
      GemmArgs g;
      g.M = M;
      g.N = cv.O;
      g.K = cv.Kp;
      g.A = A;
      g.lda = cv.Kp;
      g.B = cv.w.get();
      g.ldb = cv.Kp;
      g.b_is_n_by_k = true;
      g.C = y;
      g.ldc = cv.O;
      g.C_in = residual;
      g.bias = cv.b.get();
      g.relu = relu;
      blas_->gemm(g, m_->precision, stream_->get());
    }
    H = Ho;
    W = Wo;
  }

  /// The network, torchvision's _forward_impl. dry: record buffer sizes only (and where the
  /// last feature map lands: final_act_, final_h_, final_w_).
  void walk(bool dry, int64_t N, int64_t H, int64_t W, bool logits, bool fmap) {
    const ResNetGpu<T>& m = *m_;
    const cudaStream_t s = stream_->get();
    auto buf = [&](int i) { return dry ? nullptr : act_[size_t(i)].template as<T>(); };
    // (N, 3, H, W) float -> (N, H, W, 3) T
    if (dry) max_act_ = std::max(max_act_, N * H * W * 3);
    else k::nchw_to_nhwc<T>(d_in_.as<float>(), buf(0), N, 3, H, W, s);
    conv(dry, m.stem, buf(0), N, H, W, buf(1), true, nullptr);  // conv1 + bn1 + relu
    const int64_t Hp = (H + 2 - 3) / 2 + 1, Wp = (W + 2 - 3) / 2 + 1;  // maxpool 3x3 / 2, pad 1
    if (dry) max_act_ = std::max(max_act_, N * Hp * Wp * m.stem.O);
    else k::maxpool2d_nhwc<T>(buf(1), buf(2), N, H, W, m.stem.O, 3, 2, 1, s);
    H = Hp;
    W = Wp;
    int x = 2;
    for (const BottleneckGpu& blk : m.blocks) {
      int others[3], j = 0;
      for (int i = 0; i < 4; ++i)
        if (i != x) others[j++] = i;
      const int t1 = others[0], t2 = others[1], ds = others[2];
      int64_t h1 = H, w1 = W, h2, w2;
      conv(dry, blk.conv1, buf(x), N, h1, w1, buf(t1), true, nullptr);
      h2 = h1;
      w2 = w1;
      conv(dry, blk.conv2, buf(t1), N, h2, w2, buf(t2), true, nullptr);
      const T* identity = buf(x);
      if (blk.has_downsample) {
        int64_t hd = H, wd = W;
        conv(dry, blk.downsample, buf(x), N, hd, wd, buf(ds), false, nullptr);
        identity = buf(ds);
      }
      int64_t h3 = h2, w3 = w2;
      conv(dry, blk.conv3, buf(t2), N, h3, w3, buf(t1), true, identity);  // relu(bn3(conv3) + identity)
      x = t1;
      H = h3;
      W = w3;
    }
    const int64_t F = m.cfg.feature_dim();
    final_act_ = x;
    final_h_ = H;
    final_w_ = W;
    if (dry) return;
    k::avgpool_global_nhwc<T, T>(buf(x), pooled_.as<T>(), N, H, W, F, s);
    if (logits) {
      GemmArgs g;
      g.M = N;
      g.N = m.cfg.num_classes;
      g.K = F;
      g.A = pooled_.as<T>();
      g.lda = F;
      g.B = m.fc_w.get();
      g.ldb = F;
      g.C = logits_.as<T>();
      g.ldc = m.cfg.num_classes;
      g.bias = m.fc_b.get();
      blas_->gemm(g, m.precision, s);
    }
    if (!std::is_same_v<T, float>) {
      k::convert_to_f32<T>(pooled_.as<T>(), f32_pooled_.as<float>(), N * F, s);
      if (logits) k::convert_to_f32<T>(logits_.as<T>(), f32_logits_.as<float>(), N * m.cfg.num_classes, s);
      if (fmap) k::convert_to_f32<T>(buf(x), f32_fmap_.as<float>(), N * H * W * F, s);
    }
  }

  void reserve(int64_t N, int64_t H, int64_t W) {
    max_act_ = max_cols_ = 0;
    walk(true, N, H, W, false, false);
    const int64_t F = m_->cfg.feature_dim(), L = std::max<int64_t>(m_->cfg.num_classes, 1);
    bool grew = false;
    auto need = [&](DeviceBuffer& b, int64_t bytes) { grew |= b.reserve(size_t(bytes)); };
    for (DeviceBuffer& a : act_) need(a, max_act_ * int64_t(sizeof(T)));
    need(cols_, std::max<int64_t>(max_cols_, 1) * int64_t(sizeof(T)));
    need(d_in_, N * 3 * H * W * int64_t(sizeof(float)));
    need(pooled_, N * F * int64_t(sizeof(T)));
    need(logits_, N * L * int64_t(sizeof(T)));
    if (!std::is_same_v<T, float>) {
      need(f32_pooled_, N * F * int64_t(sizeof(float)));
      need(f32_logits_, N * L * int64_t(sizeof(float)));
      need(f32_fmap_, N * final_h_ * final_w_ * F * int64_t(sizeof(float)));
    }
    if (grew) graphs_.clear();
  }

  std::shared_ptr<const ResNetGpu<T>> m_;
  std::unique_ptr<Stream> stream_;
  std::unique_ptr<BlasLt> blas_;
  DeviceBuffer act_[4], cols_, d_in_, pooled_, logits_, f32_pooled_, f32_logits_, f32_fmap_;
  int64_t max_act_ = 0, max_cols_ = 0;
  int final_act_ = 0;
  int64_t final_h_ = 0, final_w_ = 0;
  std::unique_ptr<EventTimer> timer_;
  double last_ms_ = 0;
  GraphCache graphs_;  // last: destroyed first, before the buffers its graphs point into
};

template <class T>
std::unique_ptr<ResNetSession::Impl> ResNetGpu<T>::make_session(const std::shared_ptr<const ResNet50::Impl>& self,
                                                                const SessionOptions& so) const {
  return std::make_unique<ResNetRunner<T>>(std::static_pointer_cast<const ResNetGpu<T>>(self), so);
}

}  // namespace
}  // namespace detail

namespace {
const json& resnet_bundle_config(const Bundle& b) {
  if (b.arch() != "resnet50")
    ::tailor::detail::fail(ErrorCode::unsupported, b.path() + ": is a '" + b.arch() + "' bundle, not 'resnet50'",
                           "for a tryon bundle, load its image tower with the (bundle, config, \"image.\") constructor");
  return b.config();
}
}  // namespace

ResNet50::ResNet50(const Bundle& b, const Options& opt) : ResNet50(b, resnet_bundle_config(b), "", opt) {}

ResNet50::ResNet50(const Bundle& b, const json& config, const std::string& prefix, const Options& opt) {
  require_device(opt.cuda_device);
  config_ = ::tailor::detail::validate_resnet(b, config, prefix, prefix.empty() ? "tailor.config" : "the image config");
  precision_ = opt.precision;
  detail::DeviceGuard g(opt.cuda_device);
  detail::dispatch_precision(opt.precision, [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto m = std::make_shared<detail::ResNetGpu<T>>(b, config_, prefix, opt);
    device_bytes_ = m->bytes;
    impl_ = std::move(m);
  });
}

ResNetSession ResNet50::session(const SessionOptions& so) const {
  return ResNetSession(impl_->make_session(impl_, so));
}

ResNetSession::ResNetSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ResNetSession::ResNetSession(ResNetSession&&) noexcept = default;
ResNetSession& ResNetSession::operator=(ResNetSession&&) noexcept = default;
ResNetSession::~ResNetSession() = default;
double ResNetSession::last_gpu_ms() const noexcept { return impl_ ? impl_->last_gpu_ms() : 0; }

ResNetOutput ResNetSession::forward(const float* x, int64_t n, int64_t h, int64_t w, bool logits,
                                    bool keep_feature_map) {
  return impl_->forward(x, n, h, w, logits, keep_feature_map);
}

}  // namespace tailor::cuda
