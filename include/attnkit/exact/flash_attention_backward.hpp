// SPDX-License-Identifier: Apache-2.0
// flash_attention_backward and flash_attention_varlen_backward: the gradients of exact attention
// with respect to q, k and v, and the place where the head dim becomes a template argument.
#pragma once

#include <cstdint>
#include <span>
#include <type_traits>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/backward_sequences.hpp>
#include <attnkit/exact/flash.hpp>
#include <attnkit/exact/flash_backward.hpp>
#include <attnkit/exact/head_dim_dispatch.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit {

namespace detail {

/// The backward's compiled variants, the forward's head dims (dispatch_head_dim).
template <class Arch, class T>
void dispatch_flash_backward(const attention_problem& p, const attention_options& opt,
                             std::span<const backward_sequence<T>> seqs) {
  dispatch_head_dim(p.D, [&]<index_t kD>() { flash_backward<Arch, T, kD>(p, opt).run(seqs); });
}

}  // namespace detail

/// The gradients of exact attention (FlashAttention-2's backward, arXiv 2307.08691): given the
/// forward's inputs, its out and lse, and dout = dL/dout (and optionally dlse = dL/dlse), writes
/// dq = dL/dq, dk = dL/dk and dv = dL/dv, for every option of attention_options: masks, both
/// alignments, windows, softcap (through its derivative 1 - tanh^2), ALiBi, bias, sinks (taken
/// as constants, no gradient), GQA (dk, dv summed over each group of query heads), Dv != D.
/// P is recomputed from q, k and lse, never stored: lse must be the forward's (flash_attention
/// with an lse view, or reference::attention). out enters only through D_i = <dout_i, out_i>.
/// @pre q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv], out and dout [B, Sq, Hq, Dv],
///      lse [B, Hq, Sq] given, dlse empty or [B, Hq, Sq]; dq, dk, dv shaped as q, k, v; Hq a
///      multiple of Hkv, 1 <= D <= 512; unit innermost strides for every 4-d view (any other
///      strides); checked, throwing attnkit::error before anything is written. The gradients
///      must not overlap the inputs.
/// A query that sees no key gets dq = 0, a key that no query sees gets dk = dv = 0.
/// Time O(B Hq Sq Sk (D + Dv)) over the visible pairs: five products against the forward's two.
/// Memory: the query side is packed once in fp32, about (3 D + 2 Dv) floats per query row and
/// head, in batches of at most 256 MiB; per thread a few tiles. Threads: get_num_threads(), one
/// task per key block. Deterministic: each gradient is summed in one fixed order whatever the
/// thread count, with no atomic float additions. fp32 accumulation for every T.
template <class Arch = default_arch, attention_element T>
void flash_attention_backward(tensor_view<const std::type_identity_t<T>, 4> q,
                              tensor_view<const std::type_identity_t<T>, 4> k,
                              tensor_view<const std::type_identity_t<T>, 4> v,
                              tensor_view<const std::type_identity_t<T>, 4> out,
                              tensor_view<const std::type_identity_t<T>, 4> dout,
                              tensor_view<const float, 3> lse, tensor_view<T, 4> dq,
                              tensor_view<T, 4> dk, tensor_view<T, 4> dv,
                              const attention_options& opt = {},
                              tensor_view<const float, 3> dlse = {}) {
  constexpr auto where = "flash_attention_backward";
  const auto p = detail::check_attention(where, q, k, v, out, opt, lse);
  detail::check_backward_extras<4>(where, q, k, v, out, dout, lse, dq, dk, dv, dlse);
  detail::require(p.D <= 512, where, "q", "extent(3) <= 512 (the head dim)", p.D);
  const auto seqs = detail::dense_backward_sequences<T>(q, k, v, out, dout, lse, dlse, dq, dk, dv);
  detail::dispatch_flash_backward<Arch, T>(p, opt, seqs);
}

/// flash_attention_backward over packed sequences (layouts as flash_attention_varlen; lse and
/// dlse [Hq, total_q]). Rows outside every sequence are neither read nor written.
template <class Arch = default_arch, attention_element T>
void flash_attention_varlen_backward(tensor_view<const std::type_identity_t<T>, 3> q,
                                     tensor_view<const std::type_identity_t<T>, 3> k,
                                     tensor_view<const std::type_identity_t<T>, 3> v,
                                     tensor_view<const std::type_identity_t<T>, 3> out,
                                     tensor_view<const std::type_identity_t<T>, 3> dout,
                                     tensor_view<const float, 2> lse, tensor_view<T, 3> dq,
                                     tensor_view<T, 3> dk, tensor_view<T, 3> dv,
                                     std::span<const std::int32_t> cu_seqlens_q,
                                     std::span<const std::int32_t> cu_seqlens_k,
                                     const attention_options& opt = {},
                                     tensor_view<const float, 2> dlse = {}) {
  constexpr auto where = "flash_attention_varlen_backward";
  const auto p = detail::check_attention_varlen(where, q, k, v, out, cu_seqlens_q, cu_seqlens_k,
                                                opt, lse);
  detail::check_backward_extras<3>(where, q, k, v, out, dout, lse, dq, dk, dv, dlse);
  detail::require(p.D <= 512, where, "q", "extent(2) <= 512 (the head dim)", p.D);
  const auto seqs = detail::varlen_backward_sequences<T>(q, k, v, out, dout, lse, dlse, dq, dk, dv,
                                                          cu_seqlens_q, cu_seqlens_k);
  detail::dispatch_flash_backward<Arch, T>(p, opt, seqs);
}

}  // namespace attnkit
