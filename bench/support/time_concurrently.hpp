// SPDX-License-Identifier: Apache-2.0
// time_concurrently: the wall time of the same work started at once on several new threads.
#pragma once

#include <chrono>
#include <latch>
#include <thread>
#include <vector>

namespace attnkit::bench {

/// Runs work(t) for t in [0, threads) on `threads` new threads released together and returns the
/// seconds from their release until the last one finishes; starting the threads is not timed.
template <class F>
double time_concurrently(int threads, F work) {
  std::latch ready(threads);
  std::latch go(1);
  std::vector<std::jthread> workers;
  workers.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      ready.count_down();
      go.wait();
      work(t);
    });
  ready.wait();
  const auto begin = std::chrono::steady_clock::now();
  go.count_down();
  workers.clear();  // joins
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
}

}  // namespace attnkit::bench
