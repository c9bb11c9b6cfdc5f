// SPDX-License-Identifier: Apache-2.0
// family_summary: per family, the best row, the median fraction of the limit and the speed-ups.
#include "support/family_summary.hpp"

#include <algorithm>
#include <cmath>

namespace attnkit::bench {
namespace {

double rate(const result_row& r) {
  switch (r.spec.limit) {
    case limit_kind::compute: return r.gflops();
    case limit_kind::memory: return r.gbytes();
    case limit_kind::none: break;
  }
  return r.spec.flops > 0 ? r.gflops() : r.spec.bytes > 0 ? r.gbytes() : r.gitems();
}

// The row that says most about the family: the highest fraction of a measured limit, or the
// highest rate where no row has a limit.
bool better(const result_row& a, const result_row& b) {
  const double fa = a.limit_fraction(), fb = b.limit_fraction();
  if (std::isfinite(fa) != std::isfinite(fb)) return std::isfinite(fa);
  if (std::isfinite(fa)) return fa > fb;
  return rate(a) > rate(b);
}

double median(std::vector<double> x) {
  if (x.empty()) return result_row::kUnknown;
  std::sort(x.begin(), x.end());
  const std::size_t n = x.size();
  return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

}  // namespace

std::vector<family_line> summarise_families(std::span<const result_row> rows) {
  std::vector<family_line> lines;
  for (const result_row& r : rows) {
    if (std::none_of(lines.begin(), lines.end(),
                     [&](const family_line& l) { return l.family == r.spec.family; })) {
      lines.emplace_back();
      lines.back().family = r.spec.family;
    }
  }
  for (family_line& l : lines) {
    std::vector<double> fractions;
    for (const result_row& r : rows) {
      if (r.spec.family != l.family) continue;
      ++l.rows;
      if (!l.best || better(r, *l.best)) l.best = &r;
      if (std::isfinite(r.limit_fraction())) fractions.push_back(r.limit_fraction());
      if (!std::isfinite(r.speedup) || r.speedup <= 0) continue;
      auto v = std::find_if(l.speedups.begin(), l.speedups.end(), [&](const auto& x) {
        return x.baseline == r.spec.baseline;
      });
      if (v == l.speedups.end()) {
        l.speedups.push_back({r.spec.baseline, 0, 0, r.speedup, r.speedup});
        v = l.speedups.end() - 1;
      }
      ++v->rows;
      v->geomean += std::log(r.speedup);  // the sum of logs until the loop ends
      v->min = std::min(v->min, r.speedup);
      v->max = std::max(v->max, r.speedup);
    }
    l.median_fraction = median(fractions);
    for (auto& v : l.speedups) v.geomean = std::exp(v.geomean / v.rows);
  }
  return lines;
}

}  // namespace attnkit::bench
