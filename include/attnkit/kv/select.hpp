// SPDX-License-Identifier: Apache-2.0
// kv::select, the one entry point of every eviction policy: checks, the budget edges, then the
// policy's ranking.
#pragma once

#include <algorithm>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/kv/eviction_policy.hpp>
#include <attnkit/kv/token_stats.hpp>

namespace attnkit::detail {

/// L as kv::select reads it: the longest of keys.extent(0) and the stats spans.
inline index_t selection_length(const tensor_view<const float, 2>& keys,
                                const kv::token_stats& stats) {
  return std::max({keys.extent(0), static_cast<index_t>(stats.accumulated.size()),
                   static_cast<index_t>(stats.last.size()),
                   static_cast<index_t>(stats.window.size())});
}

/// One input of a selection: `needed` ones must have L entries, the others 0 or L.
inline void check_selection_input(std::string_view where, std::string_view name, index_t size,
                                  bool needed, index_t L, std::string_view what) {
  if (size == L || (!needed && size == 0)) return;
  throw_argument_error(
      where, name,
      std::to_string(L) + " entries (L, " + std::string(what) + ")" +
          (needed ? std::string() : std::string(" or none (the policy ignores it)")),
      size);
}

/// Every check of a selection of `budget` of L positions, in order: the policy's fields, the
/// budget, keys (non-null data when non-empty) and each input against L.
template <kv::eviction_policy Policy>
void check_selection(std::string_view where, const Policy& policy,
                     const tensor_view<const float, 2>& keys, const kv::token_stats& stats,
                     index_t L, index_t budget, std::string_view what) {
  policy.check(where);
  require(budget >= 0, where, "budget", ">= 0", budget);
  require(keys.data() != nullptr || keys.empty(), where, "keys",
          "non-null data for a non-empty view", "nullptr");
  constexpr kv::policy_inputs in = Policy::kInputs;
  check_selection_input(where, "keys", keys.extent(0), in.keys, L, what);
  check_selection_input(where, "stats.accumulated", static_cast<index_t>(stats.accumulated.size()),
                        in.accumulated, L, what);
  check_selection_input(where, "stats.last", static_cast<index_t>(stats.last.size()), in.last, L,
                        what);
  check_selection_input(where, "stats.window", static_cast<index_t>(stats.window.size()), in.window,
                        L, what);
}

/// select after check_selection: none for budget 0, all L for budget >= L, else the policy's.
template <kv::eviction_policy Policy>
std::vector<index_t> select_checked(const Policy& policy, const tensor_view<const float, 2>& keys,
                                    const kv::token_stats& stats, index_t L, index_t budget) {
  std::vector<index_t> kept;
  if (budget == 0 || L == 0) return kept;
  if (budget >= L) {
    kept.reserve(static_cast<std::size_t>(L));
    for (index_t i = 0; i < L; ++i) kept.push_back(i);
    return kept;
  }
  return policy.select_unchecked(keys, stats, L, budget);
}

}  // namespace attnkit::detail

namespace attnkit::kv {

/// The positions of one (sequence, kv head) that `policy` keeps within `budget`, ascending:
/// min(budget, L) of them; all of 0 .. L-1 when budget >= L, none when budget is 0.
///
/// L, the number of cached positions, is the longest of keys.extent(0) and the sizes of the
/// stats spans. Every input the policy reads (Policy::kInputs) must have exactly L entries; an
/// input it ignores must have L entries or none. So keys may be the empty view for a policy that
/// ignores them, and a policy that reads nothing (streaming_llm, random) takes L from whichever
/// input is given.
///
/// Ranking (every policy): a higher score first; NaN scores after every number, -inf included;
/// equal scores go to the later (more recent) position. The result depends only on the inputs
/// and the policy's fields (seeds included): the same on every platform.
///
/// @pre keys [L, D], any strides, read only when the policy needs them.
/// Throws attnkit::error naming the argument ("policy.<field>", "budget", "keys",
/// "stats.accumulated", "stats.last", "stats.window") before any work. Complexity: O(L) plus
/// what the policy reads (O(L D) for keys).
template <eviction_policy Policy>
std::vector<index_t> select(const Policy& policy, tensor_view<const float, 2> keys,
                            const token_stats& stats, index_t budget) {
  const index_t L = detail::selection_length(keys, stats);
  detail::check_selection("kv::select", policy, keys, stats, L, budget,
                          "the longest of keys.extent(0) and the stats spans");
  return detail::select_checked(policy, keys, stats, L, budget);
}

}  // namespace attnkit::kv
