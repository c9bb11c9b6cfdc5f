// SPDX-License-Identifier: Apache-2.0
// landmark_options: the options of landmark_attention (block retrieval for decoding).
#pragma once

#include <attnkit/core/tensor_view.hpp>

namespace attnkit {

/// Options of landmark_attention and landmark_blocks (Landmark Attention, arXiv 2305.16300, and
/// RetrievalAttention, arXiv 2409.10516, in spirit). The keys are cut into blocks of
/// block_size; each query scores one summary per block (the mean of its keys) and attends
/// exactly to the keys of its `blocks` best blocks plus its local block.
struct landmark_options {
  index_t block_size = 64;  ///< keys per block, >= 1
  index_t blocks = 4;       ///< retrieved blocks per query besides the local one, >= 0
  bool causal = false;      ///< also only keys j <= i + Sk - Sq (bottom-right, as the exact module)
  float scale = 0.0f;       ///< 0: 1 / sqrt(D)
  /// Empty: the call computes the block means (one pass over k). Given: the output of
  /// landmark_summaries for the same k and block_size, [B, ceil(Sk / block_size), Hkv, D] with
  /// a unit innermost stride, so that a decode loop summarises each block once.
  tensor_view<const float, 4> summaries{};
};

}  // namespace attnkit
