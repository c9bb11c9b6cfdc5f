// SPDX-License-Identifier: Apache-2.0
// kv::tova, the token-omission policy: the tokens the latest query attends to most.
#pragma once

#include <string_view>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/kv/eviction_policy.hpp>
#include <attnkit/kv/token_stats.hpp>
#include <attnkit/kv/top_positions.hpp>

namespace attnkit::kv {

/// TOVA, token omission via attention (Oren et al., arXiv 2401.06104): keep the positions of
/// highest stats.last, the attention of the latest query (summed over the group's query heads,
/// as the paper averages over heads). Applied once per eviction it is the paper's drop-the-lowest
/// step repeated until the budget is met.
struct tova {
  static constexpr policy_inputs kInputs{.last = true};

  void check(std::string_view) const {}

  /// @pre 0 < budget < L; stats.last has L entries.
  std::vector<index_t> select_unchecked(const tensor_view<const float, 2>&,
                                        const token_stats& stats, index_t L, index_t budget) const {
    return detail::recent_plus_top(
        L, budget, 0, [&](index_t i) { return stats.last[static_cast<std::size_t>(i)]; });
  }
};

}  // namespace attnkit::kv
