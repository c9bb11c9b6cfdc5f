// SPDX-License-Identifier: Apache-2.0
// result_row: one benchmark's median time and the rates, fraction and speed-up derived from it.
#pragma once

#include <cmath>
#include <limits>

#include "support/benchmark_spec.hpp"

namespace attnkit::bench {

/// A line of the summary. Rates are 0 where the spec does not count that work; NaN marks
/// what is unknown (no limit probed at this thread count, no baseline measured).
struct result_row {
  static constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();

  benchmark_spec spec;
  double seconds = 0;            ///< median real time per iteration over the repetitions
  double cv = kUnknown;          ///< coefficient of variation of the repetitions
  double limit_rate = kUnknown;  ///< spec.limit's value at spec.threads (GFLOP/s or GB/s)
  double speedup = kUnknown;     ///< baseline median / this median (> 1: faster than the baseline)

  double gflops() const { return spec.flops / seconds * 1e-9; }
  double gbytes() const { return spec.bytes / seconds * 1e-9; }
  double gitems() const { return spec.items / seconds * 1e-9; }

  /// The rate as a fraction of the limit (NaN when there is none).
  double limit_fraction() const {
    switch (spec.limit) {
      case limit_kind::compute: return gflops() / limit_rate;
      case limit_kind::memory: return gbytes() / limit_rate;
      case limit_kind::none: break;
    }
    return kUnknown;
  }
};

}  // namespace attnkit::bench
