// SPDX-License-Identifier: Apache-2.0
// kv::think, query-driven key channel pruning: select_channels ranks a head's key channels,
// prune_channels zeroes the others in a kv_cache.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/kv/elements.hpp>
#include <attnkit/kv/gather_keys.hpp>
#include <attnkit/kv/kv_cache.hpp>
#include <attnkit/kv/top_positions.hpp>

namespace attnkit::kv {

/// ThinK (Xu et al., arXiv 2407.21018): prune the key channels that matter least to the recent
/// queries. Channel j of a head scores ||Q[:, j]||_2 * ||K[:, j]||_2 = ||Q[:, j] K[:, j]^T||_F,
/// the magnitude of its contribution to the scores Q K^T, with Q the observation window's
/// queries of the head's GQA group and K the cached keys. The channels of highest score are kept
/// (ranked as kv::select ranks positions: NaN last, ties to the higher channel).
struct think {};

}  // namespace attnkit::kv

namespace attnkit::detail {

inline void check_think(std::string_view where, const tensor_view<const float, 2>& keys,
                        const tensor_view<const float, 2>& queries, index_t channel_budget) {
  require(keys.data() != nullptr || keys.empty(), where, "keys",
          "non-null data for a non-empty view", "nullptr");
  require(queries.data() != nullptr || queries.empty(), where, "queries",
          "non-null data for a non-empty view", "nullptr");
  require(queries.extent(1) == keys.extent(1), where, "queries",
          "extent(1) == " + std::to_string(keys.extent(1)) + " (D, the head dim of the keys)",
          queries.extent(1));
  require(channel_budget >= 0, where, "channel_budget", ">= 0", channel_budget);
}

/// select_channels after its checks.
inline std::vector<index_t> select_channels_unchecked(const tensor_view<const float, 2>& keys,
                                                      const tensor_view<const float, 2>& queries,
                                                      index_t channel_budget) {
  const index_t D = keys.extent(1);
  const auto column_norm = [](const tensor_view<const float, 2>& x, index_t j) {
    double sum = 0.0;
    for (index_t i = 0; i < x.extent(0); ++i) sum += static_cast<double>(x(i, j)) * x(i, j);
    return std::sqrt(sum);
  };
  std::vector<index_t> kept;
  detail::append_top(kept, 0, D, channel_budget,
                     [&](index_t j) { return column_norm(queries, j) * column_norm(keys, j); });
  std::sort(kept.begin(), kept.end());
  return kept;
}

}  // namespace attnkit::detail

namespace attnkit::kv {

/// The min(channel_budget, D) key channels ThinK keeps, ascending.
/// @pre keys [L, D], queries [W, D] (the observation window's queries of the group; W may be 0,
/// then every score is 0 and the highest channels win the tie), any strides; channel_budget >= 0.
/// Throws attnkit::error naming the argument. O((L + W) D).
inline std::vector<index_t> select_channels(const think&, tensor_view<const float, 2> keys,
                                            tensor_view<const float, 2> queries,
                                            index_t channel_budget) {
  detail::check_think("kv::select_channels", keys, queries, channel_budget);
  return detail::select_channels_unchecked(keys, queries, channel_budget);
}

/// ThinK applied to head h of sequence b: selects the channels from the head's cached keys
/// (gather_keys) and `queries`, zeroes the others in every cached key row
/// (kv_cache::zero_key_channels: attention then equals attention over the kept channels; memory
/// is not reclaimed; int8 rows keep their scales) and returns the kept channels, ascending.
/// Tokens appended later keep every channel; call again to prune them.
/// @pre 0 <= b < B, 0 <= h < Hkv; queries [W, D]; channel_budget >= 0. Throws attnkit::error
/// naming the argument before the cache changes. O((L + W) D).
template <kv_cache_element C>
std::vector<index_t> prune_channels(kv_cache<C>& cache, index_t b, index_t h, const think&,
                                    tensor_view<const float, 2> queries, index_t channel_budget) {
  constexpr const char* kWhere = "kv::prune_channels";
  detail::check_cache_head(kWhere, cache, b, h);
  const index_t L = cache.length(b, h), D = cache.config().head_dim;
  const std::vector<float> rows = gather_keys(cache, b, h);
  const tensor_view<const float, 2> keys(rows.data(), {L, D});
  detail::check_think(kWhere, keys, queries, channel_budget);
  std::vector<index_t> kept = detail::select_channels_unchecked(keys, queries, channel_budget);
  std::vector<index_t> pruned;
  pruned.reserve(static_cast<std::size_t>(D) - kept.size());
  std::size_t next = 0;
  for (index_t j = 0; j < D; ++j) {
    if (next < kept.size() && kept[next] == j)
      ++next;
    else
      pruned.push_back(j);
  }
  cache.zero_key_channels(b, h, pruned);
  return kept;
}

}  // namespace attnkit::kv
