// SPDX-License-Identifier: Apache-2.0
// longformer_layout: Longformer's pattern (arXiv 2004.05150) in blocks: a sliding window plus
// global blocks that see and are seen by every block.
#pragma once

#include <algorithm>
#include <span>
#include <string>

#include <attnkit/core/error.hpp>
#include <attnkit/sparse/block_grid.hpp>
#include <attnkit/sparse/block_layout_storage.hpp>
#include <attnkit/sparse/local_band_layout.hpp>

namespace attnkit {

namespace detail {

/// Checks global block indices: each in [0, max(rows, cols)).
inline void check_global_blocks(std::string_view where, std::span<const index_t> global_blocks,
                                const block_grid& grid) {
  const index_t n = std::max(grid.rows(), grid.cols());
  for (std::size_t g = 0; g < global_blocks.size(); ++g)
    require(global_blocks[g] >= 0 && global_blocks[g] < n, where, "global_blocks",
            "block indices in [0, " + std::to_string(n) + "); index " + std::to_string(g) + " in it",
            global_blocks[g]);
}

/// Adds Longformer's global blocks to head h: key block g seen by every row block, row block g
/// seeing every key block (blocks after the diagonal left out when causal).
inline void show_global(block_layout_storage& s, const block_grid& grid, index_t h,
                        std::span<const index_t> global_blocks, bool causal) {
  for (index_t g : global_blocks) {
    for (index_t r = 0; r < s.rows && g < s.cols; ++r)
      if (!causal || g <= grid.diagonal_last(r)) s(h, r, g) = 1;
    if (g < s.rows) show_blocks(s, h, g, 0, causal ? grid.diagonal_last(g) : s.cols - 1);
  }
}

}  // namespace detail

/// Longformer's attention (Beltagy et al., arXiv 2004.05150, section 3.1) in blocks: the sliding
/// window is the local band of `width` blocks (local_band_layout), and each global block g is
/// symmetric: key block g is seen by every row block and row block g sees every key block (the
/// paper's global tokens, here whole blocks; index g names a key block and, where g < rows, the
/// row block of the same index). `causal` keeps only blocks up to each row's diagonal. One head.
/// @pre grid as local_band_layout, width >= 0, every global block in [0, max(rows, cols))
///      (checked, attnkit::error). O(rows x cols) time and bytes.
inline block_layout_storage longformer_layout(const block_grid& grid, index_t width,
                                              std::span<const index_t> global_blocks,
                                              bool causal = false) {
  constexpr auto where = "longformer_layout";
  detail::check_block_grid(where, grid);
  detail::require(width >= 0, where, "width", ">= 0 (blocks each side of the diagonal)", width);
  detail::check_global_blocks(where, global_blocks, grid);
  block_layout_storage s(1, grid);
  for (index_t r = 0; r < s.rows; ++r) detail::show_band(s, grid, 0, r, width, causal);
  detail::show_global(s, grid, 0, global_blocks, causal);
  return s;
}

}  // namespace attnkit
