// SPDX-License-Identifier: Apache-2.0
// detail::append_top and detail::rank_before, the ranking every eviction policy shares: highest
// score first, NaN last, ties to the later position.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit::detail {

/// The strict total order of (score, position) pairs that every policy ranks by: a higher score
/// first; NaN after every number (-inf included); equal scores (or two NaNs) put the later
/// position first, so the more recent token wins a tie.
template <class S>
bool rank_before(const S& score_a, index_t a, const S& score_b, index_t b) noexcept {
  if constexpr (std::is_floating_point_v<S>) {
    const bool nan_a = std::isnan(score_a), nan_b = std::isnan(score_b);
    if (nan_a != nan_b) return nan_b;
    if (!nan_a && score_a != score_b) return score_a > score_b;
  } else {
    if (score_a != score_b) return score_a > score_b;
  }
  return a > b;
}

/// Appends the positions first .. last - 1 to `kept`.
inline void append_range(std::vector<index_t>& kept, index_t first, index_t last) {
  for (index_t i = first; i < last; ++i) kept.push_back(i);
}

/// Appends to `kept` the `count` positions of [first, last) that rank first by score(i) under
/// rank_before (all of them when count >= last - first), in no particular order. O(n).
template <class Score>
void append_top(std::vector<index_t>& kept, index_t first, index_t last, index_t count,
                Score&& score) {
  using S = std::decay_t<decltype(score(first))>;
  if (count <= 0 || last <= first) return;
  if (count >= last - first) return append_range(kept, first, last);
  std::vector<std::pair<S, index_t>> ranked;
  ranked.reserve(static_cast<std::size_t>(last - first));
  for (index_t i = first; i < last; ++i) ranked.emplace_back(score(i), i);
  const auto before = [](const auto& x, const auto& y) {
    return rank_before(x.first, x.second, y.first, y.second);
  };
  std::nth_element(ranked.begin(), ranked.begin() + count, ranked.end(), before);
  for (index_t i = 0; i < count; ++i) kept.push_back(ranked[static_cast<std::size_t>(i)].second);
}

/// The newest min(recent, budget) positions of L plus the top of the older ones by score(i),
/// budget in all, ascending: the shape of H2O, Keyformer, ALISA and TOVA (recent 0).
template <class Score>
std::vector<index_t> recent_plus_top(index_t L, index_t budget, index_t recent, Score&& score) {
  const index_t newest = std::min(recent, budget);
  std::vector<index_t> kept;
  kept.reserve(static_cast<std::size_t>(budget));
  append_top(kept, 0, L - newest, budget - newest, score);
  std::sort(kept.begin(), kept.end());
  append_range(kept, L - newest, L);
  return kept;
}

}  // namespace attnkit::detail
