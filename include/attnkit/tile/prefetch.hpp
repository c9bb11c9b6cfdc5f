// SPDX-License-Identifier: Apache-2.0
// tile::row_prefetcher: software prefetch of the next K and V block, spread over the current one.
#pragma once

#include <algorithm>
#include <cstddef>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit::tile {

/// Prefetches `rows` strided rows of `bytes` each into L2, a few rows per call to step(), so
/// the requests trickle out while the current block computes instead of filling every
/// line-fill buffer at once. Rows of K and V sit a head-count apart in a BSHD tensor, which the
/// hardware prefetchers do not follow from one row to the next: without this each copied row
/// starts with a miss to L3 or DRAM (about 10% of the forward on a busy Zen 3).
class row_prefetcher {
 public:
  row_prefetcher() = default;
  row_prefetcher(const void* first, index_t stride_bytes, index_t rows, index_t bytes)
      : first_(static_cast<const char*>(first)), stride_(stride_bytes), rows_(rows), bytes_(bytes) {}

  /// Prefetches the next `count` rows (fewer at the end).
  void step(index_t count) noexcept {
    const index_t end = std::min(rows_, next_ + count);
    for (; next_ < end; ++next_) {
      const char* row = first_ + next_ * stride_;
      for (index_t b = 0; b < bytes_; b += 64) __builtin_prefetch(row + b, 0, 2);
    }
  }
  /// Prefetches every row not yet done.
  void finish() noexcept { step(rows_); }

 private:
  const char* first_ = nullptr;
  index_t stride_ = 0, rows_ = 0, bytes_ = 0, next_ = 0;
};

}  // namespace attnkit::tile
