// SPDX-License-Identifier: Apache-2.0
// performer_attention: softmax attention estimated with FAVOR+ positive orthogonal random
// features (Performer) on top of linear_attention.
#pragma once

#include <algorithm>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/lowrank/arguments.hpp>
#include <attnkit/lowrank/favor_attention.hpp>
#include <attnkit/lowrank/favor_features.hpp>
#include <attnkit/lowrank/performer_options.hpp>
#include <attnkit/simd/arch.hpp>

namespace attnkit {

/// Performer attention (Choromanski et al., arXiv 2009.14794, FAVOR+): softmax(s q kᵀ) v
/// estimated as out_i = sum_j (phi(q_i) . phi(k_j)) v_j / sum_j phi(q_i) . phi(k_j) with the
/// m = opt.features positive orthogonal random features of performer_feature_map(D, m,
/// opt.seed, true, s) (s = opt.scale or 1/sqrt(D)). Unbiased in numerator and denominator; the
/// relative error falls like 1/sqrt(m) on moderate logits. opt.causal: sums over j <= i only.
///
/// Numerics: the features are stabilised as the paper's implementation does (each query row
/// divided by its largest feature, the keys of a head by their largest one; see
/// detail::favor_features), factors that cancel in the normalised output, so logits of any size
/// neither overflow nor underflow to 0/0; linear_attention adds its 1e-10 to the denominator,
/// which is negligible next to a largest feature of 1. fp32 throughout. Rows with no key
/// (Sk = 0) give 0. Equals reference::performer_attention (same features, double) up to fp32
/// rounding.
///
/// GQA: the features of a kv head are computed once and shared by its query heads.
/// @pre q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv], out [B, Sq, Hq, Dv], Hq a
///      multiple of Hkv, unit innermost strides (others free); opt.features in [1, 65536], a
///      finite opt.scale; opt.causal needs Sq == Sk. Checked, throwing attnkit::error before
///      anything is written.
/// Complexity: features O(B (Hq Sq + Hkv Sk) m D) (tile GEMMs), then linear_attention over
/// T = max(Sq, Sk) rows: O(B Hq T m Dv) (+ O(T C (m + Dv)) causal). Memory: the features,
/// B T (Hq + Hkv) m floats; a padded copy of v (Sk < Sq) or of out (Sq < Sk). Threads:
/// get_num_threads() over (batch, head).
template <class Arch = default_arch>
void performer_attention(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                         tensor_view<const float, 4> v, tensor_view<float, 4> out,
                         const performer_options& opt = {}) {
  const auto p = detail::check_performer("performer_attention", q, k, v, out, opt);
  if (p.B == 0 || p.Sq == 0) return;
  const detail::favor_features<Arch> map(p.D, opt.features, opt.seed, p.scale);
  detail::favor_tensors t = detail::favor_compute<Arch>(p, q, k, map);
  // linear_attention takes queries and keys of one length T: pad v (Sk < Sq) or out (Sq < Sk).
  std::vector<float> v_pad, out_pad;
  tensor_view<const float, 4> vt = v;
  tensor_view<float, 4> ot = out;
  if (p.Sk < t.T) {
    v_pad.assign(std::size_t(p.B * t.T * p.Hkv * p.Dv), 0.0f);
    const tensor_view<float, 4> vp(v_pad.data(), {p.B, t.T, p.Hkv, p.Dv});
    for (index_t b = 0; b < p.B; ++b)
      for (index_t j = 0; j < p.Sk; ++j)
        for (index_t h = 0; h < p.Hkv; ++h) std::copy_n(&v(b, j, h, 0), p.Dv, &vp(b, j, h, 0));
    vt = vp;
  }
  if (p.Sq < t.T) {
    out_pad.assign(std::size_t(p.B * t.T * p.Hq * p.Dv), 0.0f);
    ot = tensor_view<float, 4>(out_pad.data(), {p.B, t.T, p.Hq, p.Dv});
  }
  detail::favor_linear<Arch>(p, t, vt, ot, opt.causal, true);
  if (p.Sq < t.T)
    for (index_t b = 0; b < p.B; ++b)
      for (index_t i = 0; i < p.Sq; ++i)
        for (index_t h = 0; h < p.Hq; ++h) std::copy_n(&ot(b, i, h, 0), p.Dv, &out(b, i, h, 0));
}

}  // namespace attnkit
