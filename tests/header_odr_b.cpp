// tests/header_odr_b.cpp: the umbrella header, second translation unit. If any function
// in a header lacks `inline`, linking this with header_odr_a.cpp fails.
#include "tailor/tailor.hpp"

int tailor_odr_b_version() {
  (void)tailor::dtype_size(tailor::DType::BF16);
  (void)tailor::Error(tailor::ErrorCode::io, "x").what();
  return TAILOR_VERSION_MAJOR * 10000 + TAILOR_VERSION_MINOR * 100 + TAILOR_VERSION_PATCH;
}
