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
  /// Keys per block: the score tile (kBlockK x kCols per panel) and the copied K and V rows.
  static constexpr index_t kBlockK = 96;
  /// At most this many query blocks per task: the key loop runs outermost over a chunk of query
  /// blocks, so each K, V block is copied once per chunk instead of once per query block. At
  /// N = 2048, D = 128 on Zen 3, 96 keys x 8 blocks ran 5-7% faster than 192 x 4 (fewer copies,
  /// a smaller K, V block in L2); chunks of 2 were 10% slower. Calls with little work use
  /// smaller chunks so that every thread gets tasks.
  static constexpr index_t kMaxBlocksPerChunk = 8;
};

}  // namespace attnkit::tile
