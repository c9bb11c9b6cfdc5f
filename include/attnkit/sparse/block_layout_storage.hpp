// SPDX-License-Identifier: Apache-2.0
// block_layout_storage: an owning block-sparse layout, what the layout builders return.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/sparse/block_grid.hpp>
#include <attnkit/sparse/block_layout.hpp>

namespace attnkit {

/// The cells of a layout [heads, rows, cols] (row-major, 1 = visible) and its block sizes.
/// layout() views it for block_sparse_attention; the view lives as long as this object and
/// its cells are not resized.
struct block_layout_storage {
  index_t block_q = 64, block_k = 64;
  index_t heads = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> cells;

  block_layout_storage() = default;
  /// heads x grid.rows() x grid.cols() cells, all hidden.
  block_layout_storage(index_t n_heads, const block_grid& grid)
      : block_q(grid.block_q), block_k(grid.block_k), heads(n_heads), rows(grid.rows()),
        cols(grid.cols()), cells(static_cast<std::size_t>(heads * rows * cols), 0) {}

  std::uint8_t& operator()(index_t h, index_t r, index_t c) {
    return cells[static_cast<std::size_t>((h * rows + r) * cols + c)];
  }
  std::uint8_t operator()(index_t h, index_t r, index_t c) const {
    return cells[static_cast<std::size_t>((h * rows + r) * cols + c)];
  }

  /// The non-owning view block_sparse_attention takes.
  block_layout layout() const {
    return {block_q, block_k, tensor_view<const std::uint8_t, 3>(cells.data(), {heads, rows, cols})};
  }

  /// Visible cells over all heads.
  index_t visible_blocks() const {
    return static_cast<index_t>(std::count_if(cells.begin(), cells.end(),
                                              [](std::uint8_t x) { return x != 0; }));
  }
  /// visible_blocks() / (heads rows cols), 0 without cells: about the fraction of the dense
  /// work that block-sparse attention does (exactly, when the block sizes divide Sq and Sk).
  double visible_fraction() const {
    return cells.empty() ? 0.0 : double(visible_blocks()) / double(cells.size());
  }
};

}  // namespace attnkit
