// SPDX-License-Identifier: Apache-2.0
// sea_attention: top-k attention whose keys are chosen by a cheap low-rank estimate of the
// scores (SEA-style), then attended to exactly.
#pragma once

#include <string>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/sparse/sea_options.hpp>
#include <attnkit/sparse/sea_projection.hpp>
#include <attnkit/sparse/topk_driver.hpp>

namespace attnkit {

/// SEA-style sparse attention (Lee et al., SEA: Sparse Linear Attention with Estimated Attention
/// Mask, arXiv 2310.01777): estimate every score cheaply, keep each query's top_k keys by the
/// estimate, then compute exact softmax attention over the kept keys only.
///
/// Estimator: P is a seeded random projection [rank x D] with orthonormal rows scaled by
/// sqrt(D / rank) (a Johnson-Lindenstrauss map: SEA's own estimator is a trained linear-attention
/// module, for which this data-free map stands in), and the estimate is zhat_ij = scale <P q_i, P k_j> passed through
/// opt's modifiers (softcap, bias, ALiBi) on opt's visible keys. E[<P q, P k>] = <q, k>; for
/// rank = D, P is orthogonal and zhat equals the exact logit up to rounding, so the call equals
/// topk_attention with the same top_k. The kept keys' logits are then computed exactly (DESIGN
/// 1.3), and the softmax, sinks, lse, the tie rule (the later key wins) and NaN rows are as in
/// topk_attention. Larger rank: better recall of the true top keys.
/// @pre q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv], out [B, Sq, Hq, Dv], Hq a
///      multiple of Hkv, unit innermost strides, sea.top_k >= 1, 1 <= sea.rank <= D; checked,
///      throwing attnkit::error before anything is written.
/// Time O((B Hq Sq + B Hkv Sk) D rank) for the projections, O(B Hq Sq Sk rank) for the estimate,
/// O(B Hq Sq Sk) for the selection and O(B Hq Sq top_k (D + Dv)) for the exact part. Memory: the
/// projected keys twice (rows and packed panels), B Hkv Sk rank floats each, plus per thread a
/// [64 x Sk] score block. fp32 only. Threads as topk_attention; the result does not depend on
/// the thread count and is reproducible for a seed.
template <class Arch = default_arch>
void sea_attention(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                   tensor_view<const float, 4> v, tensor_view<float, 4> out,
                   const sea_options& sea, const attention_options& opt = {},
                   tensor_view<float, 3> lse = {}) {
  constexpr auto where = "sea_attention";
  const auto p = detail::check_attention(where, q, k, v, out, opt, lse);
  detail::require(sea.top_k >= 1, where, "sea.top_k", ">= 1", sea.top_k);
  detail::require(sea.rank >= 1 && sea.rank <= p.D, where, "sea.rank",
                  "in [1, " + std::to_string(p.D) + "] (the head dim of q)", sea.rank);
  const auto projection = detail::sea_projection(p.D, sea.rank, sea.seed);
  detail::topk_driver<Arch>(p, opt, sea.top_k, q, k, v, out, lse, projection.data(), sea.rank).run();
}

}  // namespace attnkit
