// SPDX-License-Identifier: Apache-2.0
// scatterbrain_options: the low-rank (random features) and sparse (local band) budgets of
// scatterbrain_attention.
#pragma once

#include <cstdint>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit {

/// Options of scatterbrain_attention (arXiv 2110.15343).
struct scatterbrain_options {
  index_t features = 256;  ///< random features m >= 1 of the Performer (low-rank) part
  std::uint64_t seed = 0;  ///< the features' seed
  index_t window = 32;     ///< the exact band: keys j with |i + Sk - Sq - j| <= window, >= 0
  bool causal = false;     ///< query i sees keys j <= i (requires Sq == Sk); the band keeps its left half
  float scale = 0.0f;      ///< the softmax scale; 0 means 1/sqrt(D)
};

}  // namespace attnkit
