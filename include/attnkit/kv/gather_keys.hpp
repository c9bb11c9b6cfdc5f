// SPDX-License-Identifier: Apache-2.0
// kv::gather_keys, a float copy of the keys one head of a kv_cache holds, for the policies that
// read keys.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/kv/elements.hpp>
#include <attnkit/kv/kv_cache.hpp>

namespace attnkit::detail {

/// Checks b and h of a per-head call on `cache`, naming them for `where`.
template <kv_cache_element C>
void check_cache_head(std::string_view where, const kv_cache<C>& cache, index_t b, index_t h) {
  const kv_cache_config& c = cache.config();
  require(b >= 0 && b < c.batch, where, "b", "a sequence in [0, " + std::to_string(c.batch) + ")",
          b);
  require(h >= 0 && h < c.kv_heads, where, "h",
          "a kv head in [0, " + std::to_string(c.kv_heads) + ")", h);
}

}  // namespace attnkit::detail

namespace attnkit::kv {

/// The keys head h of sequence b holds, as floats, row-major [length(b, h), D]: row s is token s
/// (bf16 and fp16 widened exactly; int8 dequantised as scale * q in float). Read through the
/// cache's views and block table, so it sees exactly what the decode kernel reads.
/// @pre 0 <= b < B, 0 <= h < Hkv (throws attnkit::error naming b or h). O(length x D).
template <kv_cache_element C>
std::vector<float> gather_keys(const kv_cache<C>& cache, index_t b, index_t h) {
  detail::check_cache_head("kv::gather_keys", cache, b, h);
  const kv_cache_config& c = cache.config();
  const index_t L = cache.length(b, h), D = c.head_dim;
  const auto keys = cache.keys();
  const auto table = cache.block_table();
  std::vector<float> out(static_cast<std::size_t>(L * D));
  for (index_t s = 0; s < L; ++s) {
    index_t x = b, r = s;  // the token's first two indices in keys()
    if (c.layout == kv_layout::paged) {
      x = table(b, s / c.block_size);
      r = s % c.block_size;
    }
    float* row = out.data() + s * D;
    if constexpr (std::is_same_v<C, std::int8_t>) {
      const float scale = keys.scales(x, r, h);
      for (index_t d = 0; d < D; ++d) row[d] = scale * static_cast<float>(keys.values(x, r, h, d));
    } else {
      for (index_t d = 0; d < D; ++d) row[d] = static_cast<float>(keys(x, r, h, d));
    }
  }
  return out;
}

}  // namespace attnkit::kv
