// tailor/core/tensor.hpp: dtypes, shapes and non-owning tensor views.
//
// A TensorView is (pointer, dtype, shape, strides in elements); it never owns memory. The
// storage behind it is a weight file mapped by io/safetensors.hpp, an AlignedBuffer, or an
// Arena (core/arena.hpp). Shapes use the dimension vocabulary of STYLE.md: (B, T, C) for
// text, (N, C, H, W) for images unless a comment says otherwise.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "tailor/core/checked.hpp"
#include "tailor/core/error.hpp"

namespace tailor {

/// Element types; names and sizes follow safetensors.
enum class DType : uint8_t { BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

inline constexpr std::array<std::pair<DType, std::string_view>, 15> kDTypeNames{{
    {DType::BOOL, "BOOL"}, {DType::U8, "U8"},     {DType::I8, "I8"},     {DType::F8_E5M2, "F8_E5M2"},
    {DType::F8_E4M3, "F8_E4M3"}, {DType::I16, "I16"}, {DType::U16, "U16"}, {DType::F16, "F16"},
    {DType::BF16, "BF16"}, {DType::I32, "I32"},   {DType::U32, "U32"},   {DType::F32, "F32"},
    {DType::F64, "F64"},   {DType::I64, "I64"},   {DType::U64, "U64"},
}};

inline std::string_view dtype_name(DType t) noexcept {
  for (const auto& [d, n] : kDTypeNames)
    if (d == t) return n;
  return "?";
}
/// Parses a safetensors dtype name; false if unknown.
inline bool parse_dtype(std::string_view s, DType* out) noexcept {
  for (const auto& [d, n] : kDTypeNames)
    if (n == s) { *out = d; return true; }
  return false;
}
/// Bytes per element.
inline size_t dtype_size(DType t) noexcept {
  switch (t) {
    case DType::BOOL: case DType::U8: case DType::I8: case DType::F8_E5M2: case DType::F8_E4M3: return 1;
    case DType::I16: case DType::U16: case DType::F16: case DType::BF16: return 2;
    case DType::I32: case DType::U32: case DType::F32: return 4;
    case DType::F64: case DType::I64: case DType::U64: return 8;
  }
  return 0;
}
/// True for the dtypes tailor converts to float32 on load.
inline bool dtype_is_loadable_float(DType t) noexcept {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16;
}

/// IEEE half -> float, exact for every input including subnormals, inf and NaN.
inline float f16_to_f32(uint16_t h) noexcept {
  const uint32_t sign = (uint32_t(h) & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / NaN
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;  // signed zero
  } else {        // subnormal: normalise
    int e = -1;
    do { mant <<= 1; ++e; } while ((mant & 0x400u) == 0);
    bits = sign | (uint32_t(112 - e) << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
/// bfloat16 -> float: the upper half of a float32.
inline float bf16_to_f32(uint16_t b) noexcept {
  const uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
/// float -> IEEE half, round to nearest even (used by tests and the GPU weight converter).
inline uint16_t f32_to_f16(float f) noexcept {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return uint16_t(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
  if (absx >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // overflow -> inf
  if (absx < 0x38800000u) {                                 // subnormal or zero
    if (absx < 0x33000000u) return uint16_t(sign);
    const uint32_t e = absx >> 23;
    uint32_t m = (absx & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14..24
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1))) ++r;
    return uint16_t(sign | r);
  }
  uint32_t r = ((absx - 0x38000000u) >> 13);
  const uint32_t rem = absx & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1))) ++r;
  return uint16_t(sign | r);
}
/// float -> bfloat16, round to nearest even (NaN stays NaN).
inline uint16_t f32_to_bf16(float f) noexcept {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return uint16_t(x >> 16);
}

/// Up to kMaxRank dimensions, each >= 0.
struct Shape {
  static constexpr int kMaxRank = 8;
  std::array<int64_t, kMaxRank> dims{};
  int rank = 0;

  Shape() = default;
  Shape(std::initializer_list<int64_t> d) {
    TAILOR_CHECK(d.size() <= size_t(kMaxRank), ErrorCode::invalid_argument, "shape rank over 8", "");
    for (int64_t v : d) dims[size_t(rank++)] = v;
  }
  int64_t operator[](int i) const { return dims[size_t(i)]; }
  int64_t& operator[](int i) { return dims[size_t(i)]; }
  /// Number of elements; throws on overflow.
  int64_t numel() const {
    uint64_t n = 1;
    for (int i = 0; i < rank; ++i)
      TAILOR_CHECK(dims[size_t(i)] >= 0 && detail::checked_mul(n, uint64_t(dims[size_t(i)]), &n) &&
                       n <= uint64_t(INT64_MAX),
                   ErrorCode::shape, "shape " + str() + " has too many elements", "");
    return int64_t(n);
  }
  bool operator==(const Shape& o) const {
    if (rank != o.rank) return false;
    for (int i = 0; i < rank; ++i)
      if (dims[size_t(i)] != o.dims[size_t(i)]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  /// "[2, 3, 4]", as tensor tables and error messages print shapes.
  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(dims[size_t(i)]);
    return s + "]";
  }
};

/// A non-owning, strided view: data, dtype, shape and strides in elements.
struct TensorView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  Shape shape;
  std::array<int64_t, Shape::kMaxRank> strides{};

  TensorView() = default;
  /// A contiguous (row-major) view.
  TensorView(const void* d, DType t, Shape s) : data(d), dtype(t), shape(s) {
    int64_t st = 1;
    for (int i = s.rank - 1; i >= 0; --i) { strides[size_t(i)] = st; st *= s[i]; }
  }
  int rank() const { return shape.rank; }
  int64_t numel() const { return shape.numel(); }
  bool is_contiguous() const {
    int64_t st = 1;
    for (int i = shape.rank - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[size_t(i)] != st) return false;
      st *= shape[i];
    }
    return true;
  }
  template <class T>
  const T* as() const { return static_cast<const T*>(data); }
};

}  // namespace tailor
