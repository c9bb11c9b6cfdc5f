// SPDX-License-Identifier: Apache-2.0
// sparse_support: the (query, key) pairs where a sparse + low-rank method scores exactly, as
// compressed rows.
#pragma once

#include <span>
#include <vector>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit {

/// The support of a sparse correction: for each query row i in [0, rows), the keys
/// keys[row_begin[i] .. row_begin[i + 1]), sorted, unique, in [0, cols). Built by
/// local_band_support (or by any other rule: a hashed or clustered support is another builder
/// of the same structure).
struct sparse_support {
  index_t rows = 0, cols = 0;
  std::vector<index_t> row_begin{0};  ///< rows + 1 non-decreasing offsets into keys
  std::vector<index_t> keys;          ///< the keys of every row, row after row

  /// The keys of row i.
  std::span<const index_t> row(index_t i) const noexcept {
    return {keys.data() + row_begin[std::size_t(i)],
            std::size_t(row_begin[std::size_t(i) + 1] - row_begin[std::size_t(i)])};
  }
  /// Pairs in all rows.
  index_t size() const noexcept { return static_cast<index_t>(keys.size()); }
};

}  // namespace attnkit
