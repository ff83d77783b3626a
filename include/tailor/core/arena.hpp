// tailor/core/arena.hpp: 64-byte-aligned storage.
//
// AlignedBuffer<T> owns one aligned array (packed weights live in these). Arena is a bump
// allocator over one AlignedBuffer: a session's scratch for a forward pass, reset between
// calls, so steady-state inference allocates nothing. Every allocation is 64-byte aligned
// (one cache line, one AVX-512 register), which Eigen::Map<..., Aligned64> relies on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "tailor/core/checked.hpp"
#include "tailor/core/error.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace tailor {

inline constexpr size_t kAlignment = 64;

namespace detail {
struct AlignedFree {
  void operator()(void* p) const noexcept { std::free(p); }
};
/// Buffers of at least this many bytes are placed on transparent huge pages (Linux).
inline constexpr size_t kHugePage = size_t(2) << 20;

/// Whether large buffers ask for huge pages: yes, unless $TAILOR_HUGEPAGES is "0" (read once).
inline bool huge_pages_wanted() {
  static const bool wanted = [] {
    const char* v = std::getenv("TAILOR_HUGEPAGES");
    return !(v && v[0] == '0' && v[1] == '\0');
  }();
  return wanted;
}

/// Allocates `bytes` (rounded up to 64) aligned to 64; throws Error(out_of_memory).
/// On Linux a buffer of 2 MiB or more (packed weights, a session's scratch) is 2 MiB-aligned
/// and advised MADV_HUGEPAGE: the kernel then backs it with 2 MiB pages where it can (with
/// transparent huge pages in "madvise" mode, the common default, nothing else would), so a
/// weight matrix streamed by the GEMMs needs one TLB entry per 2 MiB instead of 512, and
/// loading a model faults its buffers in 512x fewer times. The advice changes no value.
inline void* aligned_alloc_checked(size_t bytes) {
  uint64_t rounded = 0;
  if (!checked_add(bytes, kAlignment - 1, &rounded))
    fail(ErrorCode::out_of_memory, "allocation of " + std::to_string(bytes) + " bytes overflows", "");
  rounded &= ~uint64_t(kAlignment - 1);
  if (rounded == 0) rounded = kAlignment;
  size_t align = kAlignment;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const bool huge = rounded >= kHugePage && huge_pages_wanted();
  if (huge) {
    if (!checked_add(rounded, kHugePage - 1, &rounded))
      fail(ErrorCode::out_of_memory, "allocation of " + std::to_string(bytes) + " bytes overflows", "");
    rounded &= ~uint64_t(kHugePage - 1);
    align = kHugePage;
  }
#endif
  void* p = std::aligned_alloc(align, size_t(rounded));
  if (!p)
    fail(ErrorCode::out_of_memory, "could not allocate " + std::to_string(bytes) + " bytes",
         "free memory, or lower the batch size / thread count");
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (huge) (void)::madvise(p, size_t(rounded), MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
  return p;
}
}  // namespace detail

/// An owned, 64-byte-aligned array of trivially copyable T. Move-only.
template <class T>
class AlignedBuffer {
  static_assert(std::is_trivially_copyable_v<T>, "AlignedBuffer holds plain data");

 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) { resize(n); }
  /// Discards the contents and makes room for n elements (uninitialised).
  void resize(size_t n) {
    if (n == size_) return;
    uint64_t bytes = 0;
    if (!detail::checked_mul(n, sizeof(T), &bytes))
      detail::fail(ErrorCode::out_of_memory, "buffer of " + std::to_string(n) + " elements overflows", "");
    ptr_.reset(n ? static_cast<T*>(detail::aligned_alloc_checked(size_t(bytes))) : nullptr);
    size_ = n;
  }
  T* data() noexcept { return ptr_.get(); }
  const T* data() const noexcept { return ptr_.get(); }
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  T& operator[](size_t i) noexcept { return ptr_.get()[i]; }
  const T& operator[](size_t i) const noexcept { return ptr_.get()[i]; }
  T* begin() noexcept { return data(); }
  T* end() noexcept { return data() + size_; }
  const T* begin() const noexcept { return data(); }
  const T* end() const noexcept { return data() + size_; }

 private:
  std::unique_ptr<T, detail::AlignedFree> ptr_;
  size_t size_ = 0;
};

/// Bump allocator over one aligned block. alloc() hands out 64-byte-aligned slices;
/// reset() frees them all at once. When a pass needs more than the block holds, the arena
/// serves the rest from overflow blocks and grows to the total on the next reset(), so after one warm-up
/// call a session allocates nothing. Not thread-safe: one per session.
class Arena {
 public:
  Arena() = default;
  explicit Arena(size_t bytes) { reserve(bytes); }

  /// Makes sure at least `bytes` are available after the next reset().
  void reserve(size_t bytes) {
    if (bytes > block_.size()) { block_.resize(bytes); used_ = 0; }
  }
  /// n uninitialised elements of T, 64-byte aligned.
  template <class T>
  T* alloc(size_t n) {
    static_assert(std::is_trivially_copyable_v<T>);
    uint64_t bytes = 0, end = 0;
    if (!detail::checked_mul(n, sizeof(T), &bytes) || !detail::checked_add(bytes, kAlignment - 1, &bytes))
      detail::fail(ErrorCode::out_of_memory, "scratch request of " + std::to_string(n) + " elements overflows", "");
    bytes &= ~uint64_t(kAlignment - 1);
    if (!detail::checked_add(used_, bytes, &end))
      detail::fail(ErrorCode::out_of_memory, "scratch overflow", "");
    if (end > block_.size()) {
      // Overflow blocks keep earlier pointers valid; they are merged on reset().
      overflow_bytes_ += size_t(bytes);
      overflow_.emplace_back(size_t(bytes));
      return reinterpret_cast<T*>(overflow_.back().data());
    }
    T* p = reinterpret_cast<T*>(block_.data() + used_);
    used_ = size_t(end);
    return p;
  }
  /// Frees every allocation; grows the main block to the high-water mark if it overflowed.
  void reset() {
    if (!overflow_.empty()) {
      const size_t want = used_ + overflow_bytes_;
      overflow_.clear();
      overflow_bytes_ = 0;
      if (want > block_.size()) block_.resize(want);
    }
    used_ = 0;
  }
  size_t capacity() const noexcept { return block_.size(); }
  size_t used() const noexcept { return used_ + overflow_bytes_; }

 private:
  AlignedBuffer<unsigned char> block_;
  std::vector<AlignedBuffer<unsigned char>> overflow_;
  size_t used_ = 0, overflow_bytes_ = 0;
};

}  // namespace tailor
