// SPDX-License-Identifier: Apache-2.0
// simple_gla: gated linear attention with one log decay per token and head (RetNet / Lightning
// style, flash-linear-attention's simple_gla), chunked or recurrent, dense, varlen and steps.
#pragma once

#include <cstdint>
#include <span>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/linear/gla_driver.hpp>
#include <attnkit/linear/linear_options.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit {

/// Gated linear attention with scalar gates: S_t = e^{g_t} S_{t-1} + k_t v_tᵀ, o_t = S_tᵀ
/// (scale q_t), S_0 = initial_state or 0. Equals reference::simple_gla.
/// @pre q, k [B, T, H, K], v, out [B, T, H, V] (unit innermost strides), g [B, T, H] log decays
///      (any strides; g <= 0 for the stability below), states [B, H, K, V] as linear_attention
///      (final_state may be the view of initial_state). opt.causal must be true and
///      opt.normalize false. Checked, throwing attnkit::error before anything is written.
/// Chunked: the intra-chunk mask is e^{b_i - b_j} (j <= i) of the cumulative gates b within
/// the chunk, the decays of queries and keys e^{b_i} and e^{b_C - b_j}: every exponent <= 0,
/// so any decay (e^{-30} per token, gates of 0, long sequences) stays finite. Cost as
/// linear_attention.
template <class Arch = default_arch>
void simple_gla(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                tensor_view<const float, 4> v, tensor_view<const float, 3> g,
                tensor_view<float, 4> out, const linear_options& opt = {},
                tensor_view<const float, 4> initial_state = {},
                tensor_view<float, 4> final_state = {}) {
  detail::gla_forward<Arch>("simple_gla", detail::gla_gate::scalar, q, k, v, g, out, {}, opt,
                            initial_state, final_state);
}

/// simple_gla over packed sequences: q, k [total, H, K], v, out [total, H, V], g [total, H],
/// cu_seqlens as linear_attention's varlen call, states [N, H, K, V].
template <class Arch = default_arch>
void simple_gla(tensor_view<const float, 3> q, tensor_view<const float, 3> k,
                tensor_view<const float, 3> v, tensor_view<const float, 2> g,
                tensor_view<float, 3> out, std::span<const std::int32_t> cu_seqlens,
                const linear_options& opt = {}, tensor_view<const float, 4> initial_state = {},
                tensor_view<float, 4> final_state = {}) {
  detail::gla_forward<Arch>("simple_gla", detail::gla_gate::scalar, q, k, v, g, out, cu_seqlens,
                            opt, initial_state, final_state);
}

/// One generation step: S = e^{g} S + k vᵀ on `state` in place, out = Sᵀ (scale q). q, k
/// [B, H, K], v, out [B, H, V], g [B, H], state [B, H, K, V]. O(B H K V).
template <class Arch = default_arch>
void simple_gla_step(tensor_view<const float, 3> q, tensor_view<const float, 3> k,
                     tensor_view<const float, 3> v, tensor_view<const float, 2> g,
                     tensor_view<float, 3> out, tensor_view<float, 4> state,
                     const linear_options& opt = {}) {
  detail::gla_step<Arch>("simple_gla_step", detail::gla_gate::scalar, q, k, v, g, out, state, opt);
}

}  // namespace attnkit
