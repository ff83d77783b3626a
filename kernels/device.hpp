// kernels/device.hpp: host-side RAII for the CUDA objects the GPU models own.
//
//   DeviceBuffer   cudaMalloc'd bytes (freed in the destructor; errors there are ignored:
//                  a destructor must not throw and the memory is gone with the context anyway)
//   Stream         a non-blocking stream
//   PinnedBuffer   cudaMallocHost'd staging memory for asynchronous copies
//   DeviceGuard    makes a device current for a scope, restoring the previous one
//   EventTimer     CUDA events around enqueued work (SessionOptions::timing)
//   GraphCache     CUDA graphs keyed by problem shape: the first run of a shape is captured
//                  (cudaStreamBeginCapture, thread-local mode) and instantiated, later runs
//                  replay it with one cudaGraphLaunch. If capture fails (a library refusing
//                  capture, or an error while enqueueing), the cache turns itself off and
//                  runs eagerly from then on (so a real error is raised by the eager run).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "check.hpp"

namespace tailor::cuda::detail {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) { resize(bytes); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      p_ = std::exchange(o.p_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  ~DeviceBuffer() { release(); }

  /// Discards the contents; allocates exactly `bytes` (nothing for 0).
  void resize(size_t bytes) {
    release();
    if (bytes == 0) return;
    TAILOR_CUDA_CHECK(cudaMalloc(&p_, bytes));
    bytes_ = bytes;
  }
  /// Grows to at least `bytes` (contents discarded when it grows). True if it reallocated.
  bool reserve(size_t bytes) {
    if (bytes <= bytes_) return false;
    resize(bytes);
    return true;
  }
  void* get() const noexcept { return p_; }
  template <class T>
  T* as() const noexcept { return static_cast<T*>(p_); }
  size_t bytes() const noexcept { return bytes_; }

 private:
  void release() noexcept {
    if (p_) cudaFree(p_);
    p_ = nullptr;
    bytes_ = 0;
  }
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

class Stream {
 public:
  Stream() { TAILOR_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() {
    if (s_) cudaStreamDestroy(s_);
  }
  cudaStream_t get() const noexcept { return s_; }
  void sync() const { TAILOR_CUDA_CHECK(cudaStreamSynchronize(s_)); }

 private:
  cudaStream_t s_ = nullptr;
};

class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    TAILOR_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) TAILOR_CUDA_CHECK(cudaSetDevice(device));
    device_ = device;
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
  ~DeviceGuard() {
    if (previous_ != device_) cudaSetDevice(previous_);
  }

 private:
  int previous_ = 0, device_ = 0;
};

class GraphCache {
 public:
  explicit GraphCache(bool enabled = true) : enabled_(enabled) {}
  GraphCache(const GraphCache&) = delete;
  GraphCache& operator=(const GraphCache&) = delete;
  ~GraphCache() { clear(); }

  bool enabled() const noexcept { return enabled_; }
  size_t size() const noexcept { return graphs_.size(); }
  /// Drops every graph (call when the buffers they captured are reallocated).
  void clear() noexcept {
    for (auto& kv : graphs_) cudaGraphExecDestroy(kv.second);
    graphs_.clear();
  }

  /// Runs `enqueue` (which only enqueues work on `stream`: no allocation, no synchronisation,
  /// no pageable copies) through the graph for `key`, capturing it the first time.
  void run(const std::vector<int64_t>& key, cudaStream_t stream, const std::function<void()>& enqueue) {
    if (!enabled_) {
      enqueue();
      return;
    }
    auto it = graphs_.find(key);
    if (it == graphs_.end()) {
      cudaGraphExec_t exec = capture(stream, enqueue);
      if (!exec) {  // capture refused: run eagerly from now on
        enabled_ = false;
        enqueue();
        return;
      }
      it = graphs_.emplace(key, exec).first;
    }
    TAILOR_CUDA_CHECK(cudaGraphLaunch(it->second, stream));
  }

 private:
  static cudaGraphExec_t capture(cudaStream_t stream, const std::function<void()>& enqueue) {
    TAILOR_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    try {
      enqueue();
    } catch (...) {
      // Something refused to be captured (or failed): drop the capture; the caller reruns
      // the work eagerly, where a real error surfaces again with its own message.
      cudaGraph_t g = nullptr;
      cudaStreamEndCapture(stream, &g);
      if (g) cudaGraphDestroy(g);
      cudaGetLastError();
      return nullptr;
    }
    cudaGraph_t g = nullptr;
    if (cudaStreamEndCapture(stream, &g) != cudaSuccess || !g) {
      if (g) cudaGraphDestroy(g);
      cudaGetLastError();  // the capture error is not sticky; clear it
      return nullptr;
    }
    cudaGraphExec_t exec = nullptr;
    const cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    if (e != cudaSuccess) {
      cudaGetLastError();
      return nullptr;
    }
    return exec;
  }

  bool enabled_;
  std::map<std::vector<int64_t>, cudaGraphExec_t> graphs_;
};

/// The buffer as T* (spelled as a function so that templates need no `.template as<T>()`).
template <class T>
T* dptr(const DeviceBuffer& b) noexcept {
  return static_cast<T*>(b.get());
}

/// Page-locked host memory, so device-to-host copies are true async DMA.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer() { release(); }
  /// Grows to at least `bytes` (contents discarded when it grows).
  void reserve(size_t bytes) {
    if (bytes <= bytes_) return;
    release();
    TAILOR_CUDA_CHECK(cudaMallocHost(&p_, bytes));
    bytes_ = bytes;
  }
  template <class T>
  T* as() const noexcept { return static_cast<T*>(p_); }
  size_t bytes() const noexcept { return bytes_; }

 private:
  void release() noexcept {
    if (p_) cudaFreeHost(p_);
    p_ = nullptr;
    bytes_ = 0;
  }
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

/// A pair of CUDA events around enqueued work; ms() after the stream is synchronised.
class EventTimer {
 public:
  EventTimer() {
    TAILOR_CUDA_CHECK(cudaEventCreate(&a_));
    if (cudaEventCreate(&b_) != cudaSuccess) {
      cudaEventDestroy(a_);
      cuda_fail(cudaGetLastError(), "cudaEventCreate");
    }
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
  ~EventTimer() {
    cudaEventDestroy(a_);
    cudaEventDestroy(b_);
  }
  void start(cudaStream_t s) { TAILOR_CUDA_CHECK(cudaEventRecord(a_, s)); }
  void stop(cudaStream_t s) { TAILOR_CUDA_CHECK(cudaEventRecord(b_, s)); }
  double ms() const {
    float v = 0;
    TAILOR_CUDA_CHECK(cudaEventElapsedTime(&v, a_, b_));
    return double(v);
  }

 private:
  cudaEvent_t a_ = nullptr, b_ = nullptr;
};

/// Copies host data to a new device buffer.
inline DeviceBuffer upload(const void* host, size_t bytes) {
  DeviceBuffer b(bytes);
  if (bytes) TAILOR_CUDA_CHECK(cudaMemcpy(b.get(), host, bytes, cudaMemcpyHostToDevice));
  return b;
}

}  // namespace tailor::cuda::detail
