// SPDX-License-Identifier: Apache-2.0
// detail::key_panels: the key rows of every (batch, kv head) packed once per call as transposed
// column panels, the B operand of the score micro-kernel of the top-k family.
#pragma once

#include <cstddef>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/tile/gemm_tile.hpp>
#include <attnkit/tile/pack.hpp>
#include <attnkit/tile/tile_config.hpp>

namespace attnkit::detail {

/// Keys [0, Sk) of `heads` row sources, each packed as panels of kCols keys: panel p of head x is
/// a contiguous [Dk x kCols] block (key p * kCols + c in column c, zero past Sk), so the scores of
/// a query block against a key panel are one tile::gemm call with the panel in L1.
/// Memory: heads * ceil(Sk / kCols) * kCols * Dk floats (a copy of K, or of its projection).
template <class Arch>
class key_panels {
 public:
  static constexpr index_t kCols = tile::tile_config<Arch>::kCols;

  /// row(x) returns {pointer to key 0 of head x, stride between keys} (unit stride within a key).
  template <class RowSource>
  key_panels(index_t heads, index_t Sk, index_t Dk, RowSource&& row)
      : Dk_(Dk), panels_((Sk + kCols - 1) / kCols),
        data_(static_cast<std::size_t>(heads * panels_ * kCols * Dk)) {
    parallel_for(heads, [&](index_t x, int) {
      const auto [first, stride] = row(x);
      tile::pack_transposed_panels<kCols>(first, stride, Sk, Dk, 1.0f, head(x), panels_ * kCols);
    });
  }

  index_t panels() const noexcept { return panels_; }
  const float* panel(index_t x, index_t p) const noexcept { return head(x) + p * Dk_ * kCols; }

  /// s[r * lds + c] = <a row r, key p * kCols + c> for r < rows and panels p in [p0, p1), c
  /// counted from p0 * kCols: a row-major [rows x Dk] operand `a` (leading dimension lda)
  /// against the panels of head x. lds a multiple of kCols, s aligned.
  void scores(index_t x, index_t p0, index_t p1, index_t rows, const float* a, index_t lda,
              float* s, index_t lds) const noexcept {
    using config = tile::tile_config<Arch>;
    for (index_t p = p0; p < p1; ++p)
      tile::gemm<Arch, config::kRows, config::kVecs>(rows, kCols, Dk_, tile::a_operand{a, lda, 1},
                                                     panel(x, p), kCols, s + (p - p0) * kCols,
                                                     lds, nullptr);
  }

 private:
  float* head(index_t x) const noexcept { return data_.data() + x * panels_ * kCols * Dk_; }

  index_t Dk_, panels_;
  aligned_buffer<float> data_;
};

}  // namespace attnkit::detail
