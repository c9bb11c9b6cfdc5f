// SPDX-License-Identifier: Apache-2.0
// detail::group_by: a stable counting sort of row indices by a small integer label (rows of a
// cluster, of a bucket), the gather step of routing and LSH attention.
#pragma once

#include <cstdint>
#include <vector>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit::detail {

/// Rows [0, n) grouped by label[r] in [0, groups): group g is order[start[g] .. start[g + 1]),
/// rows in ascending order within a group. Time O(n + groups).
struct grouping {
  std::vector<index_t> start, order;

  void build(const std::int32_t* label, index_t n, index_t groups) {
    start.assign(std::size_t(groups + 1), 0);
    for (index_t r = 0; r < n; ++r) ++start[std::size_t(label[r]) + 1];
    for (index_t g = 0; g < groups; ++g) start[std::size_t(g + 1)] += start[std::size_t(g)];
    order.resize(std::size_t(n));
    std::vector<index_t>& next = cursor_;
    next.assign(start.begin(), start.end() - 1);
    for (index_t r = 0; r < n; ++r) order[std::size_t(next[std::size_t(label[r])]++)] = r;
  }
  index_t size(index_t g) const { return start[std::size_t(g + 1)] - start[std::size_t(g)]; }
  const index_t* begin(index_t g) const { return order.data() + start[std::size_t(g)]; }

 private:
  std::vector<index_t> cursor_;
};

}  // namespace attnkit::detail
