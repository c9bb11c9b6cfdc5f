// SPDX-License-Identifier: Apache-2.0
// block_grid: the block geometry that the layout builders share (sizes, block counts, diagonal).
#pragma once

#include <string_view>

#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/sparse/block_layout.hpp>

namespace attnkit {

/// Sq queries in blocks of block_q and Sk keys in blocks of block_k, with the diagonal of
/// attention_options: query i's diagonal key is i + o, o = Sk - Sq (bottom_right) or 0
/// (top_left). The layout builders place their bands about diagonal_first / diagonal_last.
struct block_grid {
  index_t Sq = 0, Sk = 0;
  index_t block_q = 64, block_k = 64;
  alignment align = alignment::bottom_right;

  /// Query blocks: ceil(Sq / block_q).
  index_t rows() const noexcept { return detail::block_count(Sq, block_q); }
  /// Key blocks: ceil(Sk / block_k).
  index_t cols() const noexcept { return detail::block_count(Sk, block_k); }

  /// The key block holding the diagonal key of the first query of row block r (may be < 0 or
  /// >= cols(): the diagonal leaves the keys).
  index_t diagonal_first(index_t r) const noexcept { return key_block(r * block_q + offset()); }
  /// The key block holding the diagonal key of the last query of row block r.
  index_t diagonal_last(index_t r) const noexcept {
    const index_t last = r + 1 < rows() ? (r + 1) * block_q - 1 : Sq - 1;
    return key_block(last + offset());
  }

 private:
  index_t offset() const noexcept { return align == alignment::bottom_right ? Sk - Sq : 0; }
  index_t key_block(index_t j) const noexcept {  // floor(j / block_k)
    return j >= 0 ? j / block_k : -((-j + block_k - 1) / block_k);
  }
};

namespace detail {

/// The checks of a builder's grid: lengths >= 0, block sizes >= 1.
inline void check_block_grid(std::string_view where, const block_grid& grid) {
  require(grid.Sq >= 0, where, "grid.Sq", ">= 0", grid.Sq);
  require(grid.Sk >= 0, where, "grid.Sk", ">= 0", grid.Sk);
  require(grid.block_q >= 1, where, "grid.block_q", ">= 1", grid.block_q);
  require(grid.block_k >= 1, where, "grid.block_k", ">= 1", grid.block_k);
}

}  // namespace detail
}  // namespace attnkit
