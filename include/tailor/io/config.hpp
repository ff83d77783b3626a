// tailor/io/config.hpp: reading range-checked values out of a bundle's JSON config.
//
// A config value out of range (0 heads, a vocab of 0, a hidden size not divisible by the
// head count) must be refused before any allocation is sized by it. Each getter names the
// config, the key, the value found and the range allowed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tailor/core/error.hpp"

namespace tailor::detail {

struct ConfigReader {
  const nlohmann::json& j;
  std::string where;  ///< e.g. "weights/minilm.safetensors: tailor.config"

  [[noreturn]] void bad(const std::string& key, const std::string& what) const {
    fail(ErrorCode::format, where + ": '" + key + "' " + what,
         "the bundle's config is damaged or from an unsupported model; convert the checkpoint again");
  }
  bool has(const std::string& key) const { return j.is_object() && j.contains(key) && !j.at(key).is_null(); }

  int64_t integer(const std::string& key, int64_t lo, int64_t hi) const {
    if (!has(key)) bad(key, "is missing");
    const auto& v = j.at(key);
    if (!v.is_number_integer()) bad(key, "is not an integer");
    const int64_t x = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX) ? INT64_MAX : v.get<int64_t>();
    if (x < lo || x > hi)
      bad(key, "is " + std::to_string(x) + ", outside " + std::to_string(lo) + ".." + std::to_string(hi));
    return x;
  }
  int64_t integer(const std::string& key, int64_t lo, int64_t hi, int64_t fallback) const {
    return has(key) ? integer(key, lo, hi) : fallback;
  }
  double number(const std::string& key, double lo, double hi, double fallback) const {
    if (!has(key)) return fallback;
    const auto& v = j.at(key);
    if (!v.is_number()) bad(key, "is not a number");
    const double x = v.get<double>();
    if (!(x >= lo && x <= hi)) bad(key, "is " + std::to_string(x) + ", outside " + std::to_string(lo) + ".." + std::to_string(hi));
    return x;
  }
  bool boolean(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    const auto& v = j.at(key);
    if (!v.is_boolean()) bad(key, "is not true or false");
    return v.get<bool>();
  }
  std::string string(const std::string& key, const std::vector<std::string>& allowed, const std::string& fallback) const {
    if (!has(key)) return fallback;
    const auto& v = j.at(key);
    if (!v.is_string()) bad(key, "is not a string");
    std::string s = v.get<std::string>();
    if (allowed.empty()) return s;
    std::string list;
    for (const auto& a : allowed) {
      if (a == s) return s;
      list += (list.empty() ? "" : ", ") + a;
    }
    bad(key, "is '" + s + "'; supported: " + list);
  }
  ConfigReader child(const std::string& key) const {
    if (!has(key) || !j.at(key).is_object()) bad(key, "is missing or not an object");
    return ConfigReader{j.at(key), where + "." + key};
  }
};

}  // namespace tailor::detail
