// SPDX-License-Identifier: Apache-2.0
// bigbird_layout: BigBird's pattern (arXiv 2007.14062) in blocks: window, global blocks and a
// seeded draw of random blocks per row.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include <attnkit/core/error.hpp>
#include <attnkit/core/splitmix64.hpp>
#include <attnkit/sparse/block_grid.hpp>
#include <attnkit/sparse/block_layout_storage.hpp>
#include <attnkit/sparse/local_band_layout.hpp>
#include <attnkit/sparse/longformer_layout.hpp>

namespace attnkit {

/// BigBird's block-sparse attention (Zaheer et al., arXiv 2007.14062, section 2 and appendix D):
/// the Longformer pattern (longformer_layout: band of `width` blocks and global blocks) plus,
/// in every row block of every head, `random_blocks` key blocks drawn uniformly without
/// replacement among the blocks the row does not see yet (fewer when fewer are left; only
/// blocks up to the diagonal when `causal`). The draw of (head h, row r) is a partial
/// Fisher-Yates shuffle driven by splitmix64 at seed splitmix64_at(seed, h rows + r): the same
/// layout for the same arguments on every platform, independent draws for other heads and rows.
/// @pre grid as local_band_layout, width >= 0, global blocks as longformer_layout,
///      random_blocks >= 0, heads >= 1 (checked, attnkit::error). O(heads x rows x cols) time
///      and bytes.
inline block_layout_storage bigbird_layout(const block_grid& grid, index_t width,
                                           std::span<const index_t> global_blocks,
                                           index_t random_blocks, std::uint64_t seed,
                                           index_t heads = 1, bool causal = false) {
  constexpr auto where = "bigbird_layout";
  detail::check_block_grid(where, grid);
  detail::require(width >= 0, where, "width", ">= 0 (blocks each side of the diagonal)", width);
  detail::check_global_blocks(where, global_blocks, grid);
  detail::require(random_blocks >= 0, where, "random_blocks", ">= 0 (per row block)", random_blocks);
  detail::require(heads >= 1, where, "heads", ">= 1", heads);
  block_layout_storage s(heads, grid);
  std::vector<index_t> candidates;
  for (index_t h = 0; h < heads; ++h) {
    for (index_t r = 0; r < s.rows; ++r) detail::show_band(s, grid, h, r, width, causal);
    detail::show_global(s, grid, h, global_blocks, causal);
    for (index_t r = 0; r < s.rows; ++r) {
      candidates.clear();
      const index_t end = causal ? std::min(grid.diagonal_last(r) + 1, s.cols) : s.cols;
      for (index_t c = 0; c < end; ++c)
        if (!s(h, r, c)) candidates.push_back(c);
      const auto n = static_cast<index_t>(candidates.size());
      const std::uint64_t stream = detail::splitmix64_at(seed, static_cast<std::uint64_t>(h * s.rows + r));
      // Partial Fisher-Yates: position t takes a uniform pick of [t, n); x mod m is biased by at
      // most m / 2^64.
      for (index_t t = 0; t < std::min(random_blocks, n); ++t) {
        const auto m = static_cast<std::uint64_t>(n - t);
        const auto pick = t + static_cast<index_t>(detail::splitmix64_at(stream, std::uint64_t(t)) % m);
        std::swap(candidates[std::size_t(t)], candidates[std::size_t(pick)]);
        s(h, r, candidates[std::size_t(t)]) = 1;
      }
    }
  }
  return s;
}

}  // namespace attnkit
