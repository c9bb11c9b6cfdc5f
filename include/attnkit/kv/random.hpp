// SPDX-License-Identifier: Apache-2.0
// kv::random, the baseline policy: a uniform random subset, fixed by a seed.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/kv/eviction_policy.hpp>
#include <attnkit/core/splitmix64.hpp>
#include <attnkit/kv/token_stats.hpp>
#include <attnkit/kv/top_positions.hpp>

namespace attnkit::kv {

/// Random eviction, the baseline of the papers above (kvpress RandomPress): keep a uniformly
/// random subset of `budget` positions. Position i draws detail::splitmix64_at(seed, i) and the
/// highest draws are kept, so the subset depends only on (seed, L, budget), on every platform,
/// and a larger budget keeps a superset. Reads no statistics and no keys.
struct random {
  std::uint64_t seed = 0;

  static constexpr policy_inputs kInputs{};

  void check(std::string_view) const {}

  /// @pre 0 < budget < L.
  std::vector<index_t> select_unchecked(const tensor_view<const float, 2>&, const token_stats&,
                                        index_t L, index_t budget) const {
    return detail::recent_plus_top(L, budget, 0, [&](index_t i) {
      return detail::splitmix64_at(seed, static_cast<std::uint64_t>(i));
    });
  }
};

}  // namespace attnkit::kv
