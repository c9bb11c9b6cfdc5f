// SPDX-License-Identifier: Apache-2.0
// kv::snapkv, the observation-window policy: the window itself plus the older tokens its queries
// attend to most, pooled over neighbours.
#pragma once

#include <algorithm>
#include <string_view>
#include <vector>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/kv/eviction_policy.hpp>
#include <attnkit/kv/token_stats.hpp>
#include <attnkit/kv/top_positions.hpp>

namespace attnkit::kv {

/// SnapKV (Li et al., arXiv 2404.14469): the last `window` positions (the observation window)
/// are always kept; the P = L - window older positions are ranked by stats.window (the attention
/// the window's queries paid them) average-pooled over `kernel` neighbours, and the best fill the
/// rest of the budget. A budget <= window keeps the newest `budget`.
///
/// Pooling, as the paper's avg_pool1d(kernel, stride 1, padding kernel / 2): pooled_i =
/// (1 / kernel) * sum of stats.window[j] over |j - i| <= kernel / 2 and 0 <= j < P (zero
/// padding past the prefix's edges, counted in the divisor; the window's own positions do not
/// pool into the prefix). Sums run in double; a NaN statistic makes its neighbours' pooled scores
/// NaN, which rank last. O(P min(kernel, 2P)).
struct snapkv {
  index_t window = 64;  ///< observation-window positions always kept (>= 0)
  index_t kernel = 5;   ///< pooling size, odd so the pooling is centred (>= 1; 1 = no pooling)

  static constexpr policy_inputs kInputs{.window = true};

  void check(std::string_view where) const {
    detail::require(window >= 0, where, "policy.window", ">= 0", window);
    detail::require(kernel >= 1 && kernel % 2 == 1, where, "policy.kernel",
                    "an odd size >= 1 (a centred pooling)", kernel);
  }

  /// @pre 0 < budget < L; stats.window has L entries.
  std::vector<index_t> select_unchecked(const tensor_view<const float, 2>&,
                                        const token_stats& stats, index_t L, index_t budget) const {
    const index_t prefix = L - std::min(window, L);
    const index_t radius = std::min(kernel / 2, prefix);
    return detail::recent_plus_top(L, budget, window, [&](index_t i) {
      double sum = 0.0;
      for (index_t j = std::max<index_t>(0, i - radius); j <= std::min(prefix - 1, i + radius); ++j)
        sum += stats.window[static_cast<std::size_t>(j)];
      return sum / static_cast<double>(kernel);
    });
  }
};

}  // namespace attnkit::kv
