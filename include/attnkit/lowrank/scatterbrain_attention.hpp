// SPDX-License-Identifier: Apache-2.0
// scatterbrain_attention: a Performer (low-rank) estimate of softmax attention made exact on a
// sparse support (Scatterbrain).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/lowrank/arguments.hpp>
#include <attnkit/lowrank/favor_attention.hpp>
#include <attnkit/lowrank/favor_features.hpp>
#include <attnkit/lowrank/local_band_support.hpp>
#include <attnkit/lowrank/scatterbrain_options.hpp>
#include <attnkit/lowrank/sparse_support.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/simd/dot.hpp>

namespace attnkit {
namespace detail {

/// Scatterbrain over a support given per (batch, query head): support_of(b, h) returns a
/// sparse_support of Sq rows whose keys are visible (j <= i when causal). The FAVOR+ numerator
/// and denominator come from linear_attention over v with a column of ones appended; each row
/// then trades the low-rank terms of its support for exact ones, in one scale r_i (the largest
/// of the exact logits and the log of the low-rank mass), so nothing overflows.
template <class Arch, class SupportOf>
void scatterbrain_forward(const attention_problem& p, tensor_view<const float, 4> q,
                          tensor_view<const float, 4> k, tensor_view<const float, 4> v,
                          tensor_view<float, 4> out, const scatterbrain_options& opt,
                          SupportOf&& support_of) {
  const favor_features<Arch> map(p.D, opt.features, opt.seed, p.scale);
  favor_tensors t = favor_compute<Arch>(p, q, k, map);
  const index_t T = t.T, m = t.m, Dv = p.Dv, Da = Dv + 1, G = p.Hq / p.Hkv;
  std::vector<float> v_aug(std::size_t(p.B * T * p.Hkv * Da), 0.0f);  // [B, T, Hkv, Dv + 1]
  for (index_t b = 0; b < p.B; ++b)
    for (index_t j = 0; j < p.Sk; ++j)
      for (index_t h = 0; h < p.Hkv; ++h) {
        float* row = v_aug.data() + ((b * T + j) * p.Hkv + h) * Da;
        std::copy_n(&v(b, j, h, 0), Dv, row);
        row[Dv] = 1.0f;
      }
  std::vector<float> o_aug(std::size_t(p.B * T * p.Hq * Da));  // [B, T, Hq, Dv + 1]: num, den
  favor_linear<Arch>(p, t, tensor_view<const float, 4>(v_aug.data(), {p.B, T, p.Hkv, Da}),
                     tensor_view<float, 4>(o_aug.data(), {p.B, T, p.Hq, Da}), opt.causal, false);

  const double log_m = std::log(double(m));
  std::vector<std::vector<double>> scratch(std::size_t(std::max(1, get_num_threads())));
  parallel_for(p.B * p.Hq, [&](index_t task, int slot) {
    const index_t b = task / p.Hq, h = task % p.Hq, hk = h / G;
    const sparse_support& support = support_of(b, h);
    std::vector<double>& acc = scratch[std::size_t(slot)];  // [Dv] row sums, then the logits
    const double g = t.key_shift[std::size_t(b * p.Hkv + hk)];
    for (index_t i = 0; i < p.Sq; ++i) {
      const float* o = o_aug.data() + ((b * T + i) * p.Hq + h) * Da;
      const float* fq = t.fq.data() + ((b * T + i) * p.Hq + h) * m;
      const float* qi = &q(b, i, h, 0);
      const auto keys = support.row(i);
      const index_t n = static_cast<index_t>(keys.size());
      acc.resize(std::size_t(Dv + n));
      double* logit = acc.data() + Dv;  // [n] s q_i . k_j of the support
      const index_t visible = opt.causal ? i + 1 : p.Sk;
      // The low-rank part covers the keys off the support (none when the support is the row).
      const bool low_rank = n < visible;
      const double log_f = double(t.log_factor[std::size_t((b * p.Hq + h) * p.Sq + i)]) + g - log_m;
      for (index_t d = 0; d < Dv; ++d) acc[std::size_t(d)] = low_rank ? double(o[d]) : 0.0;
      double den_off = low_rank ? double(o[Dv]) : 0.0;
      double r = -std::numeric_limits<double>::infinity();
      for (index_t x = 0; x < n; ++x) {  // off-support sums and the largest exact logit
        const index_t j = keys[std::size_t(x)];
        logit[x] = double(p.scale) * double(simd::dot<Arch>(qi, &k(b, j, hk, 0), p.D));
        r = std::max(r, logit[x]);
        if (!low_rank) continue;
        const double lr = simd::dot<Arch>(fq, t.fk.data() + ((b * T + j) * p.Hkv + hk) * m, m);
        const float* vj = &v(b, j, hk, 0);
        for (index_t d = 0; d < Dv; ++d) acc[std::size_t(d)] -= lr * double(vj[d]);
        den_off -= lr;
      }
      den_off = std::max(den_off, 0.0);  // >= 0 but for rounding: the features are positive
      if (den_off > 0) r = std::max(r, log_f + std::log(den_off));
      float* o_row = &out(b, i, h, 0);
      if (!(r > -std::numeric_limits<double>::infinity())) {  // no mass at all (or NaN)
        for (index_t d = 0; d < Dv; ++d) o_row[d] = std::isnan(r) ? float(r) : 0.0f;
        continue;
      }
      const double w_off = den_off > 0 ? std::exp(log_f - r) : 0.0;
      double den = w_off * den_off;
      for (index_t d = 0; d < Dv; ++d) acc[std::size_t(d)] *= w_off;
      for (index_t x = 0; x < n; ++x) {  // exact terms
        const double w = std::exp(logit[x] - r);
        den += w;
        const float* vj = &v(b, keys[std::size_t(x)], hk, 0);
        for (index_t d = 0; d < Dv; ++d) acc[std::size_t(d)] += w * double(vj[d]);
      }
      for (index_t d = 0; d < Dv; ++d)
        o_row[d] = den > 0 ? static_cast<float>(acc[std::size_t(d)] / den) : 0.0f;
    }
  });
}

}  // namespace detail

/// Scatterbrain attention (Chen et al., arXiv 2110.15343): the Performer estimate of
/// softmax(s q kᵀ) v (FAVOR+, as performer_attention with opt.features and opt.seed) with an
/// exact sparse correction on a local band: for the keys j of query i with
/// |i + Sk - Sq - j| <= opt.window the low-rank term phi(q_i) . phi(k_j) is replaced by the exact
/// exp(s q_i . k_j), in the numerator and in the denominator alike:
///   out_i = (sum_{j off band} phi_i . phi_j v_j + sum_{j on band} e^{s q_i . k_j} v_j)
///         / (sum_{j off band} phi_i . phi_j   + sum_{j on band} e^{s q_i . k_j}).
/// A band that covers every key of a row makes that row exact attention. opt.causal: keys
/// j <= i only (Sq == Sk), the band's left half. The support is a sparse_support
/// (local_band_support), so other supports (hashed, clustered) plug into the same core.
///
/// Numerics: fp32 features and linear sums; each row is combined in double in one scale (the
/// largest exact logit or low-rank log-mass), so large logits do not overflow. The off-band
/// low-rank mass is clamped at 0 (it is a sum of positive terms, negative only by rounding).
/// Equals reference::scatterbrain_attention (same features, double) up to fp32 rounding.
/// @pre as performer_attention; opt.window >= 0. Checked, throwing attnkit::error before
///      anything is written.
/// Complexity: performer_attention's plus O(B Hq Sq w (m + D + Dv)) for w = 2 window + 1 band
/// keys per row. Memory: the features and B T (Hq + Hkv) (Dv + 1) floats for the augmented v
/// and the unnormalised low-rank output. Threads: get_num_threads() over (batch, head).
template <class Arch = default_arch>
void scatterbrain_attention(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                            tensor_view<const float, 4> v, tensor_view<float, 4> out,
                            const scatterbrain_options& opt = {}) {
  const auto p = detail::check_scatterbrain("scatterbrain_attention", q, k, v, out, opt);
  if (p.B == 0 || p.Sq == 0) return;
  const sparse_support band = local_band_support(p.Sq, p.Sk, opt.window, opt.causal);
  detail::scatterbrain_forward<Arch>(p, q, k, v, out, opt,
                                     [&](index_t, index_t) -> const sparse_support& { return band; });
}

}  // namespace attnkit
