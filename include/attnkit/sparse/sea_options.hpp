// SPDX-License-Identifier: Apache-2.0
// sea_options: the knobs of sea_attention (keys kept per query, estimate rank, seed).
#pragma once

#include <cstdint>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit {

/// Options of sea_attention. The estimate of logit z_ij is scale <P q_i, P k_j> (through the
/// score modifiers), P a seeded random [rank x D] projection with orthonormal rows scaled by
/// sqrt(D / rank); each query keeps the top_k keys by the estimate.
struct sea_options {
  index_t top_k = 64;       ///< keys kept per query, >= 1
  index_t rank = 16;        ///< the estimate's dimension r, in [1, D]; r = D gives the exact logits
  std::uint64_t seed = 0;   ///< draws P
};

}  // namespace attnkit
