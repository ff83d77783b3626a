// tailor inspect BUNDLE: metadata, config, tensor table and validation verdict.
#include <cstdio>
#include <string>

#include "cli.hpp"
#include "tailor/io/bundle.hpp"
#include "tailor/models/registry.hpp"

namespace {

std::string human_bytes(uint64_t b) {
  char s[32];
  if (b >= (1ull << 30)) std::snprintf(s, sizeof s, "%.2f GiB", double(b) / double(1ull << 30));
  else if (b >= (1ull << 20)) std::snprintf(s, sizeof s, "%.2f MiB", double(b) / double(1ull << 20));
  else if (b >= 1024) std::snprintf(s, sizeof s, "%.2f KiB", double(b) / 1024.0);
  else std::snprintf(s, sizeof s, "%llu B", static_cast<unsigned long long>(b));
  return s;
}

std::string join(const std::vector<std::string>& v) {
  std::string o;
  for (const auto& s : v) o += (o.empty() ? "" : ", ") + s;
  return o.empty() ? "(none)" : o;
}

void indent_print(const std::string& text) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::printf("  %s\n", text.substr(start, nl - start).c_str());
    start = nl + 1;
  }
}

int run_inspect(int argc, char** argv) {
  tailor::cli::Args args(argc, argv, "inspect BUNDLE [--tensor NAME]",
                         "Prints a bundle's metadata, config, tensor table (name, dtype, shape, bytes) and\n"
                         "the validation verdict: every tensor checked against the config. Exits non-zero\n"
                         "with `tailor: error: ...` if the file is not a valid bundle.");
  args.positional("BUNDLE", "a .safetensors bundle written by converters/convert.py");
  const auto tensor = args.option("--tensor", "NAME", "print one tensor's values as float32 JSON instead");
  const bool no_table = args.flag("--no-tensors", "omit the tensor table");
  const auto pos = args.finish(1, 1);

  const tailor::Bundle b = tailor::Bundle::open(pos[0]);
  const tailor::SafetensorsFile& f = b.file();

  if (tensor) {
    const tailor::TensorInfo& t = f.get(*tensor);
    const std::vector<float> v = f.to_f32(t);
    std::string shape;
    for (int i = 0; i < t.shape.rank; ++i) shape += (i ? "," : "") + std::to_string(t.shape[i]);
    std::printf("{\"name\":%s,\"dtype\":\"%s\",\"shape\":[%s],\"values\":%s}\n", tailor::cli::json_string(t.name).c_str(),
                std::string(tailor::dtype_name(t.dtype)).c_str(), shape.c_str(),
                tailor::cli::json_float_array(v.data(), v.size()).c_str());
    return 0;
  }

  uint64_t data_bytes = f.file_size() - f.data_offset();
  std::printf("bundle     %s\n", b.path().c_str());
  std::printf("file       %s (%llu bytes): header %llu bytes, %zu tensors, %s of data\n",
              human_bytes(f.file_size()).c_str(), static_cast<unsigned long long>(f.file_size()),
              static_cast<unsigned long long>(f.header_bytes()), f.tensors().size(), human_bytes(data_bytes).c_str());
  std::printf("format     %s\n", tailor::Bundle::kFormatVersion);
  std::printf("arch       %s\n", b.arch().c_str());
  std::printf("untrained  %s\n", b.untrained().empty() ? "(none: all parts trained)" : join(b.untrained()).c_str());
  std::printf("transforms %s\n", join(b.transforms()).c_str());
  if (!b.source().is_null()) std::printf("source     %s\n", b.source().dump().c_str());
  if (!b.vocab().empty()) {
    size_t n = 0;
    for (char c : b.vocab()) n += c == '\n';
    if (b.vocab().back() != '\n') ++n;
    std::printf("vocab      %zu tokens\n", n);
  }
  for (const auto& [k, v] : f.metadata()) {
    if (k.rfind("tailor.", 0) == 0) continue;
    std::printf("metadata   %s = %s\n", tailor::detail::printable(k, 64).c_str(), tailor::detail::printable(v, 120).c_str());
  }
  std::printf("config:\n");
  indent_print(b.config().dump(2));
  if (!b.preprocess().is_null()) {
    std::printf("preprocess:\n");
    indent_print(b.preprocess().dump(2));
  }
  if (!no_table) {
    size_t w = 4;
    for (const auto& t : f.tensors()) w = std::max(w, t.name.size());
    std::printf("tensors:\n  %-*s  %-5s  %-22s %12s\n", int(w), "name", "dtype", "shape", "bytes");
    for (const auto& t : f.tensors())
      std::printf("  %-*s  %-5s  %-22s %12llu\n", int(w), t.name.c_str(), std::string(tailor::dtype_name(t.dtype)).c_str(),
                  t.shape.str().c_str(), static_cast<unsigned long long>(t.nbytes()));
  }
  std::fflush(stdout);
  try {
    const tailor::BundleReport r = tailor::validate_bundle(b);
    std::printf("validation OK: every tensor matches the config\n");
    for (const auto& p : r.parts) std::printf("  %s\n", p.c_str());
  } catch (const tailor::Error&) {
    std::printf("validation FAILED\n");
    std::fflush(stdout);
    throw;
  }
  return 0;
}

}  // namespace

TAILOR_CLI_COMMAND("inspect", "show a bundle's metadata, config, tensors and validation verdict", run_inspect);
