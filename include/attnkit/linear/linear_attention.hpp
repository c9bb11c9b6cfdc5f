// SPDX-License-Identifier: Apache-2.0
// linear_attention: unnormalised (or normalised) linear attention, S_t = S_{t-1} + k_t v_tᵀ,
// chunked or recurrent, dense, varlen and one-token steps.
#pragma once

#include <cstdint>
#include <span>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/linear/gla_driver.hpp>
#include <attnkit/linear/linear_options.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit {

/// Linear attention (Katharopoulos et al., arXiv 2006.16236; flash-linear-attention's
/// linear_attn): o_t = S_tᵀ (scale q_t) with S_t = S_{t-1} + k_t v_tᵀ, S_0 = initial_state or 0.
/// opt.causal = false: every o_t uses S_T. opt.normalize: o_t / ((scale q_t) . z_t + 1e-10),
/// z_t = sum_{s<=t} k_s (z_T when not causal); not with states. Equals reference::linear_attention.
/// @pre q, k [B, T, H, K], v, out [B, T, H, V] with unit innermost strides (other strides free);
///      initial_state (empty: zero) and final_state (empty: not written) [B, H, K, V], any
///      strides; final_state may be the very view of initial_state (each state is read whole
///      before it is written). Checked, throwing attnkit::error before anything is written.
/// opt.mode chunked: per chunk of opt.chunk_size tokens GEMMs of O(C K V + C^2 (K + V)), so
/// O(B H T (K V + C (K + V))) time in all; recurrent: O(B H T K V), token by token. fp32
/// arithmetic; threads: get_num_threads() over (batch, head); scratch per thread O(C (K + V + C)
/// + K V) floats.
template <class Arch = default_arch>
void linear_attention(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                      tensor_view<const float, 4> v, tensor_view<float, 4> out,
                      const linear_options& opt = {}, tensor_view<const float, 4> initial_state = {},
                      tensor_view<float, 4> final_state = {}) {
  detail::gla_forward<Arch>("linear_attention", detail::gla_gate::none, q, k, v,
                            tensor_view<const float, 3>{}, out, {}, opt, initial_state,
                            final_state);
}

/// linear_attention over packed sequences: q, k [total, H, K], v, out [total, H, V]; sequence n
/// is rows [cu_seqlens[n], cu_seqlens[n + 1]) (empty sequences allowed), states [N, H, K, V]
/// one per sequence (N = cu_seqlens.size() - 1). Each sequence equals a dense call on it alone.
template <class Arch = default_arch>
void linear_attention(tensor_view<const float, 3> q, tensor_view<const float, 3> k,
                      tensor_view<const float, 3> v, tensor_view<float, 3> out,
                      std::span<const std::int32_t> cu_seqlens, const linear_options& opt = {},
                      tensor_view<const float, 4> initial_state = {},
                      tensor_view<float, 4> final_state = {}) {
  detail::gla_forward<Arch>("linear_attention", detail::gla_gate::none, q, k, v,
                            tensor_view<const float, 2>{}, out, cu_seqlens, opt, initial_state,
                            final_state);
}

/// One generation step per batch entry and head: S = S + k vᵀ on `state` in place, then
/// out = Sᵀ (scale q). q, k [B, H, K], v, out [B, H, V], state [B, H, K, V] (required, any
/// strides). opt.normalize and opt.causal = false are rejected (the state holds no normaliser);
/// opt.mode and chunk_size are ignored. O(B H K V).
template <class Arch = default_arch>
void linear_attention_step(tensor_view<const float, 3> q, tensor_view<const float, 3> k,
                           tensor_view<const float, 3> v, tensor_view<float, 3> out,
                           tensor_view<float, 4> state, const linear_options& opt = {}) {
  detail::gla_step<Arch>("linear_attention_step", detail::gla_gate::none, q, k, v,
                         tensor_view<const float, 2>{}, out, state, opt);
}

}  // namespace attnkit
