// SPDX-License-Identifier: Apache-2.0
// write_table: the summary of a run (limits and result rows) as aligned text, Markdown or JSON.
#pragma once

#include <ostream>
#include <span>

#include "support/machine_limits.hpp"
#include "support/result_row.hpp"

namespace attnkit::bench {

enum class table_format { text, markdown, json };

/// Writes the limits and one line per row: family, variant, shape, threads, median time, cv,
/// GFLOP/s, GB/s, Gelem/s, fraction of the limit and speed-up against the baseline.
void write_table(std::ostream& out, std::span<const result_row> rows, const machine_limits& limits,
                 table_format format);

}  // namespace attnkit::bench
