// tailor/tailor.hpp: the umbrella header. Include this and link tailor::tailor.
//
// tailor is a header-only inference engine for one multimodal model family: a ResNet50
// image tower, a BERT text tower, a fusion head, and a WordPiece tokenizer. See README.md.
#pragma once

#include "tailor/version.hpp"

#include "tailor/core/arena.hpp"
#include "tailor/core/checked.hpp"
#include "tailor/core/error.hpp"
#include "tailor/core/limits.hpp"
#include "tailor/core/options.hpp"
#include "tailor/core/tensor.hpp"
#include "tailor/core/thread_pool.hpp"

#include "tailor/io/bundle.hpp"
#include "tailor/io/config.hpp"
#include "tailor/io/file.hpp"
#include "tailor/io/npy.hpp"
#include "tailor/io/safetensors.hpp"

#include "tailor/image/heatmap.hpp"
#include "tailor/image/image.hpp"
#include "tailor/image/preprocess.hpp"
#include "tailor/image/resample.hpp"

#include "tailor/nn/activation.hpp"
#include "tailor/nn/attention.hpp"
#include "tailor/nn/conv2d.hpp"
#include "tailor/nn/embedding.hpp"
#include "tailor/nn/gemm.hpp"
#include "tailor/nn/layernorm.hpp"
#include "tailor/nn/pooling.hpp"
#include "tailor/nn/pooling_text.hpp"
#include "tailor/nn/simd.hpp"
#include "tailor/nn/softmax.hpp"

#include "tailor/text/tokenizer.hpp"

#include "tailor/models/bert.hpp"
#include "tailor/models/bert_config.hpp"
#include "tailor/models/device_outputs.hpp"
#include "tailor/models/fusion_head.hpp"
#include "tailor/models/fusion_head_config.hpp"
#include "tailor/models/registry.hpp"
#include "tailor/models/resnet50.hpp"
#include "tailor/models/resnet50_config.hpp"
#include "tailor/models/tryon.hpp"

// The GPU API: no CUDA type in it; without the tailor::cuda library it compiles to stubs that
// throw ErrorCode::device.
#include "tailor/cuda.hpp"
