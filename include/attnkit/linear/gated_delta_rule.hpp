// SPDX-License-Identifier: Apache-2.0
// gated_delta_rule (dense and varlen) and gated_delta_rule_step: the delta rule with a scalar
// decay per token and head (Gated DeltaNet), chunked or recurrent.
#pragma once

#include <cstdint>
#include <span>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/linear/delta_forward.hpp>
#include <attnkit/linear/linear_options.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit {

/// The gated delta rule (Gated DeltaNet, arXiv 2412.06464), per sequence and head, from S_0 =
/// initial_state (zero when empty):
///   S' = e^{g_t} S_{t-1},   u_t = beta_t (v_t - S'ᵀ k_t),   S_t = S' + k_t u_tᵀ,
///   o_t = S_tᵀ (scale q_t),
/// exactly reference::gated_delta_rule; g is the log decay (<= 0 in practice; -inf empties the
/// state). The chunked mode only ever takes e^x of sums of gates over later positions, so log
/// gates of -30 per step over thousands of tokens, zero gates and -inf gates give no overflow and
/// no NaN. Keys as in delta_rule (stable for ||k_t||² beta_t <= 2).
/// @pre as delta_rule, with g [B, T, H] like beta. Checked, throwing attnkit::error before
///      anything is written.
template <class Arch = default_arch>
void gated_delta_rule(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                      tensor_view<const float, 4> v, tensor_view<const float, 3> g,
                      tensor_view<const float, 3> beta, tensor_view<float, 4> out,
                      const linear_options& opt = {}, tensor_view<const float, 4> initial_state = {},
                      tensor_view<float, 4> final_state = {}) {
  detail::delta_call<Arch>("gated_delta_rule", q, k, v, &g, beta, out, {}, opt, initial_state, final_state);
}

/// gated_delta_rule over packed sequences (see the varlen delta_rule): g, beta [total, H].
template <class Arch = default_arch>
void gated_delta_rule(tensor_view<const float, 3> q, tensor_view<const float, 3> k,
                      tensor_view<const float, 3> v, tensor_view<const float, 2> g,
                      tensor_view<const float, 2> beta, tensor_view<float, 3> out,
                      std::span<const std::int32_t> cu_seqlens, const linear_options& opt = {},
                      tensor_view<const float, 4> initial_state = {},
                      tensor_view<float, 4> final_state = {}) {
  detail::delta_call<Arch>("gated_delta_rule", q, k, v, &g, beta, out, cu_seqlens, opt, initial_state,
                           final_state);
}

/// One token of the gated delta rule for decoding (see delta_rule_step): state[b, h] becomes
/// e^{g} S + k uᵀ with u = beta (v - e^{g} Sᵀ k). g, beta [B, H].
template <class Arch = default_arch>
void gated_delta_rule_step(tensor_view<const float, 3> q, tensor_view<const float, 3> k,
                           tensor_view<const float, 3> v, tensor_view<const float, 2> g,
                           tensor_view<const float, 2> beta, tensor_view<float, 3> out,
                           tensor_view<float, 4> state, const linear_options& opt = {}) {
  detail::delta_step<Arch>("gated_delta_rule_step", q, k, v, &g, beta, out, state, opt);
}

}  // namespace attnkit
