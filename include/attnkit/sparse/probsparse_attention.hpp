// SPDX-License-Identifier: Apache-2.0
// probsparse_attention: Informer's ProbSparse self-attention: exact attention for the queries of
// largest sparsity measure, the mean of the values for the others.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <string_view>
#include <vector>

#include <attnkit/core/aligned_buffer.hpp>
#include <attnkit/core/error.hpp>
#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/simd/arch.hpp>
#include <attnkit/simd/dot.hpp>
#include <attnkit/sparse/probsparse_options.hpp>
#include <attnkit/sparse/probsparse_sample.hpp>
#include <attnkit/sparse/select_top_keys.hpp>
#include <attnkit/sparse/softmax_over_keys.hpp>

namespace attnkit {
namespace detail {

/// Checks a probsparse_attention call (shapes as flash_attention without lse, then the options)
/// and returns its sizes.
template <class T>
attention_problem check_probsparse(std::string_view where, const tensor_view<const T, 4>& q,
                                   const tensor_view<const T, 4>& k, const tensor_view<const T, 4>& v,
                                   const tensor_view<T, 4>& out, const probsparse_options& opt) {
  auto p = check_attention(where, q, k, v, out, attention_options{}, tensor_view<float, 3>{});
  require(opt.factor >= 1, where, "opt.factor", ">= 1", opt.factor);
  require(opt.sample_keys >= 0, where, "opt.sample_keys", ">= 0 (0: factor * ceil(ln Sk))",
          opt.sample_keys);
  require(opt.active_queries >= 0, where, "opt.active_queries",
          ">= 0 (0: factor * ceil(ln Sq))", opt.active_queries);
  require(std::isfinite(opt.scale), where, "opt.scale", "a finite value (0 for 1/sqrt(D))", opt.scale);
  p.scale = opt.scale != 0.0f ? opt.scale : static_cast<float>(1.0 / std::sqrt(double(p.D)));
  return p;
}

/// ProbSparse for one (batch, query head): measure, select, write lazy and active rows.
template <class Arch>
void probsparse_head(const attention_problem& p, const probsparse_plan& plan,
                     tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                     tensor_view<const float, 4> v, tensor_view<float, 4> out, index_t b,
                     index_t h) {
  const index_t hk = h / (p.Hq / p.Hkv);
  const auto size = [](index_t n) { return static_cast<std::size_t>(std::max<index_t>(n, 1)); };
  const float* k0 = k.data() + b * k.stride(0) + hk * k.stride(2);
  const float* v0 = v.data() + b * v.stride(0) + hk * v.stride(2);
  auto query = [&](index_t i) { return q.data() + b * q.stride(0) + i * q.stride(1) + h * q.stride(2); };
  auto row = [&](index_t i) { return out.data() + b * out.stride(0) + i * out.stride(1) + h * out.stride(2); };

  // M_i = max_t s_i,j(t) - mean_t s_i,j(t) over the sampled keys; NaN ranks as +inf (first),
  // a query without keys as -inf (last).
  std::vector<float> measure(size(p.Sq)), value(size(p.Sq)), work(size(std::max(p.Sq, p.Sk)));
  for (index_t i = 0; i < p.Sq; ++i) {
    const index_t n = plan.samples(i);
    float m = -std::numeric_limits<float>::infinity(), sum = 0.0f;
    bool nan = false;
    for (index_t t = 0; t < n; ++t) {
      const float s = p.scale * simd::dot<Arch>(query(i), k0 + plan.sample(i, t) * k.stride(1), p.D);
      nan |= std::isnan(s);
      m = s > m ? s : m;
      sum += s;
    }
    measure[std::size_t(i)] = nan ? std::numeric_limits<float>::infinity() : n == 0 ? m : m - sum / float(n);
  }
  std::vector<index_t> picked(size(p.Sq)), ties(size(p.Sq)), keys(size(p.Sk));
  const index_t u = select_top_keys<Arch>(measure.data(), p.Sq, plan.u, picked.data(), ties.data(), value.data(), work.data());
  std::vector<char> active(size(p.Sq), 0);
  for (index_t t = 0; t < u; ++t) active[std::size_t(picked[std::size_t(t)])] = 1;

  // Lazy rows: the mean of v over the visible keys, summed in double in key order (a running
  // prefix when causal: the visible count never decreases with i).
  std::vector<double> sum(size(p.Dv), 0.0);
  index_t summed = 0;
  for (index_t i = 0; i < p.Sq; ++i) {
    if (active[std::size_t(i)]) continue;
    const index_t n = plan.visible(i);
    for (; summed < n; ++summed)
      for (index_t d = 0; d < p.Dv; ++d) sum[std::size_t(d)] += double(v0[summed * v.stride(1) + d]);
    float* o = row(i);
    for (index_t d = 0; d < p.Dv; ++d) o[d] = n == 0 ? 0.0f : static_cast<float>(sum[std::size_t(d)] / double(n));
  }

  // Active rows: exact softmax attention over the visible keys.
  for (index_t j = 0; j < p.Sk; ++j) keys[std::size_t(j)] = j;
  std::vector<float> z(size(p.Sk)), weights(size(p.Sk));
  for (index_t t = 0; t < u; ++t) {
    const index_t i = picked[std::size_t(t)], n = plan.visible(i);
    dot_keys<Arch>(query(i), k0, k.stride(1), keys.data(), n, p.D, p.scale, z.data());
    softmax_over_keys<Arch>(n, z.data(), keys.data(), -std::numeric_limits<float>::infinity(), v0,
                            v.stride(1), p.Dv, weights.data(), row(i));
  }
}

}  // namespace detail

/// ProbSparse self-attention (Zhou et al., Informer, arXiv 2012.07436). For each (batch, query
/// head), the sparsity measure of query i is M_i = max_j s_ij - mean_j s_ij, s_ij = scale
/// <q_i, k_j>, estimated on a seeded sample of U = factor ceil(ln Sk) of its visible keys drawn
/// with replacement (opt.sample_keys overrides U; U >= the visible keys uses each once: the exact
/// measure; the mean is over the sample, where Informer's code divides the sample's sum by Sk).
/// The u = factor ceil(ln Sq) queries of largest M (opt.active_queries overrides u;
/// ties to the later query; a NaN measure ranks first) get exact softmax attention over their
/// visible keys; every other query gets the mean of v over its visible keys: all of v when not
/// causal, v_0 .. v_(i+o) when causal (a prefix mean, so a lazy row stays a convex combination of
/// the values; Informer's code uses the cumulative sum instead). A query with no visible key
/// gets 0. The sample is shared by all batch entries and heads, as in Informer's code.
/// @pre q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv], out [B, Sq, Hq, Dv], Hq a
///      multiple of Hkv, unit innermost strides; opt.factor >= 1, opt.sample_keys >= 0,
///      opt.active_queries >= 0, opt.scale finite; checked, throwing attnkit::error before
///      anything is written.
/// Time O(B Hq (Sq U D + u Sk (D + Dv) + Sk Dv)), the selection O(B Hq Sq); memory O(Sq + Sk)
/// per thread. fp32 (lazy means summed in double). Threads: get_num_threads() over (batch,
/// head); the result does not depend on the thread count and is reproducible for a seed.
template <class Arch = default_arch>
void probsparse_attention(tensor_view<const float, 4> q, tensor_view<const float, 4> k,
                          tensor_view<const float, 4> v, tensor_view<float, 4> out,
                          const probsparse_options& opt = {}) {
  const auto p = detail::check_probsparse("probsparse_attention", q, k, v, out, opt);
  if (p.Sq == 0) return;
  const detail::probsparse_plan plan(opt, p.Sq, p.Sk);
  parallel_for(p.B * p.Hq, [&](index_t task, int) {
    detail::probsparse_head<Arch>(p, plan, q, k, v, out, task / p.Hq, task % p.Hq);
  });
}

}  // namespace attnkit
