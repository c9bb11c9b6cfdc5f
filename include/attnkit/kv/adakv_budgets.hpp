// SPDX-License-Identifier: Apache-2.0
// kv::adakv_budgets, Ada-KV's per-head budgets: one layer's total split by a top-k over all
// heads' scores, with a floor per head.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/kv/top_positions.hpp>

namespace attnkit::kv {

/// Per-head budgets of one layer (Ada-KV, Feng et al., arXiv 2407.11550; kvpress AdaKVPress):
/// the `total_budget` positions of highest score over all heads together, each head first
/// guaranteed its own top
///   floor_h = min(L_h, floor(alpha_safeguard * total_budget / H))
/// positions (H heads, head h holding L_h = head_scores[h].size() positions). Returns the number
/// of positions each head keeps; when total_budget >= sum L_h every head keeps all L_h.
///
/// Scores rank as kv::select ranks them (higher first, NaN last, equal scores to the later
/// position) and, across heads, equal scores at equal positions to the higher head. So with the
/// same scores, head h's top budget_h positions are exactly those the global top-k chose: select
/// with the policy that produced the scores and these budgets keeps the Ada-KV set. The
/// budgets sum to min(total_budget, sum L_h).
///
/// @pre head_scores non-empty; total_budget >= 0; 0 <= alpha_safeguard <= 1 (kvpress: 0.2).
/// Throws attnkit::error naming the argument. O(N log N) for N = sum L_h.
inline std::vector<index_t> adakv_budgets(std::span<const std::span<const float>> head_scores,
                                          index_t total_budget, float alpha_safeguard = 0.2f) {
  constexpr const char* kWhere = "kv::adakv_budgets";
  detail::require(!head_scores.empty(), kWhere, "head_scores", "at least one head", "none");
  detail::require(total_budget >= 0, kWhere, "total_budget", ">= 0", total_budget);
  detail::require(alpha_safeguard >= 0.0f && alpha_safeguard <= 1.0f, kWhere, "alpha_safeguard",
                  "a value in [0, 1]", alpha_safeguard);
  const index_t H = static_cast<index_t>(head_scores.size());
  std::vector<index_t> budgets(head_scores.size());
  index_t positions = 0;
  for (std::size_t h = 0; h < head_scores.size(); ++h) {
    budgets[h] = static_cast<index_t>(head_scores[h].size());
    positions += budgets[h];
  }
  if (total_budget >= positions) return budgets;

  const auto safe =
      static_cast<index_t>(std::floor(static_cast<double>(alpha_safeguard) *
                                      static_cast<double>(total_budget) / static_cast<double>(H)));
  struct entry {
    float score;
    index_t i, h;
  };
  const auto before = [](const entry& x, const entry& y) {
    if (detail::rank_before(x.score, x.i, y.score, y.i)) return true;
    if (detail::rank_before(y.score, y.i, x.score, x.i)) return false;
    return x.h > y.h;  // equal scores (or NaNs) at equal positions
  };
  std::vector<entry> pool;  // every position but each head's guaranteed top
  pool.reserve(static_cast<std::size_t>(positions));
  index_t remaining = total_budget;
  for (index_t h = 0; h < H; ++h) {
    const std::span<const float> scores = head_scores[static_cast<std::size_t>(h)];
    std::vector<entry> head;
    head.reserve(scores.size());
    for (std::size_t i = 0; i < scores.size(); ++i)
      head.push_back({scores[i], static_cast<index_t>(i), h});
    std::sort(head.begin(), head.end(), before);
    const index_t floor_h = std::min(safe, static_cast<index_t>(head.size()));
    budgets[static_cast<std::size_t>(h)] = floor_h;
    remaining -= floor_h;
    pool.insert(pool.end(), head.begin() + floor_h, head.end());
  }
  // remaining >= 0: H * safe <= total_budget; remaining < pool.size(): total_budget < positions.
  std::nth_element(pool.begin(), pool.begin() + remaining, pool.end(), before);
  for (index_t k = 0; k < remaining; ++k)
    ++budgets[static_cast<std::size_t>(pool[static_cast<std::size_t>(k)].h)];
  return budgets;
}

}  // namespace attnkit::kv
