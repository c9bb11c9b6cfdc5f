// SPDX-License-Identifier: Apache-2.0
// linformer_attention: exact attention over keys and values projected along the sequence axis
// (Linformer).
#pragma once

#include <algorithm>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/flash.hpp>
#include <attnkit/lowrank/arguments.hpp>
#include <attnkit/lowrank/linformer_options.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit {
namespace detail {

/// y [B, P, H, Dx] = e [P, S] x [B, S, H, Dx] for every batch entry and head (one task each):
/// rows of y accumulated as e_pj x_j, the inner loop over the contiguous head dim.
inline void project_sequence(tensor_view<const float, 2> e, tensor_view<const float, 4> x,
                             tensor_view<float, 4> y) {
  const index_t B = x.extent(0), S = x.extent(1), H = x.extent(2), Dx = x.extent(3),
                P = e.extent(0);
  parallel_for(B * H, [&](index_t task, int) {
    const index_t b = task / H, h = task % H;
    for (index_t r = 0; r < P; ++r) {
      float* yr = &y(b, r, h, 0);
      std::fill_n(yr, Dx, 0.0f);
      const float* er = e.data() + r * e.stride(0);
      for (index_t j = 0; j < S; ++j) {
        const float w = er[j];
        const float* xj = x.data() + b * x.stride(0) + j * x.stride(1) + h * x.stride(2);
        for (index_t d = 0; d < Dx; ++d) yr[d] += w * xj[d];
      }
    }
  });
}

}  // namespace detail

/// Linformer attention (Wang et al., arXiv 2006.04768): out = softmax(s Q (E K)ᵀ) (F V) per batch
/// entry and head, with the sequence projections E, F [k_proj, Sk] given by the caller and shared
/// by every batch entry and head (the paper's "layerwise" sharing; call once per head with
/// sliced views for per-head projections). E K and F V are formed in fp32, then
/// flash_attention (not causal, scale s = opt.scale or 1/sqrt(D)) attends to the k_proj
/// projected keys. E = F = the identity (k_proj = Sk) gives exact attention.
/// Linformer is not causal (a projected key mixes every position): opt.causal is rejected.
/// @pre q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv], out [B, Sq, Hq, Dv], Hq a
///      multiple of Hkv, e and f [k_proj, Sk] with k_proj >= 1, unit innermost strides (others
///      free), D <= 512. Checked, throwing attnkit::error before anything is written.
/// Complexity: O(B Hkv k_proj Sk (D + Dv)) for the projections, O(B Hq Sq k_proj (D + Dv)) for
/// the attention. Memory: B k_proj Hkv (D + Dv) floats. Threads: get_num_threads().
template <class Arch = default_arch>
void linformer_attention(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                         tensor_view<const float, 4> v, tensor_view<const float, 2> e,
                         tensor_view<const float, 2> f, tensor_view<float, 4> out,
                         const linformer_options& opt = {}) {
  constexpr auto where = "linformer_attention";
  const auto p = detail::check_linformer(where, q, k, v, e, f, out, opt);
  detail::require(p.D <= 512, where, "q", "extent(3) <= 512 (the head dim)", p.D);
  if (p.B == 0 || p.Sq == 0) return;
  const index_t P = e.extent(0);
  std::vector<float> kp(std::size_t(p.B * P * p.Hkv * p.D)), vp(std::size_t(p.B * P * p.Hkv * p.Dv));
  const tensor_view<float, 4> kv(kp.data(), {p.B, P, p.Hkv, p.D}), vv(vp.data(), {p.B, P, p.Hkv, p.Dv});
  detail::project_sequence(e, k, kv);  // E K: [B, k_proj, Hkv, D]
  detail::project_sequence(f, v, vv);  // F V: [B, k_proj, Hkv, Dv]
  attention_options exact;
  exact.scale = p.scale;
  flash_attention<Arch, float>(q, kv, vv, out, exact);
}

}  // namespace attnkit
