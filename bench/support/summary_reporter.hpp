// SPDX-License-Identifier: Apache-2.0
// summary_reporter: Google Benchmark's console output, then one summary table of every benchmark.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "support/machine_limits.hpp"
#include "support/result_row.hpp"

namespace attnkit::bench {

/// Prints what ConsoleReporter prints and keeps each benchmark's median real time (the
/// "median" aggregate, or the median of the repetitions when no aggregate is reported); at the
/// end it prints the rows() table with the limits above it.
class summary_reporter : public benchmark::ConsoleReporter {
 public:
  summary_reporter(const machine_limits& limits, OutputOptions options);

  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override;

  /// One row per registered benchmark that ran without error, with the limit of its thread
  /// count and the speed-up against its baseline when that ran too; rows of the same family,
  /// shape and threads stand together, the baseline first.
  std::vector<result_row> rows() const;

 private:
  struct timing {
    std::vector<double> repetitions;       ///< seconds per iteration of each repetition
    double median = result_row::kUnknown;  ///< from the "median" aggregate
    double cv = result_row::kUnknown;      ///< from the "cv" aggregate
    /// The median aggregate, else the median of the repetitions (NaN when there is neither).
    double median_seconds() const;
  };

  const machine_limits& limits_;
  std::map<std::string, timing> timings_;
};

}  // namespace attnkit::bench
