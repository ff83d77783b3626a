// tailor/core/cpu.hpp: what the kernels' cache blocking needs to know about the CPU.
#pragma once

#include <cstdint>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace tailor {

/// Per-core cache sizes in bytes, read once: sysconf where the C library reports them (glibc
/// does, from CPUID), else 1 MiB of L2. The convs' blocking (nn/conv2d.hpp) is sized from the
/// L2 (a Zen 3 core has 512 KiB, a Sapphire Rapids core 2 MiB: blocking for the one spills the
/// other's). Only speed depends on them, never a result's bits.
struct CacheSizes {
  int64_t l2 = int64_t(1) << 20;
};

inline const CacheSizes& cache_sizes() {
  static const CacheSizes sizes = [] {
    CacheSizes s;
#if defined(_SC_LEVEL2_CACHE_SIZE)
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (l2 >= (64L << 10) && l2 <= (64L << 20)) s.l2 = l2;  // implausible values are ignored
#endif
    return s;
  }();
  return sizes;
}

}  // namespace tailor
