// SPDX-License-Identifier: Apache-2.0
// detail::gla_state: the [K, V] state of one segment in a padded, aligned scratch, and its load
// from the initial state and store to the final state.
#pragma once

#include <algorithm>
#include <cstddef>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/linear/gla_segment.hpp>

namespace attnkit::detail {

/// `n` rounded up to a multiple of `m`.
constexpr index_t gla_round_up(index_t n, index_t m) { return (n + m - 1) / m * m; }

/// Columns of every padded row (values, state): a multiple of 16 floats, so that any register
/// tile of 8 or 16 columns divides it, with one more column when `normalize` (the ones column
/// whose state column accumulates z = sum of the keys).
constexpr index_t gla_padded_v(index_t V, bool normalize) {
  return gla_round_up(V + (normalize ? 1 : 0), 16);
}

/// S [K x Vp] fp32, row d at data + d * Vp; columns past V are zero except the z column.
struct gla_state {
  index_t K = 0, V = 0, Vp = 0;
  aligned_buffer<float> s;

  gla_state(index_t K_, index_t V_, bool normalize)
      : K(K_), V(V_), Vp(gla_padded_v(V_, normalize)), s(static_cast<std::size_t>(K_ * Vp)) {}

  float* row(index_t d) const { return s.data() + d * Vp; }

  /// S = the segment's initial state, or zero. Read whole before anything is written, so the
  /// final state may be the same memory.
  void load(const gla_segment& seg) const {
    std::fill(s.data(), s.data() + K * Vp, 0.0f);
    if (seg.s0 == nullptr) return;
    for (index_t d = 0; d < K; ++d)
      for (index_t j = 0; j < V; ++j) row(d)[j] = seg.s0[d * seg.s0_k + j * seg.s0_v];
  }

  /// The final state = S, when the segment asks for it.
  void store(const gla_segment& seg) const {
    if (seg.s1 == nullptr) return;
    for (index_t d = 0; d < K; ++d)
      for (index_t j = 0; j < V; ++j) seg.s1[d * seg.s1_k + j * seg.s1_v] = row(d)[j];
  }
};

}  // namespace attnkit::detail
