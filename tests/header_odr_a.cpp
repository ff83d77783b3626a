// tests/header_odr_a.cpp: the umbrella header, first translation unit (see header_odr_b.cpp).
#include <doctest/doctest.h>

#include "tailor/tailor.hpp"

int tailor_odr_b_version();  // defined in header_odr_b.cpp

TEST_CASE("umbrella header links from two translation units") {
  CHECK(tailor_odr_b_version() == TAILOR_VERSION_MAJOR * 10000 + TAILOR_VERSION_MINOR * 100 + TAILOR_VERSION_PATCH);
  // Use inline functions from both TUs so the linker sees both definitions.
  CHECK(tailor::dtype_size(tailor::DType::BF16) == 2);
  tailor::Error e(tailor::ErrorCode::io, "x", "y");
  CHECK(std::string(e.what()) == "x (y)");
}
