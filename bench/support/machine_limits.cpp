// SPDX-License-Identifier: Apache-2.0
// machine_limits: the probe (FMA chains and a streamed 512 MiB read) and the report lines.
#include "support/machine_limits.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <span>

#include <attnkit/simd/arch.hpp>

#include "support/dram_bandwidth.hpp"
#include "support/fma_peak.hpp"
#include "support/time_concurrently.hpp"

namespace attnkit::bench {
namespace {

constexpr std::size_t kDramBufferBytes = std::size_t{512} << 20;
constexpr int kProbedThreads[] = {1, 2};

std::string format_line(const char* title, const std::vector<machine_limits::level>& levels,
                        double machine_limits::level::*value, const char* unit) {
  std::string line = title;
  char cell[64];
  for (const auto& l : levels) {
    std::snprintf(cell, sizeof cell, "%s%d thread%s %.1f %s", &l == &levels.front() ? " " : ", ",
                  l.threads, l.threads == 1 ? "" : "s", l.*value, unit);
    line += cell;
  }
  return line;
}

}  // namespace

const machine_limits::level* machine_limits::at(int threads) const {
  const auto it = std::find_if(levels.begin(), levels.end(),
                               [&](const level& l) { return l.threads == threads; });
  return it == levels.end() ? nullptr : &*it;
}

std::string machine_limits::summary() const {
  const std::string fma = "fp32 FMA peak (" + arch + ", " + std::to_string(fma_accumulators) +
                          " chains per thread):";
  const std::string dram =
      "DRAM read bandwidth (" + std::to_string(dram_buffer_bytes >> 20) + " MiB buffer):";
  return format_line(fma.c_str(), levels, &level::fma_gflops, "GFLOP/s") + "\n" +
         format_line(dram.c_str(), levels, &level::dram_gbs, "GB/s");
}

machine_limits probe_machine_limits() {
  machine_limits limits;
  limits.arch = default_arch::name();
  limits.fma_accumulators = kFmaAccumulators;
  limits.dram_buffer_bytes = kDramBufferBytes;

  // Touch every page first (on two threads, it is the slowest part of the probe) so that the
  // timed reads measure DRAM, not page faults.
  const std::size_t n = kDramBufferBytes / sizeof(float);
  const auto buffer = std::make_unique_for_overwrite<float[]>(n);
  time_concurrently(2, [&](int t) {
    std::fill(buffer.get() + t * (n / 2), buffer.get() + (t + 1) * (n / 2), 1.0f);
  });
  const std::span<const float> data(buffer.get(), n);

  for (int threads : kProbedThreads)
    limits.levels.push_back(
        {threads, measure_fma_peak(threads), measure_dram_bandwidth(data, threads)});
  return limits;
}

}  // namespace attnkit::bench
