// tests/fuzz/fuzz_safetensors.cpp: libFuzzer target for the weight-file path: the
// safetensors reader, the bundle layer and per-architecture validation, then a float32 load
// of every tensor that passed. Anything but a tailor::Error is a bug.
#include <cstddef>
#include <cstdint>

#include "tailor/io/bundle.hpp"
#include "tailor/models/registry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tailor::Limits lim;
  lim.max_header_bytes = 1 << 20;  // keep each input's work small
  try {
    auto st = tailor::SafetensorsFile::from_memory(data, size, "fuzz", lim);
    for (const auto& t : st.tensors())
      if (tailor::dtype_is_loadable_float(t.dtype) && t.nbytes() <= (1u << 20)) (void)st.to_f32(t);
  } catch (const tailor::Error&) {
  }
  try {
    tailor::BundleOptions opt;
    opt.limits = lim;
    auto b = tailor::Bundle::from_memory(data, size, "fuzz", opt);
    (void)tailor::validate_bundle(b);
  } catch (const tailor::Error&) {
  }
  return 0;
}
