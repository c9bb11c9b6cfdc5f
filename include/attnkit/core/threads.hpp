// SPDX-License-Identifier: Apache-2.0
// set_num_threads / get_num_threads and parallel_for over the library's shared thread pool.
#pragma once

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>

#include <attnkit/core/error.hpp>
#include <attnkit/core/thread_pool.hpp>

namespace attnkit {
namespace detail {

inline int default_num_threads() {
  if (const char* env = std::getenv("ATTNKIT_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

/// The process-wide pool, created on first use with get_num_threads() threads. `mutex` is held
/// for the whole of a parallel region, so one region runs on the pool at a time.
struct pool_state {
  std::mutex mutex;
  std::atomic<int> num_threads{default_num_threads()};
  std::unique_ptr<thread_pool> pool;
};

inline pool_state& global_pool() {
  static pool_state state;
  return state;
}

/// True on a pool worker and on a caller inside a parallel region: nested regions run serially.
inline bool& in_parallel_region() {
  thread_local bool inside = false;
  return inside;
}

}  // namespace detail

/// Sets the number of threads attnkit kernels use; 1 means the calling thread only.
/// Waits for a parallel region running on another thread to finish.
/// @pre n >= 1, and not called from inside a parallel_for task (throws attnkit::error).
inline void set_num_threads(int n) {
  detail::require(n >= 1, "set_num_threads", "n", ">= 1", n);
  detail::require(!detail::in_parallel_region(), "set_num_threads", "n",
                  "a call from outside a parallel region (a task cannot resize its own pool)",
                  "a call from inside one");
  auto& state = detail::global_pool();
  std::lock_guard lock(state.mutex);
  if (state.pool && state.pool->size() != n) state.pool.reset();
  state.num_threads.store(n, std::memory_order_relaxed);
}

/// The number of threads attnkit kernels use (default: the ATTNKIT_NUM_THREADS environment
/// variable, else std::thread::hardware_concurrency()).
inline int get_num_threads() noexcept {
  return detail::global_pool().num_threads.load(std::memory_order_relaxed);
}

/// Runs f(task, slot) for every task in [0, n) on up to get_num_threads() threads, the caller
/// included, taking tasks dynamically; slot in [0, get_num_threads()) names the thread so that
/// per-call scratch can be indexed by it. Runs serially on the caller when called from inside
/// another parallel region, or while another user thread has the pool (calls from several
/// threads are safe). Rethrows the first exception a task throws.
template <class F>
void parallel_for(index_t n, F&& f) {
  if (n <= 0) return;
  auto& state = detail::global_pool();
  auto serial = [&] {
    for (index_t task = 0; task < n; ++task) f(task, 0);
  };
  if (n == 1 || get_num_threads() == 1 || detail::in_parallel_region()) return serial();
  std::unique_lock lock(state.mutex, std::try_to_lock);
  if (!lock.owns_lock()) return serial();
  const int threads = get_num_threads();  // read under the lock: set_num_threads takes it too
  if (state.pool && state.pool->size() != threads) state.pool.reset();
  if (!state.pool) state.pool = std::make_unique<detail::thread_pool>(threads);
  // A function (not a pointer or an object) cannot go through void*: take its address.
  auto&& callable = [&]() -> decltype(auto) {
    if constexpr (std::is_function_v<std::remove_reference_t<F>>) return &f;
    else return (f);
  }();
  using fn_type = std::remove_reference_t<decltype(callable)>;
  detail::in_parallel_region() = true;
  struct reset_flag {
    ~reset_flag() { detail::in_parallel_region() = false; }
  } reset;
  state.pool->run(
      n, threads,
      [](void* context, index_t task, int slot) {
        detail::in_parallel_region() = true;
        (*static_cast<fn_type*>(context))(task, slot);
      },
      const_cast<void*>(static_cast<const void*>(std::addressof(callable))));
}

}  // namespace attnkit
