// tailor/core/error.hpp: the one exception type tailor throws.
//
// Every failure a caller can cause (a bad file, a bad argument, a limit exceeded) becomes a
// tailor::Error carrying a code, a message that says what was wrong and where (file, tensor,
// byte offset, token), and a hint that says what to do. Nothing in tailor calls abort() or
// exit(); hosts catch tailor::Error (or std::exception) and carry on.
#pragma once

#include <exception>
#include <string>
#include <utility>

namespace tailor {

/// What kind of failure an Error reports; stable across versions.
enum class ErrorCode {
  invalid_argument,  ///< the caller passed something unusable (batch 0, unknown option)
  io,                ///< a file could not be opened, read or written
  format,            ///< a file's bytes are not what they claim (corrupt safetensors, bad image)
  shape,             ///< a tensor's shape disagrees with the config or the caller's buffer
  limit,             ///< an input exceeds a documented limit (pixels, text bytes, tokens)
  unsupported,       ///< a valid input tailor does not handle (dtype, architecture, format)
  out_of_memory,     ///< an allocation failed; the model stays usable
  device,            ///< a GPU/CUDA failure or no usable GPU
  internal,          ///< a bug in tailor; please report it
};

inline const char* to_string(ErrorCode c) noexcept {
  switch (c) {
    case ErrorCode::invalid_argument: return "invalid argument";
    case ErrorCode::io: return "i/o error";
    case ErrorCode::format: return "format error";
    case ErrorCode::shape: return "shape error";
    case ErrorCode::limit: return "limit exceeded";
    case ErrorCode::unsupported: return "unsupported";
    case ErrorCode::out_of_memory: return "out of memory";
    case ErrorCode::device: return "device error";
    case ErrorCode::internal: return "internal error";
  }
  return "error";
}

/// The exception tailor throws. what() is "message (hint)", ready for `tailor: error: `.
class Error : public std::exception {
 public:
  Error(ErrorCode code, std::string message, std::string hint = {})
      : code_(code), message_(std::move(message)), hint_(std::move(hint)) {
    what_ = hint_.empty() ? message_ : message_ + " (" + hint_ + ")";
  }
  ErrorCode code() const noexcept { return code_; }
  /// What was wrong and where.
  const std::string& message() const noexcept { return message_; }
  /// What to do about it; may be empty.
  const std::string& hint() const noexcept { return hint_; }
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  ErrorCode code_;
  std::string message_;
  std::string hint_;
  std::string what_;
};

namespace detail {
[[noreturn]] inline void fail(ErrorCode code, std::string message, std::string hint = {}) {
  throw Error(code, std::move(message), std::move(hint));
}
}  // namespace detail

}  // namespace tailor

/// Throws tailor::Error(code, msg, hint) when cond is false. Internal use.
#define TAILOR_CHECK(cond, code, msg, hint)                          \
  do {                                                               \
    if (!(cond)) ::tailor::detail::fail((code), (msg), (hint));      \
  } while (0)
