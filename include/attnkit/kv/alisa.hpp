// SPDX-License-Identifier: Apache-2.0
// kv::alisa, sparse window attention: the newest tokens plus the globally important ones.
#pragma once

#include <string_view>
#include <vector>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/kv/eviction_policy.hpp>
#include <attnkit/kv/token_stats.hpp>
#include <attnkit/kv/top_positions.hpp>

namespace attnkit::kv {

/// ALISA's sparse window attention (Zhao et al., arXiv 2403.17312): keep the `recent` newest
/// positions (the local window) and fill the rest of the budget with the older positions of
/// highest stats.window, the attention the recent queries paid them (the globally important
/// tokens). A budget < recent keeps the newest `budget`. ALISA's dynamic scheduling and KV
/// compression (offload, quantisation) are outside a selection policy.
struct alisa {
  index_t recent = 0;  ///< newest positions always kept (>= 0)

  static constexpr policy_inputs kInputs{.window = true};

  void check(std::string_view where) const {
    detail::require(recent >= 0, where, "policy.recent", ">= 0", recent);
  }

  /// @pre 0 < budget < L; stats.window has L entries.
  std::vector<index_t> select_unchecked(const tensor_view<const float, 2>&,
                                        const token_stats& stats, index_t L, index_t budget) const {
    return detail::recent_plus_top(
        L, budget, recent, [&](index_t i) { return stats.window[static_cast<std::size_t>(i)]; });
  }
};

}  // namespace attnkit::kv
