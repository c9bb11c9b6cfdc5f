// SPDX-License-Identifier: Apache-2.0
// local_band_layout: the blocks within a given distance of the diagonal (sliding-window attention
// at block granularity).
#pragma once

#include <algorithm>

#include <attnkit/core/error.hpp>
#include <attnkit/sparse/block_grid.hpp>
#include <attnkit/sparse/block_layout_storage.hpp>

namespace attnkit {

namespace detail {

/// Shows, in row block r of head h, key blocks [first, last] clipped to the grid.
inline void show_blocks(block_layout_storage& s, index_t h, index_t r, index_t first, index_t last) {
  for (index_t c = std::max<index_t>(first, 0); c <= std::min(last, s.cols - 1); ++c) s(h, r, c) = 1;
}

/// The band of `width` blocks about the diagonal of row block r: key blocks
/// [diagonal_first(r) - width, diagonal_last(r) + width], or up to diagonal_last(r) when causal.
inline void show_band(block_layout_storage& s, const block_grid& grid, index_t h, index_t r,
                      index_t width, bool causal) {
  const index_t first = grid.diagonal_first(r), last = grid.diagonal_last(r);
  const index_t room = s.cols + 1;  // a wider band covers every column; this one cannot overflow
  show_blocks(s, h, r, first - std::min(width, room), causal ? last : last + std::min(width, room));
}

}  // namespace detail

/// The local band: row block r sees the key blocks within `width` blocks of the key blocks
/// holding its queries' diagonal keys (grid.align sets the diagonal), only those up to the
/// diagonal when `causal`. With block_q == block_k and Sq == Sk that is |c - r| <= width
/// (c <= r causal); width 1 is the 3-block band. One head (it broadcasts).
/// Causal here trims whole blocks; set attention_options::causal as well for the token-level
/// mask inside the diagonal blocks.
/// @pre grid.Sq, grid.Sk >= 0, grid.block_q, grid.block_k >= 1, width >= 0 (checked,
///      attnkit::error). O(rows x cols) time and bytes.
inline block_layout_storage local_band_layout(const block_grid& grid, index_t width,
                                              bool causal = false) {
  constexpr auto where = "local_band_layout";
  detail::check_block_grid(where, grid);
  detail::require(width >= 0, where, "width", ">= 0 (blocks each side of the diagonal)", width);
  block_layout_storage s(1, grid);
  for (index_t r = 0; r < s.rows; ++r) detail::show_band(s, grid, 0, r, width, causal);
  return s;
}

}  // namespace attnkit
