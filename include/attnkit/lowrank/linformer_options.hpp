// SPDX-License-Identifier: Apache-2.0
// linformer_options: the scale of linformer_attention (and its causal flag, which it rejects).
#pragma once

namespace attnkit {

/// Options of linformer_attention (arXiv 2006.04768).
struct linformer_options {
  float scale = 0.0f;   ///< the softmax scale; 0 means 1/sqrt(D)
  bool causal = false;  ///< must stay false: projecting the keys mixes future tokens into every row
};

}  // namespace attnkit
