// tailor/core/thread_pool.hpp: thread-count control and a small fork-join pool.
//
// tailor uses no OpenMP and no global pool: each Session owns a ThreadPool of the size the
// caller asked for, so two hosts' threads never fight over one runtime's settings and a
// model shared by many sessions has no mutable state. The calling thread takes part in
// every job, so ThreadPool(1) starts no threads at all.
//
// Workers spin briefly (a few tens of microseconds) before sleeping on a condition
// variable: consecutive ops of one forward pass are microseconds apart, and a futex wake per
// op would cost more than a small GEMM.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "tailor/core/error.hpp"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define TAILOR_DETAIL_PAUSE() _mm_pause()
#else
#define TAILOR_DETAIL_PAUSE() std::this_thread::yield()
#endif

namespace tailor {

/// Threads to use when the caller says 0: $TAILOR_NUM_THREADS if set, else the hardware's.
inline int default_threads() {
  if (const char* env = std::getenv("TAILOR_NUM_THREADS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 1 && v <= 1024) return int(v);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw ? int(hw) : 1;
}

class ThreadPool {
 public:
  /// `threads` in total, the caller included; 0 means default_threads().
  explicit ThreadPool(int threads = 1) {
    TAILOR_CHECK(threads >= 0 && threads <= 1024, ErrorCode::invalid_argument,
                 "thread count " + std::to_string(threads) + " out of range", "use 0 (auto) or 1..1024");
    n_ = threads == 0 ? default_threads() : threads;
    workers_.reserve(size_t(n_ - 1));
    for (int i = 1; i < n_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_.store(true, std::memory_order_release);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  /// Threads taking part in each job, the caller included.
  int size() const noexcept { return n_; }

  /// Runs fn(task) for every task in [0, ntasks), spread over the pool; returns when all
  /// are done. Tasks are handed out dynamically. The first exception a task throws is
  /// rethrown here after every task has finished.
  template <class F>
  void run(int ntasks, F&& fn) {
    if (ntasks <= 0) return;
    if (n_ == 1 || ntasks == 1) {
      for (int t = 0; t < ntasks; ++t) fn(t);
      return;
    }
    std::lock_guard<std::mutex> job_lock(job_mu_);  // one job at a time per pool
    job_.ctx = &fn;
    job_.call = [](void* ctx, int t) { (*static_cast<std::remove_reference_t<F>*>(ctx))(t); };
    job_.ntasks = ntasks;
    job_.next.store(0, std::memory_order_relaxed);
    job_.error = nullptr;
    done_workers_.store(0, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lk(mu_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    work_on_job();
    // Wait for every worker to leave the job before its closure goes out of scope.
    while (done_workers_.load(std::memory_order_acquire) != n_ - 1) TAILOR_DETAIL_PAUSE();
    if (job_.error) std::rethrow_exception(job_.error);
  }

  /// Splits [0, n) into at most size() * 4 contiguous chunks of at least `grain` items and
  /// calls fn(begin, end) for each.
  template <class F>
  void parallel_for(int64_t n, int64_t grain, F&& fn) {
    if (n <= 0) return;
    grain = std::max<int64_t>(grain, 1);
    const int64_t max_chunks = std::max<int64_t>(1, std::min<int64_t>(int64_t(n_) * 4, (n + grain - 1) / grain));
    const int64_t chunk = (n + max_chunks - 1) / max_chunks;
    const int nchunks = int((n + chunk - 1) / chunk);
    run(nchunks, [&](int c) {
      const int64_t b = int64_t(c) * chunk;
      fn(b, std::min(n, b + chunk));
    });
  }

 private:
  struct Job {
    void* ctx = nullptr;
    void (*call)(void*, int) = nullptr;
    int ntasks = 0;
    std::atomic<int> next{0};
    std::exception_ptr error;
    std::mutex error_mu;
  };

  void work_on_job() {
    for (;;) {
      const int t = job_.next.fetch_add(1, std::memory_order_relaxed);
      if (t >= job_.ntasks) return;
      try {
        job_.call(job_.ctx, t);
      } catch (...) {
        std::lock_guard<std::mutex> lk(job_.error_mu);
        if (!job_.error) job_.error = std::current_exception();
      }
    }
  }

  void worker_loop(int /*index*/) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t g = generation_.load(std::memory_order_acquire);
      for (int spin = 0; g == seen && spin < kSpinIterations; ++spin) {
        TAILOR_DETAIL_PAUSE();
        g = generation_.load(std::memory_order_acquire);
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        g = generation_.load(std::memory_order_acquire);
      }
      seen = g;
      if (stop_.load(std::memory_order_acquire)) return;
      work_on_job();
      done_workers_.fetch_add(1, std::memory_order_acq_rel);
    }
  }

  static constexpr int kSpinIterations = 20000;  // about 50-100 us of pause instructions

  int n_ = 1;
  std::vector<std::thread> workers_;
  std::mutex mu_, job_mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> done_workers_{0};
  std::atomic<bool> stop_{false};
  Job job_;
};

}  // namespace tailor
