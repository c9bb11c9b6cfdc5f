// SPDX-License-Identifier: Apache-2.0
// kv::evict, an eviction policy applied in place to one head of a kv_cache.
#pragma once

#include <string>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/kv/elements.hpp>
#include <attnkit/kv/eviction_policy.hpp>
#include <attnkit/kv/gather_keys.hpp>
#include <attnkit/kv/kv_cache.hpp>
#include <attnkit/kv/select.hpp>
#include <attnkit/kv/token_stats.hpp>

namespace attnkit::kv {

/// Keeps in head h of sequence b the positions kv::select(policy, keys, stats, budget) chooses
/// (L = cache.length(b, h); keys gathered as floats by gather_keys only when the policy reads
/// them) and compacts the head with cache.keep, rows moved bit for bit. Returns the kept
/// positions, ascending, the old position of each new token; pass them to kv::compact to keep a
/// per-position statistic aligned with the head.
///
/// @pre 0 <= b < B, 0 <= h < Hkv; budget >= 0; every stats span the policy reads has L entries,
/// the others L or none (as kv::select). Throws attnkit::error naming the argument before the
/// cache changes. O(L) plus the policy's work, plus O(L D) when it reads keys.
template <kv_cache_element C, eviction_policy Policy>
std::vector<index_t> evict(kv_cache<C>& cache, index_t b, index_t h, const Policy& policy,
                           const token_stats& stats, index_t budget) {
  constexpr const char* kWhere = "kv::evict";
  detail::check_cache_head(kWhere, cache, b, h);
  const index_t L = cache.length(b, h);
  std::vector<float> key_rows;
  tensor_view<const float, 2> keys;
  if constexpr (Policy::kInputs.keys) {
    key_rows = gather_keys(cache, b, h);
    keys = tensor_view<const float, 2>(key_rows.data(), {L, cache.config().head_dim});
  }
  detail::check_selection(kWhere, policy, keys, stats, L, budget,
                          "the tokens head h of sequence b holds");
  std::vector<index_t> kept = detail::select_checked(policy, keys, stats, L, budget);
  cache.keep(b, h, kept);
  return kept;
}

}  // namespace attnkit::kv
