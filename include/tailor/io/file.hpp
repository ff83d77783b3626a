// tailor/io/file.hpp: read-only bytes of a file, memory-mapped where possible.
//
// MappedFile is the storage under a weight bundle: mmap(2) on POSIX (the weights are paged
// in on first use and shared between processes), a plain read into an aligned buffer
// elsewhere or on request. It is immutable after open and safe to share between threads.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tailor/core/arena.hpp"
#include "tailor/core/error.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define TAILOR_HAVE_MMAP 1
#else
#define TAILOR_HAVE_MMAP 0
#endif

namespace tailor {

class MappedFile {
 public:
  MappedFile() = default;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
#if TAILOR_HAVE_MMAP
    if (map_ && map_ != MAP_FAILED) ::munmap(map_, size_);
#endif
  }

  /// Opens `path`; use_mmap=false reads it into memory instead (no SIGBUS if another
  /// process truncates the file while it is open).
  static std::shared_ptr<const MappedFile> open(const std::string& path, bool use_mmap = true) {
    auto f = std::shared_ptr<MappedFile>(new MappedFile());
    f->path_ = path;
#if TAILOR_HAVE_MMAP
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail_errno(path, "open");
    struct stat st {};
    if (::fstat(fd, &st) != 0) { const int e = errno; ::close(fd); errno = e; fail_errno(path, "stat"); }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      detail::fail(ErrorCode::io, path + ": not a regular file", "pass the path of a .safetensors file");
    }
    f->size_ = size_t(st.st_size);
    if (use_mmap && f->size_ > 0) {
      void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED) {
        f->map_ = p;
        f->data_ = static_cast<const uint8_t*>(p);
        ::close(fd);
        return f;
      }
    }
    f->buffer_.resize(f->size_);
    size_t got = 0;
    while (got < f->size_) {
      const ssize_t r = ::read(fd, f->buffer_.data() + got, f->size_ - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) { const int e = errno; ::close(fd); errno = e; fail_errno(path, "read"); }
      got += size_t(r);
    }
    ::close(fd);
    f->data_ = f->buffer_.data();
#else
    (void)use_mmap;
    std::FILE* fp = std::fopen(path.c_str(), "rb");
    if (!fp) fail_errno(path, "open");
    std::fseek(fp, 0, SEEK_END);
    const long n = std::ftell(fp);
    std::fseek(fp, 0, SEEK_SET);
    if (n < 0) { std::fclose(fp); fail_errno(path, "stat"); }
    f->size_ = size_t(n);
    f->buffer_.resize(f->size_);
    if (f->size_ && std::fread(f->buffer_.data(), 1, f->size_, fp) != f->size_) { std::fclose(fp); fail_errno(path, "read"); }
    std::fclose(fp);
    f->data_ = f->buffer_.data();
#endif
    return f;
  }

  /// Wraps bytes already in memory (tests, fuzzers, hosts that fetched the file themselves).
  static std::shared_ptr<const MappedFile> from_memory(const void* data, size_t size, std::string name = "<memory>") {
    auto f = std::shared_ptr<MappedFile>(new MappedFile());
    f->path_ = std::move(name);
    f->size_ = size;
    f->buffer_.resize(size);
    if (size) std::memcpy(f->buffer_.data(), data, size);
    f->data_ = f->buffer_.data();
    return f;
  }

  const uint8_t* data() const noexcept { return data_; }
  /// Maps the whole file in now, one call instead of one page fault per 4 KiB later, for a
  /// caller about to read all of it (a bundle whose header checked out; not before, so a
  /// huge file with a bad header is still refused at once). A hint: no effect where the
  /// kernel lacks MADV_POPULATE_READ (Linux < 5.14) or the file was read into memory.
  void populate() const noexcept {
#if TAILOR_HAVE_MMAP && defined(MADV_POPULATE_READ)
    if (map_ && map_ != MAP_FAILED) (void)::madvise(map_, size_, MADV_POPULATE_READ);
#endif
  }
  size_t size() const noexcept { return size_; }
  const std::string& path() const noexcept { return path_; }

 private:
  [[noreturn]] static void fail_errno(const std::string& path, const char* what) {
    const int e = errno;
    std::string hint = e == ENOENT ? "check the path; converted bundles usually live in weights/"
                       : e == EACCES ? "check the file's permissions"
                                     : "";
    detail::fail(ErrorCode::io, path + ": cannot " + what + ": " + std::strerror(e), hint);
  }

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  void* map_ = nullptr;
  AlignedBuffer<uint8_t> buffer_;
};

/// Reads a whole (small) file into a string; for vocab, label and text files.
inline std::string read_text_file(const std::string& path, size_t max_bytes = size_t(1) << 30) {
  std::FILE* fp = std::fopen(path.c_str(), "rb");
  if (!fp)
    detail::fail(ErrorCode::io, path + ": cannot open: " + std::strerror(errno),
                 errno == ENOENT ? "check the path" : "");
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, fp)) > 0) {
    if (out.size() + n > max_bytes) {
      std::fclose(fp);
      detail::fail(ErrorCode::limit, path + ": larger than " + std::to_string(max_bytes) + " bytes", "");
    }
    out.append(buf, n);
  }
  const bool err = std::ferror(fp);
  std::fclose(fp);
  if (err) detail::fail(ErrorCode::io, path + ": read error", "");
  return out;
}

}  // namespace tailor
