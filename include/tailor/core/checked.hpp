// tailor/core/checked.hpp: overflow-checked integer arithmetic.
//
// Every size computed from untrusted input (a file header, an image header, a caller's
// shape) goes through these: the GGUF CVE history is a list of unchecked multiplies and
// adds. Each returns false on overflow instead of wrapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace tailor::detail {

inline bool checked_add(uint64_t a, uint64_t b, uint64_t* out) noexcept {
  return !__builtin_add_overflow(a, b, out);
}
inline bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) noexcept {
  return !__builtin_mul_overflow(a, b, out);
}
/// Product of all dims, false if it overflows 64 bits. An empty list gives 1 (a scalar).
template <class It>
bool checked_product(It first, It last, uint64_t* out) noexcept {
  uint64_t p = 1;
  for (; first != last; ++first) {
    if (!checked_mul(p, static_cast<uint64_t>(*first), &p)) return false;
  }
  *out = p;
  return true;
}
inline bool checked_product(std::initializer_list<uint64_t> dims, uint64_t* out) noexcept {
  return checked_product(dims.begin(), dims.end(), out);
}

}  // namespace tailor::detail
