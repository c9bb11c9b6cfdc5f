// SPDX-License-Identifier: Apache-2.0
// measure_dram_bandwidth: vector sums over per-thread slices, timed on concurrent threads.
#include "support/dram_bandwidth.hpp"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <vector>

#include <benchmark/benchmark.h>

#include <attnkit/simd/reduce.hpp>

#include "support/time_concurrently.hpp"

namespace attnkit::bench {
namespace {

using batch = xsimd::batch<float, default_arch>;
constexpr std::size_t kStep = 4 * batch::size;
constexpr int kRuns = 3;

// Four independent sums keep the adds off the critical path; at DRAM speed the core waits on
// loads either way, so this measures the memory system, not the loop.
float sum_slice(const float* p, std::size_t n) {
  batch s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);
  for (std::size_t i = 0; i < n; i += kStep) {
    s0 += batch::load_unaligned(p + i);
    s1 += batch::load_unaligned(p + i + batch::size);
    s2 += batch::load_unaligned(p + i + 2 * batch::size);
    s3 += batch::load_unaligned(p + i + 3 * batch::size);
  }
  return simd::reduce_sum((s0 + s1) + (s2 + s3));
}

}  // namespace

double measure_dram_bandwidth(std::span<const float> buffer, int threads) {
  const std::size_t slice = buffer.size() / static_cast<std::size_t>(threads) / kStep * kStep;
  std::vector<float> sums(static_cast<std::size_t>(threads));
  double best = std::numeric_limits<double>::infinity();
  for (int run = 0; run < kRuns; ++run) {
    best = std::min(best, time_concurrently(threads, [&](int t) {
                      const auto i = static_cast<std::size_t>(t);
                      sums[i] = sum_slice(buffer.data() + i * slice, slice);
                    }));
    benchmark::DoNotOptimize(sums.data());
  }
  return double(slice * sizeof(float)) * threads / best * 1e-9;
}

}  // namespace attnkit::bench
