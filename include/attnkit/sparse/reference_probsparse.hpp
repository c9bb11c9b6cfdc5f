// SPDX-License-Identifier: Apache-2.0
// reference::probsparse_attention: the naive double-precision oracle of probsparse_attention,
// selecting its active queries on measures computed in double.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/reference.hpp>
#include <attnkit/sparse/probsparse_attention.hpp>
#include <attnkit/sparse/probsparse_sample.hpp>

namespace attnkit::reference {
namespace detail {

/// ProbSparse over a checked problem in precision Acc: the same samples, measures in Acc, the
/// active set by sorting (measure, query) pairs (larger measure, then later query, first).
template <class Acc, class T>
void probsparse_forward(const attention_problem& p, const attnkit::detail::probsparse_plan& plan,
                        tensor_view<const T, 4> q, tensor_view<const T, 4> k,
                        tensor_view<const T, 4> v, tensor_view<T, 4> out) {
  const Acc scale = Acc(p.scale);
  parallel_for(p.B * p.Hq, [&](index_t task, int) {
    const index_t b = task / p.Hq, h = task % p.Hq, hk = h / (p.Hq / p.Hkv);
    auto logit = [&](index_t i, index_t j) {
      Acc s = 0;
      for (index_t d = 0; d < p.D; ++d) s += Acc(widen(q(b, i, h, d))) * Acc(widen(k(b, j, hk, d)));
      return scale * s;
    };
    std::vector<std::pair<Acc, index_t>> ranked;
    for (index_t i = 0; i < p.Sq; ++i) {
      const index_t n = plan.samples(i);
      Acc m = -std::numeric_limits<Acc>::infinity(), sum = 0;
      for (index_t t = 0; t < n; ++t) {
        const Acc s = logit(i, plan.sample(i, t));
        m = std::isnan(s) || std::isnan(m) ? std::numeric_limits<Acc>::quiet_NaN() : std::max(m, s);
        sum += s;
      }
      Acc measure = n == 0 ? m : m - sum / Acc(n);
      if (std::isnan(measure)) measure = std::numeric_limits<Acc>::infinity();
      ranked.emplace_back(measure, i);
    }
    std::sort(ranked.begin(), ranked.end(), [](const auto& x, const auto& y) {
      return x.first != y.first ? x.first > y.first : x.second > y.second;
    });
    std::vector<char> active(static_cast<std::size_t>(p.Sq), 0);
    for (index_t t = 0; t < plan.u; ++t) active[std::size_t(ranked[std::size_t(t)].second)] = 1;
    std::vector<Acc> acc(static_cast<std::size_t>(p.Dv)), z(static_cast<std::size_t>(p.Sk));
    for (index_t i = 0; i < p.Sq; ++i) {
      const index_t n = plan.visible(i);
      std::fill(acc.begin(), acc.end(), Acc(0));
      if (n > 0 && active[std::size_t(i)]) {
        Acc m = -std::numeric_limits<Acc>::infinity();
        bool nan = false;
        for (index_t j = 0; j < n; ++j) {
          z[std::size_t(j)] = logit(i, j);
          nan |= std::isnan(z[std::size_t(j)]);
          m = std::max(m, z[std::size_t(j)]);
        }
        Acc sum = 0;
        for (index_t j = 0; j < n; ++j) sum += std::exp(z[std::size_t(j)] - m);
        for (index_t j = 0; j < n; ++j) {
          const Acc w = nan ? std::numeric_limits<Acc>::quiet_NaN() : std::exp(z[std::size_t(j)] - m) / sum;
          for (index_t d = 0; d < p.Dv; ++d) acc[std::size_t(d)] += w * Acc(widen(v(b, j, hk, d)));
        }
      } else if (n > 0) {
        for (index_t j = 0; j < n; ++j)
          for (index_t d = 0; d < p.Dv; ++d) acc[std::size_t(d)] += Acc(widen(v(b, j, hk, d)));
        for (Acc& a : acc) a /= Acc(n);
      }
      for (index_t d = 0; d < p.Dv; ++d) out(b, i, h, d) = T(acc[std::size_t(d)]);
    }
  });
}

}  // namespace detail

/// probsparse_attention computed naively in double, with the same key samples and rules (the
/// oracle of the kernel). @pre as probsparse_attention (checked, throwing attnkit::error before
/// anything is written). O(B Hq (Sq U D + u Sk (D + Dv) + Sq Sk Dv)) time.
template <element T>
void probsparse_attention(tensor_view<const std::type_identity_t<T>, 4> q,
                          tensor_view<const std::type_identity_t<T>, 4> k,
                          tensor_view<const std::type_identity_t<T>, 4> v, tensor_view<T, 4> out,
                          const probsparse_options& opt = {}) {
  const auto p = attnkit::detail::check_probsparse("reference::probsparse_attention", q, k, v, out, opt);
  detail::probsparse_forward<double>(p, attnkit::detail::probsparse_plan(opt, p.Sq, p.Sk), q, k, v, out);
}

}  // namespace attnkit::reference
