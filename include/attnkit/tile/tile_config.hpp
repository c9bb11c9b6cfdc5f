// SPDX-License-Identifier: Apache-2.0
// tile::tile_config: the register tile and cache block sizes of the exact kernels, per arch.
#pragma once

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit::tile {

/// Register tile kRows x (kVecs batches) and the query / key block sizes of the flash kernels.
/// Queries are the columns of every tile (the transposed formulation), so kBlockQ is a multiple
/// of the tile width and kBlockK of nothing in particular.
template <class Arch>
struct tile_config {
  static constexpr index_t kWidth = static_cast<index_t>(xsimd::batch<float, Arch>::size);
  /// 6 rows x 2 batches: 12 accumulators of AVX2's 16 registers, or 6 x 4 = 24 of AVX-512's 32.
  static constexpr int kRows = 6;
  static constexpr int kVecs = simd::is_avx512<Arch> ? 4 : 2;
  static constexpr index_t kCols = kVecs * kWidth;
  /// Queries per block: the transposed Q block (D x kBlockQ) and the output accumulators
  /// (Dv x kBlockQ) stay in L1/L2 across all key blocks.
  static constexpr index_t kBlockQ = kCols * (simd::is_avx512<Arch> ? 1 : 4);
  /// Keys per block: the score tile (kBlockK x kBlockQ) and the copied K and V rows.
  static constexpr index_t kBlockK = 192;
  /// Queries per task: the key loop runs outermost over a chunk of query blocks, so each K, V
  /// block is copied once per chunk instead of once per query block.
  static constexpr index_t kChunkQ = 4 * kBlockQ;
};

}  // namespace attnkit::tile
