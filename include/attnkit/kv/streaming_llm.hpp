// SPDX-License-Identifier: Apache-2.0
// kv::streaming_llm, the attention-sink policy: the first tokens plus a window of the newest.
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

/// StreamingLLM (Xiao et al., arXiv 2309.17453): keep the first `sinks` positions (the attention
/// sinks) and fill the rest of the budget with the most recent ones. A budget <= sinks keeps the
/// first `budget` positions. Reads no statistics and no keys.
struct streaming_llm {
  index_t sinks = 4;  ///< attention-sink positions kept at the front (>= 0)

  static constexpr policy_inputs kInputs{};

  void check(std::string_view where) const {
    detail::require(sinks >= 0, where, "policy.sinks", ">= 0", sinks);
  }

  /// @pre 0 < budget < L (kv::select handles the rest).
  std::vector<index_t> select_unchecked(const tensor_view<const float, 2>&, const token_stats&,
                                        index_t L, index_t budget) const {
    const index_t front = std::min(sinks, budget);
    std::vector<index_t> kept;
    kept.reserve(static_cast<std::size_t>(budget));
    detail::append_range(kept, 0, front);
    detail::append_range(kept, L - (budget - front), L);
    return kept;
  }
};

}  // namespace attnkit::kv
