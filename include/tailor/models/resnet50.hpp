// tailor/models/resnet50.hpp: the torchvision ResNet50 image tower (BN folded), CPU.
//
// Mirrors torchvision/models/resnet.py: `Bottleneck` (v1.5: the stride sits on the 3x3 conv2,
// as torchvision's), `ResNet._forward_impl`:
//     x = relu(bn1(conv1(x)))            conv1 7x7/2 pad 3, 3 -> 64
//     x = maxpool(x)                     3x3/2 pad 1
//     x = layer4(layer3(layer2(layer1(x))))
//     x = flatten(avgpool(x), 1)         pooled features (N, 2048)
//     x = fc(x)                          logits (N, num_classes), when the model has an fc
// with every BatchNorm folded into the conv before it by the converter (the bundle says
// "bn_folded"), so each conv carries a bias; bias + ReLU and bias + residual + ReLU are
// fused into the conv's epilogue (nn/conv2d.hpp).
//
// Layout: the network's input is (N, 3, H, W) NCHW float32, normalized (what torchvision
// gives, Preprocess::run writes one (3, H, W) image of it); every activation after the stem
// is (N, H, W, C) NHWC, where a 1x1 conv is a plain GEMM. The optional feature map before
// pooling is returned NHWC: (N, H/32, W/32, 2048), (N, 7, 7, 2048) at 224 x 224.
//
// ResNet50 is immutable after load and may be shared by any number of threads; each thread
// runs it through its own ResNetSession (thread pool + scratch arena). A session must not
// outlive its model.
//
// Profiling: a program that defines TAILOR_RESNET_CONV_HOOK(block, role, seconds, flops)
// before including tailor has it called after every conv of the trunk (block -1 is the stem;
// role 0 conv1, 1 conv2, 2 downsample, 3 conv3), from whichever thread ran it
// (benchmarks/profile_resnet.cpp). Without it the trunk has no timing code at all.
#pragma once

#include <algorithm>
#include <atomic>
#ifdef TAILOR_RESNET_CONV_HOOK
#include <chrono>
#endif
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tailor/core/arena.hpp"
#include "tailor/core/checked.hpp"
#include "tailor/core/error.hpp"
#include "tailor/core/options.hpp"
#include "tailor/core/thread_pool.hpp"
#include "tailor/image/image.hpp"
#include "tailor/image/preprocess.hpp"
#include "tailor/io/bundle.hpp"
#include "tailor/models/registry.hpp"
#include "tailor/models/resnet50_config.hpp"
#include "tailor/nn/conv2d.hpp"
#include "tailor/nn/pooling.hpp"

namespace tailor {

/// What ResNetSession::forward returns.
struct ResNetOutput {
  int64_t n = 0;            ///< batch size
  int64_t feature_dim = 0;  ///< 2048
  int64_t num_classes = 0;  ///< 0 when the model has no fc
  std::vector<float> pooled;       ///< (N, 2048): avgpool + flatten
  std::vector<float> logits;       ///< (N, num_classes); empty without fc
  std::vector<float> feature_map;  ///< (N, feature_h, feature_w, 2048) NHWC, when requested
  int64_t feature_h = 0, feature_w = 0;
};

namespace resnet {

/// torchvision's Bottleneck: conv1 1x1 -> conv2 3x3 (stride) -> conv3 1x1 (x4), plus the
/// identity or downsample (1x1 conv with stride + BN, folded), then ReLU.
struct Bottleneck {
  nn::Conv2d conv1, conv2, conv3, downsample;
  bool has_downsample = false;
  int64_t stride = 1;

  /// gemm: GemmPath::amx puts the 1x1 convs (any stride) on AMX tiles (Options::amx).
  static nn::Conv2d load_conv(const Bundle& b, const std::string& name, const nn::Conv2dShape& s,
                              nn::ConvInput in = nn::ConvInput::nhwc, nn::GemmPath gemm = nn::GemmPath::fp32,
                              nn::WinogradPack wino = nn::WinogradPack::at_load) {
    const F32View w = b.view_f32(name + ".weight", Shape{s.cout, s.cin, s.kh, s.kw});
    const F32View bias = b.view_f32(name + ".bias", Shape{s.cout});
    return nn::Conv2d::from_oihw(w.data(), bias.data(), s, in, nn::ConvAlgo::automatic, gemm, wino);
  }

  /// wino: when conv2's Winograd weights are built (at load where the model's input size
  /// runs it by Winograd).
  static Bottleneck load(const Bundle& b, const std::string& p, int64_t inplanes, int64_t planes, int64_t stride,
                         bool downsample, nn::GemmPath gemm = nn::GemmPath::fp32,
                         nn::WinogradPack wino = nn::WinogradPack::at_load) {
    Bottleneck blk;
    const int64_t out = planes * ResNetConfig::kExpansion;
    const auto in = nn::ConvInput::nhwc;
    blk.stride = stride;
    blk.conv1 = load_conv(b, p + "conv1", {inplanes, planes, 1, 1, 1, 0}, in, gemm);
    blk.conv2 = load_conv(b, p + "conv2", {planes, planes, 3, 3, stride, 1}, in, gemm, wino);
    blk.conv3 = load_conv(b, p + "conv3", {planes, out, 1, 1, 1, 0}, in, gemm);
    blk.has_downsample = downsample;
    if (downsample) blk.downsample = load_conv(b, p + "downsample.0", {inplanes, out, 1, 1, stride, 0}, in, gemm);
    return blk;
  }
};

}  // namespace resnet

class ResNet50;

/// Per-thread state for running a ResNet50: a thread pool and a scratch arena. Movable, not
/// copyable; not shared between threads.
class ResNetSession {
 public:
  /// x: (N, 3, H, W) NCHW float32, already normalized -> pooled (N, 2048), logits
  /// (N, num_classes) when the model has an fc, and with keep_feature_map the last feature
  /// map before pooling, (N, H/32, W/32, 2048) NHWC (for class-activation maps).
  ResNetOutput forward(const float* x, int64_t n, int64_t h, int64_t w, bool keep_feature_map = false);

  /// Preprocesses decoded images with the model's transform (Preprocess) and runs them as
  /// one batch.
  ResNetOutput forward(const std::vector<Image>& images, bool keep_feature_map = false);

  const ResNet50& model() const noexcept { return *m_; }
  int threads() const noexcept { return pool_->size(); }
  /// Bytes of scratch held (grows to the high-water mark of the largest batch run).
  size_t scratch_bytes() const noexcept {
    size_t b = arena_.capacity() + conv_scratch_.capacity() + mid_.capacity();
    for (const auto& l : lanes_) b += l->arena.capacity() + l->conv_scratch.capacity();
    return b;
  }

 private:
  friend class ResNet50;
  ResNetSession(const ResNet50& m, int threads) : m_(&m), pool_(std::make_unique<ThreadPool>(threads)) {}

  /// One thread's own context for running whole images of a batch (made on first use).
  struct Lane {
    ThreadPool pool{1};
    Arena arena, conv_scratch;
  };
  /// Part of the network for the n images of x on `pool`, with scratch from arena /
  /// conv_scratch. The bottlenecks are numbered in order (0..15 in ResNet50) and [first, last)
  /// of them run. first == 0: x is the (n, 3, h, w) NCHW input and the stem runs before block 0;
  /// otherwise x is block first's (n, h, w, C) NHWC input. last < blocks(): block last - 1
  /// writes its (n, oh, ow, C) NHWC output to `out`; otherwise the average pool writes pooled
  /// (n, feature_dim) and, when fmap is non-null, the last feature map (n, fh, fw, feature_dim)
  /// NHWC is kept.
  void trunk(const float* x, int64_t n, int64_t h, int64_t w, int first, int last, ThreadPool& pool, Arena& arena,
             Arena& conv_scratch, float* out, float* pooled, float* fmap) const;

  const ResNet50* m_;
  std::unique_ptr<ThreadPool> pool_;
  Arena arena_;         // activations of one forward pass
  Arena conv_scratch_;  // one conv's zero-padded input copy
  std::vector<std::unique_ptr<Lane>> lanes_;
  Arena mid_;  // a batch's activations where the lanes hand over to the batch
  std::vector<float> batch_;
};

/// The ResNet50 image tower. Immutable after construction; share it between threads and
/// give each thread its own session().
class ResNet50 {
 public:
  /// Loads a "resnet50" bundle (validated against its config first).
  explicit ResNet50(const Bundle& b, const Options& opt = {}) : opt_(opt) {
    if (b.arch() != "resnet50")
      detail::fail(ErrorCode::unsupported,
                   b.path() + " is a '" + b.arch() + "' bundle, not a resnet50 one",
                   b.arch() == "tryon" ? "load the image tower of a try-on bundle with "
                                         "ResNet50(bundle, bundle.config()[\"image\"], \"image.\", options)"
                                       : "convert a torchvision ResNet50 with converters/convert.py resnet50");
    load(b, b.config(), "", "tailor.config");
  }

  /// Loads the ResNet part of a larger bundle (a try-on bundle: config()["image"], prefix
  /// "image."). The bundle's tailor.preprocess gives the transform.
  ResNet50(const Bundle& b, const json& config, const std::string& prefix, const Options& opt) : opt_(opt) {
    load(b, config, prefix, "tailor.config (" + (prefix.empty() ? std::string("resnet") : prefix) + ")");
  }

  ResNet50(ResNet50&&) = default;
  ResNet50& operator=(ResNet50&&) = default;

  /// A new per-thread session (Options::threads threads, 0 = default_threads()).
  ResNetSession session() const { return ResNetSession(*this, opt_.threads); }
  /// A session whose ThreadPool has `threads` threads (0: default_threads()): e.g. a
  /// one-thread session running beside other work. The results do not depend on it.
  ResNetSession session(int threads) const { return ResNetSession(*this, threads); }

  const ResNetConfig& config() const noexcept { return cfg_; }
  /// The transform the weights expect (the bundle's tailor.preprocess, or the ImageNet default).
  const Preprocess& preprocess() const noexcept { return pre_; }
  const Options& options() const noexcept { return opt_; }
  /// True when the bundle marks the image tower as untrained (random weights).
  bool untrained() const noexcept { return untrained_; }
  int64_t feature_dim() const noexcept { return cfg_.feature_dim(); }
  int64_t num_classes() const noexcept { return cfg_.num_classes; }
  /// Bytes of packed weights.
  size_t weight_bytes() const {
    size_t s = conv1_.bytes() + fc_.bytes();
    for (const auto& blk : blocks_) s += blk.conv1.bytes() + blk.conv2.bytes() + blk.conv3.bytes() + blk.downsample.bytes();
    return s;
  }

 private:
  friend class ResNetSession;

  void load(const Bundle& b, const json& config, const std::string& prefix, const std::string& where) {
    cfg_ = detail::validate_resnet(b, config, prefix, where);
    pre_ = Preprocess::from_json(b.preprocess(), b.path() + ": tailor.preprocess");
    for (const auto& u : b.untrained())
      if (u == "image" || (prefix.empty() && u == "resnet50")) untrained_ = true;
    if (opt_.amx) nn::amx::require_supported();
    // Options::amx (or $TAILOR_AMX=1): the bottlenecks' 1x1 convs (GEMMs over the pixels, the
    // strided downsampling ones over the gathered pixels) on AMX.
    const bool amx = opt_.amx || nn::detail::automatic_path() == nn::GemmPath::amx;
    const nn::GemmPath gemm = amx ? nn::GemmPath::amx : nn::GemmPath::fp32;
    struct BlockSpec {
      std::string p;
      int64_t inplanes, planes, stride;
      bool downsample;
      nn::WinogradPack wino;
    };
    std::vector<BlockSpec> specs;
    int64_t inplanes = ResNetConfig::kStem;
    // The maps at the bundle's input size (its crop): a 3x3 conv that size runs directly
    // (too few 2x2 tiles: the last stage's 7 x 7 at 224) gets its Winograd weights only if
    // another size ever needs them (50 MB fewer at load).
    const nn::Conv2dShape stem{3, ResNetConfig::kStem, 7, 7, 2, 3};
    int64_t hw = (stem.out_h(pre_.crop) + 2 - 3) / 2 + 1;  // after the maxpool 3/2 pad 1, as map_size()
    for (size_t s = 0; s < 4; ++s) {
      const int64_t planes = ResNetConfig::kPlanes[s];
      for (int64_t i = 0; i < cfg_.layers[s]; ++i) {
        const int64_t stride = (i == 0 && s > 0) ? 2 : 1;
        const nn::WinogradPack wino =
            nn::Conv2d::winograd_pays(hw, hw) ? nn::WinogradPack::at_load : nn::WinogradPack::on_first_use;
        specs.push_back({prefix + "layer" + std::to_string(s + 1) + "." + std::to_string(i) + ".", inplanes, planes,
                         stride, i == 0, wino});
        inplanes = planes * ResNetConfig::kExpansion;
        hw = nn::Conv2dShape{planes, planes, 3, 3, stride, 1}.out_h(hw);  // conv2's output
      }
    }
    lane_split_ = int(cfg_.layers[0] + cfg_.layers[1]);
    // Packing the weights is most of a load (with the kernel zeroing the new pages under
    // them): the blocks, the stem and fc are packed in parallel on Options::threads threads,
    // the largest (the last stage's) handed out first. Each conv is packed the same way
    // whichever thread does it.
    blocks_.resize(specs.size());
    const int nb = int(specs.size());
    ThreadPool pool(opt_.threads);
    pool.run(nb + 2, [&](int t) {
      if (t < nb) {
        const size_t i = size_t(nb - 1 - t);
        const BlockSpec& sp = specs[i];
        blocks_[i] = resnet::Bottleneck::load(b, sp.p, sp.inplanes, sp.planes, sp.stride, sp.downsample, gemm, sp.wino);
      } else if (t == nb) {
        conv1_ = resnet::Bottleneck::load_conv(b, prefix + "conv1", stem, nn::ConvInput::nchw);
      } else if (cfg_.num_classes > 0) {
        // Linear (num_classes, 2048) = a 1x1 conv's (out, in, 1, 1) in memory.
        const nn::Conv2dShape s{cfg_.feature_dim(), cfg_.num_classes, 1, 1, 1, 0};
        const F32View w = b.view_f32(prefix + "fc.weight", Shape{cfg_.num_classes, cfg_.feature_dim()});
        const F32View bias = b.view_f32(prefix + "fc.bias", Shape{cfg_.num_classes});
        fc_ = nn::Conv2d::from_oihw(w.data(), bias.data(), s);
      }
    });
  }

  /// The feature map's rows and columns entering bottleneck `block` (after the stem and its
  /// maxpool when block is 0; the last map when block is blocks_.size()) for an h x w input.
  std::pair<int64_t, int64_t> map_size(int block, int64_t h, int64_t w) const {
    int64_t mh = (conv1_.shape().out_h(h) + 2 - 3) / 2 + 1, mw = (conv1_.shape().out_w(w) + 2 - 3) / 2 + 1;  // maxpool 3/2 pad 1
    for (int i = 0; i < block; ++i) {
      mh = blocks_[size_t(i)].conv2.shape().out_h(mh);
      mw = blocks_[size_t(i)].conv2.shape().out_w(mw);
    }
    return {mh, mw};
  }

  ResNetConfig cfg_;
  Options opt_;
  Preprocess pre_;
  bool untrained_ = false;
  nn::Conv2d conv1_;                                    // stem, reads the NCHW input
  std::vector<resnet::Bottleneck> blocks_;              // layer1..layer4's, in order
  int lane_split_ = 0;                                  // layer3's first block (see forward)
  nn::Conv2d fc_;                                       // fc as a 1x1 conv over (N, 1, 1, 2048)
};

inline ResNetOutput ResNetSession::forward(const float* x, int64_t n, int64_t h, int64_t w, bool keep_feature_map) {
  const ResNet50& m = *m_;
  const Limits& lim = m.opt_.limits;
  TAILOR_CHECK(x != nullptr, ErrorCode::invalid_argument, "ResNet50: null input", "");
  TAILOR_CHECK(n >= 1 && uint64_t(n) <= lim.max_batch, ErrorCode::invalid_argument,
               "ResNet50: batch of " + std::to_string(n) + " images; it must be 1.." + std::to_string(lim.max_batch),
               "split the batch, or raise Limits::max_batch");
  TAILOR_CHECK(h >= 1 && w >= 1 && uint64_t(h) <= lim.max_image_side && uint64_t(w) <= lim.max_image_side &&
                   uint64_t(h) * uint64_t(w) <= lim.max_image_pixels,
               ErrorCode::limit,
               "ResNet50: input of " + std::to_string(h) + "x" + std::to_string(w) + " pixels is outside the limits",
               "the network expects (N, 3, H, W) with H, W around 224; raise Limits::max_image_side/pixels for more");

  const nn::Conv2dShape& s1 = m.conv1_.shape();
  TAILOR_CHECK(s1.out_h(h) >= 1 && s1.out_w(w) >= 1, ErrorCode::invalid_argument, "ResNet50: input too small", "");
  const int B = int(m.blocks_.size());
  const auto [fh, fw] = m.map_size(B, h, w);

  ResNetOutput out;
  out.n = n;
  out.feature_dim = m.cfg_.feature_dim();
  out.num_classes = m.cfg_.num_classes;
  const int64_t F = out.feature_dim, in_per = 3 * h * w, map_per = fh * fw * F;
  out.pooled.resize(size_t(n * F));
  float* fmap = nullptr;
  if (keep_feature_map) {
    out.feature_h = fh;
    out.feature_w = fw;
    out.feature_map.resize(size_t(n * map_per));
    fmap = out.feature_map.data();
  }
  // A batch runs image by image through the stem, layer1 and layer2, and as one batch through
  // layer3 and layer4. Up to layer3 each of the session's threads takes whole images, one at a
  // time, on its own single-thread lane (dynamic hand-out), and any remainder of fewer images
  // than threads runs as one batch split over all of them. Early on, one image's activations
  // (3 MB at layer1) stay in cache where a batch's (25 MB at 8 images) go to memory and back
  // between convs, and threads on whole images never wait for each other; later the weights
  // are the big operand (layer4: 15 MB for 49 pixels an image) and a batch reads them once,
  // and the batch's small conv tasks even out two cores that run at different speeds (on a
  // shared VM one core is often 30% slower than the other for seconds at a time: lanes to
  // the end would leave the fast one idle while the slow one finishes its last image).
  // Measured, interleaved in one process, batch 8 on 2 threads: median 0.91-0.93x the time of
  // lanes to the end (0.96x on 1 thread). Every image's computation, and so every bit of the
  // result, is the same either way (the convs' results do not depend on the batch or the
  // thread count: tests).
  const int T = pool_->size();
  int64_t lane_images = 0;  // images [0, lane_images) go one at a time, by lane
  if (n > 1) lane_images = T == 1 ? n : n - n % T;
  const int split = lane_images > 0 && m.lane_split_ > 0 ? std::min(m.lane_split_, B) : B;
  float* mid = nullptr;  // block split's input (n, sh, sw, sc) NHWC, when split < B
  const auto [sh, sw] = m.map_size(split, h, w);
  int64_t mid_per = 0;
  if (split < B) {
    mid_per = sh * sw * m.blocks_[size_t(split)].conv1.shape().cin;
    mid_.reset();
    mid = mid_.alloc<float>(size_t(n * mid_per));
  }
  // Image i's part up to `split`: its mid slice, or its pooled features (and feature map).
  auto front = [&](int64_t i, int64_t count, ThreadPool& pool, Arena& arena, Arena& scratch) {
    if (split < B)
      trunk(x + i * in_per, count, h, w, 0, split, pool, arena, scratch, mid + i * mid_per, nullptr, nullptr);
    else
      trunk(x + i * in_per, count, h, w, 0, B, pool, arena, scratch, nullptr, out.pooled.data() + i * F,
            fmap ? fmap + i * map_per : nullptr);
  };
  if (lane_images > 0 && T == 1) {
    for (int64_t i = 0; i < n; ++i) front(i, 1, *pool_, arena_, conv_scratch_);
  } else if (lane_images > 0) {
    while (lanes_.size() < size_t(T)) lanes_.push_back(std::make_unique<Lane>());
    std::atomic<int64_t> next{0};
    pool_->run(T, [&](int t) {
      Lane& lane = *lanes_[size_t(t)];
      for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < lane_images;)
        front(i, 1, lane.pool, lane.arena, lane.conv_scratch);
    });
  }
  if (lane_images < n) front(lane_images, n - lane_images, *pool_, arena_, conv_scratch_);
  if (split < B)
    trunk(mid, n, sh, sw, split, B, *pool_, arena_, conv_scratch_, nullptr, out.pooled.data(), fmap);
  if (m.cfg_.num_classes > 0) {  // fc over all the batch's pooled features at once
    out.logits.resize(size_t(n * m.cfg_.num_classes));
    conv_scratch_.reset();
    nn::conv2d(m.fc_, out.pooled.data(), n, 1, 1, out.logits.data(), nullptr, nn::Activation::none, *pool_,
               conv_scratch_);
  }
  return out;
}

inline void ResNetSession::trunk(const float* x, int64_t n, int64_t h, int64_t w, int first, int last,
                                 ThreadPool& pool, Arena& arena, Arena& conv_scratch, float* out, float* pooled,
                                 float* fmap) const {
  const ResNet50& m = *m_;
  const int B = int(m.blocks_.size());
  TAILOR_CHECK(0 <= first && first < last && last <= B && (last == B ? pooled != nullptr : out != nullptr),
               ErrorCode::internal, "ResNet50: bad block range", "");
  // Shapes through the blocks run, and the largest buffers each role needs.
  const nn::Conv2dShape& s1 = m.conv1_.shape();
  int64_t h1 = 0, w1 = 0, hh = h, ww = w;  // hh x ww: the current block's input
  uint64_t act_max = 0, t_max = 0, pad_max = 0;
  if (first == 0) {
    h1 = s1.out_h(h);
    w1 = s1.out_w(w);
    std::tie(hh, ww) = m.map_size(0, h, w);
    act_max = uint64_t(n) * uint64_t(h1) * uint64_t(w1) * 64;  // stem output
    pad_max = uint64_t(n) * uint64_t(h + 6) * uint64_t(w + 6) * 3;
  }  // (a block range's own input is x: a and b hold block outputs)
  {
    int64_t ih = hh, iw = ww;
    for (int i = first; i < last; ++i) {
      const resnet::Bottleneck& blk = m.blocks_[size_t(i)];
      const int64_t planes = blk.conv1.shape().cout, cout = blk.conv3.shape().cout;
      const int64_t oh = blk.conv2.shape().out_h(ih), ow = blk.conv2.shape().out_w(iw);
      t_max = std::max<uint64_t>(t_max, uint64_t(n) * uint64_t(ih) * uint64_t(iw) * uint64_t(planes));
      pad_max = std::max<uint64_t>(pad_max, uint64_t(n) * uint64_t(ih + 2) * uint64_t(iw + 2) * uint64_t(planes));
      act_max = std::max<uint64_t>(act_max, uint64_t(n) * uint64_t(oh) * uint64_t(ow) * uint64_t(cout));
      ih = oh;
      iw = ow;
    }
  }
  uint64_t total = 0;
  if (!detail::checked_mul(act_max, 3, &total) || !detail::checked_add(total, 2 * t_max + pad_max, &total) ||
      total > (uint64_t(1) << 36))
    detail::fail(ErrorCode::limit, "ResNet50: a batch of " + std::to_string(n) + " at " + std::to_string(h) + "x" +
                                       std::to_string(w) + " needs too much scratch memory",
                 "lower the batch size or the input size");

  arena.reset();
  float* a = arena.alloc<float>(size_t(act_max));
  float* b = arena.alloc<float>(size_t(act_max));
  float* ds = arena.alloc<float>(size_t(act_max));
  float* t1 = arena.alloc<float>(size_t(t_max));
  float* t2 = arena.alloc<float>(size_t(t_max));
  // Each conv takes its zero-padded input copy from conv_scratch, reset before every conv,
  // so it holds one copy at a time (the largest, after the first pass).
  int block = -1;  // the block being run (-1: the stem), for TAILOR_RESNET_CONV_HOOK
  auto conv = [&](const nn::Conv2d& c, const float* in, int64_t ih, int64_t iw, float* o, const float* res,
                  nn::Activation act, int role) {
    conv_scratch.reset();
#ifdef TAILOR_RESNET_CONV_HOOK
    const auto t0 = std::chrono::steady_clock::now();
    nn::conv2d(c, in, n, ih, iw, o, res, act, pool, conv_scratch);
    TAILOR_RESNET_CONV_HOOK(block, role, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                            2.0 * c.macs(ih, iw) * double(n));
#else
    (void)block;
    (void)role;
    nn::conv2d(c, in, n, ih, iw, o, res, act, pool, conv_scratch);
#endif
  };

  const float* cur = x;      // the current block's input
  float* cur_own = nullptr;  // the same when it is this pass's buffer (a or b), not the caller's x
  float* nxt = a;            // its output (a and b take turns)
  if (first == 0) {          // stem: (N, 3, H, W) -> (N, h1, w1, 64) -> maxpool (N, hh, ww, 64)
    conv(m.conv1_, x, h, w, b, nullptr, nn::Activation::relu, 0);
    nn::maxpool2d_nhwc(b, n, h1, w1, 64, 3, 2, 1, a, pool);
    cur = cur_own = a;
    nxt = b;
  }
  for (int i = first; i < last; ++i) {
    // torchvision Bottleneck.forward: out = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))) + identity)
    const resnet::Bottleneck& blk = m.blocks_[size_t(i)];
    const int64_t oh = blk.conv2.shape().out_h(hh), ow = blk.conv2.shape().out_w(ww);
    float* dst = i + 1 == last && last < B ? out : nxt;
    // Without a downsample, conv3 adds the block's input and nothing reads that input after:
    // it writes its output over it (the kernel reads each residual line just before storing
    // the output there), so the output lines are already in cache and one map less is live.
    // Measured in-process, one thread, batch 1: layer 1 0.96-0.97x the time, the pass 0.99x.
    const bool in_place = !blk.has_downsample && cur_own != nullptr && dst != out;
    if (in_place) dst = cur_own;
    block = i;
    conv(blk.conv1, cur, hh, ww, t1, nullptr, nn::Activation::relu, 0);
    conv(blk.conv2, t1, hh, ww, t2, nullptr, nn::Activation::relu, 1);
    const float* identity = cur;
    if (blk.has_downsample) {
      conv(blk.downsample, cur, hh, ww, ds, nullptr, nn::Activation::none, 2);
      identity = ds;
    }
    conv(blk.conv3, t2, oh, ow, dst, identity, nn::Activation::relu, 3);
    cur = cur_own = dst;
    if (!in_place) nxt = nxt == a ? b : a;
    hh = oh;
    ww = ow;
  }
  if (last < B) return;
  const int64_t F = m.cfg_.feature_dim();
  nn::global_avgpool_nhwc(cur, n, hh, ww, F, pooled, pool);
  if (fmap) std::copy(cur, cur + n * hh * ww * F, fmap);
}

inline ResNetOutput ResNetSession::forward(const std::vector<Image>& images, bool keep_feature_map) {
  TAILOR_CHECK(!images.empty(), ErrorCode::invalid_argument, "ResNet50: no images", "pass at least one image");
  const Preprocess& pre = m_->preprocess();
  const size_t per = pre.output_size();
  batch_.resize(per * images.size());
  pool_->run(int(images.size()), [&](int i) { pre.run(images[size_t(i)], batch_.data() + per * size_t(i)); });
  return forward(batch_.data(), int64_t(images.size()), pre.crop, pre.crop, keep_feature_map);
}

}  // namespace tailor
