// tests/test_core.cpp: errors, checked arithmetic, half-precision conversion, aligned
// storage and the thread pool.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include "tailor/core/arena.hpp"
#include "tailor/core/checked.hpp"
#include "tailor/core/cpu.hpp"
#include "tailor/core/error.hpp"
#include "tailor/core/tensor.hpp"
#include "tailor/core/thread_pool.hpp"

using namespace tailor;

TEST_CASE("Error carries code, message and hint") {
  Error e(ErrorCode::shape, "tensor 'x' has shape [2] but the config needs [3]", "convert again");
  CHECK(e.code() == ErrorCode::shape);
  CHECK(e.message() == "tensor 'x' has shape [2] but the config needs [3]");
  CHECK(e.hint() == "convert again");
  CHECK(std::string(e.what()) == "tensor 'x' has shape [2] but the config needs [3] (convert again)");
  CHECK(std::string(Error(ErrorCode::io, "no hint").what()) == "no hint");
  CHECK(std::string(to_string(ErrorCode::out_of_memory)) == "out of memory");
}

TEST_CASE("checked arithmetic reports overflow") {
  uint64_t r = 0;
  CHECK(detail::checked_add(1, 2, &r));
  CHECK(r == 3);
  CHECK_FALSE(detail::checked_add(UINT64_MAX, 1, &r));
  CHECK(detail::checked_mul(1ull << 31, 1ull << 32, &r));
  CHECK(r == (1ull << 63));
  CHECK_FALSE(detail::checked_mul(1ull << 32, 1ull << 32, &r));
  CHECK(detail::checked_product({2, 3, 4}, &r));
  CHECK(r == 24);
  CHECK_FALSE(detail::checked_product({1ull << 20, 1ull << 20, 1ull << 20, 1ull << 20}, &r));
  CHECK(detail::checked_product({}, &r));
  CHECK(r == 1);
}

TEST_CASE("cache_sizes: what the C library reports, within plausible bounds, read once") {
  const tailor::CacheSizes& c = tailor::cache_sizes();
  CHECK(c.l2 >= (64 << 10));
  CHECK(c.l2 <= (64 << 20));
  CHECK(&tailor::cache_sizes() == &c);
#if defined(_SC_LEVEL2_CACHE_SIZE)
  const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (l2 >= (64L << 10) && l2 <= (64L << 20)) CHECK(c.l2 == l2);  // else the 1 MiB default
  else CHECK(c.l2 == (1 << 20));
#endif
}

TEST_CASE("dtype names and sizes follow safetensors") {
  DType t;
  CHECK(parse_dtype("BF16", &t));
  CHECK(t == DType::BF16);
  CHECK(dtype_size(t) == 2);
  CHECK(parse_dtype("F8_E4M3", &t));
  CHECK(dtype_size(t) == 1);
  CHECK_FALSE(parse_dtype("FLOAT32", &t));
  CHECK_FALSE(parse_dtype("f32", &t));
  for (const auto& [d, n] : kDTypeNames) {
    DType back;
    REQUIRE(parse_dtype(n, &back));
    CHECK(back == d);
  }
}

TEST_CASE("f16 <-> f32 is exact on every half value") {
  int checked = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(uint16_t(h));
    const bool nan = ((h & 0x7c00u) == 0x7c00u) && (h & 0x3ffu);
    if (nan) {
      CHECK(std::isnan(f));
      continue;
    }
    // Every non-NaN half round-trips exactly.
    REQUIRE(f32_to_f16(f) == uint16_t(h));
    ++checked;
  }
  CHECK(checked == 65536 - 2 * 1023);
  CHECK(f16_to_f32(0x3c00) == 1.0f);
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(f16_to_f32(0x7bff) == 65504.0f);
  CHECK(std::isinf(f16_to_f32(0xfc00)));
  CHECK(f32_to_f16(1e6f) == 0x7c00);                   // overflow -> inf
  CHECK(f32_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);  // tie -> even
  CHECK(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);
}

TEST_CASE("bf16 <-> f32") {
  for (uint32_t h = 0; h < 65536; h += 7) {
    const float f = bf16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    REQUIRE(f32_to_bf16(f) == uint16_t(h));
  }
  CHECK(bf16_to_f32(0x3f80) == 1.0f);
  CHECK(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);  // tie -> even
  CHECK(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82);
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST_CASE("Shape and TensorView") {
  Shape s{2, 3, 4};
  CHECK(s.rank == 3);
  CHECK(s.numel() == 24);
  CHECK(s.str() == "[2, 3, 4]");
  CHECK(Shape{}.numel() == 1);
  CHECK(Shape{}.str() == "[]");
  CHECK(s != Shape{2, 3});
  Shape big{1ll << 40, 1ll << 40};
  CHECK_THROWS_AS(big.numel(), Error);
  std::vector<float> data(24);
  TensorView v(data.data(), DType::F32, s);
  CHECK(v.strides[0] == 12);
  CHECK(v.strides[1] == 4);
  CHECK(v.strides[2] == 1);
  CHECK(v.is_contiguous());
  v.strides[2] = 2;
  CHECK_FALSE(v.is_contiguous());
  CHECK_THROWS_AS((Shape{1, 2, 3, 4, 5, 6, 7, 8, 9}), Error);
}

TEST_CASE("AlignedBuffer and Arena hand out 64-byte-aligned memory") {
  AlignedBuffer<float> b(1001);
  CHECK(reinterpret_cast<uintptr_t>(b.data()) % 64 == 0);
  CHECK(b.size() == 1001);
  b.resize(0);
  CHECK(b.empty());
  CHECK_THROWS_AS(AlignedBuffer<float>(SIZE_MAX / 2), Error);
  // 2 MiB and more: placed for transparent huge pages on Linux (2 MiB-aligned), and usable.
  AlignedBuffer<float> large((size_t(3) << 20) / sizeof(float) + 5);
  CHECK(reinterpret_cast<uintptr_t>(large.data()) % 64 == 0);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (detail::huge_pages_wanted()) CHECK(reinterpret_cast<uintptr_t>(large.data()) % detail::kHugePage == 0);
#endif
  for (size_t i = 0; i < large.size(); i += 1000) large[i] = float(i);
  large[large.size() - 1] = 7.f;
  CHECK(large[2000] == 2000.f);
  CHECK(large[large.size() - 1] == 7.f);

  Arena a(1024);
  float* p = a.alloc<float>(3);
  float* q = a.alloc<float>(5);
  CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
  CHECK(reinterpret_cast<uintptr_t>(q) % 64 == 0);
  CHECK(q - p == 16);  // 12 bytes rounded up to one 64-byte line
  // Past capacity: served from an overflow block, earlier pointers stay valid.
  p[0] = 42.f;
  float* big = a.alloc<float>(4096);
  CHECK(reinterpret_cast<uintptr_t>(big) % 64 == 0);
  big[4095] = 1.f;
  CHECK(p[0] == 42.f);
  const size_t need = a.used();
  a.reset();
  CHECK(a.capacity() >= need);  // grown to the high-water mark: the next pass fits
  CHECK(a.used() == 0);
  float* again = a.alloc<float>(4096 + 32);
  CHECK(reinterpret_cast<uintptr_t>(again) % 64 == 0);
  CHECK_THROWS_AS(a.alloc<float>(SIZE_MAX / 2), Error);
}

TEST_CASE("ThreadPool runs every task exactly once") {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    CHECK(pool.size() == threads);
    for (int ntasks : {0, 1, 2, 7, 100, 1000}) {
      std::vector<std::atomic<int>> hits(size_t(std::max(ntasks, 1)));
      for (auto& h : hits) h = 0;
      pool.run(ntasks, [&](int t) { hits[size_t(t)]++; });
      for (int t = 0; t < ntasks; ++t) REQUIRE(hits[size_t(t)] == 1);
    }
    // parallel_for covers [0, n) exactly once with contiguous chunks.
    std::vector<int> cover(1003, 0);
    pool.parallel_for(1003, 10, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) cover[size_t(i)]++;
    });
    for (int c : cover) REQUIRE(c == 1);
  }
}

TEST_CASE("ThreadPool propagates the first exception and stays usable") {
  ThreadPool pool(3);
  CHECK_THROWS_WITH_AS(pool.run(10, [](int t) { if (t == 5) throw std::runtime_error("task 5 failed"); }),
                       "task 5 failed", std::runtime_error);
  std::atomic<int> n{0};
  pool.run(10, [&](int) { n++; });
  CHECK(n == 10);
}

TEST_CASE("ThreadPool: many back-to-back jobs (sleep/wake paths)") {
  ThreadPool pool(2);
  std::atomic<long> sum{0};
  for (int j = 0; j < 2000; ++j) pool.run(2, [&](int t) { sum += t + 1; });
  CHECK(sum == 2000 * 3);
  CHECK_THROWS_AS(ThreadPool(-1), Error);
}
