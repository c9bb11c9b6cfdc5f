// SPDX-License-Identifier: Apache-2.0
// kv::keyformer, the Gumbel-regularised key-token policy: the newest tokens plus the best of a
// noisy log-attention score.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/kv/eviction_policy.hpp>
#include <attnkit/core/splitmix64.hpp>
#include <attnkit/kv/token_stats.hpp>
#include <attnkit/kv/top_positions.hpp>

namespace attnkit::kv {

/// Keyformer (Adnan et al., arXiv 2403.09054): keep the `recent` newest positions and fill the
/// rest of the budget with the older positions of highest
///   score_i = log(accumulated_i) + temperature * g_i,
/// g_i = -log(-log(u_i)) standard Gumbel noise, u_i = detail::open_unit_interval(
/// detail::splitmix64_at(seed, i)) in (0, 1).
///
/// Our one-shot reading of the paper's regularisation: Keyformer adds Gumbel noise to the logits
/// and accumulates a tempered softmax of them step by step while the cache fills; we select once
/// from the kernel's accumulated attention, so the noise perturbs its logarithm (the
/// Gumbel-max trick: ranking log p + g samples tokens in proportion to p when temperature is 1).
/// temperature 0 is h2o{recent} for non-negative statistics (log is increasing; log 0 = -inf);
/// a negative accumulated value has a NaN score and ranks last. Computed in double; the result
/// depends only on the inputs, recent, temperature and seed.
struct keyformer {
  index_t recent = 0;        ///< newest positions always kept (>= 0)
  float temperature = 1.0f;  ///< Gumbel noise scale (finite, >= 0; 0 = no noise)
  std::uint64_t seed = 0;    ///< the noise's seed

  static constexpr policy_inputs kInputs{.accumulated = true};

  void check(std::string_view where) const {
    detail::require(recent >= 0, where, "policy.recent", ">= 0", recent);
    detail::require(std::isfinite(temperature) && temperature >= 0.0f, where, "policy.temperature",
                    "a finite value >= 0", temperature);
  }

  /// The score of position i whose accumulated attention is `accumulated`.
  double score(index_t i, float accumulated) const {
    const double u =
        detail::open_unit_interval(detail::splitmix64_at(seed, static_cast<std::uint64_t>(i)));
    const double gumbel = -std::log(-std::log(u));
    return std::log(static_cast<double>(accumulated)) + static_cast<double>(temperature) * gumbel;
  }

  /// @pre 0 < budget < L; stats.accumulated has L entries.
  std::vector<index_t> select_unchecked(const tensor_view<const float, 2>&,
                                        const token_stats& stats, index_t L, index_t budget) const {
    return detail::recent_plus_top(L, budget, recent, [&](index_t i) {
      return score(i, stats.accumulated[static_cast<std::size_t>(i)]);
    });
  }
};

}  // namespace attnkit::kv
