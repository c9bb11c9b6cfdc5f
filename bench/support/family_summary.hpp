// SPDX-License-Identifier: Apache-2.0
// family_summary: the concise report of a run, one line per family of result rows.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "support/result_row.hpp"

namespace attnkit::bench {

/// What one family's rows add up to. NaN where no row of the family has the quantity.
struct family_line {
  std::string family;
  int rows = 0;
  const result_row* best = nullptr;  ///< the row closest to its limit (else the fastest rate)
  double median_fraction = result_row::kUnknown;  ///< median fraction of the limit over the rows
  /// The speed-ups measured against one baseline variant, over `rows` rows.
  struct versus {
    std::string baseline;
    int rows = 0;
    double geomean = 0, min = 0, max = 0;
  };
  std::vector<versus> speedups;  ///< one entry per baseline, in order of first appearance
};

/// One line per family, in the order the families first appear in `rows`.
std::vector<family_line> summarise_families(std::span<const result_row> rows);

}  // namespace attnkit::bench
