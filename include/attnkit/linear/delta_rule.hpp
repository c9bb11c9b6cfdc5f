// SPDX-License-Identifier: Apache-2.0
// delta_rule (dense and varlen) and delta_rule_step: DeltaNet's linear attention with the delta
// update rule, chunked (WY / UT representation) or recurrent.
#pragma once

#include <cstdint>
#include <span>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/linear/delta_forward.hpp>
#include <attnkit/linear/linear_options.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit {

/// The delta rule (DeltaNet, arXiv 2406.06484), per sequence and head, from the state S_0 =
/// initial_state (zero when empty), token by token:
///   u_t = beta_t (v_t - S_{t-1}ᵀ k_t),   S_t = S_{t-1} + k_t u_tᵀ,   o_t = S_tᵀ (scale q_t),
/// exactly reference::delta_rule; final_state (when given) receives S_T. Keys are used as given
/// (no built-in L2 normalisation): the recurrence is stable when ||k_t||² beta_t <= 2 (then
/// I - beta_t k_t k_tᵀ has norm <= 1), as with L2-normalised keys and beta in (0, 1) in DeltaNet;
/// beyond that the state grows geometrically in both modes alike.
/// opt.mode chunked (default): chunks of opt.chunk_size tokens, three GEMMs with the state per
/// chunk (detail::delta_chunked); recurrent: token by token (detail::delta_recurrent). Both are
/// fp32 throughout and agree with the double reference to fp32 rounding.
/// @pre q, k [B, T, H, K], v, out [B, T, H, V], beta [B, T, H], states [B, H, K, V]; q, k, v, out
///      with unit innermost strides, any other strides; opt.causal true, opt.normalize false,
///      opt.chunk_size in [1, 1024]. Checked, throwing attnkit::error before anything is written.
///      out must not overlap an input.
/// Time O(B H T K V): recurrent 3 K V FMAs per token, chunked 3 K V + about C (K + V) + C²/6.
/// On one Zen 3 core at K = V = 128 the recurrent form runs at about 45% of the FMA peak (its
/// 64 KiB state streams through L2 once per token); chunked is 1.1-1.2x faster at C = 16..32
/// and about as fast at C = 64, the excess C (K + V) eating the GEMMs' higher efficiency.
/// Memory per thread: chunked about 4 C² + C (3K + 4V) + K V floats (under 200 KiB at C = 32),
/// recurrent K V + 3 V. Threads: get_num_threads(), one (sequence, head) per task.
template <class Arch = default_arch>
void delta_rule(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                tensor_view<const float, 4> v, tensor_view<const float, 3> beta,
                tensor_view<float, 4> out, const linear_options& opt = {},
                tensor_view<const float, 4> initial_state = {}, tensor_view<float, 4> final_state = {}) {
  detail::delta_call<Arch>("delta_rule", q, k, v, nullptr, beta, out, {}, opt, initial_state, final_state);
}

/// delta_rule over packed sequences: q, k [total, H, K], v, out [total, H, V], beta [total, H];
/// sequence n is rows [cu_seqlens[n], cu_seqlens[n + 1]) (empty sequences allowed: their final
/// state is their initial state) with its own states initial_state[n], final_state[n]
/// ([N, H, K, V], N = cu_seqlens.size() - 1). Chunks restart at every sequence.
template <class Arch = default_arch>
void delta_rule(tensor_view<const float, 3> q, tensor_view<const float, 3> k,
                tensor_view<const float, 3> v, tensor_view<const float, 2> beta,
                tensor_view<float, 3> out, std::span<const std::int32_t> cu_seqlens,
                const linear_options& opt = {}, tensor_view<const float, 4> initial_state = {},
                tensor_view<float, 4> final_state = {}) {
  detail::delta_call<Arch>("delta_rule", q, k, v, nullptr, beta, out, cu_seqlens, opt, initial_state,
                           final_state);
}

/// One token of the delta rule for decoding: per batch entry b and head h, the state
/// state[b, h] [K, V] becomes S + k u ᵀ with u = beta (v - Sᵀ k), and out = (S + k uᵀ)ᵀ (scale q).
/// Applying it T times equals delta_rule in recurrent mode.
/// @pre q, k [B, H, K], v, out [B, H, V], beta [B, H], state [B, H, K, V] (given; any strides);
///      opt.mode and opt.chunk_size are checked and ignored. Checked, throwing attnkit::error
///      before anything is written. O(B H K V).
template <class Arch = default_arch>
void delta_rule_step(tensor_view<const float, 3> q, tensor_view<const float, 3> k,
                     tensor_view<const float, 3> v, tensor_view<const float, 2> beta,
                     tensor_view<float, 3> out, tensor_view<float, 4> state,
                     const linear_options& opt = {}) {
  detail::delta_step<Arch>("delta_rule_step", q, k, v, nullptr, beta, out, state, opt);
}

}  // namespace attnkit
