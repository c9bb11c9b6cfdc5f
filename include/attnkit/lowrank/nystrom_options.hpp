// SPDX-License-Identifier: Apache-2.0
// nystrom_options: landmarks, pseudo-inverse iterations and scale of nystrom_attention.
#pragma once

#include <attnkit/core/tensor_view.hpp>

namespace attnkit {

/// Options of nystrom_attention (Nyströmformer, arXiv 2102.03902).
struct nystrom_options {
  index_t landmarks = 64;  ///< m, in [1, min(Sq, Sk)]: segment means of q and of k
  index_t iterations = 6;  ///< steps of the iterative Moore-Penrose pseudo-inverse, >= 0 (paper: 6)
  float scale = 0.0f;      ///< the softmax scale; 0 means 1/sqrt(D)
  bool causal = false;     ///< must stay false: landmarks average over future tokens
};

}  // namespace attnkit
