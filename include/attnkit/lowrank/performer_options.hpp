// SPDX-License-Identifier: Apache-2.0
// performer_options: the random-feature count, seed, scale and masking of performer_attention.
#pragma once

#include <cstdint>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit {

/// Options of performer_attention (FAVOR+, arXiv 2009.14794).
struct performer_options {
  index_t features = 256;  ///< random features m >= 1 (orthogonal blocks of D directions)
  std::uint64_t seed = 0;  ///< the features' seed: equal seeds give bit-equal results
  bool causal = false;     ///< query i sees keys j <= i (requires Sq == Sk)
  float scale = 0.0f;      ///< the softmax temperature s of exp(s q . k); 0 means 1/sqrt(D)
};

}  // namespace attnkit
