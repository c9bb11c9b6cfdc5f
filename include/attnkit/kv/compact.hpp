// SPDX-License-Identifier: Apache-2.0
// kv::compact, the keep() of a per-position array: keeps statistics aligned with a cache head
// after eviction.
#pragma once

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>

namespace attnkit::kv {

/// Moves values[kept[i]] to values[i] for every i, in order, and returns the first kept.size()
/// elements: what kv_cache::keep does to a head's rows, done to a per-position array (the
/// accumulated attention of that head), so position i of the result describes token i of the
/// compacted head. Elements past kept.size() are reset to T{} (0), so a fixed-capacity
/// statistic that the decode kernel keeps adding to (attention_sum) starts each later token
/// from zero instead of inheriting an evicted token's sum.
/// @pre kept strictly ascending, each < values.size() (throws attnkit::error naming `kept`,
/// before anything moves). O(values.size()).
template <class T>
std::span<T> compact(std::span<T> values, std::span<const index_t> kept) {
  constexpr const char* kWhere = "kv::compact";
  const auto size = static_cast<index_t>(values.size());
  for (std::size_t i = 0; i < kept.size(); ++i) {
    const auto element = [&] { return "kept[" + std::to_string(i) + "]"; };
    if (kept[i] < 0 || kept[i] >= size)
      detail::throw_argument_error(
          kWhere, "kept", element() + " in [0, " + std::to_string(size) + ") (values.size())",
          kept[i]);
    if (i > 0 && kept[i] <= kept[i - 1])
      detail::throw_argument_error(
          kWhere, "kept",
          "strictly ascending positions; " + element() + " > " + std::to_string(kept[i - 1]),
          kept[i]);
  }
  // Forward in place is safe: kept[i] >= i, and slot i is never a later source.
  for (std::size_t i = 0; i < kept.size(); ++i)
    values[i] = values[static_cast<std::size_t>(kept[i])];
  std::fill(values.begin() + static_cast<std::ptrdiff_t>(kept.size()), values.end(), T{});
  return values.first(kept.size());
}

/// compact() of a vector, resized to kept.size().
template <class T>
void compact(std::vector<T>& values, std::span<const index_t> kept) {
  const std::size_t n = compact(std::span<T>(values), kept).size();
  values.resize(n);
}

}  // namespace attnkit::kv
