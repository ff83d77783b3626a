// tailor/core/options.hpp: what a caller chooses when loading a model.
#pragma once

#include "tailor/core/limits.hpp"

namespace tailor {

enum class Device { cpu, cuda };
/// Compute precision on the GPU; the CPU always computes in float32.
enum class Precision { fp32, tf32, fp16, bf16 };

struct Options {
  /// Threads per session, the caller's included; 0 = default_threads() ($TAILOR_NUM_THREADS
  /// or the hardware's count). A CPU model also packs its weights on this many threads while
  /// it loads.
  int threads = 0;
  Device device = Device::cpu;
  Precision precision = Precision::fp32;
  int cuda_device = 0;
  Limits limits{};
  /// CPU: run BERT's matrix products and ResNet50's 1x1 convs on Intel AMX tiles
  /// (nn/gemm_amx.hpp: bf16x6, as accurate as float32). Faster where the products have many
  /// rows (BERT-base, 8 x 128 tokens: ~1.7x), slower where few rows make them stream the
  /// weights (1.5x the bytes): a single short text. Needs an AMX build and CPU (an error
  /// otherwise). Off by default, or on with $TAILOR_AMX=1. A model's outputs are the same bits
  /// for any batch either way.
  bool amx = false;
};

}  // namespace tailor
