// SPDX-License-Identifier: Apache-2.0
// linear_mode and linear_options: how the linear-attention family (linear, simple_gla, gla,
// delta_rule, gated_delta_rule) is computed.
#pragma once

#include <attnkit/core/tensor_view.hpp>

namespace attnkit {

/// chunked: chunkwise-parallel (GEMM-shaped within a chunk, a state carried between chunks);
/// recurrent: token by token, the form decoding uses. Both compute the same recurrence.
enum class linear_mode { chunked, recurrent };

/// Options of the linear-attention family (flash-linear-attention's conventions).
struct linear_options {
  float scale = 0.0f;       ///< applied to q; 0 means 1/sqrt(K)
  bool causal = true;       ///< false: every output sees every token (linear_attention only)
  bool normalize = false;   ///< divide by (scale q_t) . z_t, z_t = sum of the keys seen (linear_attention only)
  linear_mode mode = linear_mode::chunked;
  index_t chunk_size = 64;  ///< tokens per chunk of the chunked mode, in [1, 1024]
};

}  // namespace attnkit
