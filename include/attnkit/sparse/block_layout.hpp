// SPDX-License-Identifier: Apache-2.0
// block_layout: which (query block, key block) pairs block-sparse attention visits, and its checks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/arguments.hpp>

namespace attnkit {

/// A block-sparse attention pattern: queries in blocks of block_q, keys in blocks of block_k,
/// and mask(h, r, c) != 0 when the queries of block r of head h see the keys of block c.
/// mask is [1 or Hq, ceil(Sq / block_q), ceil(Sk / block_k)] with any strides; an extent of 1
/// in dimension 0 serves every query head. The last block of each dimension may be short.
/// Non-owning: the owning form is block_layout_storage.
struct block_layout {
  index_t block_q = 64, block_k = 64;
  tensor_view<const std::uint8_t, 3> mask;
};

namespace detail {

/// ceil(n / block) for n >= 0, block >= 1, without overflow.
constexpr index_t block_count(index_t n, index_t block) noexcept {
  return n / block + (n % block != 0 ? 1 : 0);
}

/// Checks a layout against a call with Hq query heads, Sq queries and Sk keys: block sizes
/// >= 1, non-null mask data when it has cells, extents [1 or Hq, ceil(Sq / block_q),
/// ceil(Sk / block_k)].
inline void check_block_layout(std::string_view where, const block_layout& layout, index_t Hq,
                               index_t Sq, index_t Sk) {
  require(layout.block_q >= 1, where, "layout.block_q", ">= 1", layout.block_q);
  require(layout.block_k >= 1, where, "layout.block_k", ">= 1", layout.block_k);
  const auto& m = layout.mask;
  require(m.extent(0) == 1 || m.extent(0) == Hq, where, "layout.mask",
          "extent(0) == 1 or " + std::to_string(Hq) + " (the query heads of q)", m.extent(0));
  check_extent(where, "layout.mask", m, 1, block_count(Sq, layout.block_q),
               "ceil(Sq / block_q) with Sq = " + std::to_string(Sq));
  check_extent(where, "layout.mask", m, 2, block_count(Sk, layout.block_k),
               "ceil(Sk / block_k) with Sk = " + std::to_string(Sk));
  check_view(where, "layout.mask", m, false);
}

}  // namespace detail
}  // namespace attnkit
