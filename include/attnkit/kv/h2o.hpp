// SPDX-License-Identifier: Apache-2.0
// kv::h2o, the heavy-hitter policy: the newest tokens plus those of the highest accumulated
// attention.
#pragma once

#include <string_view>
#include <vector>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/kv/eviction_policy.hpp>
#include <attnkit/kv/token_stats.hpp>
#include <attnkit/kv/top_positions.hpp>

namespace attnkit::kv {

/// H2O, heavy-hitter oracle (Zhang et al., arXiv 2306.14048): keep the `recent` newest positions
/// and fill the rest of the budget with the older positions of highest stats.accumulated (the
/// attention every query so far paid them). A budget < recent keeps the newest `budget`.
struct h2o {
  index_t recent = 0;  ///< newest positions always kept (>= 0)

  static constexpr policy_inputs kInputs{.accumulated = true};

  void check(std::string_view where) const {
    detail::require(recent >= 0, where, "policy.recent", ">= 0", recent);
  }

  /// @pre 0 < budget < L; stats.accumulated has L entries.
  std::vector<index_t> select_unchecked(const tensor_view<const float, 2>&,
                                        const token_stats& stats, index_t L, index_t budget) const {
    return detail::recent_plus_top(L, budget, recent, [&](index_t i) {
      return stats.accumulated[static_cast<std::size_t>(i)];
    });
  }
};

}  // namespace attnkit::kv
