// SPDX-License-Identifier: Apache-2.0
// detail::block_layout_visibility: a block_layout as the key visibility policy of the exact
// driver (detail::flash_forward): which driver tiles to skip, and the mask of partly seen ones.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/mask/key_range.hpp>
#include <attnkit/simd/compat.hpp>
#include <attnkit/sparse/block_layout.hpp>

namespace attnkit::detail {

/// The policy of a checked layout for a call of Sq queries and Sk keys. The driver's tiles
/// (kBlockQ x kBlockK) and the layout's blocks need not line up: a tile is skipped when no
/// layout block it overlaps is visible, computed plainly when all are, and masked pair by pair
/// otherwise.
class block_layout_visibility {
 public:
  static constexpr bool kAllVisible = false;
  /// The widest column panel apply() takes (the driver's kCols: 64 floats with AVX-512).
  static constexpr index_t kMaxCols = 64;

  /// The layout as seen by one query head.
  class head_view {
   public:
    head_view(const std::uint8_t* cells, const block_layout& layout, index_t Sk)
        : cells_(cells), stride_r_(layout.mask.stride(1)), stride_c_(layout.mask.stride(2)),
          block_q_(layout.block_q), block_k_(layout.block_k), rows_(layout.mask.extent(1)),
          Sk_(Sk) {}

    /// How the layout treats queries [i0, i1) x keys [j0, j1): O(blocks overlapped), stopping
    /// as soon as it has seen a visible and a hidden one.
    mask::block_kind classify(index_t i0, index_t i1, index_t j0, index_t j1) const noexcept {
      const index_t r1 = row(i1 - 1), c0 = j0 / block_k_, c1 = (j1 - 1) / block_k_;
      bool seen = false, hidden = false;
      for (index_t r = row(i0); r <= r1; ++r)
        for (index_t c = c0; c <= c1; ++c) {
          (cell(r, c) ? seen : hidden) = true;
          if (seen && hidden) return mask::block_kind::partial;
        }
      return seen ? mask::block_kind::full : mask::block_kind::empty;
    }

    /// The smallest [first, second) within [j0, j1) that holds every key some query of
    /// [i0, i1) sees (first >= second: none): the driver narrows its tile to it, so a block
    /// boundary inside a tile costs no masking when the blocks beyond it are hidden.
    std::pair<index_t, index_t> span(index_t i0, index_t i1, index_t j0, index_t j1) const noexcept {
      const index_t r0 = row(i0), r1 = row(i1 - 1);
      const auto column_seen = [&](index_t c) {
        for (index_t r = r0; r <= r1; ++r)
          if (cell(r, c)) return true;
        return false;
      };
      index_t lo = j0 / block_k_, hi = (j1 - 1) / block_k_;
      while (lo <= hi && !column_seen(lo)) ++lo;
      if (lo > hi) return {j0, j0};
      while (!column_seen(hi)) --hi;
      return {std::max(j0, lo * block_k_), std::min(j1, run_end(hi * block_k_))};
    }

    /// One past the last key of key j's block (clipped to Sk).
    index_t run_end(index_t j) const noexcept {
      const index_t start = j - j % block_k_;
      return block_k_ > Sk_ - start ? Sk_ : start + block_k_;
    }

    /// Whether query i sees key j (queries past the last block read the last block).
    bool sees(index_t i, index_t j) const noexcept { return cell(row(i), j / block_k_); }

    /// Hides the pairs of the transposed tile s[r * lds + c] (key j0 + r, query i0 + c; r < rows,
    /// c < cols <= kMaxCols, a multiple of the batch width) that the layout hides (-inf) and
    /// writes the column maxima to col_max, a NaN winning as in the online softmax. One pass,
    /// a select per element; the visibility of each column is looked up once per key block.
    template <class Arch>
    void apply(float* s, index_t lds, index_t rows, index_t cols, index_t j0, index_t i0,
               float* col_max) const noexcept {
      using batch = xsimd::batch<float, Arch>;
      using ibatch = xsimd::batch<std::int32_t, Arch>;
      constexpr index_t w = static_cast<index_t>(batch::size);
      const batch neg_inf(-std::numeric_limits<float>::infinity());
      const ibatch zero(0);
      alignas(64) std::int32_t shown[kMaxCols];
      const std::uint8_t* row_cells[kMaxCols];
      for (index_t c = 0; c < cols; ++c) row_cells[c] = cells_ + row(i0 + c) * stride_r_;
      for (index_t c = 0; c < cols; c += w) neg_inf.store_aligned(col_max + c);
      for (index_t r = 0; r < rows;) {
        const index_t kc = (j0 + r) / block_k_;
        const index_t r_end = std::min(rows, run_end(j0 + r) - j0);
        for (index_t c = 0; c < cols; ++c) shown[c] = row_cells[c][kc * stride_c_] != 0 ? -1 : 0;
        for (; r < r_end; ++r) {
          float* line = s + r * lds;
          for (index_t c = 0; c < cols; c += w) {
            const auto keep = simd::float_mask<Arch>(ibatch::load_aligned(shown + c) != zero);
            const batch x = xsimd::select(keep, batch::load_aligned(line + c), neg_inf);
            x.store_aligned(line + c);
            xsimd::max(batch::load_aligned(col_max + c), x).store_aligned(col_max + c);
          }
        }
      }
    }

   private:
    index_t row(index_t i) const noexcept { return std::min(i / block_q_, rows_ - 1); }
    bool cell(index_t r, index_t c) const noexcept {
      return cells_[r * stride_r_ + c * stride_c_] != 0;
    }

    const std::uint8_t* cells_;
    index_t stride_r_, stride_c_, block_q_, block_k_, rows_, Sk_;
  };

  block_layout_visibility(const block_layout& layout, index_t Sk) : layout_(layout), Sk_(Sk) {}

  /// Query head h's view (head 0 of a mask with one head serves them all).
  head_view head(index_t h) const noexcept {
    const auto& m = layout_.mask;
    return {m.data() + (m.extent(0) == 1 ? 0 : h * m.stride(0)), layout_, Sk_};
  }

 private:
  block_layout layout_;
  index_t Sk_;
};

}  // namespace attnkit::detail
