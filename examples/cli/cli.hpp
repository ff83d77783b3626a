// examples/cli/cli.hpp: what every `tailor` subcommand shares.
//
// - A registry: each cmd_*.cpp registers itself with TAILOR_CLI_COMMAND, so adding a
//   command is adding a file.
// - Args: options are declared where they are read, so `--help` lists exactly what the
//   command reads, and unknown options are refused with the list of known ones.
// - Output helpers: floats in JSON with 9 significant digits (DESIGN.md), JSON strings.
// Errors: throw tailor::Error (or cli::UsageError); main() prints `tailor: error: ...`.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tailor/core/error.hpp"

namespace tailor::cli {

/// A mistake on the command line; main() prints it with a pointer to --help, exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// Thrown by Args::finish() after printing --help; main() exits 0.
struct HelpShown {};

struct Command {
  std::string name;
  std::string summary;
  std::function<int(int, char**)> run;  // argv[0] is the command name
};

inline std::vector<Command>& commands() {
  static std::vector<Command> all;
  return all;
}
struct Registrar {
  Registrar(const char* name, const char* summary, int (*fn)(int, char**)) { commands().push_back({name, summary, fn}); }
};
#define TAILOR_CLI_CONCAT2(a, b) a##b
#define TAILOR_CLI_CONCAT(a, b) TAILOR_CLI_CONCAT2(a, b)
/// Registers `fn` as `tailor NAME`.
#define TAILOR_CLI_COMMAND(name, summary, fn) \
  static ::tailor::cli::Registrar TAILOR_CLI_CONCAT(tailor_cli_registrar_, __COUNTER__)(name, summary, fn)

class Args {
 public:
  /// `usage` is the synopsis after "tailor ", `about` a paragraph printed under it.
  Args(int argc, char** argv, std::string usage, std::string about)
      : usage_(std::move(usage)), about_(std::move(about)) {
    for (int i = 1; i < argc; ++i) tokens_.push_back(argv[i]);
    used_.assign(tokens_.size(), false);
    for (size_t i = 0; i < tokens_.size(); ++i) {
      if (tokens_[i] == "--") { dashdash_ = i; break; }
      if (tokens_[i] == "--help" || tokens_[i] == "-h") { help_ = true; used_[i] = true; }
    }
  }

  /// `--name VALUE` or `--name=VALUE`; nullopt when absent. Repeats: the last wins.
  std::optional<std::string> option(const std::string& name, const std::string& metavar, const std::string& help) {
    doc_.push_back({name + " " + metavar, help});
    std::optional<std::string> v;
    for (size_t i = 0; i < end(); ++i) {
      if (used_[i]) continue;
      if (tokens_[i] == name) {
        if (i + 1 >= end() || used_[i + 1]) throw UsageError(name + " needs a value (" + metavar + ")");
        v = tokens_[i + 1];
        used_[i] = used_[i + 1] = true;
        ++i;
      } else if (tokens_[i].compare(0, name.size() + 1, name + "=") == 0) {
        v = tokens_[i].substr(name.size() + 1);
        used_[i] = true;
      }
    }
    return v;
  }
  std::string option(const std::string& name, const std::string& metavar, const std::string& help,
                     const std::string& fallback) {
    auto v = option(name, metavar, help + " (default: " + fallback + ")");
    return v ? *v : fallback;
  }
  /// An integer option within [lo, hi].
  long long integer(const std::string& name, const std::string& help, long long fallback, long long lo, long long hi) {
    auto v = option(name, "N", help + " (default: " + std::to_string(fallback) + ")");
    if (!v) return fallback;
    char* e = nullptr;
    errno = 0;
    const long long x = std::strtoll(v->c_str(), &e, 10);
    if (e == v->c_str() || *e != '\0' || errno == ERANGE || x < lo || x > hi)
      throw UsageError(name + " wants an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", not '" +
                       *v + "'");
    return x;
  }
  /// A boolean switch.
  bool flag(const std::string& name, const std::string& help) {
    doc_.push_back({name, help});
    bool on = false;
    for (size_t i = 0; i < end(); ++i)
      if (!used_[i] && tokens_[i] == name) { used_[i] = true; on = true; }
    return on;
  }
  /// Documents the positional arguments for --help.
  void positional(const std::string& name, const std::string& help) { pos_doc_.push_back({name, help}); }

  /// Call after declaring everything: prints --help (throws HelpShown), refuses unknown
  /// options, and returns the positional arguments.
  std::vector<std::string> finish(size_t min_positional = 0, size_t max_positional = size_t(-1)) {
    if (help_) {
      std::printf("usage: tailor %s\n\n%s\n", usage_.c_str(), about_.c_str());
      if (!pos_doc_.empty()) {
        std::printf("\narguments:\n");
        for (auto& [n, h] : pos_doc_) std::printf("  %-26s %s\n", n.c_str(), h.c_str());
      }
      std::printf("\noptions:\n");
      for (auto& [n, h] : doc_) std::printf("  %-26s %s\n", n.c_str(), h.c_str());
      std::printf("  %-26s %s\n", "-h, --help", "show this help and exit");
      throw HelpShown{};
    }
    std::vector<std::string> pos;
    for (size_t i = 0; i < tokens_.size(); ++i) {
      if (used_[i] || i == dashdash_) continue;
      const std::string& t = tokens_[i];
      if (i < dashdash_ && t.size() > 1 && t[0] == '-') {
        std::string known;
        for (auto& [n, h] : doc_) known += (known.empty() ? "" : ", ") + n.substr(0, n.find(' '));
        throw UsageError("unknown option '" + t + "'" + (known.empty() ? "" : "; this command takes " + known));
      }
      pos.push_back(t);
    }
    if (pos.size() < min_positional) throw UsageError("missing arguments: usage: tailor " + usage_);
    if (pos.size() > max_positional) throw UsageError("too many arguments ('" + pos.back() + "'): usage: tailor " + usage_);
    return pos;
  }

 private:
  size_t end() const { return dashdash_ == size_t(-1) ? tokens_.size() : dashdash_; }
  std::string usage_, about_;
  std::vector<std::string> tokens_;
  std::vector<bool> used_;
  size_t dashdash_ = size_t(-1);
  bool help_ = false;
  std::vector<std::pair<std::string, std::string>> doc_, pos_doc_;
};

/// "done / total what" on stderr while a long run goes on, when stderr is a terminal: from
/// its first second on, at most 4 times a second, erased when the run ends (so pipes and logs
/// get none of it). Call clear() before printing anything else.
class ProgressLine {
 public:
  explicit ProgressLine(std::string what) : what_(std::move(what)), on_(isatty(2) == 1) {}
  ~ProgressLine() { clear(); }
  /// Erases the line (before other output; the next update shows it again).
  void clear() {
    if (shown_) std::fprintf(stderr, "\r%*s\r", int(width_), "");
    shown_ = false;
  }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  void operator()(size_t done, size_t total) {
    if (!on_) return;
    const auto t = std::chrono::steady_clock::now();
    if (t - start_ < std::chrono::seconds(1) || t - last_ < std::chrono::milliseconds(250)) return;
    last_ = t;
    shown_ = true;
    const int n = std::fprintf(stderr, "\rtailor: %zu / %zu %s (%.0f%%)", done, total, what_.c_str(),
                               total ? 100.0 * double(done) / double(total) : 100.0);
    if (n > 0) width_ = std::max(width_, size_t(n));
    std::fflush(stderr);
  }

 private:
  std::string what_;
  bool on_, shown_ = false;
  size_t width_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_{};
};

/// The lines of a text file's contents, without their "\n" or "\r\n"; a final line break
/// ends the last line rather than starting an empty one.
inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(std::move(line));
    start = nl + 1;
  }
  return out;
}

/// A float as JSON: 9 significant digits (round-trips float32); NaN/Inf as null.
inline std::string json_float(double v) {
  if (!(v == v) || v > 3.4e38 || v < -3.4e38) return "null";
  char b[32];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}
/// A JSON string literal (UTF-8 passed through; control characters escaped).
inline std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\u%04x", c); o += b; }
        else o += char(c);
    }
  }
  return o + "\"";
}
template <class T>
std::string json_float_array(const T* p, size_t n) {
  std::string o = "[";
  for (size_t i = 0; i < n; ++i) { if (i) o += ','; o += json_float(double(p[i])); }
  return o + "]";
}

}  // namespace tailor::cli
