// SPDX-License-Identifier: Apache-2.0
// detail::select_top_keys: the positions of the k largest scores of a row, ties to the later
// position, the selection rule of topk_attention, sea_attention and their references.
#pragma once

#include <algorithm>
#include <functional>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit::detail {

/// Writes to `picked` (ascending) the positions t < n of the min(k, n) largest z[t] and returns
/// how many it wrote. Among equal scores the later position wins (position n - 1 before
/// position 0), so the choice never depends on the platform or the selection algorithm.
/// @pre no z[t] is NaN (callers give such rows NaN outputs first); k >= 1; `work` holds n
///      elements of S. Time O(n) on average (std::nth_element on a copy, then one pass).
template <class S>
index_t select_top_keys(const S* z, index_t n, index_t k, index_t* picked, S* work) {
  if (k >= n) {
    for (index_t t = 0; t < n; ++t) picked[t] = t;
    return n;
  }
  std::copy(z, z + n, work);
  std::nth_element(work, work + (k - 1), work + n, std::greater<S>());
  const S threshold = work[k - 1];  // the k-th largest score
  index_t above = 0, equal = 0;
  for (index_t t = 0; t < n; ++t) {
    above += z[t] > threshold;
    equal += z[t] == threshold;
  }
  // The last (k - above) positions holding the threshold are taken: skip the first others.
  index_t skip = equal - (k - above), count = 0;
  for (index_t t = 0; t < n; ++t) {
    if (z[t] > threshold) {
      picked[count++] = t;
    } else if (z[t] == threshold) {
      if (skip > 0) --skip;
      else picked[count++] = t;
    }
  }
  return count;
}

}  // namespace attnkit::detail
