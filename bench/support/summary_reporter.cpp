// SPDX-License-Identifier: Apache-2.0
// summary_reporter: collects the per-benchmark medians and turns them into result rows.
#include "support/summary_reporter.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "support/registry.hpp"
#include "support/write_table.hpp"

namespace attnkit::bench {

summary_reporter::summary_reporter(const machine_limits& limits, OutputOptions options)
    : benchmark::ConsoleReporter(options), limits_(limits) {}

void summary_reporter::ReportRuns(const std::vector<Run>& runs) {
  benchmark::ConsoleReporter::ReportRuns(runs);
  for (const Run& run : runs) {
    if (run.error_occurred) continue;
    timing& t = timings_[run.run_name.function_name];
    const double seconds =
        run.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(run.time_unit);
    if (run.run_type == Run::RT_Iteration) t.repetitions.push_back(seconds);
    else if (run.aggregate_name == "median") t.median = seconds;
    // The cv aggregate is a ratio of the accumulated times, stored unscaled.
    else if (run.aggregate_name == "cv") t.cv = run.real_accumulated_time;
  }
}

void summary_reporter::Finalize() {
  benchmark::ConsoleReporter::Finalize();
  const auto table = rows();
  if (table.empty()) return;
  auto& out = GetOutputStream();
  out << "\nSummary (median real time; limits measured in this run):\n";
  write_table(out, table, limits_, table_format::text);
  out.flush();
}

double summary_reporter::timing::median_seconds() const {
  if (!std::isnan(median) || repetitions.empty()) return median;
  std::vector<double> s = repetitions;
  std::sort(s.begin(), s.end());
  const std::size_t n = s.size();
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

std::vector<result_row> summary_reporter::rows() const {
  std::vector<result_row> table;
  for (const benchmark_spec& spec : registered_specs()) {
    const auto it = timings_.find(spec.name());
    if (it == timings_.end() || std::isnan(it->second.median_seconds())) continue;
    result_row row{.spec = spec, .seconds = it->second.median_seconds(), .cv = it->second.cv};
    if (const auto* level = limits_.at(spec.threads)) {
      if (spec.limit == limit_kind::compute) row.limit_rate = level->fma_gflops;
      if (spec.limit == limit_kind::memory) row.limit_rate = level->dram_gbs;
    }
    if (!spec.baseline.empty()) {
      benchmark_spec base = spec;
      base.variant = spec.baseline;
      if (const auto b = timings_.find(base.name()); b != timings_.end())
        row.speedup = b->second.median_seconds() / row.seconds;
    }
    table.push_back(row);
  }
  // Rows that compare with each other (family, shape, threads) stand together, baseline first,
  // whatever order the files registered them in; groups keep their first registration order.
  std::map<std::string, std::size_t> first;
  for (std::size_t n = 0; n < table.size(); ++n) {
    first.try_emplace(table[n].spec.family, n);
    first.try_emplace(table[n].spec.family + '\n' + table[n].spec.shape, n);
  }
  const auto key = [&](const result_row& r) {
    return std::tuple(first[r.spec.family], first[r.spec.family + '\n' + r.spec.shape],
                      r.spec.threads, !r.spec.baseline.empty());
  };
  std::stable_sort(table.begin(), table.end(),
                   [&](const result_row& a, const result_row& b) { return key(a) < key(b); });
  return table;
}

}  // namespace attnkit::bench
