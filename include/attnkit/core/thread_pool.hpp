// SPDX-License-Identifier: Apache-2.0
// detail::thread_pool, the small header-only pool of worker threads behind attnkit::parallel_for.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit::detail {

/// A fixed set of workers that run one job at a time together with the calling thread.
///
/// A job is `n` tasks taken dynamically from an atomic counter, so uneven tasks balance. The
/// caller takes part as slot 0 and the workers it wakes as slots 1..helpers; workers that a job
/// does not need are not woken. A woken worker spins briefly before sleeping again, so
/// back-to-back small jobs (decode steps) rarely pay a futex wake. The pool runs one job at a
/// time; callers serialise (attnkit::parallel_for holds a mutex).
class thread_pool {
 public:
  using task_fn = void (*)(void* context, index_t task, int slot);

  explicit thread_pool(int threads) : tickets_(static_cast<std::size_t>(std::max(threads, 1))) {
    workers_.reserve(tickets_.size() - 1);
    for (int slot = 1; slot < threads; ++slot) workers_.emplace_back([this, slot] { work(slot); });
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  ~thread_pool() {
    stop_.store(true, std::memory_order_relaxed);
    for (std::size_t slot = 1; slot < tickets_.size(); ++slot) signal(static_cast<int>(slot));
    for (auto& t : workers_) t.join();
  }

  /// Threads that can take part in a job, the caller included.
  int size() const noexcept { return static_cast<int>(tickets_.size()); }

  /// Runs fn(context, task, slot) for every task in [0, n) on up to `threads` threads (the
  /// caller included) and returns when all are done. The first exception thrown by a task is
  /// rethrown here; tasks not yet started when it was thrown are skipped.
  void run(index_t n, int threads, task_fn fn, void* context) {
    if (n <= 0) return;
    const int helpers = static_cast<int>(
        std::max<index_t>(0, std::min<index_t>(std::min(threads, size()) - 1, n - 1)));
    job_ = job{fn, context, n};
    failure_ = nullptr;
    next_.store(0, std::memory_order_relaxed);
    pending_.store(helpers, std::memory_order_relaxed);
    for (int slot = 1; slot <= helpers; ++slot) signal(slot);
    take_tasks(0);
    for (int p; (p = pending_.load(std::memory_order_acquire)) != 0;) pending_.wait(p);
    if (failure_) std::rethrow_exception(failure_);
  }

 private:
  struct job {
    task_fn fn = nullptr;
    void* context = nullptr;
    index_t n = 0;
  };
  struct alignas(64) ticket {  // one cache line per worker: no false sharing between wakes
    std::atomic<std::uint64_t> value{0};
  };

  void signal(int slot) {
    auto& t = tickets_[static_cast<std::size_t>(slot)].value;
    t.fetch_add(1, std::memory_order_release);
    t.notify_one();
  }

  void take_tasks(int slot) {
    for (index_t task; (task = next_.fetch_add(1, std::memory_order_relaxed)) < job_.n;) {
      try {
        job_.fn(job_.context, task, slot);
      } catch (...) {
        std::lock_guard lock(failure_mutex_);
        if (!failure_) failure_ = std::current_exception();
        next_.store(job_.n, std::memory_order_relaxed);
      }
    }
  }

  void work(int slot) {
    auto& ticket = tickets_[static_cast<std::size_t>(slot)].value;
    std::uint64_t seen = 0;
    for (;;) {
      std::uint64_t now = ticket.load(std::memory_order_acquire);
      // Spin a little before sleeping: a decode step is often shorter than a futex wake.
      for (int spin = 0; now == seen && spin < 256; ++spin) {
        std::this_thread::yield();
        now = ticket.load(std::memory_order_acquire);
      }
      while (now == seen) {
        ticket.wait(seen, std::memory_order_acquire);
        now = ticket.load(std::memory_order_acquire);
      }
      seen = now;
      if (stop_.load(std::memory_order_relaxed)) return;
      take_tasks(slot);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
    }
  }

  std::vector<ticket> tickets_;  // tickets_[0] is unused: slot 0 is the caller
  std::vector<std::thread> workers_;
  job job_;
  std::atomic<index_t> next_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex failure_mutex_;
  std::exception_ptr failure_;
};

}  // namespace attnkit::detail
