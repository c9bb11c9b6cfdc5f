// SPDX-License-Identifier: Apache-2.0
// probsparse_options: the knobs of probsparse_attention (Informer's sampling factor, causality,
// sample sizes, seed).
#pragma once

#include <cstdint>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/options.hpp>

namespace attnkit {

/// Options of probsparse_attention. With c = factor: each query's sparsity measure is estimated
/// on U = c ceil(ln Sk) sampled keys and the u = c ceil(ln Sq) queries of largest measure get
/// exact attention (Informer's defaults; both at least 1, u at most Sq).
struct probsparse_options {
  index_t factor = 5;                         ///< c, >= 1
  bool causal = false;                        ///< query i sees keys j <= i + o only
  alignment align = alignment::bottom_right;  ///< o = Sk - Sq (bottom_right) or 0 (top_left)
  float scale = 0.0f;                         ///< 0: 1 / sqrt(D)
  index_t sample_keys = 0;     ///< U override (0: c ceil(ln Sk)); U >= the visible keys: all of them
  index_t active_queries = 0;  ///< u override (0: c ceil(ln Sq)); clamped to Sq
  std::uint64_t seed = 0;      ///< draws the key samples
};

}  // namespace attnkit
