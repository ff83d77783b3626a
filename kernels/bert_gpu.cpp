// kernels/bert_gpu.cpp: tailor::cuda::Bert / BertSession (include/tailor/cuda.hpp).
//
// HF modeling_bert.py on the GPU, one struct of device weights per model and a runner per
// session. The forward is the reference's, with its elementwise tails fused into kernels:
//
//   BertEmbeddings   embedding_sum_layernorm            word + token_type + position, LayerNorm
//   BertSelfAttention  cuBLASLt [Q|K|V] = h Wqkv^T + b  (the three projections as one GEMM)
//                      attention_online_softmax          (or the unfused cuBLASLt path)
//   BertSelfOutput   cuBLASLt ctx Wo^T, then bias_residual_layernorm (dense bias + residual + LN)
//   BertIntermediate cuBLASLt h Wi^T, then bias_activation (bias + exact erf GELU)
//   BertOutput       cuBLASLt i Wo2^T, then bias_residual_layernorm
//   BertPooler       cuBLASLt on the [CLS] rows (row stride T*H: no gather), bias + tanh
//   classifier       cuBLASLt with the bias epilogue
//   sentence features text_pool (cls / masked mean, optional L2 normalisation)
//
// Everything between the input copy and the output copy is enqueued on the session's stream
// and captured once per (B, T, outputs) as a CUDA graph: a BERT-base forward is ~90 kernels,
// whose launch cost would otherwise dominate at batch 1.
#include <cmath>
#include <string>
#include <vector>

#include "blas.hpp"
#include "device.hpp"
#include "launchers.hpp"
#include "model_common.hpp"
#include "tailor/cuda.hpp"
#include "tailor/models/registry.hpp"

namespace tailor::cuda {

struct Bert::Impl {
  virtual ~Impl() = default;
  virtual std::unique_ptr<BertSession::Impl> make_session(const std::shared_ptr<const Impl>& self,
                                                          const SessionOptions& so) const = 0;
};

struct BertSession::Impl {
  virtual ~Impl() = default;
  virtual BertOutput forward(const int64_t* ids, const int64_t* type_ids, const int64_t* mask, int64_t B, int64_t T,
                             const BertRequest& what) = 0;
  virtual double last_gpu_ms() const noexcept = 0;
};

namespace detail {
namespace {
namespace k = ::tailor::cuda::kernels;

k::Act act_from_config(const std::string& name) {
  if (name == "gelu") return k::Act::gelu_erf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return k::Act::gelu_tanh;
  if (name == "relu") return k::Act::relu;
  ::tailor::detail::fail(ErrorCode::unsupported, "activation '" + name + "' is not supported on the GPU",
                         "use gelu, gelu_new or relu");
}

template <class T>
struct BertLayerGpu {
  DeviceBuffer qkv_w, qkv_b;  // (3H, H), (3H): query, key, value stacked
  DeviceBuffer o_w, o_b, ln1_g, ln1_b;
  DeviceBuffer i_w, i_b;      // (I, H), (I)
  DeviceBuffer out_w, out_b, ln2_g, ln2_b;  // (H, I), (H)
};

template <class T>
struct BertGpu final : Bert::Impl {
  BertConfig cfg;
  Precision precision = Precision::fp32;
  int device = 0;
  Limits limits;
  k::Act act = k::Act::gelu_erf;
  DeviceBuffer word, pos, type, emb_g, emb_b;
  std::vector<BertLayerGpu<T>> layers;
  DeviceBuffer pooler_w, pooler_b, cls_w, cls_b;
  uint64_t bytes = 0;

  BertGpu(const Bundle& b, const BertConfig& c, const std::string& prefix, const Options& opt)
      : cfg(c), precision(opt.precision), device(opt.cuda_device), limits(opt.limits) {
    act = act_from_config(cfg.hidden_act);
    const int64_t H = cfg.hidden_size, I = cfg.intermediate_size;
    auto load = [&](const std::string& name, const Shape& shape) {
      const std::vector<float> v = b.load_f32(prefix + name, shape);
      bytes += v.size() * sizeof(T);
      return upload_as<T>(v);
    };
    word = load("embeddings.word_embeddings.weight", {cfg.vocab_size, H});
    pos = load("embeddings.position_embeddings.weight", {cfg.max_position_embeddings, H});
    type = load("embeddings.token_type_embeddings.weight", {cfg.type_vocab_size, H});
    emb_g = load("embeddings.LayerNorm.weight", {H});
    emb_b = load("embeddings.LayerNorm.bias", {H});
    layers.resize(size_t(cfg.num_hidden_layers));
    for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
      const std::string p = "encoder.layer." + std::to_string(l) + ".";
      BertLayerGpu<T>& L = layers[size_t(l)];
      std::vector<float> w(size_t(3 * H * H)), bias(size_t(3 * H));
      const char* qkv[3] = {"attention.self.query", "attention.self.key", "attention.self.value"};
      for (int i = 0; i < 3; ++i) {
        b.load_f32(prefix + p + qkv[i] + ".weight", {H, H}, w.data() + i * H * H);
        b.load_f32(prefix + p + qkv[i] + ".bias", {H}, bias.data() + i * H);
      }
      bytes += (w.size() + bias.size()) * sizeof(T);
      L.qkv_w = upload_as<T>(w);
      L.qkv_b = upload_as<T>(bias);
      L.o_w = load(p + "attention.output.dense.weight", {H, H});
      L.o_b = load(p + "attention.output.dense.bias", {H});
      L.ln1_g = load(p + "attention.output.LayerNorm.weight", {H});
      L.ln1_b = load(p + "attention.output.LayerNorm.bias", {H});
      L.i_w = load(p + "intermediate.dense.weight", {I, H});
      L.i_b = load(p + "intermediate.dense.bias", {I});
      L.out_w = load(p + "output.dense.weight", {H, I});
      L.out_b = load(p + "output.dense.bias", {H});
      L.ln2_g = load(p + "output.LayerNorm.weight", {H});
      L.ln2_b = load(p + "output.LayerNorm.bias", {H});
    }
    if (cfg.has_pooler) {
      pooler_w = load("pooler.dense.weight", {H, H});
      pooler_b = load("pooler.dense.bias", {H});
    }
    if (cfg.num_labels > 0) {
      cls_w = load("classifier.weight", {cfg.num_labels, H});
      cls_b = load("classifier.bias", {cfg.num_labels});
    }
  }

  std::unique_ptr<BertSession::Impl> make_session(const std::shared_ptr<const Bert::Impl>& self,
                                                  const SessionOptions& so) const override;
};

template <class T>
class BertRunner final : public BertSession::Impl {
 public:
  BertRunner(std::shared_ptr<const BertGpu<T>> m, const SessionOptions& so)
      : m_(std::move(m)), so_(so), graphs_(so.graphs) {
    DeviceGuard g(m_->device);
    stream_ = std::make_unique<Stream>();
    blas_ = std::make_unique<BlasLt>();
    if (so.timing) timer_ = std::make_unique<EventTimer>();
  }

  double last_gpu_ms() const noexcept override { return last_ms_; }

  BertOutput forward(const int64_t* ids, const int64_t* type_ids, const int64_t* mask, int64_t B, int64_t Tlen,
                     const BertRequest& what) override {
    const BertConfig& c = m_->cfg;
    const int64_t H = c.hidden_size, D = c.head_dim();
    BertOutput out;
    out.batch = B;
    out.seq_len = Tlen;
    out.hidden = H;
    out.num_labels = c.num_labels;
    validate(ids, type_ids, mask, B, Tlen);
    if (B == 0) return out;

    // What to compute.
    Pooling pool = what.sentence;
    if (pool == Pooling::config)
      pool = c.pooling == "mean" ? Pooling::mean : c.pooling == "pooler" ? Pooling::pooler
             : c.pooling == "none" ? Pooling::none : Pooling::cls;
    const bool normalize = what.normalize < 0 ? c.normalize : what.normalize != 0;
    if ((what.pooled || pool == Pooling::pooler) && !c.has_pooler)
      ::tailor::detail::fail(ErrorCode::invalid_argument, "this BERT model has no pooler",
                             "ask for cls or mean pooling instead");
    if (what.logits && c.num_labels == 0)
      ::tailor::detail::fail(ErrorCode::invalid_argument, "this BERT model has no classifier", "");
    const bool need_pooled = what.pooled || pool == Pooling::pooler || what.logits;
    Attention att = so_.attention;
    if (att == Attention::automatic)
      att = (D <= k::kAttentionMaxHeadDim && Tlen <= 512 && B * Tlen <= 4096) ? Attention::fused : Attention::unfused;
    if (att == Attention::fused && D > k::kAttentionMaxHeadDim) att = Attention::unfused;

    DeviceGuard g(m_->device);
    const cudaStream_t s = stream_->get();
    reserve(B, Tlen, att == Attention::unfused);

    // Inputs: int32 through pinned staging.
    const int64_t R = B * Tlen;
    int32_t* h_ids = pin_in_.as<int32_t>();
    int32_t* h_types = h_ids + R;
    int32_t* h_mask = h_types + R;
    for (int64_t i = 0; i < R; ++i) {
      h_ids[i] = int32_t(ids[i]);
      h_types[i] = type_ids ? int32_t(type_ids[i]) : 0;
      h_mask[i] = mask ? int32_t(mask[i]) : 1;
    }
    TAILOR_CUDA_CHECK(cudaMemcpyAsync(d_in_.get(), h_ids, size_t(3 * R) * sizeof(int32_t), cudaMemcpyHostToDevice, s));

    const std::vector<int64_t> key = {B, Tlen, int64_t(att), int64_t(pool), normalize, need_pooled, what.logits,
                                      what.last_hidden_state};
    if (timer_) timer_->start(s);
    graphs_.run(key, s, [&] { enqueue(B, Tlen, att, pool, normalize, need_pooled, what.logits, what.last_hidden_state); });
    if (timer_) timer_->stop(s);

    // Outputs: float32 device buffers straight into the vectors (pageable copies are staged by
    // the driver; a pinned bounce buffer would only add a host memcpy).
    auto fetch = [&](std::vector<float>* dst, const float* src, int64_t n) {
      dst->resize(size_t(n));
      TAILOR_CUDA_CHECK(cudaMemcpyAsync(dst->data(), src, size_t(n) * sizeof(float), cudaMemcpyDeviceToHost, s));
    };
    if (what.last_hidden_state) fetch(&out.last_hidden_state, f32(hidden_, f32_hidden_), R * H);
    if (what.pooled) fetch(&out.pooled, f32(pooled_, f32_pooled_), B * H);
    if (what.logits) fetch(&out.logits, f32(logits_, f32_logits_), B * c.num_labels);
    if (pool != Pooling::none) fetch(&out.sentence, sentence_.as<float>(), B * H);
    stream_->sync();
    if (timer_) last_ms_ = timer_->ms();
    return out;
  }

 private:
  /// The float32 view of a storage-typed buffer: itself for float, else its converted copy.
  const float* f32(const DeviceBuffer& typed, const DeviceBuffer& converted) const {
    return std::is_same_v<T, float> ? typed.as<float>() : converted.as<float>();
  }

  void validate(const int64_t* ids, const int64_t* type_ids, const int64_t* mask, int64_t B, int64_t Tlen) const {
    const BertConfig& c = m_->cfg;
    auto where = [&](int64_t i) {
      return " at batch item " + std::to_string(i / Tlen) + ", position " + std::to_string(i % Tlen);
    };
    if (B < 0 || uint64_t(B) > m_->limits.max_batch)
      ::tailor::detail::fail(ErrorCode::limit,
                             "batch of " + std::to_string(B) + " is outside 0.." + std::to_string(m_->limits.max_batch),
                             "split the batch");
    if (B == 0) return;
    if (Tlen < 1 || Tlen > c.max_position_embeddings)
      ::tailor::detail::fail(ErrorCode::limit,
                             "sequence length " + std::to_string(Tlen) + " is outside 1.." +
                                 std::to_string(c.max_position_embeddings) + " (max_position_embeddings)",
                             "truncate the text (tokenizer max length)");
    TAILOR_CHECK(ids != nullptr, ErrorCode::invalid_argument, "BertSession::forward: ids is null", "");
    for (int64_t i = 0; i < B * Tlen; ++i) {
      if (ids[i] < 0 || ids[i] >= c.vocab_size)
        ::tailor::detail::fail(ErrorCode::invalid_argument,
                               "token id " + std::to_string(ids[i]) + where(i) + " is outside the vocab of " +
                                   std::to_string(c.vocab_size),
                               "the ids come from another tokenizer or vocab");
      if (type_ids && (type_ids[i] < 0 || type_ids[i] >= c.type_vocab_size))
        ::tailor::detail::fail(ErrorCode::invalid_argument,
                               "token type id " + std::to_string(type_ids[i]) + where(i) + " is outside 0.." +
                                   std::to_string(c.type_vocab_size - 1),
                               "");
      if (mask && mask[i] != 0 && mask[i] != 1)
        ::tailor::detail::fail(ErrorCode::invalid_argument,
                               "attention mask value " + std::to_string(mask[i]) + where(i) + " is not 0 or 1", "");
    }
  }

  /// Grows the buffers for (B, T); a reallocation invalidates every captured graph.
  void reserve(int64_t B, int64_t Tlen, bool unfused) {
    const BertConfig& c = m_->cfg;
    const int64_t H = c.hidden_size, I = c.intermediate_size, L = std::max<int64_t>(c.num_labels, 1);
    const size_t R = size_t(B * Tlen), e = sizeof(T);
    bool grew = false;
    auto need = [&](DeviceBuffer& buf, size_t bytes) { grew |= buf.reserve(bytes); };
    need(d_in_, 3 * R * sizeof(int32_t));
    need(hidden_, R * size_t(H) * e);
    need(qkv_, R * size_t(3 * H) * e);
    need(ctx_, R * size_t(H) * e);
    need(tmp_, R * size_t(H) * e);
    need(inter_, R * size_t(I) * e);
    need(pooled_, size_t(B * H) * e);
    need(logits_, size_t(B * L) * e);
    need(sentence_, size_t(B * H) * sizeof(float));
    if (!std::is_same_v<T, float>) {
      need(f32_hidden_, R * size_t(H) * sizeof(float));
      need(f32_pooled_, size_t(B * H) * sizeof(float));
      need(f32_logits_, size_t(B * L) * sizeof(float));
    }
    if (unfused) {
      need(heads_, 4 * R * size_t(H) * e);  // q, k, v and the context, (B, NH, T, D) each
      need(scores_, size_t(B * c.num_attention_heads) * size_t(Tlen * Tlen) * e);
    }
    if (grew) graphs_.clear();
    pin_in_.reserve(3 * R * sizeof(int32_t));
  }

  /// Y (M, N) = X (M, K; row stride lda) . W^T (+ bias) on the session's stream.
  void linear(const T* x, int64_t M, int64_t K, int64_t lda, const DeviceBuffer& w, const DeviceBuffer* bias, T* y,
              int64_t N) {
    GemmArgs a;
    a.M = M;
    a.N = N;
    a.K = K;
    a.A = x;
    a.lda = lda;
    a.B = w.get();
    a.ldb = K;
    a.b_is_n_by_k = true;
    a.C = y;
    a.ldc = N;
    a.bias = bias ? bias->get() : nullptr;
    blas_->gemm(a, m_->precision, stream_->get());
  }

  void attention_unfused(const T* qkv, const int32_t* mask, T* ctx, int64_t B, int64_t Tlen) {
    const BertConfig& c = m_->cfg;
    const int64_t NH = c.num_attention_heads, D = c.head_dim(), R = B * Tlen, H = c.hidden_size;
    const cudaStream_t s = stream_->get();
    T* q = heads_.as<T>();
    T* kk = q + R * H;
    T* v = kk + R * H;
    T* ctx_heads = v + R * H;
    T* scores = scores_.as<T>();
    k::split_heads<T>(qkv, q, kk, v, B, Tlen, NH, D, s);
    GemmArgs qk;  // scores (T, T) = Q K^T / sqrt(D), per (b, h)
    qk.M = Tlen;
    qk.N = Tlen;
    qk.K = D;
    qk.A = q;
    qk.lda = D;
    qk.B = kk;
    qk.ldb = D;
    qk.b_is_n_by_k = true;
    qk.C = scores;
    qk.ldc = Tlen;
    qk.alpha = 1.f / std::sqrt(float(D));
    qk.batch = B * NH;
    qk.stride_a = Tlen * D;
    qk.stride_b = Tlen * D;
    qk.stride_c = Tlen * Tlen;
    blas_->gemm(qk, m_->precision, s);
    k::softmax_masked<T>(scores, mask, B, NH, Tlen, Tlen, 1.f, s);
    GemmArgs pv;  // context (T, D) = P V
    pv.M = Tlen;
    pv.N = D;
    pv.K = Tlen;
    pv.A = scores;
    pv.lda = Tlen;
    pv.B = v;
    pv.ldb = D;
    pv.b_is_n_by_k = false;
    pv.C = ctx_heads;
    pv.ldc = D;
    pv.batch = B * NH;
    pv.stride_a = Tlen * Tlen;
    pv.stride_b = Tlen * D;
    pv.stride_c = Tlen * D;
    blas_->gemm(pv, m_->precision, s);
    k::merge_heads<T>(ctx_heads, ctx, B, Tlen, NH, D, s);
  }

  void enqueue(int64_t B, int64_t Tlen, Attention att, Pooling pool, bool normalize, bool need_pooled, bool logits,
               bool last_hidden) {
    const BertGpu<T>& m = *m_;
    const BertConfig& c = m.cfg;
    const int64_t H = c.hidden_size, I = c.intermediate_size, NH = c.num_attention_heads, D = c.head_dim();
    const int64_t R = B * Tlen;
    const float eps = float(c.layer_norm_eps);
    const cudaStream_t s = stream_->get();
    const int32_t* ids = d_in_.as<int32_t>();
    const int32_t* types = ids + R;
    const int32_t* mask = types + R;
    T* hidden = hidden_.as<T>();
    T* qkv = qkv_.as<T>();
    T* ctx = ctx_.as<T>();
    T* tmp = tmp_.as<T>();
    T* inter = inter_.as<T>();

    k::embedding_sum_layernorm<T>(ids, types, dptr<T>(m.word), dptr<T>(m.pos), dptr<T>(m.type), dptr<T>(m.emb_g),
                                  dptr<T>(m.emb_b), hidden, B, Tlen, H, c.vocab_size, c.max_position_embeddings,
                                  c.type_vocab_size, eps, s);
    for (const BertLayerGpu<T>& L : m.layers) {
      linear(hidden, R, H, H, L.qkv_w, &L.qkv_b, qkv, 3 * H);
      if (att == Attention::fused)
        k::attention_online_softmax<T>(qkv, mask, ctx, B, Tlen, NH, D, s);
      else
        attention_unfused(qkv, mask, ctx, B, Tlen);
      linear(ctx, R, H, H, L.o_w, nullptr, tmp, H);
      k::bias_residual_layernorm<T>(tmp, dptr<T>(L.o_b), hidden, dptr<T>(L.ln1_g), dptr<T>(L.ln1_b), hidden, R, H, eps, s);
      linear(hidden, R, H, H, L.i_w, nullptr, inter, I);
      k::bias_activation<T>(inter, dptr<T>(L.i_b), R, I, m.act, s);
      linear(inter, R, I, I, L.out_w, nullptr, tmp, H);
      k::bias_residual_layernorm<T>(tmp, dptr<T>(L.out_b), hidden, dptr<T>(L.ln2_g), dptr<T>(L.ln2_b), hidden, R, H, eps,
                                    s);
    }
    T* pooled = pooled_.as<T>();
    if (need_pooled) {
      // BertPooler: tanh(dense(hidden[:, 0])); the [CLS] rows are every T-th row.
      linear(hidden, B, H, Tlen * H, m.pooler_w, nullptr, pooled, H);
      k::bias_activation<T>(pooled, dptr<T>(m.pooler_b), B, H, k::Act::tanh, s);
    }
    if (logits) linear(pooled, B, H, H, m.cls_w, &m.cls_b, logits_.as<T>(), c.num_labels);
    float* sentence = sentence_.as<float>();
    if (pool == Pooling::cls || pool == Pooling::mean)
      k::text_pool<T, float>(hidden, mask, sentence, B, Tlen, H, pool == Pooling::cls ? k::TextPool::cls : k::TextPool::mean,
                             normalize, s);
    else if (pool == Pooling::pooler)
      k::text_pool<T, float>(pooled, nullptr, sentence, B, 1, H, k::TextPool::cls, normalize, s);
    if (!std::is_same_v<T, float>) {
      if (last_hidden) k::convert_to_f32<T>(hidden, f32_hidden_.as<float>(), R * H, s);
      if (need_pooled) k::convert_to_f32<T>(pooled, f32_pooled_.as<float>(), B * H, s);
      if (logits) k::convert_to_f32<T>(logits_.as<T>(), f32_logits_.as<float>(), B * c.num_labels, s);
    }
  }

  std::shared_ptr<const BertGpu<T>> m_;
  SessionOptions so_;
  std::unique_ptr<Stream> stream_;
  std::unique_ptr<BlasLt> blas_;
  DeviceBuffer d_in_, hidden_, qkv_, ctx_, tmp_, inter_, pooled_, logits_, sentence_;
  DeviceBuffer f32_hidden_, f32_pooled_, f32_logits_, heads_, scores_;
  PinnedBuffer pin_in_;
  std::unique_ptr<EventTimer> timer_;
  double last_ms_ = 0;
  GraphCache graphs_;  // last: destroyed first, before the buffers its graphs point into
};

template <class T>
std::unique_ptr<BertSession::Impl> BertGpu<T>::make_session(const std::shared_ptr<const Bert::Impl>& self,
                                                             const SessionOptions& so) const {
  return std::make_unique<BertRunner<T>>(std::static_pointer_cast<const BertGpu<T>>(self), so);
}

}  // namespace
}  // namespace detail

// ---- the public classes ------------------------------------------------------------------------

namespace {
const json& bert_bundle_config(const Bundle& b) {
  if (b.arch() != "bert")
    ::tailor::detail::fail(ErrorCode::unsupported, b.path() + ": is a '" + b.arch() + "' bundle, not 'bert'",
                           "for a tryon bundle, load its text tower with the (bundle, config, \"text.\") constructor");
  return b.config();
}
}  // namespace

Bert::Bert(const Bundle& b, const Options& opt) : Bert(b, bert_bundle_config(b), "", opt) {}

Bert::Bert(const Bundle& b, const json& config, const std::string& prefix, const Options& opt) {
  require_device(opt.cuda_device);
  config_ = ::tailor::detail::validate_bert(b, config, prefix, prefix.empty() ? "tailor.config" : "the text config");
  precision_ = opt.precision;
  detail::DeviceGuard g(opt.cuda_device);
  detail::dispatch_precision(opt.precision, [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto m = std::make_shared<detail::BertGpu<T>>(b, config_, prefix, opt);
    device_bytes_ = m->bytes;
    impl_ = std::move(m);
  });
}

BertSession Bert::session(const SessionOptions& so) const { return BertSession(impl_->make_session(impl_, so)); }

BertSession::BertSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BertSession::BertSession(BertSession&&) noexcept = default;
BertSession& BertSession::operator=(BertSession&&) noexcept = default;
BertSession::~BertSession() = default;
double BertSession::last_gpu_ms() const noexcept { return impl_ ? impl_->last_gpu_ms() : 0; }

BertOutput BertSession::forward(const int64_t* ids, const int64_t* type_ids, const int64_t* mask, int64_t B, int64_t T,
                                const BertRequest& what) {
  return impl_->forward(ids, type_ids, mask, B, T, what);
}

BertOutput BertSession::forward(const std::vector<std::vector<int64_t>>& seqs, const BertRequest& what) {
  const int64_t B = int64_t(seqs.size());
  int64_t Tlen = 0;
  for (const auto& s : seqs) Tlen = std::max<int64_t>(Tlen, int64_t(s.size()));
  if (B > 0 && Tlen == 0)
    ::tailor::detail::fail(ErrorCode::invalid_argument, "every sequence is empty",
                           "sequences hold at least [CLS] and [SEP]");
  std::vector<int64_t> ids(size_t(B * Tlen), 0), mask(size_t(B * Tlen), 0);
  for (int64_t b = 0; b < B; ++b)
    for (size_t t = 0; t < seqs[size_t(b)].size(); ++t) {
      ids[size_t(b * Tlen) + t] = seqs[size_t(b)][t];
      mask[size_t(b * Tlen) + t] = 1;
    }
  return impl_->forward(ids.data(), nullptr, mask.data(), B, Tlen, what);
}

BertOutput BertSession::forward(const std::vector<TokenSequence>& seqs, const BertRequest& what) {
  const int64_t B = int64_t(seqs.size());
  int64_t Tlen = 0;
  for (const TokenSequence& s : seqs) {
    if (s.length < 0 || (s.length > 0 && !s.ids))
      ::tailor::detail::fail(ErrorCode::invalid_argument, "BertSession::forward: a sequence without ids", "");
    Tlen = std::max(Tlen, s.length);
  }
  if (B > 0 && Tlen == 0)
    ::tailor::detail::fail(ErrorCode::invalid_argument, "every sequence is empty",
                           "sequences hold at least [CLS] and [SEP]");
  std::vector<int64_t> ids(size_t(B * Tlen), 0), types(size_t(B * Tlen), 0), mask(size_t(B * Tlen), 0);
  for (int64_t b = 0; b < B; ++b) {
    const TokenSequence& s = seqs[size_t(b)];
    for (int64_t t = 0; t < s.length; ++t) {
      const size_t i = size_t(b * Tlen + t);
      ids[i] = s.ids[t];
      types[i] = s.type_ids ? s.type_ids[t] : 0;
      mask[i] = s.attention_mask ? s.attention_mask[t] : 1;
    }
  }
  return impl_->forward(ids.data(), types.data(), mask.data(), B, Tlen, what);
}

}  // namespace tailor::cuda
