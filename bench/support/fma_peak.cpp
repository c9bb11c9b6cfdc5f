// SPDX-License-Identifier: Apache-2.0
// measure_fma_peak: chains of xsimd FMAs on default_arch batches, timed on concurrent threads.
#include "support/fma_peak.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <vector>

#include <benchmark/benchmark.h>

#include <attnkit/simd/reduce.hpp>

#include "support/time_concurrently.hpp"

namespace attnkit::bench {
namespace {

using batch = xsimd::batch<float, default_arch>;

// 2^23 steps of 12 ymm FMAs are 1.6 GFLOP, 16 ms on a 3 GHz AVX2 core; five short runs are
// likelier than three long ones to catch a window in which a shared vCPU is not preempted.
constexpr std::int64_t kSteps = std::int64_t{1} << 23;
constexpr int kRuns = 5;

float fma_chains(float seed) {
  std::array<batch, kFmaAccumulators> acc;
  for (std::size_t c = 0; c < kFmaAccumulators; ++c) acc[c] = batch(seed + float(c));
  // x <- x/2 + 1/2 contracts to 1 from any start: no overflow and no denormals, which would
  // slow the FMA units down on some cores.
  const batch half(0.5f);
  for (std::int64_t s = 0; s < kSteps; ++s)
    for (auto& x : acc) x = xsimd::fma(x, half, half);
  batch sum(0.0f);
  for (const auto& x : acc) sum += x;
  return simd::reduce_sum(sum);
}

}  // namespace

double measure_fma_peak(int threads) {
  std::vector<float> results(static_cast<std::size_t>(threads));
  double best = std::numeric_limits<double>::infinity();
  for (int run = 0; run < kRuns; ++run) {
    best = std::min(best, time_concurrently(threads, [&](int t) {
                      results[static_cast<std::size_t>(t)] = fma_chains(float(t));
                    }));
    benchmark::DoNotOptimize(results.data());
  }
  const double flops = 2.0 * double(kSteps) * double(kFmaAccumulators) *
                       double(simd::width<default_arch>) * threads;
  return flops / best * 1e-9;
}

}  // namespace attnkit::bench
