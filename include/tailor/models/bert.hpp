// tailor/models/bert.hpp: the BERT text tower (BertModel, BertForSequenceClassification) on CPU.
//
// Mirrors HF transformers' models/bert/modeling_bert.py, one struct per module, same names
// and the same order of operations (parity is to float32 rounding):
//   BertEmbeddings     word + token type, + position, LayerNorm           (modeling_bert.py BertEmbeddings)
//   BertSelfAttention  query/key/value Linear (packed side by side as one (H, 3H) GEMM),
//                      per-head softmax(q k^T / sqrt(D) + mask) v         (BertSelfAttention, eager_attention_forward)
//   BertSelfOutput     dense + residual, LayerNorm                        (BertSelfOutput)
//   BertAttention      self + output                                      (BertAttention)
//   BertIntermediate   dense + hidden_act (exact erf GELU for "gelu")     (BertIntermediate)
//   BertOutput         dense + residual, LayerNorm                        (BertOutput)
//   BertLayer, BertEncoder                                                (BertLayer, BertEncoder)
//   BertPooler         tanh(dense(h[CLS]))                                (BertPooler)
//   classifier         Linear on the pooled output                        (BertForSequenceClassification)
// Dropout is the identity at inference and does not appear.
//
// Batching: the sequences of a batch are stored back to back, without padding. Every Linear
// runs once over the concatenated rows of all sequences (one GEMM, M = total tokens), and
// attention runs per (sequence, head). This is exactly HF's result for the valid tokens
// (HF's padded keys get probability exactly 0) and padding costs nothing. Trailing tokens
// whose attention_mask is 0 (padding) are dropped from the input; masked tokens inside a
// sequence are kept and excluded as keys, as HF does.
//
// Threading: `Bert` is immutable after construction (weights packed at load, nn/gemm.hpp)
// and shared by any number of threads; each thread runs its own `BertSession`, which owns
// the scratch (Arena) and a ThreadPool of Options::threads.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tailor/core/arena.hpp"
#include "tailor/core/error.hpp"
#include "tailor/core/options.hpp"
#include "tailor/core/thread_pool.hpp"
#include "tailor/io/bundle.hpp"
#include "tailor/models/bert_config.hpp"
#include "tailor/models/registry.hpp"
#include "tailor/nn/activation.hpp"
#include "tailor/nn/attention.hpp"
#include "tailor/nn/embedding.hpp"
#include "tailor/nn/gemm.hpp"
#include "tailor/nn/layernorm.hpp"
#include "tailor/nn/pooling_text.hpp"
#include "tailor/text/tokenizer.hpp"

namespace tailor {

/// How a sentence embedding is made from a sequence's token rows.
enum class Pooling {
  cls,     ///< the [CLS] token's last hidden state
  mean,    ///< the mean of the tokens' last hidden states (attention mask respected)
  pooler,  ///< BertPooler's tanh(W h[CLS] + b)
  none,    ///< no pooling: the whole last_hidden_state (BertSession::forward)
};

inline Pooling pooling_from_name(const std::string& s) {
  if (s == "cls") return Pooling::cls;
  if (s == "mean") return Pooling::mean;
  if (s == "pooler") return Pooling::pooler;
  if (s == "none") return Pooling::none;
  detail::fail(ErrorCode::invalid_argument, "unknown pooling '" + s + "'", "use cls, mean, pooler or none");
}
inline const char* pooling_name(Pooling p) {
  switch (p) {
    case Pooling::cls: return "cls";
    case Pooling::mean: return "mean";
    case Pooling::pooler: return "pooler";
    case Pooling::none: return "none";
  }
  return "?";
}

/// One token sequence for BertSession::forward, as views valid during the call. The ids
/// include the special tokens ([CLS] ... [SEP]); type_ids null means all 0 (one segment),
/// attention_mask null means all 1.
struct BertSequence {
  const int32_t* ids = nullptr;
  const int32_t* type_ids = nullptr;
  const int32_t* attention_mask = nullptr;
  int64_t length = 0;
};

/// Everything a forward pass computes, for a batch of B sequences.
struct BertOutput {
  int64_t hidden_size = 0;  ///< H
  int64_t num_labels = 0;   ///< classifier outputs; 0 without a classifier
  /// (B + 1): sequence i is rows [offsets[i], offsets[i + 1]) of last_hidden_state. Its
  /// length T_i is the input length less trailing padding (attention_mask 0).
  std::vector<int64_t> offsets;
  /// (sum T_i, H): HF BertModel's last_hidden_state, each sequence's valid rows back to back.
  std::vector<float> last_hidden_state;
  /// (sum T_i): the attention mask of those rows (0 only for masked tokens inside a sequence).
  std::vector<uint8_t> attention_mask;
  /// (B, H): BertPooler's output (HF pooler_output); empty when the model has no pooler.
  std::vector<float> pooled;
  /// (B, num_labels): BertForSequenceClassification's logits; empty without a classifier.
  std::vector<float> logits;

  size_t size() const noexcept { return offsets.empty() ? 0 : offsets.size() - 1; }
  /// T_i.
  int64_t length(size_t i) const { return offsets.at(i + 1) - offsets.at(i); }
  /// Sequence i's last hidden states, (T_i, H) row-major.
  const float* hidden(size_t i) const { return last_hidden_state.data() + offsets.at(i) * hidden_size; }
  /// Sequence i's sentence embedding (H): cls, mean or pooler; L2-normalised if asked.
  std::vector<float> sentence_embedding(size_t i, Pooling p, bool normalize) const {
    std::vector<float> out(static_cast<size_t>(hidden_size));
    switch (p) {
      case Pooling::cls: nn::pool_cls(hidden(i), hidden_size, out.data()); break;
      case Pooling::mean:
        nn::pool_mean(hidden(i), length(i), hidden_size, hidden_size, attention_mask.data() + offsets.at(i), out.data());
        break;
      case Pooling::pooler:
        TAILOR_CHECK(!pooled.empty(), ErrorCode::invalid_argument, "pooling 'pooler' asked of a model without a pooler",
                     "use cls or mean pooling");
        std::memcpy(out.data(), pooled.data() + i * size_t(hidden_size), out.size() * sizeof(float));
        break;
      case Pooling::none:
        detail::fail(ErrorCode::invalid_argument, "a sentence embedding needs a pooling (cls, mean or pooler)",
                     "read last_hidden_state for pooling 'none'");
    }
    if (normalize) nn::l2_normalize(out.data(), hidden_size);
    return out;
  }
};

class BertSession;

/// HF modeling_bert.py's modules. Each has load(bundle, name prefix, config) and a forward
/// over the rows of the current batch (R rows, the sequences back to back).
namespace modeling_bert {

/// The rows of one forward pass and the session's pool.
struct Batch {
  int64_t rows = 0;                  ///< R
  const int64_t* offsets = nullptr;  ///< (nseq + 1)
  int64_t nseq = 0;
  const uint8_t* keep = nullptr;     ///< (R) attention mask, or null when all 1
  ThreadPool* pool = nullptr;
};

/// Row stride for an (R, n) activation: whole cache lines, and not a multiple of 4 KiB
/// (rows 4 KiB apart would share L1 sets when the GEMM reads 8 of them at once).
inline int64_t row_stride(int64_t n) {
  int64_t ld = (n + 15) / 16 * 16;
  if (ld % 1024 == 0) ld += 16;
  return ld;
}

inline AlignedBuffer<float> load_vector(const Bundle& b, const std::string& name, int64_t n) {
  AlignedBuffer<float> v(static_cast<size_t>(n));
  b.load_f32(name, Shape{n}, v.data());
  return v;
}

/// torch.nn.LayerNorm(H, eps).
struct LayerNorm {
  AlignedBuffer<float> weight, bias;  // (H)
  int64_t H = 0;
  float eps = 1e-12f;
  void load(const Bundle& b, const std::string& name, int64_t hidden, double epsilon) {
    H = hidden;
    eps = float(epsilon);
    weight = load_vector(b, name + ".weight", H);
    bias = load_vector(b, name + ".bias", H);
  }
  /// x (rows, H) in place, on the calling thread.
  void forward(float* x, int64_t ldx, int64_t rows) const {
    for (int64_t r = 0; r < rows; ++r) nn::layernorm_row(x + r * ldx, x + r * ldx, H, weight.data(), bias.data(), eps);
  }
};

/// torch.nn.Linear(in, out): y = act(x W^T + b (+ residual)), W packed at load.
struct Linear {
  nn::PackedWeight weight;      // (in, out) packed
  AlignedBuffer<float> bias;    // (out)
  void load(const Bundle& b, const std::string& name, int64_t out, int64_t in) {
    const F32View w = b.view_f32(name + ".weight", Shape{out, in});
    bias = load_vector(b, name + ".bias", out);
    weight = nn::PackedWeight::from_out_in(w.data(), out, in);
  }
  static nn::Epilogue epilogue(const float* bias, nn::Activation act, const float* residual, int64_t ldr) {
    nn::Epilogue ep;
    ep.bias = bias;
    ep.act = act;
    ep.residual = residual;
    ep.ldr = ldr;
    return ep;
  }
  /// y (M, out) = act(x (M, in) W^T + b (+ residual)), split over the pool.
  void forward(const float* x, int64_t M, int64_t ldx, float* y, int64_t ldy, ThreadPool& pool,
               nn::Activation act = nn::Activation::none, const float* residual = nullptr, int64_t ldr = 0) const {
    nn::gemm(x, M, ldx, weight, y, ldy, epilogue(bias.data(), act, residual, ldr), pool);
  }
  /// The same on the calling thread (a task of the caller's parallel region).
  void forward_serial(const float* x, int64_t M, int64_t ldx, float* y, int64_t ldy,
                      nn::Activation act = nn::Activation::none, const float* residual = nullptr, int64_t ldr = 0) const {
    nn::gemm_serial(x, M, ldx, weight, y, ldy, epilogue(bias.data(), act, residual, ldr));
  }
};

/// BertEmbeddings: LayerNorm((word[id] + token_type[type]) + position[pos]).
struct BertEmbeddings {
  AlignedBuffer<float> word_embeddings;        // (V, H)
  AlignedBuffer<float> position_embeddings;    // (P, H)
  AlignedBuffer<float> token_type_embeddings;  // (TV, H)
  LayerNorm layer_norm;
  int64_t H = 0;

  void load(const Bundle& b, const std::string& p, const BertConfig& c) {
    H = c.hidden_size;
    word_embeddings.resize(size_t(c.vocab_size * H));
    b.load_f32(p + "word_embeddings.weight", Shape{c.vocab_size, H}, word_embeddings.data());
    position_embeddings.resize(size_t(c.max_position_embeddings * H));
    b.load_f32(p + "position_embeddings.weight", Shape{c.max_position_embeddings, H}, position_embeddings.data());
    token_type_embeddings.resize(size_t(c.type_vocab_size * H));
    b.load_f32(p + "token_type_embeddings.weight", Shape{c.type_vocab_size, H}, token_type_embeddings.data());
    layer_norm.load(b, p + "LayerNorm", H, c.layer_norm_eps);
  }
  /// x (R, H) from the (already range-checked) ids, type ids and positions of each row.
  void forward(const int32_t* ids, const int32_t* types, const int32_t* positions, float* x, int64_t ldx,
               const Batch& bt) const {
    bt.pool->parallel_for(bt.rows, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        float* row = x + r * ldx;
        nn::embedding_sum_row(word_embeddings.data() + int64_t(ids[r]) * H, token_type_embeddings.data() + int64_t(types[r]) * H,
                              position_embeddings.data() + int64_t(positions[r]) * H, row, H);
        nn::layernorm_row(row, row, H, layer_norm.weight.data(), layer_norm.bias.data(), layer_norm.eps);
      }
    });
  }
};

/// BertSelfAttention: the query, key and value Linear layers and per-head attention.
///
/// The three weights are packed into one GEMM whose output columns are grouped by head:
/// [q_0 k_0 v_0 | q_1 k_1 v_1 | ...], each group `group` columns (3 D rounded up to whole GEMM
/// panels, zero-padded). A head's task then computes its own q, k, v (its panels of the
/// GEMM) and its attention, so projection and attention make one parallel region.
struct BertSelfAttention {
  nn::PackedWeight qkv;        // (H, heads x group) packed
  AlignedBuffer<float> bias;   // (heads x group)
  int64_t H = 0, heads = 0, D = 0, group = 0;
  void load(const Bundle& b, const std::string& p, const BertConfig& c) {
    H = c.hidden_size;
    heads = c.num_attention_heads;
    D = H / heads;
    group = (3 * D + nn::PackedWeight::kPanel - 1) / nn::PackedWeight::kPanel * nn::PackedWeight::kPanel;
    const int64_t N = heads * group;
    std::vector<float> w(static_cast<size_t>(N * H), 0.f), part(static_cast<size_t>(H * H)), pb(static_cast<size_t>(H));
    bias.resize(size_t(N));
    std::fill(bias.begin(), bias.end(), 0.f);
    const char* names[3] = {"query", "key", "value"};
    for (int64_t j = 0; j < 3; ++j) {
      b.load_f32(p + names[j] + ".weight", Shape{H, H}, part.data());  // (out, in)
      b.load_f32(p + names[j] + ".bias", Shape{H}, pb.data());
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t d = 0; d < D; ++d) {
          const int64_t row = h * group + j * D + d;  // output column in the grouped layout
          std::memcpy(w.data() + row * H, part.data() + (h * D + d) * H, size_t(H) * sizeof(float));
          bias[size_t(row)] = pb[size_t(h * D + d)];
        }
    }
    qkv = nn::PackedWeight::from_out_in(w.data(), N, H);
  }
  int64_t qkv_columns() const { return heads * group; }
  /// ctx (R, H) = attention over x (R, H); qkv_buf (R, heads x group) is scratch, as is
  /// `scratch` (nn::multi_head_attention_scratch floats).
  void forward(const float* x, int64_t ldx, float* qkv_buf, int64_t ldq, float* ctx, int64_t ldc, float* scratch,
               const Batch& bt) const {
    const int64_t panels_per_head = group / nn::PackedWeight::kPanel;
    // Every head's task multiplies the same x: converted once for the AMX path (else null).
    const uint16_t* x_amx = nn::gemm_prepare_a(x, bt.rows, ldx, qkv, bt.pool);
    nn::multi_head_attention(qkv_buf, ldq, nn::QkvLayout::grouped(D, group), bt.offsets, bt.nseq, H, heads, bt.keep,
                             ctx, ldc, *bt.pool, scratch, [&](int64_t h) {
                               nn::gemm_serial(x, bt.rows, ldx, qkv, qkv_buf, ldq,
                                               Linear::epilogue(bias.data(), nn::Activation::none, nullptr, 0),
                                               h * panels_per_head, (h + 1) * panels_per_head, x_amx);
                             });
  }
};

/// BertSelfOutput: LayerNorm(dense(ctx) + input).
struct BertSelfOutput {
  Linear dense;
  LayerNorm layer_norm;
  void load(const Bundle& b, const std::string& p, const BertConfig& c) {
    dense.load(b, p + "dense", c.hidden_size, c.hidden_size);
    layer_norm.load(b, p + "LayerNorm", c.hidden_size, c.layer_norm_eps);
  }
  /// Rows of one task. io (rows, H): the input (the residual) on entry, the output on return.
  void forward(const float* ctx, int64_t ldc, float* io, int64_t ldio, int64_t rows) const {
    dense.forward_serial(ctx, rows, ldc, io, ldio, nn::Activation::none, io, ldio);  // residual in place
    layer_norm.forward(io, ldio, rows);
  }
};

/// BertAttention: self-attention then BertSelfOutput.
struct BertAttention {
  BertSelfAttention self;
  BertSelfOutput output;
  void load(const Bundle& b, const std::string& p, const BertConfig& c) {
    self.load(b, p + "self.", c);
    output.load(b, p + "output.", c);
  }
};

/// BertIntermediate: act(dense(x)), the activation fused into the GEMM.
struct BertIntermediate {
  Linear dense;
  nn::Activation act = nn::Activation::gelu_erf;
  void load(const Bundle& b, const std::string& p, const BertConfig& c) {
    dense.load(b, p + "dense", c.intermediate_size, c.hidden_size);
    act = nn::activation_from_name(c.hidden_act);
  }
  /// Rows of one task: y (rows, I) = act(x (rows, H) W^T + b).
  void forward(const float* x, int64_t ldx, float* y, int64_t ldy, int64_t rows) const {
    dense.forward_serial(x, rows, ldx, y, ldy, act);
  }
};

/// BertOutput: LayerNorm(dense(intermediate) + input).
struct BertOutput {
  Linear dense;
  LayerNorm layer_norm;
  void load(const Bundle& b, const std::string& p, const BertConfig& c) {
    dense.load(b, p + "dense", c.hidden_size, c.intermediate_size);
    layer_norm.load(b, p + "LayerNorm", c.hidden_size, c.layer_norm_eps);
  }
  /// Rows of one task. io (rows, H): the attention output (the residual) on entry, the
  /// layer's output on return.
  void forward(const float* inter, int64_t ldi, float* io, int64_t ldio, int64_t rows) const {
    dense.forward_serial(inter, rows, ldi, io, ldio, nn::Activation::none, io, ldio);
    layer_norm.forward(io, ldio, rows);
  }
};

/// Scratch a layer uses, allocated once per forward pass.
struct LayerScratch {
  float* qkv;        // (R, heads x group)
  int64_t ldq;
  float* ctx;        // (R, H)
  int64_t ldc;
  float* inter;      // (R, I)
  int64_t ldi;
  float* attention;  // nn::multi_head_attention_scratch floats
};

/// Row blocks for a layer's row-wise region: at least one per thread, at most max_rows each
/// (the GEMM's M block: 256 rows; 512 on the AMX path, whose weights cost more to stream),
/// whole register tiles (`tile` rows: 32 on the AMX path).
inline std::vector<int64_t> row_blocks(int64_t R, int threads, int64_t tile, int64_t max_rows) {
  const int64_t tiles = (R + tile - 1) / tile;
  const int64_t n = std::min<int64_t>(tiles, std::max<int64_t>(threads, (R + max_rows - 1) / max_rows));
  const int64_t per = (tiles + n - 1) / n * tile;
  std::vector<int64_t> b;
  for (int64_t r = 0; r < R; r += per) b.push_back(r);
  b.push_back(R);
  return b;
}

/// BertLayer: attention, then the feed-forward block (intermediate + output).
///
/// Two parallel regions per layer (each a fork-join over the session's pool): the heads
/// (their q, k, v projection and attention), then blocks of rows running BertSelfOutput,
/// BertIntermediate and BertOutput back to back: everything after attention is row-wise,
/// so a block's rows stay in cache through the whole feed-forward block and the threads
/// meet twice per layer instead of after every op.
struct BertLayer {
  BertAttention attention;
  BertIntermediate intermediate;
  BertOutput output;
  void load(const Bundle& b, const std::string& p, const BertConfig& c) {
    attention.load(b, p + "attention.", c);
    intermediate.load(b, p + "intermediate.", c);
    output.load(b, p + "output.", c);
  }
  /// x (R, H) in place: hidden states in, the layer's output out.
  void forward(float* x, int64_t ldx, const LayerScratch& s, const Batch& bt) const {
    attention.self.forward(x, ldx, s.qkv, s.ldq, s.ctx, s.ldc, s.attention, bt);
    const bool amx = intermediate.dense.weight.amx();
    const std::vector<int64_t> blocks =
        row_blocks(bt.rows, bt.pool->size(), amx ? nn::amx::kTile : nn::detail::kGemmMR, amx ? 512 : 256);
    bt.pool->run(int(blocks.size() - 1), [&](int i) {
      const int64_t r0 = blocks[size_t(i)], rows = blocks[size_t(i) + 1] - r0;
      float* xr = x + r0 * ldx;
      attention.output.forward(s.ctx + r0 * s.ldc, s.ldc, xr, ldx, rows);
      intermediate.forward(xr, ldx, s.inter + r0 * s.ldi, s.ldi, rows);
      output.forward(s.inter + r0 * s.ldi, s.ldi, xr, ldx, rows);
    });
  }
};

/// BertEncoder: the stack of layers.
struct BertEncoder {
  std::vector<BertLayer> layer;  // loaded by Bert's constructor, in parallel
  void forward(float* x, int64_t ldx, const LayerScratch& s, const Batch& bt) const {
    for (const BertLayer& l : layer) l.forward(x, ldx, s, bt);
  }
};

/// BertPooler: tanh(dense(h[CLS])), over the (B, H) rows of the first tokens.
struct BertPooler {
  Linear dense;
  void load(const Bundle& b, const std::string& p, const BertConfig& c) { dense.load(b, p + "dense", c.hidden_size, c.hidden_size); }
  void forward(const float* cls, int64_t B, int64_t ld, float* out, int64_t ldo, ThreadPool& pool) const {
    dense.forward(cls, B, ld, out, ldo, pool, nn::Activation::tanh);
  }
};

}  // namespace modeling_bert

/// The BERT text tower: BertModel (+ BertPooler) (+ BertForSequenceClassification's
/// classifier), loaded from a bundle. Immutable after construction; share it between threads
/// and give each thread its own session().
class Bert {
 public:
  /// Loads a "bert" bundle (validated first: config ranges, every tensor's shape).
  explicit Bert(const Bundle& b, const Options& opt = {}) : Bert(b, check_arch(b), "", opt) {}
  /// Loads the BERT part of a bundle: `config` is its config object (a tryon bundle's
  /// config()["text"]) and `prefix` its tensors' prefix ("text.").
  Bert(const Bundle& b, const json& config, const std::string& prefix, const Options& opt)
      : cfg_(detail::validate_bert(b, config, prefix, prefix.empty() ? "tailor.config" : "tailor.config." + trim_dot(prefix))),
        opt_(opt) {
    // The model runs on ids alone; a vocab the tokenizer refuses (no [CLS] / [SEP]) only
    // disables the text entry points (embed), with the tokenizer's error.
    try {
      tokenizer_ = std::make_shared<const BertTokenizer>(
          BertTokenizer::from_vocab(b.vocab(), cfg_.tokenizer, opt.limits, b.path() + ": tailor.vocab"));
    } catch (const Error& e) {
      tokenizer_error_ = e.what();
    }
    TAILOR_CHECK(opt.threads >= 0 && opt.threads <= 1024, ErrorCode::invalid_argument,
                 "thread count " + std::to_string(opt.threads) + " out of range", "use 0 (auto) or 1..1024");
    if (opt.amx) nn::amx::require_supported();
    // Options::amx: every weight this model packs takes the AMX path (else this thread's
    // default), on whichever thread packs it.
    const nn::GemmPath path = opt.amx ? nn::GemmPath::amx : nn::detail::automatic_path();
    // Packing is most of a load (with the kernel zeroing the new pages under it): the
    // embeddings and the layers are loaded in parallel on Options::threads threads, each the
    // same way whichever thread does it.
    const int L = int(cfg_.num_hidden_layers);
    encoder_.layer.resize(size_t(L));
    ThreadPool pool(opt.threads);
    pool.run(L + 2, [&](int t) {
      const nn::ScopedGemmPath scoped(path);
      if (t == 0) {
        embeddings_.load(b, prefix + "embeddings.", cfg_);
      } else if (t <= L) {
        encoder_.layer[size_t(t - 1)].load(b, prefix + "encoder.layer." + std::to_string(t - 1) + ".", cfg_);
      } else {
        if (cfg_.has_pooler) pooler_.load(b, prefix + "pooler.", cfg_);
        if (cfg_.num_labels > 0) classifier_.load(b, prefix + "classifier", cfg_.num_labels, cfg_.hidden_size);
      }
    });
  }

  const BertConfig& config() const noexcept { return cfg_; }
  const Options& options() const noexcept { return opt_; }
  /// The model's tokenizer: the bundle's vocab and tokenizer flags (BertTokenizerFast's
  /// behaviour, text/tokenizer.hpp).
  /// Throws when the bundle's vocab cannot make a BERT tokenizer (no [CLS] or [SEP]).
  const BertTokenizer& tokenizer() const {
    if (!tokenizer_)
      detail::fail(ErrorCode::format, "this model has no usable tokenizer: " + tokenizer_error_,
                   "pass token ids to BertSession::forward, or convert the model with its vocab.txt");
    return *tokenizer_;
  }
  /// A per-thread session (scratch + a ThreadPool of options().threads). The model must
  /// outlive it.
  BertSession session() const;

 private:
  friend class BertSession;
  static const json& check_arch(const Bundle& b) {
    if (b.arch() != "bert")
      detail::fail(ErrorCode::unsupported, b.path() + ": is a '" + b.arch() + "' bundle, not a 'bert' one",
                   b.arch() == "tryon" ? "load its text tower with Bert(bundle, bundle.config()[\"text\"], \"text.\", opt)"
                                       : "convert a BERT checkpoint with converters/convert.py bert");
    return b.config();
  }
  static std::string trim_dot(const std::string& p) { return p.empty() || p.back() != '.' ? p : p.substr(0, p.size() - 1); }

  BertConfig cfg_;
  Options opt_;
  std::shared_ptr<const BertTokenizer> tokenizer_;  // null when the vocab cannot make one
  std::string tokenizer_error_;
  modeling_bert::BertEmbeddings embeddings_;
  modeling_bert::BertEncoder encoder_;
  modeling_bert::BertPooler pooler_;
  modeling_bert::Linear classifier_;
};

/// One thread's handle on a Bert: scratch memory and a ThreadPool. Not thread-safe itself;
/// create one per thread (they are cheap next to the model).
class BertSession {
 public:
  explicit BertSession(const Bert& model) : BertSession(model, model.options().threads) {}
  /// A session whose ThreadPool has `threads` threads (0: default_threads()) instead of the
  /// model's options().threads: e.g. one-thread sessions that each run whole batches.
  BertSession(const Bert& model, int threads)
      : model_(&model), pool_(std::make_unique<ThreadPool>(threads)), arena_(std::make_unique<Arena>()) {}

  const Bert& model() const noexcept { return *model_; }
  ThreadPool& pool() noexcept { return *pool_; }

  /// Runs BertModel (+ pooler, + classifier) on a batch of sequences of any lengths.
  /// Throws tailor::Error (invalid_argument / limit) for an empty batch, an empty sequence,
  /// an id outside the vocabulary, a sequence longer than max_position_embeddings.
  BertOutput forward(const std::vector<BertSequence>& batch) {
    BertOutput out;
    const BertConfig& c = model_->cfg_;
    out.hidden_size = c.hidden_size;
    out.num_labels = c.num_labels;
    const auto lens = check(batch);
    out.offsets.assign(batch.size() + 1, 0);
    for (size_t i = 0; i < batch.size(); ++i) out.offsets[i + 1] = out.offsets[i] + lens[i];
    const int64_t R = out.offsets.back(), H = c.hidden_size;
    out.last_hidden_state.resize(size_t(R * H));
    out.attention_mask.resize(size_t(R));
    if (c.has_pooler) out.pooled.resize(batch.size() * size_t(H));
    if (c.num_labels > 0) out.logits.resize(batch.size() * size_t(c.num_labels));
    run_chunks(batch, lens, [&](size_t first, size_t count, const float* x, int64_t ldx, const uint8_t* keep,
                                const float* pooled) {
      const int64_t r0 = out.offsets[first];
      const int64_t rows = out.offsets[first + count] - r0;
      for (int64_t r = 0; r < rows; ++r) {
        std::memcpy(out.last_hidden_state.data() + (r0 + r) * H, x + r * ldx, size_t(H) * sizeof(float));
        out.attention_mask[size_t(r0 + r)] = keep ? keep[r] : 1;
      }
      if (pooled) {
        std::memcpy(out.pooled.data() + first * size_t(H), pooled, count * size_t(H) * sizeof(float));
        if (c.num_labels > 0)
          model_->classifier_.forward(pooled, int64_t(count), H, out.logits.data() + first * size_t(c.num_labels),
                                      c.num_labels, *pool_);
      }
    });
    return out;
  }

  /// forward() over token id lists (one segment, every token attended).
  BertOutput forward(const std::vector<std::vector<int32_t>>& ids) { return forward(views(ids)); }

  /// forward() over the tokenizer's encodings (padded or not: trailing padding is dropped).
  BertOutput forward(const std::vector<Encoding>& batch) { return forward(views(batch)); }

  /// Tokenizes the texts with the model's tokenizer (truncated to max_length tokens; 0: the
  /// bundle's model_max_length) and returns their sentence embeddings (B, H).
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts, Pooling p, bool normalize,
                                        int64_t max_length = 0) {
    return sentence_embeddings(views(encode(texts, max_length)), p, normalize);
  }
  /// embed() with the bundle's default pooling and normalisation (tailor.pooling / normalize).
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) {
    const BertConfig& c = model_->cfg_;
    return embed(texts, pooling_from_name(c.pooling), c.normalize);
  }
  /// The texts tokenized as embed() does, unpadded.
  std::vector<Encoding> encode(const std::vector<std::string>& texts, int64_t max_length = 0) {
    const BertConfig& c = model_->cfg_;
    TAILOR_CHECK(max_length >= 0 && max_length <= c.max_position_embeddings, ErrorCode::invalid_argument,
                 "max length " + std::to_string(max_length) + " is outside 1.." + std::to_string(c.max_position_embeddings) +
                     " (max_position_embeddings)",
                 "");
    EncodeOptions eo;
    eo.max_length = max_length > 0 ? max_length : std::min(c.tokenizer.model_max_length, c.max_position_embeddings);
    return model_->tokenizer().encode_batch(texts, eo, pool_.get());
  }

  /// Sentence embeddings (B, H) only, without keeping the hidden states of the batch:
  /// pooling cls, mean or pooler; L2-normalised when `normalize`.
  std::vector<std::vector<float>> sentence_embeddings(const std::vector<BertSequence>& batch, Pooling p,
                                                      bool normalize) {
    const BertConfig& c = model_->cfg_;
    TAILOR_CHECK(p != Pooling::none, ErrorCode::invalid_argument,
                 "a sentence embedding needs a pooling (cls, mean or pooler)", "use forward() for last_hidden_state");
    TAILOR_CHECK(p != Pooling::pooler || c.has_pooler, ErrorCode::invalid_argument,
                 "pooling 'pooler' asked of a model without a pooler", "use cls or mean pooling");
    const auto lens = check(batch);
    std::vector<std::vector<float>> out(batch.size());
    const int64_t H = c.hidden_size;
    run_chunks(batch, lens, [&](size_t first, size_t count, const float* x, int64_t ldx, const uint8_t* keep,
                                const float* pooled) {
      int64_t r = 0;
      for (size_t i = 0; i < count; ++i) {
        std::vector<float>& e = out[first + i];
        e.resize(size_t(H));
        const int64_t T = lens[first + i];
        if (p == Pooling::cls) nn::pool_cls(x + r * ldx, H, e.data());
        else if (p == Pooling::mean) nn::pool_mean(x + r * ldx, T, H, ldx, keep ? keep + r : nullptr, e.data());
        else std::memcpy(e.data(), pooled + i * size_t(H), size_t(H) * sizeof(float));
        if (normalize) nn::l2_normalize(e.data(), H);
        r += T;
      }
    });
    return out;
  }

  /// Most rows (tokens) one pass processes by default; longer batches run in several passes
  /// (whole sequences each), which bounds the scratch memory (about rows x (6 H + I) floats)
  /// whatever the batch size. Results do not depend on it.
  static constexpr int64_t kMaxRowsPerPass = 4096;
  /// Sets the rows per pass (>= 1; a sequence longer than that still runs whole).
  void set_max_rows_per_pass(int64_t rows) {
    TAILOR_CHECK(rows >= 1, ErrorCode::invalid_argument, "max rows per pass must be >= 1", "");
    max_rows_ = rows;
  }

 private:
  using ChunkFn = std::function<void(size_t first, size_t count, const float* x, int64_t ldx, const uint8_t* keep,
                                     const float* pooled)>;

  static std::vector<BertSequence> views(const std::vector<Encoding>& batch) {
    std::vector<BertSequence> v(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      const Encoding& e = batch[i];
      TAILOR_CHECK(e.type_ids.size() == e.ids.size() && e.attention_mask.size() == e.ids.size(),
                   ErrorCode::invalid_argument, "encoding " + std::to_string(i) + ": ids, type ids and mask differ in length",
                   "");
      v[i].ids = e.ids.data();
      v[i].type_ids = e.type_ids.data();
      v[i].attention_mask = e.attention_mask.data();
      v[i].length = int64_t(e.ids.size());
    }
    return v;
  }
  static std::vector<BertSequence> views(const std::vector<std::vector<int32_t>>& ids) {
    std::vector<BertSequence> v(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      v[i].ids = ids[i].data();
      v[i].length = int64_t(ids[i].size());
    }
    return v;
  }

  /// Validates the batch; returns each sequence's length less trailing padding.
  std::vector<int64_t> check(const std::vector<BertSequence>& batch) const {
    const BertConfig& c = model_->cfg_;
    const Limits& lim = model_->opt_.limits;
    TAILOR_CHECK(!batch.empty(), ErrorCode::invalid_argument, "empty batch: no sequence to run", "pass at least one sequence");
    TAILOR_CHECK(batch.size() <= lim.max_batch, ErrorCode::limit,
                 "batch of " + std::to_string(batch.size()) + " sequences is over the limit of " +
                     std::to_string(lim.max_batch),
                 "split the batch, or raise Limits::max_batch");
    std::vector<int64_t> lens(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      const BertSequence& s = batch[i];
      const std::string where = "sequence " + std::to_string(i);
      TAILOR_CHECK(s.length >= 0 && (s.length == 0 || s.ids), ErrorCode::invalid_argument, where + ": no token ids", "");
      int64_t T = s.length;
      if (s.attention_mask) {
        for (int64_t t = 0; t < s.length; ++t)
          TAILOR_CHECK(s.attention_mask[t] == 0 || s.attention_mask[t] == 1, ErrorCode::invalid_argument,
                       where + ", position " + std::to_string(t) + ": attention_mask is " +
                           std::to_string(s.attention_mask[t]) + ", not 0 or 1",
                       "");
        while (T > 0 && s.attention_mask[T - 1] == 0) --T;  // trailing padding
      }
      TAILOR_CHECK(T > 0, ErrorCode::invalid_argument, where + " is empty (no token with attention_mask 1)",
                   "a sequence needs at least [CLS] and [SEP]; tokenize the text with the model's tokenizer");
      TAILOR_CHECK(T <= c.max_position_embeddings, ErrorCode::limit,
                   where + " has " + std::to_string(T) + " tokens; the model takes at most " +
                       std::to_string(c.max_position_embeddings) + " (max_position_embeddings)",
                   "truncate the text to the model's max length when tokenizing");
      for (int64_t t = 0; t < T; ++t) {
        TAILOR_CHECK(s.ids[t] >= 0 && s.ids[t] < c.vocab_size, ErrorCode::invalid_argument,
                     where + ", position " + std::to_string(t) + ": token id " + std::to_string(s.ids[t]) +
                         " is outside the vocabulary (0.." + std::to_string(c.vocab_size - 1) + ")",
                     "the ids come from a different tokenizer / vocab than the model's");
        if (s.type_ids)
          TAILOR_CHECK(s.type_ids[t] >= 0 && s.type_ids[t] < c.type_vocab_size, ErrorCode::invalid_argument,
                       where + ", position " + std::to_string(t) + ": token type id " + std::to_string(s.type_ids[t]) +
                           " is outside 0.." + std::to_string(c.type_vocab_size - 1),
                       "");
      }
      lens[i] = T;
    }
    return lens;
  }

  /// Runs the batch in passes of at most kMaxRowsPerPass rows (whole sequences), calling
  /// `fn` with each pass's final hidden states (and pooled rows when there is a pooler).
  void run_chunks(const std::vector<BertSequence>& batch, const std::vector<int64_t>& lens, const ChunkFn& fn) {
    size_t first = 0;
    while (first < batch.size()) {
      size_t count = 0;
      int64_t rows = 0;
      while (first + count < batch.size() && (count == 0 || rows + lens[first + count] <= max_rows_))
        rows += lens[first + count++];
      run_pass(batch, lens, first, count, rows, fn);
      first += count;
    }
  }

  void run_pass(const std::vector<BertSequence>& batch, const std::vector<int64_t>& lens, size_t first, size_t count,
                int64_t R, const ChunkFn& fn) {
    const BertConfig& c = model_->cfg_;
    const int64_t H = c.hidden_size, I = c.intermediate_size;
    Arena& a = *arena_;
    a.reset();
    std::vector<int64_t> offsets(count + 1, 0);
    for (size_t i = 0; i < count; ++i) offsets[i + 1] = offsets[i] + lens[first + i];
    int32_t* ids = a.alloc<int32_t>(size_t(R));
    int32_t* types = a.alloc<int32_t>(size_t(R));
    int32_t* pos = a.alloc<int32_t>(size_t(R));
    uint8_t* keep = a.alloc<uint8_t>(size_t(R));
    bool any_masked = false;
    for (size_t i = 0; i < count; ++i) {
      const BertSequence& s = batch[first + i];
      for (int64_t t = 0, r = offsets[i]; t < lens[first + i]; ++t, ++r) {
        ids[r] = s.ids[t];
        types[r] = s.type_ids ? s.type_ids[t] : 0;
        pos[r] = int32_t(t);  // absolute positions 0..T-1, as HF's default position_ids
        keep[r] = s.attention_mask ? uint8_t(s.attention_mask[t]) : 1;
        any_masked |= keep[r] == 0;
      }
    }
    modeling_bert::Batch bt;
    bt.rows = R;
    bt.offsets = offsets.data();
    bt.nseq = int64_t(count);
    bt.keep = any_masked ? keep : nullptr;
    bt.pool = pool_.get();
    const int64_t ldx = modeling_bert::row_stride(H);
    modeling_bert::LayerScratch s;
    s.ldq = modeling_bert::row_stride(model_->encoder_.layer.front().attention.self.qkv_columns());
    s.ldc = modeling_bert::row_stride(H);
    s.ldi = modeling_bert::row_stride(I);
    float* x = a.alloc<float>(size_t(R * ldx));
    s.qkv = a.alloc<float>(size_t(R * s.ldq));
    s.ctx = a.alloc<float>(size_t(R * s.ldc));
    s.inter = a.alloc<float>(size_t(R * s.ldi));
    int64_t max_t = 0;
    for (size_t i = 0; i < count; ++i) max_t = std::max(max_t, lens[first + i]);
    s.attention = a.alloc<float>(size_t(nn::multi_head_attention_scratch(max_t, c.head_dim(), pool_->size(),
                                                                         c.num_attention_heads)));

    model_->embeddings_.forward(ids, types, pos, x, ldx, bt);
    model_->encoder_.forward(x, ldx, s, bt);

    float* pooled = nullptr;
    if (c.has_pooler) {
      // BertPooler over each sequence's first token ([CLS]), gathered into (B, H).
      float* cls = a.alloc<float>(count * size_t(H));
      pooled = a.alloc<float>(count * size_t(H));
      for (size_t i = 0; i < count; ++i) std::memcpy(cls + i * size_t(H), x + offsets[i] * ldx, size_t(H) * sizeof(float));
      model_->pooler_.forward(cls, int64_t(count), H, pooled, H, *pool_);
    }
    fn(first, count, x, ldx, bt.keep, pooled);
  }

  const Bert* model_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Arena> arena_;
  int64_t max_rows_ = kMaxRowsPerPass;
};

inline BertSession Bert::session() const { return BertSession(*this); }

}  // namespace tailor
