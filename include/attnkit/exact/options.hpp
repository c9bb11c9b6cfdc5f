// SPDX-License-Identifier: Apache-2.0
// attention_options and alignment: the options every exact (softmax) attention entry point takes.
#pragma once

#include <span>

#include <attnkit/core/tensor_view.hpp>

namespace attnkit {

/// Where the causal diagonal and the window offsets are anchored when Sq != Sk.
/// bottom_right (FlashAttention >= 2.1): the last query sees the last key, offset o = Sk - Sq.
/// top_left (PyTorch's is_causal): the first query sees the first key, offset o = 0.
enum class alignment { bottom_right, top_left };

/// Options of exact attention (DESIGN 1.3). For query i and key j, with o the alignment offset:
/// j is visible iff j <= i + o (causal), i + o - window_left <= j (window_left >= 0) and
/// j <= i + o + window_right (window_right >= 0); the logit is
/// z = softcap * tanh(scale * <q_i, k_j> / softcap) + bias[b,h,i,j] - slope[h] * |i + o - j|
/// (softcap only when > 0). A sink logit s_h joins the softmax denominator only.
struct attention_options {
  float scale = 0.0f;                         ///< 0: 1 / sqrt(D)
  bool causal = false;                        ///< the same as window_right = 0
  alignment align = alignment::bottom_right;  ///< anchoring of causal and windows
  index_t window_left = -1;                   ///< -1: unbounded
  index_t window_right = -1;                  ///< -1: unbounded
  float softcap = 0.0f;                       ///< 0: off
  std::span<const float> alibi_slopes{};      ///< empty or one slope per query head
  tensor_view<const float, 4> bias{};         ///< empty or additive [B, Hq, Sq, Sk]; extent 1 or stride 0 broadcasts
  std::span<const float> sinks{};             ///< empty or one sink logit per query head
};

}  // namespace attnkit
