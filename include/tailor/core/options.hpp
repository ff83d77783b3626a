// tailor/core/options.hpp: what a caller chooses when loading a model.
#pragma once

#include "tailor/core/limits.hpp"

namespace tailor {

enum class Device { cpu, cuda };
/// Compute precision on the GPU; the CPU always computes in float32.
enum class Precision { fp32, tf32, fp16, bf16 };

struct Options {
  /// Threads per session, the caller's included; 0 = default_threads() ($TAILOR_NUM_THREADS
  /// or the hardware's count).
  int threads = 0;
  Device device = Device::cpu;
  Precision precision = Precision::fp32;
  int cuda_device = 0;
  Limits limits{};
};

}  // namespace tailor
