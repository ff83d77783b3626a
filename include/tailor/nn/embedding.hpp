// tailor/nn/embedding.hpp: BERT's input embedding sum, one token row at a time.
//
// Follows HF modeling_bert.py BertEmbeddings.forward, including its order of additions
// (float addition is not associative, and parity is to float rounding):
//   embeddings = word_embeddings[input_id] + token_type_embeddings[token_type_id]
//   embeddings += position_embeddings[position_id]
// followed by LayerNorm (nn/layernorm.hpp). Ids are range-checked by the caller (the model),
// which can name the sequence and position of a bad id.
#pragma once

#include <cstdint>

#include "tailor/nn/simd.hpp"

namespace tailor::nn {

/// out[0..C) = (word[0..C) + type[0..C)) + pos[0..C): the rows already selected by id.
inline void embedding_sum_row(const float* word, const float* type, const float* pos, float* out, int64_t C) {
  using namespace simd;
  int64_t i = 0;
  for (; i + kWidth <= C; i += kWidth) store(out + i, (load(word + i) + load(type + i)) + load(pos + i));
  for (; i < C; ++i) out[i] = (word[i] + type[i]) + pos[i];
}

}  // namespace tailor::nn
