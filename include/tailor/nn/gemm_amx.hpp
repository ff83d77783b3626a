// tailor/nn/gemm_amx.hpp: float32 GEMM on Intel AMX tiles, as accurate as float32 FMA.
//
// AMX (Sapphire Rapids and later) multiplies bfloat16 tiles into float32 accumulators at 16x
// the rate of AVX-512 float32 FMA, but bfloat16 keeps 8 significant bits. "bf16x6" (Henry,
// Tang & Heinecke, "Leveraging the bfloat16 Artificial Intelligence Datatype For
// Higher-Precision Computations", ARITH 2019) recovers float32 accuracy: each operand is
// split into three bfloat16 parts, x = x0 + x1 + x2 (each the round-to-nearest-even bfloat16
// of what the previous parts left; together they hold all 24 bits of a float), and
// a . b = sum of the six part products ai bj with i + j <= 2; the products left out
// (a1 b2, a2 b1, a2 b2) are below 2^-24 relative. Every part product is exact in float32
// and the tiles accumulate in float32, so the result is as close to the exact dot product
// as a float32 FMA loop's (measured: rel L2 1.5e-7 against float64, sequential float32 FMA
// 3.5e-7), at about 2x the float32 FMA peak on this machine.
//
// Layouts (bfloat16 as uint16_t):
//   - B (weights, packed once at load): 32-column panels; panel p, K block kb (32 rows) holds
//     its three parts, each two 16-column VNNI tiles (16 row pairs x 16 columns x 2):
//     element (k, n) of part j at ((p KB + kb) 3 + j) 1024 + t 512 + (k%32 / 2) 32 + (n%16) 2 + k%2.
//   - A (activations, converted at each call): 32-row strips; strip s, K block kb holds three
//     parts, each two 16 x 32 row tiles: element (m, k) of part j at
//     ((s KB + kb) 3 + j) 1024 + (m%32) 32 + k%32.
//   M, N and K are zero-padded to multiples of 32.
// Kernel: a 32 x 32 block of C in four tiles (tmm0-3), two A tiles (tmm4-5) and two B tiles
// (tmm6-7) reloaded per part pair, the six pairs in a "snake" order that reloads one operand
// per pair, loads issued right after a tile's last use, and the next K block of the A strip
// prefetched into L1 while the current one runs. Loops: K blocks of up to 24 (768 rows of B)
// -> groups of strips -> panels -> strips, partial sums kept in a float32 buffer between K
// blocks (exact: the tiles are float32 too). The result never depends on the blocking or
// the thread count: each output's six-product sum runs in the same order.
//
// Available when the compiler targets AMX-BF16 + AVX512-BF16 (e.g. -march=native on Sapphire
// Rapids) on Linux, the CPU has it, the kernel grants the tile state (arch_prctl), and
// $TAILOR_AMX is not 0; used for weights packed with GemmPath::amx (Options::amx for the
// models). Not the default: the weights are 1.5x the float32 bytes, so products with few rows,
// which stream the weights from memory, run slower than on the float32 kernels.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tailor/core/arena.hpp"
#include "tailor/core/error.hpp"

// (GCC spells the feature macros __AMX_TILE__ / __AMX_BF16__, Clang 14 __AMXTILE__ / __AMXBF16__.)
#if (defined(__AMX_TILE__) || defined(__AMXTILE__)) && (defined(__AMX_BF16__) || defined(__AMXBF16__)) && \
    defined(__AVX512BF16__) && defined(__AVX512BW__) && defined(__linux__) && defined(__x86_64__) && !defined(__CUDACC__)
#define TAILOR_HAVE_AMX 1
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#else
#define TAILOR_HAVE_AMX 0
#endif

namespace tailor::nn::amx {

inline constexpr int64_t kTile = 32;        // rows of an A strip, columns of a B panel, K block
inline constexpr int64_t kBlock = 3 * 1024;  // uint16 per (strip or panel, K block): 3 parts x 2 tiles
inline constexpr int64_t kMaxKBlocks = 24;  // K blocks per pass (768 rows of B: 144 KiB per panel)

/// Whether this process can run AMX: compiled in, supported by the CPU, the tile state
/// granted by the OS, and $TAILOR_AMX not "0". Decided once.
inline bool supported() {
#if TAILOR_HAVE_AMX
  static const bool ok = [] {
    if (const char* e = std::getenv("TAILOR_AMX"); e && std::string(e) == "0") return false;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    if (!((d >> 24) & 1u) || !((d >> 22) & 1u)) return false;  // AMX-TILE, AMX-BF16
    // ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA: without it the first tile load faults.
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
  }();
  return ok;
#else
  return false;
#endif
}

/// Throws tailor::Error (unsupported) naming what AMX needs when supported() is false.
inline void require_supported() {
  TAILOR_CHECK(supported(), ErrorCode::unsupported, "AMX (Options::amx, --amx) is not available here",
               "it needs a build for AMX-BF16 (e.g. -march=native on Sapphire Rapids), such a CPU, Linux, and TAILOR_AMX not 0");
}

inline int64_t round_up(int64_t x) { return (x + kTile - 1) / kTile * kTile; }

/// Round-to-nearest-even bfloat16 of a finite float (as vcvtne2ps2bf16 rounds).
inline uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
inline float from_bf16(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
/// x = p[0] + p[1] + p[2] (exactly, for normal floats).
inline void split3(float x, uint16_t p[3]) {
  for (int j = 0; j < 3; ++j) {
    p[j] = to_bf16(x);
    x -= from_bf16(p[j]);
  }
}

/// Packs W (K, N), element (k, n) at w[k stride_k + n stride_n], in B's layout (see the top).
inline void pack_b(const float* w, int64_t K, int64_t N, int64_t stride_k, int64_t stride_n, AlignedBuffer<uint16_t>& out) {
  const int64_t KB = round_up(K) / kTile, NP = round_up(N) / kTile;
  out.resize(size_t(NP * KB * kBlock));
  std::memset(out.data(), 0, out.size() * sizeof(uint16_t));
  uint16_t parts[3];
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n) {
      split3(w[k * stride_k + n * stride_n], parts);
      const int64_t kr = k % kTile, off = (n % kTile) / 16 * 512 + (kr / 2) * 32 + (n % 16) * 2 + kr % 2;
      uint16_t* blk = out.data() + ((n / kTile) * KB + k / kTile) * kBlock;
      for (int j = 0; j < 3; ++j) blk[j * 1024 + off] = parts[j];
    }
}
/// Element (k, n) of a W packed by pack_b (the sum of its three parts).
inline float b_at(const uint16_t* packed, int64_t K, int64_t k, int64_t n) {
  const int64_t KB = round_up(K) / kTile, kr = k % kTile;
  const uint16_t* blk = packed + ((n / kTile) * KB + k / kTile) * kBlock;
  const int64_t off = (n % kTile) / 16 * 512 + (kr / 2) * 32 + (n % 16) * 2 + kr % 2;
  return from_bf16(blk[off]) + from_bf16(blk[1024 + off]) + from_bf16(blk[2048 + off]);
}
/// uint16 elements of A (M, K) in A's layout.
inline size_t a_size(int64_t M, int64_t K) { return size_t(round_up(M) / kTile * (round_up(K) / kTile) * kBlock); }

#if TAILOR_HAVE_AMX

/// Strips [s0, s1) of A (M, K; row stride lda) into A's layout at out (a_size(M, K) elements).
inline void pack_a(const float* A, int64_t M, int64_t lda, int64_t K, int64_t s0, int64_t s1, uint16_t* out) {
  const int64_t KB = round_up(K) / kTile;
  for (int64_t s = s0; s < s1; ++s)
    for (int64_t kb = 0; kb < KB; ++kb) {
      uint16_t* blk = out + (s * KB + kb) * kBlock;
      const int64_t k0 = kb * kTile, nk = std::min<int64_t>(kTile, K - k0);
      const __mmask16 mlo = __mmask16(nk >= 16 ? 0xffffu : (1u << nk) - 1u);
      const __mmask16 mhi = __mmask16(nk >= 32 ? 0xffffu : nk <= 16 ? 0u : (1u << (nk - 16)) - 1u);
      for (int64_t r = 0; r < kTile; ++r) {
        const int64_t m = s * kTile + r;
        __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
        if (m < M) {
          lo = _mm512_maskz_loadu_ps(mlo, A + m * lda + k0);
          hi = _mm512_maskz_loadu_ps(mhi, A + m * lda + k0 + 16);
        }
        uint16_t* o = blk + r * kTile;
        for (int j = 0; j < 3; ++j) {
          const __m512i b = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));
          _mm512_store_si512(reinterpret_cast<__m512i*>(o + j * 1024), b);
          if (j < 2) {  // what this part left: x - float(part)
            lo = _mm512_sub_ps(lo, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(b)), 16)));
            hi = _mm512_sub_ps(hi, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(b, 1)), 16)));
          }
        }
      }
    }
}

struct TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

/// Loads the tile configuration (eight 16 x 64-byte tiles) on this thread; release() after.
inline void configure() {
  TileConfig cfg;
  for (int i = 0; i < 8; ++i) {
    cfg.colsb[i] = 64;
    cfg.rows[i] = 16;
  }
  // GCC 12 does not see that ldtilecfg reads cfg and may drop the stores above.
  asm volatile("" ::"r"(&cfg) : "memory");
  _tile_loadconfig(&cfg);
}
inline void release() { _tile_release(); }

// Tile loads of a part (j) of the current A / B block, and of the next block's.
#define TAILOR_AMX_LA0(j) _tile_loadd(4, a + (j) * 1024, 64);
#define TAILOR_AMX_LA1(j) _tile_loadd(5, a + (j) * 1024 + 512, 64);
#define TAILOR_AMX_LB0(j) _tile_loadd(6, b + (j) * 1024, 64);
#define TAILOR_AMX_LB1(j) _tile_loadd(7, b + (j) * 1024 + 512, 64);
#define TAILOR_AMX_T(c, x, y) _tile_dpbf16ps(c, x, y);

/// One 32 x 32 block of C over nkb K blocks: out = (in or 0) + A block . B block, in and out
/// in tile layout (four 16 x 16 tiles of 256 floats: rows 0-15 | cols 0-15, rows 0-15 | cols
/// 16-31, rows 16-31 | cols 0-15, rows 16-31 | cols 16-31). in == null: start from 0. pf:
/// where to prefetch into L1 along the way (what follows this A block), 96 lines per K block;
/// pf2: lines to prefetch into L2 (the next panel's B, which may come from L3 or memory),
/// pf2_per_kb of them per K block.
inline void kernel(const uint16_t* a, const uint16_t* b, int64_t nkb, const float* in, float* out, const char* pf,
                   const char* pf2, int64_t pf2_per_kb) {
  if (!in) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  } else {
    _tile_loadd(0, in, 64);
    _tile_loadd(1, in + 256, 64);
    _tile_loadd(2, in + 512, 64);
    _tile_loadd(3, in + 768, 64);
  }
  constexpr int kLines = int(kBlock * 2 / 64);  // 96 per K block
  auto prefetch = [&pf](int n) {
    for (int q = 0; q < n; ++q, pf += 64) _mm_prefetch(pf, _MM_HINT_T0);
  };
  TAILOR_AMX_LA0(2) TAILOR_AMX_LA1(2) TAILOR_AMX_LB0(0) TAILOR_AMX_LB1(0)
  for (int64_t kb = 0; kb < nkb; ++kb) {
    // a2 b0, then a1 b0, a1 b1, a0 b1, a0 b0, a0 b2: one operand reloaded per pair.
    TAILOR_AMX_T(0, 4, 6) TAILOR_AMX_T(1, 4, 7) TAILOR_AMX_LA0(1) TAILOR_AMX_T(2, 5, 6) TAILOR_AMX_T(3, 5, 7) TAILOR_AMX_LA1(1)
    prefetch(16);
    TAILOR_AMX_T(0, 4, 6) TAILOR_AMX_T(1, 4, 7) TAILOR_AMX_T(2, 5, 6) TAILOR_AMX_LB0(1) TAILOR_AMX_T(3, 5, 7) TAILOR_AMX_LB1(1)
    prefetch(16);
    TAILOR_AMX_T(0, 4, 6) TAILOR_AMX_T(2, 5, 6) TAILOR_AMX_T(1, 4, 7) TAILOR_AMX_LA0(0) TAILOR_AMX_T(3, 5, 7) TAILOR_AMX_LA1(0)
    prefetch(16);
    TAILOR_AMX_T(0, 4, 6) TAILOR_AMX_T(1, 4, 7) TAILOR_AMX_T(2, 5, 6) TAILOR_AMX_LB0(0) TAILOR_AMX_T(3, 5, 7) TAILOR_AMX_LB1(0)
    prefetch(16);
    TAILOR_AMX_T(0, 4, 6) TAILOR_AMX_T(2, 5, 6) TAILOR_AMX_LB0(2) TAILOR_AMX_T(1, 4, 7) TAILOR_AMX_T(3, 5, 7) TAILOR_AMX_LB1(2)
    prefetch(16);
    if (kb + 1 < nkb) {
      const uint16_t* an = a + kBlock;
      const uint16_t* bn = b + kBlock;
      TAILOR_AMX_T(0, 4, 6) TAILOR_AMX_T(2, 5, 6) _tile_loadd(6, bn, 64); TAILOR_AMX_T(1, 4, 7)
      _tile_loadd(4, an + 2048, 64); TAILOR_AMX_T(3, 5, 7) _tile_loadd(5, an + 2048 + 512, 64); _tile_loadd(7, bn + 512, 64);
    } else {
      TAILOR_AMX_T(0, 4, 6) TAILOR_AMX_T(2, 5, 6) TAILOR_AMX_T(1, 4, 7) TAILOR_AMX_T(3, 5, 7)
    }
    prefetch(kLines - 80);
    for (int64_t q = 0; q < pf2_per_kb; ++q, pf2 += 64) _mm_prefetch(pf2, _MM_HINT_T1);
    a += kBlock;
    b += kBlock;
  }
  _tile_stored(0, out, 64);
  _tile_stored(1, out + 256, 64);
  _tile_stored(2, out + 512, 64);
  _tile_stored(3, out + 768, 64);
}
#undef TAILOR_AMX_LA0
#undef TAILOR_AMX_LA1
#undef TAILOR_AMX_LB0
#undef TAILOR_AMX_LB1
#undef TAILOR_AMX_T

#endif  // TAILOR_HAVE_AMX

}  // namespace tailor::nn::amx
