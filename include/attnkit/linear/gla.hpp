// SPDX-License-Identifier: Apache-2.0
// gla: gated linear attention with a log decay per token, head and key dim (GLA, arXiv
// 2312.06635), chunked or recurrent, dense, varlen and one-token steps.
#pragma once

#include <cstdint>
#include <span>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/linear/gla_driver.hpp>
#include <attnkit/linear/linear_options.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit {

/// Gated linear attention (arXiv 2312.06635): S_t = diag(e^{gk_t}) S_{t-1} + k_t v_tᵀ,
/// o_t = S_tᵀ (scale q_t), S_0 = initial_state or 0. Equals reference::gla.
/// @pre q, k, gk [B, T, H, K] (gk: log decays, any strides; gk <= 0 for the stability below),
///      v, out [B, T, H, V] (unit innermost strides), states [B, H, K, V] as linear_attention
///      (final_state may be the view of initial_state). opt.causal must be true and
///      opt.normalize false. Checked, throwing attnkit::error before anything is written.
/// Chunked: inter-chunk and state GEMMs with decays e^{b_i} and e^{b_C - b_j} (exponents <= 0);
/// intra-chunk scores by one GEMM about the middle of the chunk's gate span when it is at most
/// 60 nats per key dim, else by sub-chunks of 16 (blocks below the diagonal about the gate
/// before the block, diagonal blocks with e^{b_i - b_j} directly), so any decay stays finite.
/// Cost as linear_attention, plus O(C K) exponentials per chunk (O(C K x 16) under strong decay).
template <class Arch = default_arch>
void gla(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
         tensor_view<const float, 4> v, tensor_view<const float, 4> gk, tensor_view<float, 4> out,
         const linear_options& opt = {}, tensor_view<const float, 4> initial_state = {},
         tensor_view<float, 4> final_state = {}) {
  detail::gla_forward<Arch>("gla", detail::gla_gate::vector, q, k, v, gk, out, {}, opt,
                            initial_state, final_state);
}

/// gla over packed sequences: q, k, gk [total, H, K], v, out [total, H, V], cu_seqlens as
/// linear_attention's varlen call, states [N, H, K, V].
template <class Arch = default_arch>
void gla(tensor_view<const float, 3> q, tensor_view<const float, 3> k,
         tensor_view<const float, 3> v, tensor_view<const float, 3> gk, tensor_view<float, 3> out,
         std::span<const std::int32_t> cu_seqlens, const linear_options& opt = {},
         tensor_view<const float, 4> initial_state = {}, tensor_view<float, 4> final_state = {}) {
  detail::gla_forward<Arch>("gla", detail::gla_gate::vector, q, k, v, gk, out, cu_seqlens, opt,
                            initial_state, final_state);
}

/// One generation step: S = diag(e^{gk}) S + k vᵀ on `state` in place, out = Sᵀ (scale q).
/// q, k, gk [B, H, K], v, out [B, H, V], state [B, H, K, V]. O(B H K V).
template <class Arch = default_arch>
void gla_step(tensor_view<const float, 3> q, tensor_view<const float, 3> k,
              tensor_view<const float, 3> v, tensor_view<const float, 3> gk,
              tensor_view<float, 3> out, tensor_view<float, 4> state,
              const linear_options& opt = {}) {
  detail::gla_step<Arch>("gla_step", detail::gla_gate::vector, q, k, v, gk, out, state, opt);
}

}  // namespace attnkit
