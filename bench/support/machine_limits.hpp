// SPDX-License-Identifier: Apache-2.0
// machine_limits: the measured fp32 FMA peak and DRAM read bandwidth, and the probe behind them.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace attnkit::bench {

/// The limits a benchmark's rate is compared against, measured at a few thread counts in the
/// same process just before the benchmarks run (the second vCPU may be shared, so a nominal
/// peak would flatter the 2-thread rows).
struct machine_limits {
  /// The limits with `threads` threads running at once.
  struct level {
    int threads = 1;
    double fma_gflops = 0;  ///< fp32 FMA peak, GFLOP/s summed over the threads
    double dram_gbs = 0;    ///< DRAM read bandwidth, GB/s summed over the threads
  };

  std::string arch;                  ///< the xsimd arch of the FMA probe (attnkit::default_arch)
  std::size_t fma_accumulators = 0;  ///< independent FMA chains per thread
  std::size_t dram_buffer_bytes = 0; ///< size of the buffer the bandwidth probe reads
  std::vector<level> levels;         ///< one per probed thread count, ascending

  /// The level measured at `threads`, or nullptr when that count was not probed.
  const level* at(int threads) const;
  /// Two lines for the top of a report: the FMA peaks and the bandwidths per thread count.
  std::string summary() const;
};

/// Measures the limits with 1 and 2 threads, best of a few runs each; takes about a second,
/// most of it touching the 512 MiB bandwidth buffer (16x the 32 MiB L3 of an EPYC CCD).
machine_limits probe_machine_limits();

}  // namespace attnkit::bench
