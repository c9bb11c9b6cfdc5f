// SPDX-License-Identifier: Apache-2.0
// reference::topk_attention and reference::sea_attention: naive double-precision oracles of the
// top-k family, selecting on scores computed in double.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <attnkit/core/tensor_view.hpp>
#include <attnkit/core/threads.hpp>
#include <attnkit/exact/arguments.hpp>
#include <attnkit/exact/options.hpp>
#include <attnkit/exact/reference.hpp>
#include <attnkit/sparse/sea_options.hpp>
#include <attnkit/sparse/sea_projection.hpp>

namespace attnkit::reference {
namespace detail {

/// Top-k attention over a checked problem in precision Acc: ranking scores are the logits
/// (projection empty) or scale <P q, P k> through the modifiers (P = projection, [rank x D]).
/// Selection sorts (score, key) pairs: larger score first, then the larger key.
template <class Acc, class T, class L>
void topk_forward(const attention_problem& p, const attention_options& opt, index_t top_k,
                  const std::vector<float>& projection, index_t rank, tensor_view<const T, 4> q,
                  tensor_view<const T, 4> k, tensor_view<const T, 4> v, tensor_view<T, 4> out,
                  tensor_view<L, 3> lse) {
  const bool want_lse = attnkit::detail::is_given(lse);
  const bool estimate = !projection.empty();
  const Acc scale = opt.scale != 0.0f ? Acc(opt.scale) : Acc(1) / std::sqrt(Acc(p.D));
  const index_t o = opt.align == alignment::bottom_right ? p.Sk - p.Sq : 0;
  auto project = [&](auto row, std::vector<Acc>& dst) {  // dst = P x
    for (index_t c = 0; c < rank; ++c) {
      Acc s = 0;
      for (index_t d = 0; d < p.D; ++d) s += Acc(projection[std::size_t(c * p.D + d)]) * Acc(row(d));
      dst[std::size_t(c)] = s;
    }
  };
  parallel_for(p.B * p.Hq, [&](index_t task, int) {
    const index_t b = task / p.Hq, h = task % p.Hq, hk = h / (p.Hq / p.Hkv);
    row<Acc> r(p.Sk);
    std::vector<Acc> kp(static_cast<std::size_t>(p.Sk * rank)), qp(static_cast<std::size_t>(rank));
    std::vector<Acc> acc(static_cast<std::size_t>(p.Dv)), tmp(static_cast<std::size_t>(rank));
    if (estimate) {
      for (index_t j = 0; j < p.Sk; ++j) {
        project([&](index_t d) { return widen(k(b, j, hk, d)); }, tmp);
        std::copy(tmp.begin(), tmp.end(), kp.begin() + j * rank);
      }
    }
    std::vector<std::pair<Acc, index_t>> ranked;
    for (index_t i = 0; i < p.Sq; ++i) {
      r.compute(p, opt, q, k, b, h, i);
      if (estimate) project([&](index_t d) { return widen(q(b, i, h, d)); }, qp);
      ranked.clear();
      bool nan = false;
      for (index_t j = 0; j < p.Sk; ++j) {
        if (!r.seen[j]) continue;
        Acc s = r.z[j];
        if (estimate) {
          Acc dot = 0;
          for (index_t c = 0; c < rank; ++c) dot += qp[std::size_t(c)] * kp[std::size_t(j * rank + c)];
          s = scale * dot;
          if (opt.softcap > 0.0f) s = Acc(opt.softcap) * std::tanh(s / Acc(opt.softcap));
          if (!p.bias.empty()) s += Acc(p.bias(b, h, i, j));
          if (!opt.alibi_slopes.empty()) s -= Acc(opt.alibi_slopes[h]) * Acc(std::abs(i + o - j));
        }
        nan |= std::isnan(s);
        ranked.emplace_back(s, j);
      }
      std::sort(ranked.begin(), ranked.end(), [](const auto& x, const auto& y) {
        return x.first != y.first ? x.first > y.first : x.second > y.second;
      });
      if (!nan && index_t(ranked.size()) > top_k) ranked.resize(std::size_t(top_k));
      // The softmax over the kept keys with their exact logits, the sink in the denominator.
      Acc m = r.sink;
      for (const auto& [s, j] : ranked) {
        nan |= std::isnan(r.z[j]);
        m = std::max(m, r.z[j]);
      }
      nan |= std::isnan(r.sink);
      std::fill(acc.begin(), acc.end(), Acc(0));
      Acc l = r.sink;
      if (nan) {
        std::fill(acc.begin(), acc.end(), std::numeric_limits<Acc>::quiet_NaN());
        l = std::numeric_limits<Acc>::quiet_NaN();
      } else if (m != -std::numeric_limits<Acc>::infinity()) {
        Acc sum = opt.sinks.empty() ? Acc(0) : std::exp(r.sink - m);
        for (const auto& [s, j] : ranked) sum += std::exp(r.z[j] - m);
        for (const auto& [s, j] : ranked) {
          const Acc w = std::exp(r.z[j] - m) / sum;
          for (index_t d = 0; d < p.Dv; ++d) acc[std::size_t(d)] += w * Acc(widen(v(b, j, hk, d)));
        }
        l = m + std::log(sum);
      }
      for (index_t d = 0; d < p.Dv; ++d) out(b, i, h, d) = T(acc[std::size_t(d)]);
      if (want_lse) lse(b, h, i) = L(l);
    }
  });
}

}  // namespace detail

/// topk_attention computed naively in double (selection on double logits, the same tie rule:
/// the later key wins): the oracle of the kernel. T = double keeps a double result.
/// @pre as topk_attention (checked, throwing attnkit::error before anything is written).
/// O(B Hq Sq Sk (D + log Sk)) time.
template <element T, class L = float>
void topk_attention(tensor_view<const std::type_identity_t<T>, 4> q,
                    tensor_view<const std::type_identity_t<T>, 4> k,
                    tensor_view<const std::type_identity_t<T>, 4> v, tensor_view<T, 4> out,
                    index_t top_k, const attention_options& opt = {}, tensor_view<L, 3> lse = {}) {
  constexpr auto where = "reference::topk_attention";
  const auto p = attnkit::detail::check_attention(where, q, k, v, out, opt, lse);
  attnkit::detail::require(top_k >= 1, where, "top_k", ">= 1", top_k);
  detail::topk_forward<double>(p, opt, top_k, {}, 0, q, k, v, out, lse);
}

/// sea_attention computed naively in double: the same projection P (its float entries), the
/// estimate scale <P q, P k> and the modifiers in double, selection on it, the exact softmax over
/// the kept keys in double. @pre as sea_attention. O(B Hq Sq Sk rank + B Hq Sk D rank) time.
template <element T, class L = float>
void sea_attention(tensor_view<const std::type_identity_t<T>, 4> q,
                   tensor_view<const std::type_identity_t<T>, 4> k,
                   tensor_view<const std::type_identity_t<T>, 4> v, tensor_view<T, 4> out,
                   const sea_options& sea, const attention_options& opt = {},
                   tensor_view<L, 3> lse = {}) {
  constexpr auto where = "reference::sea_attention";
  const auto p = attnkit::detail::check_attention(where, q, k, v, out, opt, lse);
  attnkit::detail::require(sea.top_k >= 1, where, "sea.top_k", ">= 1", sea.top_k);
  attnkit::detail::require(sea.rank >= 1 && sea.rank <= p.D, where, "sea.rank",
                           "in [1, " + std::to_string(p.D) + "] (the head dim of q)", sea.rank);
  detail::topk_forward<double>(p, opt, sea.top_k, attnkit::detail::sea_projection(p.D, sea.rank, sea.seed),
                               sea.rank, q, k, v, out, lse);
}

}  // namespace attnkit::reference
