// SPDX-License-Identifier: Apache-2.0
// lsh_options: the options of lsh_attention (Reformer's angular LSH buckets).
#pragma once

#include <cstdint>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit {

/// Options of lsh_attention and lsh_buckets (Reformer, arXiv 2001.04451). Each hash round r
/// draws a seeded Gaussian rotation R_r [D, buckets / 2] and hashes a row x to
/// argmax([x R_r ; -x R_r]); a query attends exactly to the keys that share its bucket in at
/// least one round.
struct lsh_options {
  index_t buckets = 16;    ///< buckets per round: 1 (everything shares it: exact) or even, >= 2
  index_t hashes = 2;      ///< hash rounds, >= 1
  std::uint64_t seed = 0;  ///< draws the rotations
  bool causal = false;     ///< also only keys j <= i + Sk - Sq (bottom-right, as the exact module)
  float scale = 0.0f;      ///< 0: 1 / sqrt(D)
};

}  // namespace attnkit
