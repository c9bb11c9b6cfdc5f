// SPDX-License-Identifier: Apache-2.0
// strided_layout: the strided pattern of the Sparse Transformer (arXiv 1904.10509) at block
// granularity: a local band plus every stride-th block column counted from the diagonal.
#pragma once

#include <algorithm>

#include <attnkit/core/error.hpp>
#include <attnkit/sparse/block_grid.hpp>
#include <attnkit/sparse/block_layout_storage.hpp>
#include <attnkit/sparse/local_band_layout.hpp>

namespace attnkit {

/// The Sparse Transformer's strided attention (Child et al., arXiv 1904.10509, section 4.3), its
/// two factorised heads merged into one pattern and taken in blocks: row block r sees the local
/// band of `width` blocks (local_band_layout) and every key block c with
/// (diagonal_last(r) - c) mod stride == 0, i.e. the paper's A(2) = {j : (i - j) mod l = 0} with
/// l = stride blocks. When `causal`, only blocks up to diagonal_last(r). One head.
/// @pre grid as local_band_layout, width >= 0, stride >= 1 (checked, attnkit::error).
///      O(rows x cols) time and bytes.
inline block_layout_storage strided_layout(const block_grid& grid, index_t width, index_t stride,
                                           bool causal = false) {
  constexpr auto where = "strided_layout";
  detail::check_block_grid(where, grid);
  detail::require(width >= 0, where, "width", ">= 0 (blocks each side of the diagonal)", width);
  detail::require(stride >= 1, where, "stride", ">= 1 (blocks between strided columns)", stride);
  block_layout_storage s(1, grid);
  for (index_t r = 0; r < s.rows; ++r) {
    detail::show_band(s, grid, 0, r, width, causal);
    const index_t d = grid.diagonal_last(r);
    for (index_t c = 0; c < s.cols; ++c) {
      const index_t rem = (d - c) % stride;  // d - c may be negative: any residue 0 is a match
      if (rem == 0 && !(causal && c > d)) s(0, r, c) = 1;
    }
  }
  return s;
}

}  // namespace attnkit
