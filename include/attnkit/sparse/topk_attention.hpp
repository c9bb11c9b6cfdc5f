// SPDX-License-Identifier: Apache-2.0
// topk_attention: exact softmax attention of each query over only its top_k keys by logit.
#pragma once

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/sparse/topk_driver.hpp>

namespace attnkit {

/// Top-k attention (the exact-selection baseline of SEA, arXiv 2310.01777, and of top-k
/// attention, arXiv 2106.06899): for each query row, the logits z_ij of its visible keys are
/// computed as DESIGN 1.3 states them (masks, softcap, bias, ALiBi), the top_k largest are kept
/// and out_i is the exact softmax over the kept keys only; a sink logit stays in the denominator
/// as in flash_attention. lse [B, Hq, Sq], when given, is the log of that denominator.
///
/// Selection: the larger logit first; equal logits keep the later key (the larger j); a NaN
/// logit makes the row NaN (out and lse), as it would in exact attention. top_k at least the
/// number of visible keys is exact attention (flash_attention within fp32 rounding); top_k = 1
/// returns the best key's value row exactly (without a sink). Rows with no visible key: out = 0,
/// lse = -inf (or the sink).
/// @pre q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv], out [B, Sq, Hq, Dv], Hq a
///      multiple of Hkv, unit innermost strides (any others), top_k >= 1; checked, throwing
///      attnkit::error before anything is written.
/// Time O(B Hq Sq Sk D) for the logits (the flash micro-kernel over K packed once per call),
/// O(B Hq Sq Sk) for the selection (std::nth_element), O(B Hq Sq top_k Dv) for the output.
/// Memory: a packed copy of K, plus per thread a [64 x Sk] score block. fp32 only.
/// Threads: get_num_threads() over (batch, head, block of 64 queries); the result does not
/// depend on the thread count.
template <class Arch = default_arch>
void topk_attention(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                    tensor_view<const float, 4> v, tensor_view<float, 4> out, index_t top_k,
                    const attention_options& opt = {}, tensor_view<float, 3> lse = {}) {
  constexpr auto where = "topk_attention";
  const auto p = detail::check_attention(where, q, k, v, out, opt, lse);
  detail::require(top_k >= 1, where, "top_k", ">= 1", top_k);
  detail::topk_driver<Arch>(p, opt, top_k, q, k, v, out, lse).run();
}

}  // namespace attnkit
